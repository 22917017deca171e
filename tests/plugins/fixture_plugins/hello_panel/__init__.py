"""A test plugin contributing two dock panels: one that works and one whose class does not exist."""

from workbench.plugins import PanelContribution, Plugin

PLUGIN = Plugin("Hello panel", "1.2.3", "A dock panel that shows the project name")


def register(api):
    api.add_panel(PanelContribution("Hello", f"{__name__}.panel:HelloPanel", area="bottom"))
    api.add_panel(PanelContribution("Broken panel", f"{__name__}.panel:NoSuchPanel", area="right"))
