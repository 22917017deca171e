"""The builder panel end to end (pytest-qt, offscreen): the sample network with live shapes, editing by
clicking with undo/redo, a mismatch on the right layer and its one-click fix, dataset adaptation, GPU warning."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from workbench.core.data.dataset import DataBundle, DatasetMeta
from workbench.core.model.build import build_model
from workbench.core.model.spec import ModelSpec
from workbench.core.paths import SAMPLE_PROJECT
from workbench.ui.panels.builder import BuilderPanel
from workbench.ui.panels.builder.palette import LAYER_MIME
from workbench.ui.session import ProjectSession


@pytest.fixture
def panel(qtbot):
    session = ProjectSession()
    widget = BuilderPanel(session)
    qtbot.addWidget(widget)
    session.open(SAMPLE_PROJECT)
    widget.resize(520, 650)
    widget.show()
    yield widget
    widget.shutdown()


def rows(panel):
    tree = panel.layer_list
    return [
        (tree.topLevelItem(i).text(0).split()[1].split("(")[0], tree.topLevelItem(i).text(1))
        for i in range(tree.topLevelItemCount())
    ]


def select(panel, path):
    panel.layer_list.setCurrentItem(panel.layer_list.item_for(path))
    assert panel.selected == tuple(path)


def types(panel):
    return [layer.type for layer in panel.session.project.model.layers]


def test_sample_network_shows_every_layer_with_its_output_shape(panel):
    assert panel.layer_list.objectName() == "layerList"
    assert rows(panel)[0] == ("Conv2d", "16×8×8")
    assert rows(panel)[5] == ("Flatten", "512")
    assert rows(panel)[-1] == ("Linear", "10")
    assert panel.layer_list.topLevelItem(6).text(2) == "32.8K"
    assert "38,282" in panel.totals.text() and not panel.problem.isVisible()
    palette = panel.palette
    assert palette.tree.objectName() == "layerPalette" and {"LSTM", "Residual", "Conv2d"} <= set(
        palette.visible_types()
    )
    palette.search.setText("pool")
    assert set(palette.visible_types()) == {
        "MaxPool1d",
        "MaxPool2d",
        "AvgPool2d",
        "AdaptiveAvgPool2d",
        "SequencePool",
    }


def test_add_from_palette_then_undo_and_redo(panel, qtbot):
    select(panel, (7,))
    item = panel.palette.tree.findItems("Dropout", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)[0]
    panel.palette.tree.itemActivated.emit(item, 0)  # double-click / Enter
    assert types(panel)[8] == "Dropout" and panel.selected == (8,)
    assert rows(panel)[8] == ("Dropout", "64")
    panel.undo_action.trigger()
    assert "Dropout" not in types(panel) and len(types(panel)) == 9
    panel.redo_action.trigger()
    assert types(panel)[8] == "Dropout"
    # the keyboard shortcut Ctrl+Z works from inside the panel
    panel.activateWindow()
    panel.layer_list.setFocus()
    qtbot.keyClick(panel.layer_list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "Dropout" not in types(panel)
    qtbot.keyClick(
        panel.layer_list,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert types(panel)[8] == "Dropout"


def test_reorder_duplicate_delete(panel):
    select(panel, (1,))
    panel.down_action.trigger()
    assert types(panel)[1:3] == ["MaxPool2d", "ReLU"] and panel.selected == (2,)
    panel.up_action.trigger()
    assert types(panel)[1:3] == ["ReLU", "MaxPool2d"] and panel.selected == (1,)
    select(panel, (3,))
    panel.duplicate_action.trigger()
    assert types(panel)[3:5] == ["Conv2d", "Conv2d"]
    assert rows(panel)[4] == ("Conv2d", "32×4×4")  # in_channels inferred from the copy before it
    panel.delete_action.trigger()
    assert types(panel).count("Conv2d") == 2 and panel.undo_stack.count() == 4
    for _ in range(4):
        panel.undo_stack.undo()
    assert panel.session.project.model == ModelSpec.model_validate(
        json.loads(SAMPLE_PROJECT.read_text())["model"]
    )


def test_editing_a_parameter_updates_the_shapes(panel):
    select(panel, (0,))
    box = panel.properties.fields["out_channels"]
    box.setValue(8)
    assert rows(panel)[0] == ("Conv2d", "8×8×8")
    assert panel.analysis.layers[3].num_params == 32 * 8 * 9 + 32  # in_channels inferred as 8
    assert panel.session.project.model.layers[0].params["out_channels"] == 8
    box.setValue(9)  # typing on: one undo step
    panel.undo_stack.undo()
    assert panel.session.project.model.layers[0].params["out_channels"] == 16
    select(panel, (2,))
    kernel = panel.properties.fields["kernel_size"]
    kernel.setText("4")
    kernel.editingFinished.emit()
    assert rows(panel)[2] == ("MaxPool2d", "16×2×2")


def test_mismatch_shows_on_the_right_layer_and_the_fix_resolves_it(panel):
    select(panel, (5,))
    panel.delete_action.trigger()  # remove Flatten: the Linear after it cannot take 32x4x4
    assert panel.analysis.error_path == (5,)
    item = panel.layer_list.topLevelItem(5)
    assert "Linear" in item.text(0) and not item.icon(0).isNull() and "Flatten" in item.toolTip(0)
    assert all(panel.layer_list.topLevelItem(i).icon(0).isNull() for i in range(5))
    assert panel.selected == (5,) and "insert Flatten" in panel.properties.problem.text()
    assert not panel.problem.isVisible()  # shown once, in the properties of the selected layer
    select(panel, (0,))
    assert panel.problem.isVisible() and "Layer 5 (Linear)" in panel.problem.text()
    assert panel.fix_button.isVisible() and "Insert Flatten" in panel.fix_button.text()
    panel.fix_button.click()
    assert panel.analysis.ok and types(panel)[5] == "Flatten" and not panel.fix_button.isVisible()
    assert panel.selected == (6,)  # the layer that failed, now fine
    build_model(panel.session.project.model)


def test_property_editor_offers_the_selected_layers_fix(panel):
    select(panel, (6,))
    panel.properties.fields["in_features"].setValue(100)  # explicit and wrong
    assert (
        panel.properties.problem.isVisible() and "set in_features to 512" in panel.properties.problem.text()
    )
    panel.properties.fix_button.click()
    assert panel.analysis.ok and panel.session.project.model.layers[6].params["in_features"] == 512


def test_drop_from_palette_at_a_position_and_drag_to_reorder(panel):
    tree = panel.layer_list
    rect = tree.visualItemRect(tree.topLevelItem(2))
    data = QMimeData()
    data.setData(LAYER_MIME, b"BatchNorm2d")
    event = QDropEvent(
        QPoint(rect.center().x(), rect.top() + 2),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tree.dropEvent(event)
    assert types(panel)[2] == "BatchNorm2d" and rows(panel)[2] == ("BatchNorm2d", "16×8×8")
    assert panel.analysis.layers[2].params["num_features"] == 16
    panel.move_layer((2,), (), 0)  # what dragging row 2 onto the top does
    assert types(panel)[0] == "BatchNorm2d" and panel.analysis.layers[0].params["num_features"] == 1


def test_residual_body_is_edited_in_place(panel):
    select(panel, (3,))
    panel.add_layer("Residual")
    assert types(panel)[4] == "Residual" and panel.analysis.ok
    assert panel.layer_list.item_for((4,)).childCount() == 3
    select(panel, (4, 0))
    panel.properties.fields["out_channels"].setValue(64)  # the body now changes the channels: a projection
    assert panel.analysis.ok and panel.analysis.layers[4].output_shape == (64, 4, 4)
    select(panel, (4,))
    panel.add_layer("ReLU")  # a selected Residual takes new layers into its body
    assert panel.session.project.model.layers[4].layers[-1].type == "ReLU"


def test_dataset_adapts_the_input_and_flags_the_head(panel):
    meta = DatasetMeta(kind="imagefolder", input_shape=(1, 12, 12), num_classes=4, class_names=list("abcd"))
    panel.session.set_data(DataBundle(meta, None, None, None))
    assert panel.session.project.model.input_shape == [1, 12, 12]
    assert rows(panel)[5] == ("Flatten", str(32 * 6 * 6))
    last = panel.layer_list.topLevelItem(8)
    assert not last.icon(0).isNull() and "4 classes" in last.toolTip(0)
    assert "Set out_features to 4" in panel.fix_button.text()
    panel.fix_button.click()
    assert panel.analysis.output_shape == (4,) and not panel.problem.isVisible()
    panel._fill_templates_menu()
    titles = [a.text() for a in panel.templates_menu.actions()]
    assert "LeNet-5" in titles and "Embedding + LSTM" not in titles and "1×12×12" in titles[0]
    next(a for a in panel.templates_menu.actions() if a.text() == "LeNet-5").trigger()
    assert panel.analysis.ok and panel.analysis.output_shape == (4,) and not panel.analysis.warnings
    panel.undo_stack.undo()
    assert types(panel)[0] == "Conv2d" and len(types(panel)) == 9


def test_memory_read_out_shows_the_traced_plan(panel):
    """The plan comes from the trainer-process job "memory" (ui/memory.py); here it is computed and published
    the way the job's result is."""
    from workbench.core.hardware.fit import plan_on

    session = panel.session
    assert not panel.memory.isVisible()  # nothing planned yet (no trainer process in this test)
    session.set_device("cuda:0")
    plan = plan_on(session.project.model, session.project.training, "cuda:0", 1_000, "test GPU")
    session.memory.publish(plan, None)
    text = panel.memory.text()
    assert panel.memory.isVisible() and "Training peak" in text and "gradients" in text
    assert "Training needs about" in text and "bf16/fp16" in text  # 1000 bytes free: does not fit
    plan = plan_on(session.project.model, session.project.training, "cuda:0", 80 * 10**9, "test GPU")
    session.memory.publish(plan, None)
    assert "Fits: needs" in panel.memory.text() and "largest batch" in panel.memory.text()
    session.memory.publish(None, "the model cannot be built: layer 3")
    assert "Memory not estimated: the model cannot be built" in panel.memory.text()


def test_no_echo_loops_and_external_changes(panel, qtbot):
    emitted = []
    panel.session.sig_model_changed.connect(lambda: emitted.append(1))
    select(panel, (7,))
    panel.add_layer("Tanh")
    assert len(emitted) == 1
    other = ModelSpec(
        input_shape=[1, 8, 8], layers=[{"type": "Flatten"}, {"type": "Linear", "out_features": 10}]
    )
    panel.session.update_model(other)
    assert rows(panel) == [("Flatten", "64"), ("Linear", "10")]
    panel.session.open(SAMPLE_PROJECT)
    assert panel.undo_stack.count() == 0 and len(rows(panel)) == 9


def test_files_and_bad_input_never_raise(panel, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    bad = tmp_path / "future.json"
    bad.write_text('{"format_version": 9, "layers": []}')
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getOpenFileName", lambda *a, **k: (str(bad), ""))
    panel.open_spec_dialog()
    assert shown and "newer" in shown[-1] and len(types(panel)) == 9
    good = tmp_path / "mlp.json"
    good.write_text(
        json.dumps(
            {
                "input_shape": [1, 8, 8],
                "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}],
            }
        )
    )
    panel.open_spec(good)
    assert types(panel) == ["Flatten", "Linear"]
    target = tmp_path / "model.py"
    panel.export_code(target)
    assert "class Model(nn.Sequential)" in target.read_text()
    panel.session.update_model(ModelSpec(input_shape=[1, 8, 8], layers=[{"type": "Linear"}]))
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    panel.export_code_dialog()
    assert "cannot export" in shown[-1]
    panel._on_input_edit_finished()  # unchanged text: no edit
    panel.input_edit.setText("0, -1")
    panel.input_edit.editingFinished.emit()
    assert panel.session.project.model.input_shape == [1, 8, 8]


def test_empty_network_says_what_to_do(panel):
    panel.session.update_model(ModelSpec(input_shape=[1, 8, 8], layers=[]))
    assert "Add layers" in panel.totals.text() and "no layers" in panel.problem.text()


def test_backbone_is_analyzed_off_the_gui_thread(panel, qtbot):
    spec = ModelSpec(
        input_shape=[1, 8, 8], layers=[{"type": "TorchvisionModel", "name": "resnet18", "num_classes": 10}]
    )
    with qtbot.waitSignal(panel.sig_analyzed, timeout=60_000) as blocker:
        panel.session.update_model(spec)
    assert blocker.args[0].ok and blocker.args[0].output_shape == (10,)
    assert rows(panel) == [("TorchvisionModel", "10")]


def test_unknown_types_and_wrong_values_are_shown_not_raised(panel):
    panel.session.update_model(
        ModelSpec(input_shape=[4], layers=[{"type": "Linear", "out_features": "ten"}, {"type": "Conv7d"}])
    )
    assert panel.analysis.error_path == (0,) and "whole number" in panel.analysis.layers[0].error
    select(panel, (0,))
    assert panel.properties.fields["out_features"].value() == 10  # the default, with the error above it
    select(panel, (1,))
    assert "unknown layer type" in panel.properties.problem.text()


def test_a_superseded_analysis_never_paints_over_a_newer_one(panel, qtbot, monkeypatch):
    """The first analysis's answer is held back until the second one has painted (as a slow trainer would
    deliver it): it must be dropped by its job, not shown over the newer network."""
    from workbench.ui import jobs as jobs_module

    def backbone(classes):
        return ModelSpec(
            input_shape=[1, 8, 8],
            layers=[{"type": "TorchvisionModel", "name": "resnet18", "num_classes": classes}],
        )

    host = panel.session.jobs.host
    dispatch, held, first = host._dispatch, [], []

    def late_for_the_first(message):
        if first and getattr(message, "job_id", None) == first[0]:
            held.append(message)
        else:
            dispatch(message)

    monkeypatch.setattr(host, "_dispatch", late_for_the_first)
    painted = []
    panel.sig_analyzed.connect(lambda analysis: painted.append(analysis.output_shape))
    panel.session.update_model(backbone(7))
    first.append(panel.session.jobs.current("analysis").job_id)
    with qtbot.waitSignal(panel.sig_analyzed, timeout=60_000):
        panel.session.update_model(backbone(5))
    qtbot.waitUntil(lambda: len(held) >= 2, timeout=60_000)  # the first job's events and its Done
    for message in held:
        dispatch(message)
    qtbot.wait(3 * jobs_module.DRAIN_MS)  # a frame or two: anything delivered would paint now
    assert painted == [(5,)] and rows(panel) == [("TorchvisionModel", "5")]
