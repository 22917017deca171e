"""Layers with bugs (tests only): BrokenBuild has no rules and fails when built; BrokenRule has a shape rule
that raises KeyError. The plugin itself loads fine."""

from workbench.plugins import LayerType, Param, Plugin

PLUGIN = Plugin("Broken layers", "0.3", "Layers whose code fails")


def _fail_build(p, s):
    raise RuntimeError("cannot find the kernel library")


def _build_identity(p, s):
    from torch import nn

    return nn.Identity()


def register(api):
    api.add_layer(LayerType("BrokenBuild", "Core", doc="fails in build", build=_fail_build))
    api.add_layer(
        LayerType(
            "BrokenRule",
            "Core",
            (Param("width", "int", 4, doc="a width"),),
            doc="bad rule",
            build=_fail_build,
            shape=lambda p, s: (p["no_such_key"],),
            count_params=lambda p, s: 0,
        )
    )
    api.add_layer(
        LayerType(
            "BuildsOnlyInTraining",
            "Core",
            doc="rules fine, build fails",
            build=_fail_build,
            shape=lambda p, s: tuple(s),
            count_params=lambda p, s: 0,
        )
    )
