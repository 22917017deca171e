"""One-click fixes checked against the layers after them, focus after a fix, float fields that show small values,
and an Embedding fix sized from the vocabulary (issue 15)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDoubleSpinBox

from workbench.core.data.dataset import DataBundle, DatasetMeta
from workbench.core.model.spec import ModelSpec
from workbench.ui.panels.builder import BuilderPanel
from workbench.ui.session import ProjectSession


@pytest.fixture
def panel(qtbot):
    session = ProjectSession()
    widget = BuilderPanel(session)
    qtbot.addWidget(widget)
    widget.resize(520, 650)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def load(panel, layers, input_shape, meta=None):
    if meta is not None:
        panel.session.set_data(DataBundle(meta, None, None, None))
    panel.session.update_model(ModelSpec(input_shape=input_shape, layers=layers))


def test_a_fix_is_offered_only_as_it_leaves_the_whole_model_valid(panel):
    """kernel 20 on a 16x16 input before a 2x2 max pool: 'kernel 16' would break the pool; 15 does not."""
    load(
        panel,
        [
            {"type": "Conv2d", "out_channels": 8, "kernel_size": 20},
            {"type": "ReLU"},
            {"type": "MaxPool2d", "kernel_size": 2},
            {"type": "Flatten"},
            {"type": "Linear", "out_features": 10},
        ],
        [1, 16, 16],
    )
    assert panel.fix_button.isVisible() and panel.fix_button.text() == "Fix: Set kernel_size to 15"
    QTest.mouseClick(panel.fix_button, Qt.LeftButton)
    assert panel.analysis.ok and panel.session.project.model.layers[0].params["kernel_size"] == 15


def test_a_fix_that_needs_more_says_what_else_it_changes(panel):
    """A 20x20 max pool after the conv: no kernel size alone makes the model valid, so the fix says it also
    shrinks the pool, and one click leaves a valid model (undone in one step)."""
    load(
        panel,
        [
            {"type": "Conv2d", "out_channels": 8, "kernel_size": 20},
            {"type": "ReLU"},
            {"type": "MaxPool2d", "kernel_size": 20},
            {"type": "Flatten"},
            {"type": "Linear", "out_features": 10},
        ],
        [1, 16, 16],
    )
    assert panel.fix_button.text() == "Fix: Set kernel_size to 16, and also set kernel_size to 1"
    QTest.mouseClick(panel.fix_button, Qt.LeftButton)
    layers = panel.session.project.model.layers
    assert (
        panel.analysis.ok and layers[0].params["kernel_size"] == 16 and layers[2].params["kernel_size"] == 1
    )
    panel.undo_stack.undo()
    assert panel.session.project.model.layers[0].params["kernel_size"] == 20


def test_after_append_flatten_linear_focus_is_not_in_a_text_field(panel, qtbot):
    meta = DatasetMeta(
        kind="digits", input_shape=(1, 8, 8), num_classes=10, class_names=[str(i) for i in range(10)]
    )
    load(
        panel,
        [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "ReLU"}],
        [1, 8, 8],
        meta,
    )
    panel.activateWindow()
    assert "Append Flatten + Linear(10)" in panel.fix_button.text()
    panel.fix_button.setFocus()
    QTest.mouseClick(panel.fix_button, Qt.LeftButton)
    assert [layer.type for layer in panel.session.project.model.layers][-2:] == ["Flatten", "Linear"]
    focus = QApplication.focusWidget()
    assert focus is not panel.input_edit
    assert focus is panel.layer_list or panel.layer_list.isAncestorOf(focus)
    QTest.keyClicks(panel.input_edit if focus is panel.input_edit else focus, "x")
    assert panel.input_edit.text() == "1, 8, 8"


def test_batchnorm_eps_shows_its_value(panel):
    load(
        panel,
        [
            {"type": "Conv2d", "out_channels": 4, "kernel_size": 3},
            {"type": "BatchNorm2d"},
            {"type": "Flatten"},
            {"type": "Linear", "out_features": 10},
        ],
        [1, 8, 8],
    )
    panel.layer_list.setCurrentItem(panel.layer_list.item_for((1,)))
    eps = next(w for w in panel.properties.findChildren(QDoubleSpinBox) if abs(w.value() - 1e-5) < 1e-12)
    assert eps.text() == "1e-05"
    eps.stepBy(1)
    assert eps.text() == "2e-05"


def test_embedding_fix_is_sized_from_the_vocabulary(panel):
    meta = DatasetMeta(
        kind="csv",
        input_shape=(40,),
        num_classes=3,
        class_names=list("abc"),
        input_dtype="int64",
        extra={"vocab_size": 1332},
    )
    load(panel, [{"type": "LSTM", "hidden_size": 16}, {"type": "Linear", "out_features": 3}], [40], meta)
    assert "Embedding(1,332 tokens)" in panel.fix_button.text()
    QTest.mouseClick(panel.fix_button, Qt.LeftButton)
    first = panel.session.project.model.layers[0]
    assert (
        first.type == "Embedding"
        and first.params["num_embeddings"] == 1332
        and first.params["padding_idx"] == 0
    )
    assert panel.analysis.ok


def test_export_code_shows_a_preview_before_saving(panel, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QDialogButtonBox, QFileDialog

    load(panel, [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}], [1, 8, 8])
    target = tmp_path / "model.py"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    QTest.mouseClick(panel.export_button, Qt.LeftButton)
    preview = panel.code_preview
    qtbot.waitUntil(preview.isVisible, timeout=5000)
    assert "class Model(nn.Sequential)" in preview.text.toPlainText() and not target.exists()
    preview.grab().save(str(tmp_path / "preview.png"))
    QTest.mouseClick(preview.buttons.button(QDialogButtonBox.Save), Qt.LeftButton)
    assert "class Model(nn.Sequential)" in target.read_text()
    assert not preview.isVisible()
