"""Plugins in the GUI (pytest-qt, offscreen): a plugin layer in the palette and the network, plugin layer bugs
at the layer, a main window that starts despite broken plugins and shows their panels, Help > Plugins with
enable/disable that persists."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURE_PLUGINS
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMessageBox

from workbench.core.model.spec import ModelSpec
from workbench.core.paths import SAMPLE_PROJECT
from workbench.plugins.state import state_path, user_plugins_dir
from workbench.ui.plugins_dialog import PluginsDialog
from workbench.ui.session import ProjectSession


@pytest.fixture
def builder(qtbot):
    from workbench.ui.panels.builder import BuilderPanel

    def make():
        session = ProjectSession()
        panel = BuilderPanel(session)
        qtbot.addWidget(panel)
        session.open(SAMPLE_PROJECT)
        panel.resize(520, 650)
        panel.show()
        made.append(panel)
        return panel

    made = []
    yield make
    for panel in made:
        panel.shutdown()


def palette_groups(panel) -> dict[str, list[str]]:
    tree = panel.palette.tree
    return {
        tree.topLevelItem(g).text(0): [
            tree.topLevelItem(g).child(i).text(0) for i in range(tree.topLevelItem(g).childCount())
        ]
        for g in range(tree.topLevelItemCount())
    }


def test_the_plugin_layer_is_in_the_palette_and_goes_into_the_network(make_manager, builder):
    make_manager()
    panel = builder()
    attention = palette_groups(panel)["Attention"]  # the plugin's layer joins the built-in attention layers
    assert "SqueezeExcite" in attention and "MultiheadAttention" in attention
    panel.palette.search.setText("channel att")  # found by its description too
    panel.palette.search.setText("squeeze")
    assert panel.palette.visible_types() == ["SqueezeExcite"]
    first = panel.layer_list.topLevelItem(0)
    panel.layer_list.setCurrentItem(first)  # after the first convolution
    conv_shape, params_before = first.text(1), panel.analysis.total_params
    item = panel.palette.tree.findItems(
        "SqueezeExcite", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive
    )[0]
    panel.palette.tree.itemActivated.emit(item, 0)
    layer = panel.session.project.model.layers[1]
    assert layer.type == "SqueezeExcite"
    assert panel.analysis.ok and panel.layer_list.topLevelItem(1).text(1) == conv_shape
    channels = panel.analysis.layers[1].params["channels"]
    hidden = channels // 4
    assert panel.analysis.total_params - params_before == 2 * channels * hidden + hidden + channels


def test_a_layer_from_a_disabled_plugin_is_an_error_that_says_so(make_manager, builder):
    make_manager()  # loaded once, so its contributions are remembered
    make_manager(disabled=["squeeze_excite"])
    panel = builder()
    assert "SqueezeExcite" not in palette_groups(panel)["Attention"]
    panel.session.update_model(ModelSpec(input_shape=[4, 8, 8], layers=[{"type": "SqueezeExcite"}]))
    assert panel.analysis.layers[0].error == (
        "unknown layer type 'SqueezeExcite': it comes from the plugin 'Squeeze-and-Excitation', which is disabled; "
        "enable it in Help > Plugins (or `workbench plugins enable squeeze_excite`) and restart"
    )


def test_plugin_layer_bugs_show_at_the_layer_in_the_builder(make_manager, builder, qtbot):
    make_manager(folders=[FIXTURE_PLUGINS])
    panel = builder()
    with qtbot.waitSignal(panel.sig_analyzed, timeout=60_000):  # no rules: analyzed on the meta device
        panel.session.update_model(
            ModelSpec(
                input_shape=[1, 8, 8],
                layers=[{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "BrokenBuild"}],
            )
        )
    message = "BrokenBuild (plugin 'broken_build') build failed: RuntimeError: cannot find the kernel library"
    assert panel.analysis.error_path == (1,)
    assert message in panel.layer_list.topLevelItem(1).toolTip(0)
    assert message in panel.problem.text() and panel.problem.isVisible()
    assert panel.layer_list.topLevelItem(0).text(1) == "4×6×6"  # the layers before it still analyzed
    panel.session.update_model(ModelSpec(input_shape=[4], layers=[{"type": "BrokenRule"}]))
    assert "BrokenRule (plugin 'broken_build') shape failed: KeyError" in panel.layer_list.topLevelItem(
        0
    ).toolTip(0)


@pytest.fixture
def window(qtbot, monkeypatch):
    from workbench.ui.main_window import MainWindow

    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.No)
    made = []

    def make(clear=True):
        if clear:
            QSettings("Workbench", "Workbench").clear()  # no layout saved by another test's window
        win = MainWindow()
        qtbot.addWidget(win)
        win.resize(1280, 800)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.session._set_dirty(False)
        win.shutdown()


def test_the_window_starts_despite_broken_plugins_and_shows_plugin_panels(make_manager, window, qtbot):
    make_manager(folders=[FIXTURE_PLUGINS])
    win = window()
    win.open_project(SAMPLE_PROJECT, confirmed=True)
    for name in ("datasetDock", "builderDock", "trainingDock", "hardwareDock", "exportDock"):
        assert win.findChild(QDockWidget, name) is not None
    problems = win.statusBar().findChild(QLabel, "pluginProblemsLabel")
    assert "2 plugins failed to load" in problems.text() and problems.isVisible()
    assert problems.toolTip().startswith("broken_import, Broken register:")
    hello = win.findChild(QDockWidget, "pluginHelloDock")
    assert hello is not None and hello.windowTitle() == "Hello"
    assert hello.widget().findChild(QLabel, "helloLabel").text() == f"Hello, {win.session.display_name}"
    broken = win.findChild(QDockWidget, "pluginBrokenPanelDock").widget()
    assert "Broken panel could not be loaded" in broken.text() and "NoSuchPanel" in broken.text()
    assert hello in win.tabifiedDockWidgets(win.docks["exportDock"])  # area "bottom": beside Export
    assert not win.docks["trainingDock"].visibleRegion().isEmpty()  # the built-in stays in front
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    assert "Hello" in [a.text() for a in view_menu.actions()]

    assert next(a.text() for a in win.help_menu.actions()) == "&Plugins..."
    problems.linkActivated.emit("plugins")  # the status-bar link opens Help > Plugins
    dialog = win.plugins_dialog
    qtbot.waitExposed(dialog)
    assert dialog.objectName() == "pluginsDialog" and dialog.isVisible()
    assert dialog.current_id() == "broken_import"  # the first problem is selected
    assert "ModuleNotFoundError" in dialog.details.toPlainText()
    assert "import workbench_no_such_module" in dialog.traceback_box.toPlainText()
    assert "manager.py" not in dialog.traceback_box.toPlainText()  # the plugin's frames, not the loader's
    dialog.close()


def test_dialog_lists_origin_version_contributions_and_status(make_manager, qtbot):
    manager = make_manager(folders=[FIXTURE_PLUGINS])
    dialog = PluginsDialog(manager)
    qtbot.addWidget(dialog)
    row = {
        dialog.plugin_list.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole): [
            dialog.plugin_list.topLevelItem(i).text(c) for c in range(5)
        ]
        for i in range(dialog.plugin_list.topLevelItemCount())
    }
    assert row["builtin.layers"][2:] == [
        "built-in",
        f"{len(manager.record('builtin.layers').contributions['layers'])} layers",
        "Loaded",
    ]
    assert row["squeeze_excite"] == ["Squeeze-and-Excitation", "1.0.0", "folder", "1 layer", "Loaded"]
    assert row["hello_panel"][3:] == ["2 panels", "Loaded"] and row["broken_register"][4] == "Failed"
    builtin = dialog.item_for("builtin.layers")
    assert not builtin.flags() & Qt.ItemFlag.ItemIsUserCheckable  # built-ins cannot be switched off
    dialog.plugin_list.setCurrentItem(dialog.item_for("squeeze_excite"))
    text = dialog.details.toPlainText()
    assert (
        "SqueezeExcite" in text
        and "plugins/squeeze_excite" in text
        and not dialog.traceback_group.isVisible()
    )


def test_disabling_in_the_dialog_persists_across_restarts(make_manager, qtbot):
    dialog = PluginsDialog(make_manager())
    qtbot.addWidget(dialog)
    assert not dialog.restart_banner.isVisible()
    dialog.item_for("squeeze_excite").setCheckState(0, Qt.CheckState.Unchecked)
    assert json.loads(state_path().read_text())["disabled"] == ["squeeze_excite"]
    assert not dialog.restart_banner.isHidden()
    assert "Squeeze-and-Excitation will not be loaded" in dialog.restart_banner.text()
    user_folder = next(
        dialog.folder_list.item(i)
        for i in range(dialog.folder_list.count())
        if dialog.folder_list.item(i).data(Qt.ItemDataRole.UserRole) == str(user_plugins_dir())
    )
    user_folder.setCheckState(Qt.CheckState.Checked)
    assert json.loads(state_path().read_text())["folders"] == {str(user_plugins_dir()): True}
    user_folder.setCheckState(Qt.CheckState.Unchecked)
    assert f"plugins in {user_plugins_dir()}" not in dialog.restart_banner.text()
    dialog.add_folder(FIXTURE_PLUGINS)
    assert f"plugins in {FIXTURE_PLUGINS} will be loaded" in dialog.restart_banner.text()

    restarted = make_manager()  # reload from the saved state
    assert restarted.record("squeeze_excite").status == "disabled"
    assert restarted.record("hello_panel").loaded  # the added folder is enabled too
    again = PluginsDialog(restarted)
    qtbot.addWidget(again)
    item = again.item_for("squeeze_excite")
    assert item.checkState(0) == Qt.CheckState.Unchecked and item.text(4) == "Disabled"
    assert item.text(3) == "1 layer"  # remembered from the last time it loaded
    assert again.restart_banner.isHidden()
    item.setCheckState(0, Qt.CheckState.Checked)
    assert json.loads(state_path().read_text())["disabled"] == []
    assert make_manager().record("squeeze_excite").loaded


def test_a_new_plugin_dock_joins_its_group_in_a_saved_layout(make_manager, window):
    make_manager()
    first = window()
    first._save_layout()  # a layout saved before the plugin existed
    make_manager(folders=[FIXTURE_PLUGINS])
    win = window(clear=False)
    assert win._state_restored
    assert win.docks["pluginHelloDock"] in win.tabifiedDockWidgets(win.docks["exportDock"])
    assert win.docks["pluginBrokenPanelDock"] in win.tabifiedDockWidgets(win.docks["trainingDock"])
