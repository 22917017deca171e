"""The network diagram beside the layer list (`builderDiagram`): blocks with type, key parameters and output
shape, Residual skips as arcs into an add node, composites as frames that collapse, repeated layers folded into
"× N" (click the ▸ to unfold), the error layer in red. A click on a block selects that layer; the layer list's
selection is highlighted here. Zoom with Ctrl+wheel or the buttons; export to PNG or SVG.

The layout is computed in core (workbench.core.model.diagram, well under a millisecond per 50 layers) on each
analysis the builder already makes, and painted by `DiagramPainter`, which also draws the exports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QScrollArea,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.core.io import atomic_replace_with, atomic_write_bytes
from workbench.core.model.diagram import MARGIN, MIN_WIDTH, Box, Diagram, layout
from workbench.core.units import count_text
from workbench.ui.panels.builder.diagram_paint import DiagramPainter

ZOOMS = (0.35, 0.5, 0.65, 0.8, 1.0, 1.2, 1.45, 1.75, 2.1, 2.5)
MAX_BLOCK_WIDTH = 440  # wider blocks only spread the text out
PNG_SCALE = 2  # exported pixels per diagram unit: sharp on high-density screens and in documents


class DiagramCanvas(QWidget):
    """The painted diagram at a zoom; emits the layer path of a clicked block or the toggle of a ▸ / ▾."""

    sig_clicked = Signal(tuple)
    sig_toggled = Signal(tuple)
    sig_menu = Signal(object, QPoint)  # the box under a right click (or None), where to show the menu

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("builderDiagramCanvas")
        self.setMouseTracking(True)
        self.diagram: Diagram | None = None
        self.selected: Box | None = None
        self.zoom = 1.0
        self.setAutoFillBackground(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def set_diagram(self, diagram: Diagram, selected: Box | None) -> None:
        self.diagram, self.selected = diagram, selected
        self._resize()
        self.update()

    def _resize(self) -> None:
        d = self.diagram
        if d is not None:
            self.setFixedSize(QSize(int(d.width * self.zoom) + 1, int(d.height * self.zoom) + 1))

    def box_rect(self, box: Box) -> QRectF:
        """Where a box is on this widget (pixels)."""
        z = self.zoom
        return QRectF(box.x * z, box.y * z, box.w * z, box.h * z)

    def box_at(self, pos) -> Box | None:
        if self.diagram is None:
            return None
        return self.diagram.box_at(pos.x() / self.zoom, pos.y() / self.zoom)

    def paintEvent(self, event):  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().base())
        if self.diagram is not None:
            painter.scale(self.zoom, self.zoom)
            r = event.rect()
            z = self.zoom
            clip = QRectF(r.x() / z, r.y() / z, r.width() / z, r.height() / z)
            DiagramPainter(painter, self.font()).paint(self.diagram, self.selected, clip)
        painter.end()

    def mousePressEvent(self, event):  # noqa: N802 - Qt API
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        box = self.box_at(event.position())
        if box is None:
            return None
        x, y = event.position().x() / self.zoom, event.position().y() / self.zoom
        if box.on_toggle(x, y):
            self.sig_toggled.emit(box.toggle)
        elif box.kind in ("layer", "group", "repeat", "empty"):
            self.sig_clicked.emit(box.path)
        return None

    def keyPressEvent(self, event):  # noqa: N802 - Qt API: Up / Down walk the layers, Left / Right close / open
        key = event.key()
        if self.diagram is None or key not in (
            Qt.Key.Key_Up,
            Qt.Key.Key_Down,
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
        ):
            return super().keyPressEvent(event)
        # one stop per layer: an imported model's modules select their layer, so they are not stops
        stops = [b for b in self.diagram.boxes if b.kind in ("layer", "group", "repeat") and not b.module]
        at = next((i for i, b in enumerate(stops) if b is self.selected), None)
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            box = stops[at] if at is not None else None
            if box is not None and box.toggle is not None and box.expanded == (key == Qt.Key.Key_Left):
                self.sig_toggled.emit(box.toggle)
            return None
        step = 1 if key == Qt.Key.Key_Down else -1
        index = at + step if at is not None else (0 if step > 0 else len(stops) - 1)
        if 0 <= index < len(stops):
            self.sig_clicked.emit(stops[index].path)
        return None

    def contextMenuEvent(self, event):  # noqa: N802 - Qt API: a right click offers what can be done there
        self.sig_menu.emit(self.box_at(event.pos()), event.globalPos())

    def mouseMoveEvent(self, event):  # noqa: N802 - Qt API: a hand over what a click acts on
        box = self.box_at(event.position())
        clickable = box is not None and box.kind in ("layer", "group", "repeat", "empty")
        cursor = Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor
        if self.cursor().shape() != cursor:
            self.setCursor(cursor)
        super().mouseMoveEvent(event)

    def mouseDoubleClickEvent(self, event):  # noqa: N802 - Qt API: a double click opens or closes a fold / group
        box = self.box_at(event.position())
        if box is not None and box.toggle is not None:
            x, y = event.position().x() / self.zoom, event.position().y() / self.zoom
            if not box.on_toggle(x, y):  # the first click of the pair already toggled it
                self.sig_toggled.emit(box.toggle)

    def event(self, event):
        if event.type() == event.Type.ToolTip:
            box = self.box_at(event.position() if hasattr(event, "position") else event.pos())
            if box is None or box.kind == "empty":
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), tooltip(box), self)
            return True
        return super().event(event)


def tooltip(box: Box) -> str:
    if box.kind == "input":
        return f"Input {box.shape} (without the batch dimension)"
    if box.module:
        lines = [f"{box.module}  {box.title}", f"a module of the imported model, layer {box.label}"]
    else:
        lines = [f"{box.label}  {box.title}{f'({box.detail})' if box.detail and not box.frame else ''}"]
    if box.shape:
        lines.append(f"output {box.shape}")
        each = " in all" if box.count > 1 else ""
        lines.append(f"{box.params:,} parameters, {count_text(box.macs)} MACs per sample{each}")
    if box.count > 1:
        where = f", layers {box.label} to {'.'.join(map(str, box.paths[-1]))}" if box.paths else ""
        action = "click ▾ to fold them" if box.expanded else "click ▸ to unfold"
        lines.append(f"{box.count} identical copies{where}; {action}")
    if box.message:
        lines.append(box.message)
    return "\n".join(lines)


class NetworkDiagram(QWidget):
    """The diagram with its toolbar. `show_network` follows the builder's analyses; `select` its selection."""

    sig_layer_clicked = Signal(tuple)
    sig_beside = Signal(bool)  # the user asks to see the diagram beside the layer list (True) or in its tab

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("builderDiagram")
        self.spec = None
        self.analysis = None
        self.selected: tuple | None = None
        self.toggled: set[tuple] = set()
        self.diagram: Diagram | None = None
        self._zoom = ZOOMS.index(1.0)
        self.start_dir: Callable[[], str] | None = None  # the folder export dialogs open in

        self.canvas = DiagramCanvas()
        self.canvas.sig_clicked.connect(self._on_canvas_clicked)
        self.canvas.sig_toggled.connect(self._on_canvas_toggled)
        self.canvas.sig_menu.connect(self._on_canvas_menu)
        self.view = QScrollArea()
        self.view.setObjectName("builderDiagramView")
        self.view.setWidget(self.canvas)
        self.view.setWidgetResizable(False)
        self.view.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.view.viewport().installEventFilter(self)

        def button(name, text, tip, slot):
            b = QToolButton()
            b.setObjectName(name)
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.clicked.connect(slot)
            bar.addWidget(b)
            return b

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(2)
        self.zoom_out_button = button(
            "diagramZoomOutButton", "−", "Zoom out (Ctrl+wheel)", lambda: self.zoom_by(-1)
        )
        self.zoom_in_button = button(
            "diagramZoomInButton", "+", "Zoom in (Ctrl+wheel)", lambda: self.zoom_by(1)
        )
        self.fit_button = button("diagramFitButton", "Fit", "Zoom to show the whole network", self.fit)
        self.zoom_label = QLabel("100%")
        self.zoom_label.setMinimumWidth(38)
        bar.addWidget(self.zoom_label)
        self.unfold_button = button(
            "diagramUnfoldButton",
            "Unfold all",
            "Show every copy of the repeated layers, or fold them again",
            self.toggle_all,
        )
        bar.addStretch(1)
        self.beside_button = button(
            "diagramBesideButton",
            "Beside list",
            "Show the diagram beside the layer list (for a wide panel), or back in its tab",
            lambda: self.sig_beside.emit(self.beside_button.isChecked()),
        )
        self.beside_button.setCheckable(True)
        self.export_png_button = button(
            "diagramExportPngButton", "PNG…", "Save the diagram as a PNG image", self.export_png_dialog
        )
        self.export_svg_button = button(
            "diagramExportSvgButton", "SVG…", "Save the diagram as an SVG drawing", self.export_svg_dialog
        )
        layout_ = QVBoxLayout(self)
        layout_.setContentsMargins(0, 2, 0, 0)
        layout_.setSpacing(2)
        layout_.addLayout(bar)
        layout_.addWidget(self.view, 1)

    # -- following the builder
    # -----------------------------------------------------------------------------------------
    def show_network(self, spec, analysis, selected) -> None:
        self.spec, self.analysis = spec, analysis
        self.selected = tuple(selected) if selected is not None else None
        self.relayout()

    def relayout(self) -> None:
        if self.spec is None:
            return
        self.diagram = layout(self.spec, self.analysis, self.toggled, self._block_width())
        shown = self.diagram.box_for(self.selected) if self.selected else None
        self.canvas.set_diagram(self.diagram, shown)
        unfolded = any(key[0] == "repeat" for key in self.toggled)
        self.unfold_button.setEnabled(unfolded or any(b.kind == "repeat" for b in self.diagram.boxes))
        self.unfold_button.setText("Fold all" if unfolded else "Unfold all")

    def _block_width(self) -> float:
        room = self.view.viewport().width() / ZOOMS[self._zoom] - 2 * MARGIN - 4
        return max(MIN_WIDTH + 40, min(MAX_BLOCK_WIDTH, room))

    def select(self, path) -> None:
        """Highlight the block of layer `path` (or the fold / closed group that shows it) and scroll to it."""
        self.selected = tuple(path) if path is not None else None
        if self.diagram is None:
            return
        box = self.diagram.box_for(self.selected) if self.selected else None
        self.canvas.selected = box
        self.canvas.update()
        if box is not None:
            rect = self.canvas.box_rect(box)
            self.view.ensureVisible(
                int(rect.center().x()), int(rect.y() + min(rect.height(), 60) / 2), 40, 60
            )

    def block_center(self, path) -> QPoint:
        """Where a user clicks to pick layer `path` (canvas coordinates; tests and automation)."""
        box = self.diagram.box_for(path) if self.diagram else None
        if box is None:
            raise KeyError(path)
        rect = self.canvas.box_rect(box)
        y = rect.y() + (13 * self.canvas.zoom if box.frame else rect.height() / 2)
        return QPoint(int(rect.x() + rect.width() / 2), int(y))

    # -- zoom
    # ----------------------------------------------------------------------------------------------------------
    def zoom_by(self, steps: int) -> None:
        self.set_zoom_index(self._zoom + steps)

    def set_zoom_index(self, index: int) -> None:
        self._zoom = max(0, min(len(ZOOMS) - 1, index))
        zoom = ZOOMS[self._zoom]
        self.zoom_label.setText(f"{round(zoom * 100)}%")
        self.zoom_out_button.setEnabled(self._zoom > 0)
        self.zoom_in_button.setEnabled(self._zoom < len(ZOOMS) - 1)
        self.canvas.zoom = zoom
        self.relayout()

    def fit(self) -> None:
        """The largest zoom at which the whole network fits the view (down to the smallest step)."""
        if self.diagram is None:
            return
        viewport = self.view.viewport().size()
        best = 0
        for i, zoom in enumerate(ZOOMS):
            self._zoom = i
            d = layout(self.spec, self.analysis, self.toggled, self._block_width())
            if d.height * zoom <= viewport.height() and d.width * zoom <= viewport.width():
                best = i
        self.set_zoom_index(best)

    def eventFilter(self, watched, event):  # noqa: N802 - Qt API: Ctrl+wheel zooms, a resize re-fits the width
        if watched is self.view.viewport():
            if event.type() == event.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.zoom_by(1 if event.angleDelta().y() > 0 else -1)
                return True
            if event.type() == event.Type.Resize:
                self.relayout()
        return super().eventFilter(watched, event)

    # -- folding
    # -------------------------------------------------------------------------------------------------------
    def toggle(self, key) -> None:
        """Open or close a group, fold or unfold a run (`Box.toggle`)."""
        self.toggled ^= {tuple(key)}
        self.relayout()
        self.select(self.selected)

    def toggle_all(self) -> None:
        """Unfold every run (and the runs they show), or fold them all again when any is unfolded."""
        if any(key[0] == "repeat" for key in self.toggled):
            self.toggled = {key for key in self.toggled if key[0] != "repeat"}
        else:
            for _ in range(8):  # unfolding a run can show runs nested in it
                keys = (
                    {b.toggle for b in self.diagram.boxes if b.toggle and b.kind == "repeat"}
                    if self.diagram
                    else set()
                )
                if keys <= self.toggled:
                    break
                self.toggled |= keys
                self.relayout()
        self.relayout()
        self.select(self.selected)

    def context_menu(self, box: Box | None) -> QMenu:
        """The right-click menu on `box` (or on empty space): fold / unfold, collapse / expand, exports."""
        menu = QMenu(self)
        if box is not None and box.toggle is not None:
            if box.kind == "repeat":
                text = f"Fold the {box.count} copies" if box.expanded else f"Unfold the {box.count} copies"
            else:
                text = "Collapse" if box.expanded else "Expand"
            menu.addAction(text, lambda key=box.toggle: self.toggle(key))
        if self.unfold_button.isEnabled():
            menu.addAction(self.unfold_button.text(), self.toggle_all)
        menu.addSeparator()
        menu.addAction("Export PNG…", self.export_png_dialog)
        menu.addAction("Export SVG…", self.export_svg_dialog)
        return menu

    # -- export
    # -------------------------------------------------------------------------------------------------------
    def render_png(self) -> QImage:
        d = self.diagram
        image = QImage(int(d.width * PNG_SCALE), int(d.height * PNG_SCALE), QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.white)
        painter = QPainter(image)
        painter.scale(PNG_SCALE, PNG_SCALE)
        DiagramPainter(painter, self.font()).paint(d)
        painter.end()
        return image

    def render_svg(self) -> bytes:
        from PySide6.QtSvg import QSvgGenerator

        d = self.diagram
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        generator = QSvgGenerator()
        generator.setOutputDevice(buffer)
        generator.setSize(QSize(int(d.width), int(d.height)))
        generator.setViewBox(QRectF(0, 0, d.width, d.height))
        generator.setTitle("Network diagram")
        generator.setDescription("Workbench model builder")
        painter = QPainter(generator)
        painter.fillRect(QRectF(0, 0, d.width, d.height), Qt.GlobalColor.white)
        DiagramPainter(painter, self.font()).paint(d)
        painter.end()
        buffer.close()
        return bytes(data.data())

    def export_png(self, path) -> Path:
        """Write the whole diagram (as folded and opened now) to a PNG, atomically."""
        path = Path(path)
        image = self.render_png()

        def write(tmp):
            if not image.save(str(tmp), "PNG"):
                raise UserError(f"cannot write the PNG {path}; choose another folder")

        atomic_replace_with(path, write)
        return path

    def export_svg(self, path) -> Path:
        path = Path(path)
        atomic_write_bytes(path, self.render_svg())
        return path

    def export_png_dialog(self) -> None:
        self._export_dialog("PNG image (*.png)", ".png", self.export_png)

    def export_svg_dialog(self) -> None:
        self._export_dialog("SVG drawing (*.svg)", ".svg", self.export_svg)

    def _export_dialog(self, file_filter: str, suffix: str, write) -> None:
        if self.diagram is None:
            return
        start = str(Path(self.start_dir()) / f"network{suffix}") if self.start_dir else f"network{suffix}"
        path, _ = QFileDialog.getSaveFileName(self, "Export the network diagram", start, file_filter)
        if not path:
            return
        if not path.lower().endswith(suffix):
            path += suffix
        try:
            write(path)
        except UserError as exc:
            QMessageBox.warning(self, "Cannot export the diagram", str(exc))

    # -- handlers
    # ------------------------------------------------------------------------------------------------------
    def _on_canvas_clicked(self, path: tuple) -> None:
        self.select(path)
        self.sig_layer_clicked.emit(path)

    def _on_canvas_menu(self, box, pos) -> None:
        self.context_menu(box).exec(pos)

    def _on_canvas_toggled(self, key: tuple) -> None:
        self.toggle(key)
