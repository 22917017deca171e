"""LabelHolder: a QLabel whose text changes while the user watches (the training stats line, the hardware legend)
without re-laying out the window on every new text.

Qt re-lays out on every QLabel.setText: the label asks its layout again, each layout that is activated asks its
parent's (QLayout::activate ends in updateGeometry "ideally only if sizeHint() or sizePolicy() has changed"), up to
the main window, which then repaints the whole dock, even when nothing moved. Only a widget of fixed width and height
stops it. While training, the stats line (4 times a second) and the hardware panel (once a second) repainted the
training dock that way, more often than the loss plot painted itself (bench/training.py).

The holder has no layout: the label's request for a new layout reaches the holder alone, which passes it on only when
the new text needs more room than the label has, or another height.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize
from PySide6.QtWidgets import QLabel, QWidget


class LabelHolder(QWidget):
    """Put the holder in the layout; go on using the label (its text, tooltip, visibility) as before."""

    def __init__(self, label: QLabel, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = label
        label.setParent(self)
        self.setSizePolicy(label.sizePolicy())
        self.setAutoFillBackground(True)  # opaque (the window's colour): a new text repaints the holder alone
        self._room = self._needed()  # what the layouts above were last told
        label.installEventFilter(self)  # shown or hidden: the holder follows

    def _needed(self) -> QSize:
        """The label's minimum width, and its height at the holder's width."""
        label, width = self.label, self.width()
        wraps = label.hasHeightForWidth() and width > 0
        height = label.heightForWidth(width) if wraps else label.sizeHint().height()
        return QSize(label.minimumSizeHint().width(), height)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.label.sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.label.minimumSizeHint()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return self.label.hasHeightForWidth()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        return self.label.heightForWidth(width)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:  # the label's text (or font, or format) changed
            needed = self._needed()
            if needed.height() != self._room.height() or needed.width() > max(
                self.width(), self._room.width()
            ):
                self._room = needed
                self.updateGeometry()
            return True
        return super().event(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.label.setGeometry(self.rect())
        self._room = self._needed()
        super().resizeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.label and event.type() in (QEvent.Type.ShowToParent, QEvent.Type.HideToParent):
            self.setVisible(not self.label.isHidden())
        return False
