"""Plugin tests: a fresh plugin manager per test (state in the isolated WORKBENCH_HOME), and every third-party
contribution removed afterwards so no other test sees a plugin layer, source or panel."""

from __future__ import annotations

from pathlib import Path

import pytest
from qt_fixtures import (  # noqa: F401  (autouse fixtures: no modal dialog hangs, jobs end, one warm trainer)
    _jobs_shut_down,
    _no_blocking_dialogs,
    _warm_trainer_process_shared,
)

from workbench.plugins import manager as manager_module
from workbench.plugins.manager import PluginManager

FIXTURE_PLUGINS = Path(__file__).parent / "fixture_plugins"


@pytest.fixture
def make_manager():
    """make_manager(folders=[...], disabled=[...]) -> a loaded PluginManager that is also the process's one."""
    made: list[PluginManager] = []

    def make(folders=(), disabled=(), load=True) -> PluginManager:
        for m in made:
            m.unload()
        setup = PluginManager(entry_points=False)
        for folder in folders:
            setup.set_folder_enabled(folder, True)
        for plugin_id in disabled:
            setup.set_enabled(plugin_id, False)
        manager = PluginManager(entry_points=False)  # a "restart": state read back from disk
        manager_module._MANAGER = manager
        made.append(manager)
        if load:
            manager.load()
        return manager

    yield make
    for m in made:
        m.unload()
    manager_module._MANAGER = None
