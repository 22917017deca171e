"""A deliberately broken plugin (tests only): it registers a layer, then raises while registering."""

from workbench.plugins import LayerType, Plugin

PLUGIN = Plugin("Broken register", "0.2", "Raises half-way through register(api)")


def _build(p, s):
    from torch import nn

    return nn.Identity()


def register(api):
    api.add_layer(LayerType("HalfRegistered", "Core", doc="never kept", build=_build))
    raise RuntimeError("the plugin's configuration file is missing")
