"""The builder's network diagram (pytest-qt, offscreen), driven by mouse clicks on the view: a click selects the
layer in the layer list and the list's selection is highlighted, ▸ unfolds a run of identical layers, groups
collapse, the error layer is painted red, edits show at once, and the PNG / SVG exports are valid files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QFileDialog

from workbench.core.model.diagram import Box
from workbench.core.model.spec import ModelSpec
from workbench.core.model.templates import make_template
from workbench.ui.panels.builder import BuilderPanel
from workbench.ui.panels.builder.diagram import tooltip
from workbench.ui.panels.builder.diagram_paint import ERROR_FILL, SELECTED_FILL
from workbench.ui.session import ProjectSession


@pytest.fixture
def panel(qtbot):
    session = ProjectSession()
    widget = BuilderPanel(session)
    qtbot.addWidget(widget)
    widget.resize(620, 900)
    widget.show()
    qtbot.waitExposed(widget)
    widget.network_tabs.setCurrentWidget(widget.diagram)
    yield widget
    widget.shutdown()


def show(panel, spec: ModelSpec) -> None:
    panel.session.update_model(spec)
    assert panel.diagram.diagram is not None and panel.diagram.spec == spec


def click(qtbot, panel, pos: QPoint, double=False) -> None:
    canvas = panel.diagram.canvas
    panel.diagram.view.ensureVisible(pos.x(), pos.y(), 10, 10)
    if double:
        qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=pos)
    else:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=pos)


def pixel(panel, box, dx=0.5, dy=0.75) -> QColor:
    """The colour painted inside `box` (fractions of its width and height), from the widget itself."""
    rect = panel.diagram.canvas.box_rect(box)
    image = panel.diagram.canvas.grab().toImage()
    return image.pixelColor(int(rect.x() + rect.width() * dx), int(rect.y() + rect.height() * dy))


def test_clicking_a_block_selects_its_layer_and_the_list_selection_is_highlighted(panel, qtbot):
    show(panel, make_template("small_resnet", [3, 16, 16], 10))
    diagram = panel.diagram
    assert (
        diagram.objectName() == "builderDiagram" and panel.network_tabs.objectName() == "builderNetworkTabs"
    )
    click(qtbot, panel, diagram.block_center((5, 3)))  # the second Conv2d inside the second Residual
    assert panel.selected == (5, 3)
    assert panel.layer_list.selected_path() == (5, 3)
    assert panel.properties.isEnabled() and "Conv2d" in panel.properties.title.text()
    assert diagram.canvas.selected.path == (5, 3)
    assert "36,864 parameters" in tooltip(diagram.canvas.selected)  # 64x64x3x3 weights, bias=False
    assert pixel(panel, diagram.canvas.selected, 0.5, 0.5) == SELECTED_FILL
    # the keyboard walks the blocks in drawing order
    canvas = diagram.canvas
    qtbot.keyClick(canvas, Qt.Key.Key_Down)
    assert panel.selected == (5, 4)
    qtbot.keyClick(canvas, Qt.Key.Key_Down)
    assert panel.selected == (6,)
    qtbot.keyClick(canvas, Qt.Key.Key_Up)
    qtbot.keyClick(canvas, Qt.Key.Key_Up)
    assert panel.selected == (5, 3)
    # a click on a Residual frame's header selects the Residual itself; Left closes it, Right opens it
    click(qtbot, panel, diagram.block_center((3,)))
    assert panel.selected == (3,)
    qtbot.keyClick(canvas, Qt.Key.Key_Left)
    assert not diagram.diagram.box_for((3,)).frame and diagram.canvas.selected.path == (3,)
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    assert diagram.diagram.box_for((3,)).frame
    # the other way: picking a row in the layer list highlights its block
    panel.layer_list.setCurrentItem(panel.layer_list.item_for((9,)))
    assert diagram.canvas.selected.path == (9,) and diagram.canvas.selected.title == "AdaptiveAvgPool2d"


def test_a_folded_run_unfolds_with_its_toggle_and_groups_collapse(panel, qtbot):
    module_run = Box(
        "repeat", (0,), "BertLayer", "", "8×16", 0, 0, 9, 9, count=3, module="model.bert.encoder.layer.0"
    )
    assert tooltip(module_run).splitlines()[-1] == "3 identical copies; click ▸ to unfold"
    block = [{"type": "Linear", "out_features": 6}, {"type": "ReLU"}]
    layers = [{"type": "Linear", "out_features": 6}] * 6 + [
        {"type": "Residual", "layers": block},
        {"type": "ReLU"},
    ]
    show(panel, ModelSpec(input_shape=[4], layers=layers))  # the first Linear takes 4 features, the others 6
    diagram = panel.diagram
    fold = diagram.diagram.box_for((1,))
    assert (fold.kind, fold.count) == ("repeat", 5)
    # a click on the fold (not on ▸) selects its first layer; the layer list selects any copy's block
    click(qtbot, panel, diagram.block_center((3,)))
    assert panel.selected == (1,)
    rect = diagram.canvas.box_rect(fold)
    click(qtbot, panel, QPoint(int(rect.x() + 12), int(rect.center().y())))  # the ▸
    linears = [b.path for b in diagram.diagram.boxes if b.title == "Linear" and b.kind == "layer"]
    assert linears == [(i,) for i in range(6)] + [(6, 0)]
    click(qtbot, panel, diagram.block_center((4,)))
    assert panel.selected == (4,)
    assert diagram.unfold_button.text() == "Fold all"
    assert "5 identical copies, layers 1 to 5; click ▾ to fold them" in tooltip(
        next(b for b in diagram.diagram.boxes if b.kind == "repeat")
    )
    qtbot.mouseClick(diagram.unfold_button, Qt.MouseButton.LeftButton)
    assert diagram.diagram.box_for((4,)).count == 5 and diagram.canvas.selected.count == 5
    # the right-click menu unfolds one run too
    actions = {a.text(): a for a in diagram.context_menu(diagram.diagram.box_for((4,))).actions()}
    assert {"Unfold the 5 copies", "Unfold all", "Export PNG…", "Export SVG…"} <= set(actions)
    actions["Unfold the 5 copies"].trigger()
    assert diagram.diagram.box_for((4,)).path == (4,)
    qtbot.mouseClick(diagram.unfold_button, Qt.MouseButton.LeftButton)
    # collapse the Residual with its ▾; its body's blocks go away and its layers map to the closed group
    group = diagram.diagram.box_for((6,))
    before = diagram.diagram.height
    rect = diagram.canvas.box_rect(group)
    click(qtbot, panel, QPoint(int(rect.x() + 12), int(rect.y() + 12)))
    closed = diagram.diagram.box_for((6, 1))
    assert closed.path == (6,) and not closed.frame and diagram.diagram.height < before
    assert not diagram.diagram.arcs


def test_the_error_layer_is_red_and_edits_show_at_once(panel, qtbot):
    spec = ModelSpec(
        input_shape=[3, 8, 8],
        layers=[
            {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"type": "Linear", "out_features": 10},
            {"type": "Linear", "out_features": 10},
        ],
    )
    show(panel, spec)
    diagram = panel.diagram
    bad = diagram.diagram.error_box
    assert bad.path == (1,) and bad.kind == "layer"
    assert pixel(panel, bad, 0.85, 0.5) == ERROR_FILL
    click(qtbot, panel, diagram.block_center((1,)))  # selected, it stays red
    assert panel.selected == (1,) and pixel(panel, diagram.canvas.selected, 0.85, 0.5) == ERROR_FILL
    ok = diagram.diagram.box_for((0,))
    assert pixel(panel, ok, 0.5, 0.5) == QColor(Qt.GlobalColor.white)
    # the one-click fix (insert Flatten) goes through the builder; the diagram follows
    panel.apply_fix(panel.analysis.find((1,)).fix)
    assert diagram.diagram.error_box is None
    assert [b.title for b in diagram.diagram.boxes[1:]] == ["Conv2d", "Flatten", "Linear", "Linear"]
    click(qtbot, panel, diagram.block_center((3,)))
    panel.delete_selected()
    assert [b.title for b in diagram.diagram.boxes[1:]] == ["Conv2d", "Flatten", "Linear"]


def test_png_and_svg_exports_are_valid_files_with_the_blocks(panel, qtbot, tmp_path, monkeypatch):
    show(panel, make_template("small_resnet", [3, 16, 16], 10))
    diagram = panel.diagram
    png, svg = tmp_path / "net.png", tmp_path / "out" / "net"
    offered = []
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: offered.append(a[2]) or (str(png), "")
    )
    qtbot.mouseClick(diagram.export_png_button, Qt.MouseButton.LeftButton)
    assert offered == [str(Path.home() / "network.png")]  # beside the project (none saved yet: home)
    image = QImage(str(png))
    assert not image.isNull()
    assert image.width() == int(diagram.diagram.width * 2) and image.height() == int(
        diagram.diagram.height * 2
    )
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(svg), ""))
    qtbot.mouseClick(diagram.export_svg_button, Qt.MouseButton.LeftButton)
    written = svg.with_suffix(".svg")
    root = ET.parse(written).getroot()
    assert root.tag.endswith("svg")
    texts = {"".join(t.itertext()).strip() for t in root.iter() if t.tag.endswith("text")}
    assert {
        "Input",
        "Conv2d",
        "BatchNorm2d",
        "Residual",
        "identity skip",
        "AdaptiveAvgPool2d",
        "10",
    } <= texts
    assert "1×1 conv skip, stride 2" in texts
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temp files left behind
    # a folder that cannot be made (its parent is a file): one dialog line, nothing written, no traceback
    from qt_fixtures import DIALOGS

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(png / "net.svg"), ""))
    qtbot.mouseClick(diagram.export_svg_button, Qt.MouseButton.LeftButton)
    assert DIALOGS and DIALOGS[-1][:2] == ("warning", "Cannot export the diagram")
    assert "cannot write" in DIALOGS[-1][2] and QImage(str(png)).width() == image.width()


def test_zoom_buttons_and_fit(panel, qtbot):
    layers = [{"type": "Linear", "out_features": 8 + i % 5} for i in range(60)]
    show(panel, ModelSpec(input_shape=[8], layers=layers))
    diagram = panel.diagram
    height = diagram.canvas.height()
    qtbot.mouseClick(diagram.zoom_in_button, Qt.MouseButton.LeftButton)
    assert diagram.canvas.zoom == 1.2 and diagram.canvas.height() > height * 1.1
    assert diagram.zoom_label.text() == "120%"
    qtbot.mouseClick(diagram.fit_button, Qt.MouseButton.LeftButton)
    assert diagram.canvas.zoom < 1.0


def test_the_diagram_can_sit_beside_the_layer_list(panel, qtbot):
    show(panel, make_template("small_resnet", [3, 16, 16], 10))
    panel.resize(1300, 900)
    diagram, tabs = panel.diagram, panel.network_tabs
    qtbot.mouseClick(diagram.beside_button, Qt.MouseButton.LeftButton)
    assert tabs.indexOf(diagram) == -1 and diagram.parent() is panel.middle
    qtbot.waitUntil(lambda: diagram.isVisible() and panel.layer_list.isVisible())
    assert diagram.width() > 300 and diagram.geometry().left() > tabs.geometry().right()
    click(qtbot, panel, diagram.block_center((7, 0)))
    assert panel.layer_list.selected_path() == (7, 0) and diagram.canvas.selected.path == (7, 0)
    qtbot.mouseClick(diagram.beside_button, Qt.MouseButton.LeftButton)
    assert (
        tabs.indexOf(diagram) == 1
        and tabs.currentWidget() is diagram
        and not diagram.beside_button.isChecked()
    )
