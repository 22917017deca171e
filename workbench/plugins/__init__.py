"""The public plugin API: everything a plugin author imports comes from here.

A plugin module defines `PLUGIN = Plugin(name, version, description)` and `register(api)`; in `register` it
adds layer types, data sources, exporters and dock panels through `api.add_layer / add_source / add_exporter /
add_panel` (the same registries the built-ins use). See docs/plugins.md for a complete example.

    from workbench.plugins import LayerType, Param, Plugin

    PLUGIN = Plugin("Scale", "1.0", "Multiplies its input by a constant")

    def register(api):
        api.add_layer(LayerType("Scale", "Core", (Param("factor", "float", 2.0, doc="multiplier"),),
                                doc="x * factor", build=_build, shape=lambda p, s: s,
                                count_params=lambda p, s: 0, code=_code))

Layers: `LayerType`, `Param` (its parameter schema), `LayerError` and `Fix` (a clear error at the layer with a
one-click repair), `REQUIRED`. Data sources: `SourceType`, `OptionSpec` (its settings form), `RawData` with the
modalities `IMAGE`, `TABULAR`, `TEXT`. Exporters: `Exporter`. Panels: `PanelContribution`. Errors the user can
fix: `UserError`; a cancelled job: `Cancelled`.
"""

from workbench.core.data.raw import IMAGE, TABULAR, TEXT, RawData
from workbench.core.data.registry import OptionSpec, SourceType, register_source
from workbench.core.errors import Cancelled, UserError
from workbench.core.export.registry import Exporter, register_exporter
from workbench.core.model.registry import REQUIRED, Fix, LayerError, LayerType, Param, register_layer
from workbench.plugins.api import (
    ENTRY_POINT_GROUP,
    PanelContribution,
    Plugin,
    PluginAPI,
    PluginError,
    register_panel,
)
from workbench.plugins.manager import PluginManager, PluginRecord, load_plugins, plugin_manager

__all__ = [
    "ENTRY_POINT_GROUP",
    "IMAGE",
    "REQUIRED",
    "TABULAR",
    "TEXT",
    "Cancelled",
    "Exporter",
    "Fix",
    "LayerError",
    "LayerType",
    "OptionSpec",
    "PanelContribution",
    "Param",
    "Plugin",
    "PluginAPI",
    "PluginError",
    "PluginManager",
    "PluginRecord",
    "RawData",
    "SourceType",
    "UserError",
    "load_plugins",
    "plugin_manager",
    "register_exporter",
    "register_layer",
    "register_panel",
    "register_source",
]
