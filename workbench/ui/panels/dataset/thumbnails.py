"""ThumbnailGrid: a grid of sample images with their labels, sized to the space it gets."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

CELL = 64  # thumbnail side in pixels (the picture), plus a caption line below
CAPTION = 16
GAP = 6


def to_qimage(img: np.ndarray) -> QImage:
    """uint8 HxW (grayscale) or HxWx3 (RGB) -> a QImage that owns a copy of the pixels."""
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    if img.ndim == 2:
        return QImage(img.data, w, h, w, QImage.Format_Grayscale8).copy()
    return QImage(img.data, w, h, 3 * w, QImage.Format_RGB888).copy()


class ThumbnailGrid(QWidget):
    """Set `items` to [(uint8 image, caption)]; `capacity()` says how many fit at the current size."""

    sig_capacity_changed = Signal(int)  # more (or fewer) thumbnails fit after a resize

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("datasetThumbnails")
        self._items: list[tuple[QImage, str]] = []
        self._empty = "Load a dataset to see samples"
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(QSize(CELL * 3, CELL + CAPTION))
        self.setAutoFillBackground(True)

    def set_items(self, items: list[tuple[np.ndarray, str]]) -> None:
        self._items = [(to_qimage(img), caption) for img, caption in items]
        self.update()

    def set_empty_text(self, text: str) -> None:
        self._items = []
        self._empty = text
        self.update()

    @property
    def count(self) -> int:
        return len(self._items)

    def _grid(self) -> tuple[int, int]:
        cols = max(1, (self.width() + GAP) // (CELL + GAP))
        rows = max(1, (self.height() + GAP) // (CELL + CAPTION + GAP))
        return cols, rows

    def capacity(self) -> int:
        cols, rows = self._grid()
        return cols * rows

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._items and self.capacity() != len(self._items):
            self.sig_capacity_changed.emit(self.capacity())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.Base))
        if not self._items:
            p.setPen(pal.color(QPalette.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self._empty)
            return
        cols, _ = self._grid()
        used = cols * (CELL + GAP) - GAP
        x0 = max(0, (self.width() - used) // 2)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        p.setRenderHint(QPainter.SmoothPixmapTransform, False)  # crisp pixels for small images
        for k, (img, caption) in enumerate(self._items):
            r, c = divmod(k, cols)
            x, y = x0 + c * (CELL + GAP), r * (CELL + CAPTION + GAP)
            if y + CELL > self.height():
                break
            scaled = img.size().scaled(QSize(CELL, CELL), Qt.KeepAspectRatio)
            target = QRect(
                x + (CELL - scaled.width()) // 2,
                y + (CELL - scaled.height()) // 2,
                scaled.width(),
                scaled.height(),
            )
            p.fillRect(QRect(x, y, CELL, CELL), QColor(20, 20, 20))
            p.drawImage(target, img)
            p.setPen(pal.color(QPalette.Text))
            text = p.fontMetrics().elidedText(caption, Qt.ElideRight, CELL)
            p.drawText(QRect(x, y + CELL, CELL, CAPTION), Qt.AlignHCenter | Qt.AlignVCenter, text)
