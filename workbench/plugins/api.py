"""What a plugin module defines and what its `register(api)` receives.

A plugin is a Python module (a single file, a package folder, or an installed distribution's entry point in
the group `workbench.plugins`) that defines

    PLUGIN = Plugin(name="My layers", version="1.0", description="...")
    def register(api: PluginAPI) -> None:
        api.add_layer(LayerType(...))

Everything a plugin adds goes through the same registries the built-ins use. This module imports no Qt and
no torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.core.errors import UserError
from workbench.core.model.registry import LayerError
from workbench.core.registry import Registry

if TYPE_CHECKING:
    from workbench.core.data.registry import SourceType
    from workbench.core.export.registry import Exporter
    from workbench.core.model.registry import LayerType

ENTRY_POINT_GROUP = "workbench.plugins"
PANEL_AREAS = ("left", "right", "bottom")


@dataclass(frozen=True)
class Plugin:
    """How a plugin introduces itself in Help > Plugins and `workbench plugins list`."""

    name: str
    version: str = "0.0"
    description: str = ""
    author: str = ""
    url: str = ""


@dataclass(frozen=True)
class PanelContribution:
    """A dock panel. `factory` is "package.module:ClassName", imported only when the main window builds the
    dock (so a plugin costs nothing until its panel is made); the class is called as `ClassName(session)`
    with the window's `ProjectSession`, like a built-in panel, and may define `shutdown()`."""

    title: str
    factory: str
    area: str = "bottom"  # "left" | "right" | "bottom": the built-in docks it is tabbed with
    object_name: str = ""  # QDockWidget object name (saved layouts); derived from the title if empty
    plugin: str = ""  # filled in by the plugin manager: which plugin contributed it

    def __post_init__(self):
        if ":" not in self.factory or not all(self.factory.split(":", 1)):
            raise ValueError(
                f"panel {self.title!r}: factory must be 'package.module:ClassName', not {self.factory!r}"
            )
        if self.area not in PANEL_AREAS:
            raise ValueError(f"panel {self.title!r}: area must be one of {', '.join(PANEL_AREAS)}")

    @property
    def dock_name(self) -> str:
        if self.object_name:
            return self.object_name
        slug = "".join(c for c in self.title.title() if c.isalnum())
        return f"plugin{slug}Dock"


class PluginError(LayerError, UserError):
    """A plugin's code raised something unexpected. It is a LayerError (the builder shows it at the layer) and
    a UserError (the CLI prints one line, the GUI a dialog): the fix is in the plugin, not in Workbench."""


PANELS: Registry[PanelContribution] = Registry("panel", lambda p: p.dock_name)
unregister_panel = PANELS.unregister
panel_contributions = PANELS.items


def register_panel(panel: PanelContribution, replace: bool = False) -> PanelContribution:
    """Add a dock panel to the main window (built after the built-in docks)."""
    if not isinstance(panel, PanelContribution):
        raise TypeError("register_panel takes a PanelContribution")
    return PANELS.register(panel, replace)


class PluginAPI:
    """Handed to a plugin's `register(api)`. Each `add_*` registers through the public registry function (so a
    plugin may also call `register_layer` and friends directly: whatever it registers is attributed to it)."""

    def __init__(self, plugin: Plugin, plugin_id: str, location: str):
        self.plugin = plugin
        self.plugin_id = plugin_id
        self.location = location  # the file, folder or distribution it came from
        self.log = logging.getLogger(f"workbench.plugins.{plugin_id}")

    def add_layer(self, layer_type: LayerType) -> LayerType:
        from workbench.core.model.registry import register_layer

        return register_layer(layer_type)

    def add_source(self, source: SourceType) -> SourceType:
        from workbench.core.data.registry import register_source

        return register_source(source)

    def add_exporter(self, exporter: Exporter) -> Exporter:
        from workbench.core.export.registry import register_exporter

        return register_exporter(exporter)

    def add_panel(self, panel: PanelContribution) -> PanelContribution:
        return register_panel(panel)


RegisterFunction = Callable[[PluginAPI], Any]
