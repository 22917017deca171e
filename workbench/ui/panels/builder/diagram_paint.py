"""Painting a `workbench.core.model.diagram.Diagram` with a QPainter: the same code draws the builder's diagram
on screen, into a PNG (QImage) and into an SVG (QSvgGenerator), so an export looks exactly like the view."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF

from workbench.core.errors import UserError
from workbench.core.model.diagram import HEADER_H, Box, Diagram
from workbench.core.model.registry import get_layer_type

INK = QColor(33, 37, 41)
MUTED = QColor(95, 104, 115)
LINE = QColor(123, 135, 148)
BORDER = QColor(154, 165, 177)
SELECTED = QColor(21, 101, 192)
SELECTED_FILL = QColor(227, 240, 255)
ERROR = QColor(176, 0, 32)
ERROR_FILL = QColor(255, 225, 225)
WARNING = QColor(138, 97, 0)
WARNING_FILL = QColor(255, 243, 205)
SKIP = QColor(106, 76, 186)
GROUP_FILL = QColor(244, 246, 248)
REPEAT_FILL = QColor(240, 244, 252)
BAND_FILL = QColor(222, 230, 245)
# a stripe on each block's left edge tells the kind of layer at a glance
CATEGORY_COLORS = {
    "Core": QColor(66, 133, 244),
    "Convolution": QColor(0, 150, 136),
    "Pooling": QColor(121, 134, 203),
    "Normalization": QColor(124, 179, 66),
    "Regularization": QColor(158, 158, 158),
    "Activation": QColor(255, 160, 0),
    "Sequence": QColor(171, 71, 188),
    "Attention": QColor(233, 30, 99),
    "Reshape": QColor(141, 110, 99),
    "Composite": QColor(106, 76, 186),
    "Pretrained": QColor(0, 121, 107),
}


def category_color(type_name: str) -> QColor:
    """The palette category's colour; grey for a type the registry does not know (an imported model's module)."""
    try:
        return CATEGORY_COLORS.get(get_layer_type(type_name).category, BORDER)
    except UserError:
        return BORDER


class DiagramPainter:
    """Draws one diagram; `selected` is the box to highlight, `clip` (diagram coordinates) skips what is not
    visible (the view repaints only the exposed part)."""

    def __init__(self, painter: QPainter, font: QFont):
        self.p = painter
        self.font = QFont(font)
        self.font.setPointSizeF(max(8.0, font.pointSizeF()))
        self.bold = QFont(self.font)
        self.bold.setBold(True)
        self.small = QFont(self.font)
        self.small.setPointSizeF(self.font.pointSizeF() * 0.86)
        self.metrics = QFontMetricsF(self.font)
        self.bold_metrics = QFontMetricsF(self.bold)
        self.small_metrics = QFontMetricsF(self.small)
        self._colors_by_type: dict[str, QColor] = {}
        self._metrics = {
            id(self.font): self.metrics,
            id(self.bold): self.bold_metrics,
            id(self.small): self.small_metrics,
        }

    def paint(self, diagram: Diagram, selected: Box | None = None, clip: QRectF | None = None) -> None:
        p = self.p
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        for box in diagram.boxes:
            if box.frame and (clip is None or clip.intersects(QRectF(box.x, box.y, box.w, box.h))):
                self._frame(box, box is selected)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QBrush(BAND_FILL))
        for x, y, w, h in diagram.bands:  # every second copy of an unfolded run
            if clip is None or clip.intersects(QRectF(x, y, w, h)):
                p.drawRoundedRect(QRectF(x, y, w, h), 6, 6)
        for edge in diagram.edges:
            if clip is None or clip.intersects(QRectF(edge.x - 6, edge.y0, 12, edge.y1 - edge.y0)):
                self._arrow(QPointF(edge.x, edge.y0), QPointF(edge.x, edge.y1), LINE)
        for arc in diagram.arcs:
            if clip is None or clip.intersects(
                QRectF(arc.join_x, arc.y0, arc.x - arc.join_x + 8, arc.y1 - arc.y0 + 10)
            ):
                self._skip(arc)
        for box in diagram.boxes:
            if not box.frame and (clip is None or clip.intersects(QRectF(box.x, box.y, box.w, box.h))):
                self._block(box, box is selected)

    # -- pieces
    # ----------------------------------------------------------------------------------------------------
    def _colors(self, box: Box, selected: bool) -> tuple[QColor, QColor, float]:
        """(border, fill, border width)."""
        if box.status == "error":  # red stays red when selected; the border says it is selected
            return (SELECTED, ERROR_FILL, 2.5) if selected else (ERROR, ERROR_FILL, 2.0)
        if selected:
            return SELECTED, SELECTED_FILL, 2.5
        if box.status == "warning":
            return WARNING, WARNING_FILL, 1.5
        return BORDER, QColor(Qt.GlobalColor.white), 1.0

    def _block(self, box: Box, selected: bool) -> None:
        p = self.p
        rect = QRectF(box.x, box.y, box.w, box.h)
        border, fill, width = self._colors(box, selected)
        if box.kind == "input":
            fill = GROUP_FILL
        elif box.kind == "empty":
            p.setPen(QPen(BORDER, 1, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(rect, 5, 5)
            self._text(
                self.small,
                MUTED,
                QRectF(rect.x() + 8, rect.y(), rect.width() - 16, rect.height()),
                f"{box.title}: {box.detail}",
                Qt.AlignmentFlag.AlignVCenter,
            )
            return
        if box.count > 1:  # a folded run: a second card peeks out behind the first
            p.setPen(QPen(BORDER, 1))
            p.setBrush(QBrush(REPEAT_FILL))
            p.drawRoundedRect(rect.translated(4, 4), 6, 6)
        p.setPen(QPen(border, width))
        p.setBrush(QBrush(fill))
        p.drawRoundedRect(rect, 6, 6)
        if box.kind != "input":
            stripe = QRectF(rect.x() + 1.5, rect.y() + 5, 4, rect.height() - 10)
            color = self._colors_by_type.get(box.title)
            if color is None:
                color = self._colors_by_type[box.title] = category_color(box.title)
            p.fillRect(stripe, color)
        self._labels(box, rect, rect.height())

    def _frame(self, box: Box, selected: bool) -> None:
        p = self.p
        rect = QRectF(box.x, box.y, box.w, box.h)
        border, _fill, width = self._colors(box, selected)
        fill = REPEAT_FILL if box.kind == "repeat" else GROUP_FILL
        pen = QPen(border if box.status or selected else BORDER.darker(110), width)
        if box.kind == "repeat":
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(QBrush(fill))
        p.drawRoundedRect(rect, 8, 8)
        self._labels(box, rect, HEADER_H)

    def _labels(self, box: Box, rect: QRectF, line_h: float) -> None:
        """Toggle glyph, title, shape and (blocks) a second line with the key parameters and the fold count."""
        left = rect.x() + (10 if box.kind != "input" else 8)
        if box.toggle is not None:
            opened = box.frame and (box.kind == "group" or box.expanded)
            self._triangle(rect.x() + 15, rect.y() + min(line_h, HEADER_H) / 2, opened)
            left = rect.x() + 24
        right = rect.x() + rect.width() - 8
        two_lines = not box.frame and box.kind != "input" and bool(box.detail or box.message)
        top_h = line_h / 2 + 1 if two_lines else line_h
        shape_w = self.metrics.horizontalAdvance(box.shape) + 4 if box.shape else 0
        count = f"× {box.count}" if box.count > 1 else ""
        if box.frame and box.kind == "repeat":
            count = f"× {box.count}" if not box.expanded else f"{box.count} copies"
        count_w = self.bold_metrics.horizontalAdvance(count) + 14 if count else 0
        title_rect = QRectF(left, rect.y() + (2 if two_lines else 0), right - left - shape_w - 6, top_h)
        if count and not two_lines:
            title_rect.setWidth(title_rect.width() - count_w - 4)
        self._text(self.bold, INK, title_rect, box.title, Qt.AlignmentFlag.AlignVCenter)
        if box.frame and box.detail:  # a frame's header: the parameters after the type, lighter
            used = self.bold_metrics.horizontalAdvance(box.title) + 8
            rest = QRectF(
                title_rect.x() + used, title_rect.y(), title_rect.width() - used, title_rect.height()
            )
            self._text(self.font, MUTED, rest, box.detail, Qt.AlignmentFlag.AlignVCenter)
        if box.shape:
            self._text(
                self.font,
                INK,
                QRectF(right - shape_w, title_rect.y(), shape_w, top_h),
                box.shape,
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            )
        if count:
            y = rect.y() + (line_h / 2 if two_lines else 0)
            h = line_h / 2 - 2 if two_lines else line_h
            x = (right - count_w) if two_lines else (right - shape_w - count_w - 4)
            self._pill(QRectF(x, y + 3, count_w, h - 6), count)
        if two_lines:
            detail_right = right - (count_w + 6 if count else 0)
            color, text = (
                (ERROR, box.message) if box.status == "error" else (MUTED, box.detail or box.message)
            )
            line = QRectF(left, rect.y() + line_h / 2 - 1, detail_right - left, line_h / 2 - 2)
            self._text(self.small, color, line, text, Qt.AlignmentFlag.AlignVCenter)

    def _triangle(self, cx: float, cy: float, opened: bool) -> None:
        """The toggle: ▾ (open: click to close) or ▸ (closed or folded: click to open)."""
        if opened:
            points = [QPointF(cx - 4.5, cy - 2.5), QPointF(cx + 4.5, cy - 2.5), QPointF(cx, cy + 3.5)]
        else:
            points = [QPointF(cx - 2.5, cy - 4.5), QPointF(cx + 3.5, cy), QPointF(cx - 2.5, cy + 4.5)]
        self.p.setPen(Qt.PenStyle.NoPen)
        self.p.setBrush(QBrush(MUTED))
        self.p.drawPolygon(QPolygonF(points))

    def _pill(self, rect: QRectF, text: str) -> None:
        self.p.setPen(Qt.PenStyle.NoPen)
        self.p.setBrush(QBrush(SELECTED))
        self.p.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        self._text(self.bold, QColor(Qt.GlobalColor.white), rect, text, Qt.AlignmentFlag.AlignCenter)

    def _text(self, font: QFont, color: QColor, rect: QRectF, text: str, align) -> None:
        if not text or rect.width() <= 4:
            return
        shown = self._metrics.get(id(font), self.metrics).elidedText(
            text, Qt.TextElideMode.ElideRight, rect.width()
        )
        self.p.setFont(font)
        self.p.setPen(color)
        self.p.drawText(rect, int(align), shown)

    def _arrow(self, start: QPointF, end: QPointF, color: QColor) -> None:
        p = self.p
        p.setPen(QPen(color, 1.3))
        p.drawLine(start, end)
        dx, dy = end.x() - start.x(), end.y() - start.y()
        length = max(1e-6, (dx * dx + dy * dy) ** 0.5)
        ux, uy = dx / length, dy / length
        head = QPolygonF(
            [
                end,
                QPointF(end.x() - 6 * ux + 3.5 * uy, end.y() - 6 * uy - 3.5 * ux),
                QPointF(end.x() - 6 * ux - 3.5 * uy, end.y() - 6 * uy + 3.5 * ux),
            ]
        )
        p.setBrush(QBrush(color))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawPolygon(head)

    def _skip(self, arc) -> None:
        """The skip: from the frame's header down its right margin, then left into the add node (⊕)."""
        p = self.p
        radius = 8.0
        path = QPainterPath(QPointF(arc.x, arc.y0))
        path.lineTo(arc.x, arc.y1 - 10)
        path.quadTo(arc.x, arc.y1, arc.x - 10, arc.y1)
        path.lineTo(arc.join_x + radius + 6, arc.y1)
        pen = QPen(SKIP, 1.6)
        if arc.label != "identity skip":
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        self._arrow(QPointF(arc.join_x + radius + 7, arc.y1), QPointF(arc.join_x + radius, arc.y1), SKIP)
        p.setPen(QPen(SKIP, 1.6))
        p.setBrush(QBrush(QColor(Qt.GlobalColor.white)))
        p.drawEllipse(QPointF(arc.join_x, arc.y1), radius, radius)
        p.drawLine(QPointF(arc.join_x - 4.5, arc.y1), QPointF(arc.join_x + 4.5, arc.y1))
        p.drawLine(QPointF(arc.join_x, arc.y1 - 4.5), QPointF(arc.join_x, arc.y1 + 4.5))
        # the label runs up the margin beside the arc
        p.save()
        p.translate(arc.x - 9, (arc.y0 + arc.y1) / 2)
        p.rotate(-90)
        span = arc.y1 - arc.y0 - 20
        self._text(self.small, SKIP, QRectF(-span / 2, -8, span, 16), arc.label, Qt.AlignmentFlag.AlignCenter)
        p.restore()
