"""Evaluation: the confusion matrix as a heatmap (click a cell to see the samples behind it), per-class
precision / recall / F1, and a gallery of those samples or of every misclassified one."""

from __future__ import annotations

import contextlib

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.ui.panels.training.sample_box import SampleBox

THUMB = 56
MAX_THUMBS = 200
EMPTY_TEXT = (
    "Select a run in Runs (or finish a run), then Evaluate: a confusion matrix appears here; click a cell "
    "to see its samples."
)


def _lut() -> np.ndarray:
    """White to a deep blue: diagonal cells read as strong, stray mistakes as faint."""
    t = np.linspace(0, 1, 256)[:, None]
    white, blue = np.array([255, 255, 255]), np.array([16, 72, 160])
    return (white + (blue - white) * t**0.7).astype(np.uint8)


def to_pixmap(image: np.ndarray, size: int = THUMB) -> QPixmap:
    """uint8 HxW or HxWx3 -> a pixmap scaled up with sharp pixels (8x8 digits stay readable)."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    if image.ndim == 2:
        qimage = QImage(image.data, w, h, w, QImage.Format_Grayscale8)
    else:
        qimage = QImage(image.data, w, h, 3 * w, QImage.Format_RGB888)
    mode = Qt.FastTransformation if max(h, w) < size else Qt.SmoothTransformation
    return QPixmap.fromImage(qimage.copy()).scaled(size, size, Qt.KeepAspectRatio, mode)


class ConfusionMatrixPlot(pg.PlotWidget):
    sig_cell_clicked = Signal(int, int)  # true class, predicted class

    def __init__(self, parent=None):
        super().__init__(parent=parent, background="w")
        self.setObjectName("confusionMatrix")
        self.setMinimumSize(220, 220)
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(False, False)
        item.invertY(True)
        item.setAspectLocked(True)
        item.setLabel("bottom", "predicted")
        item.setLabel("left", "true")
        for axis in ("left", "bottom"):  # class ticks only: no "true (x0.001)" from -400 to 400 when empty
            item.getAxis(axis).enableAutoSIPrefix(False)
            item.getAxis(axis).setTicks([[]])
        item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(_lut())
        item.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.highlight = pg.QtWidgets.QGraphicsRectItem(0, 0, 1, 1)
        self.highlight.setPen(pg.mkPen("#ff7f0e", width=3))
        self.highlight.setVisible(False)
        item.addItem(self.highlight)
        self.matrix = np.zeros((0, 0), dtype=int)
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)

    def set_matrix(self, matrix, names: list[str]) -> None:
        self.matrix = np.asarray(matrix, dtype=int)
        n = len(self.matrix)
        rows = self.matrix.sum(1, keepdims=True).clip(min=1)
        self.image.setImage(self.matrix / rows, levels=(0, 1))
        self.image.setRect(0, 0, n, n)
        item = self.getPlotItem()
        for text in self.texts:
            item.removeItem(text)
        self.texts = []
        font_px = 10 if n <= 12 else 7
        for t in range(n):
            for p in range(n):
                count = int(self.matrix[t, p])
                if count == 0:
                    continue
                dark = self.matrix[t, p] / rows[t, 0] > 0.55
                text = pg.TextItem(str(count), color="w" if dark else "#222", anchor=(0.5, 0.5))
                font = text.textItem.font()
                font.setPixelSize(font_px)
                text.setFont(font)
                text.setPos(p + 0.5, t + 0.5)
                item.addItem(text)
                self.texts.append(text)
        ticks = [(i + 0.5, names[i] if i < len(names) else str(i)) for i in range(n)]
        if n > 20:
            ticks = ticks[:: max(1, n // 20)]
        item.getAxis("bottom").setTicks([ticks])
        item.getAxis("left").setTicks([ticks])
        item.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)
        self.highlight.setVisible(False)

    def reset(self) -> None:
        """No matrix: no image, counts, class ticks or highlight."""
        item = self.getPlotItem()
        for text in self.texts:
            item.removeItem(text)
        self.texts = []
        self.image.clear()
        self.matrix = np.zeros((0, 0), dtype=int)
        self.highlight.setVisible(False)
        for axis in ("left", "bottom"):
            item.getAxis(axis).setTicks([[]])
        item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)

    def cell_at(self, scene_pos) -> tuple[int, int] | None:
        point = self.getPlotItem().vb.mapSceneToView(scene_pos)
        p, t = int(np.floor(point.x())), int(np.floor(point.y()))
        n = len(self.matrix)
        return (t, p) if 0 <= t < n and 0 <= p < n else None

    def mark(self, t: int, p: int) -> None:
        self.highlight.setRect(p, t, 1, 1)
        self.highlight.setVisible(True)

    def _on_scene_clicked(self, event) -> None:
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.mark(*cell)
            self.sig_cell_clicked.emit(*cell)


class EvaluationView(QWidget):
    sig_evaluate_requested = Signal(str)  # split

    def __init__(self, parent=None):
        super().__init__(parent)
        self.result = None
        self.data = None
        self.split_combo = QComboBox()
        self.split_combo.setObjectName("evaluationSplitCombo")
        self.split_combo.addItems(["val", "test"])
        self.evaluate_button = QPushButton("Evaluate selected run")
        self.evaluate_button.setObjectName("evaluateButton")
        self.evaluate_button.clicked.connect(
            lambda: self.sig_evaluate_requested.emit(self.split_combo.currentText())
        )
        self.misclassified_button = QPushButton("Misclassified")
        self.misclassified_button.setToolTip("Every wrong prediction, the most confident first")
        self.misclassified_button.clicked.connect(self.show_misclassified)
        self.status = QLabel(EMPTY_TEXT)
        self.status.setWordWrap(True)
        self.status.setObjectName("evaluationStatus")
        self.matrix = ConfusionMatrixPlot()
        self.matrix.sig_cell_clicked.connect(self.show_cell)
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("perClassTable")
        self.table.setHorizontalHeaderLabels(["class", "prec.", "recall", "F1", "n"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.gallery_label = QLabel("")
        self.gallery_label.setWordWrap(True)
        self.gallery = QListWidget()
        self.gallery.setObjectName("sampleGallery")
        self.gallery.setViewMode(QListWidget.IconMode)
        self.gallery.setIconSize(QSize(THUMB, THUMB))
        self.gallery.setGridSize(QSize(THUMB + 16, THUMB + 30))
        self.gallery.setResizeMode(QListWidget.Adjust)
        self.gallery.setMovement(QListWidget.Static)
        self.gallery.setUniformItemSizes(True)

        self.sample_box = SampleBox()  # a language-model run: text from a prompt instead of a matrix
        self.split_label = QLabel("Split")
        bar = QHBoxLayout()
        bar.addWidget(self.split_label)
        bar.addWidget(self.split_combo)
        bar.addWidget(self.evaluate_button)
        bar.addWidget(self.misclassified_button)
        bar.addStretch(1)
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.table)
        gallery_box = QWidget()
        gl = QVBoxLayout(gallery_box)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addWidget(self.gallery_label)
        gl.addWidget(self.gallery, 1)
        right.addWidget(gallery_box)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.matrix)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        classifier = QWidget()
        cl = QVBoxLayout(classifier)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.status)
        cl.addWidget(split, 1)
        self.pages = QStackedWidget()
        self.pages.addWidget(classifier)
        self.pages.addWidget(self.sample_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.pages, 1)
        self.misclassified_button.setEnabled(False)

    def show_language_model(self, run_name: str) -> None:
        """A language-model run: the sample box (prompt -> generated text) in place of the confusion matrix."""
        self.result = self.data = None
        self._set_language_model(True)
        self.sample_box.set_run(run_name)
        self.evaluate_button.setEnabled(True)

    def _set_language_model(self, on: bool) -> None:
        self.pages.setCurrentIndex(1 if on else 0)
        for widget in (self.split_label, self.split_combo, self.misclassified_button):
            widget.setVisible(not on)
        self.evaluate_button.setText("Sample from selected run" if on else "Evaluate selected run")

    def clear(self) -> None:
        """Back to the empty state (another project was opened: its runs, its classes)."""
        self.result = self.data = None
        self._set_language_model(False)
        self.status.setText(EMPTY_TEXT)
        self.matrix.reset()
        self.table.setRowCount(0)
        self.gallery.clear()
        self.gallery_label.setText("")
        self.misclassified_button.setEnabled(False)
        self.evaluate_button.setEnabled(True)

    def set_busy(self, text: str) -> None:
        self._set_language_model(False)
        self.status.setText(text)
        self.evaluate_button.setEnabled(False)

    def set_error(self, text: str) -> None:
        self._set_language_model(False)
        self.status.setText(f"<span style='color:#b00020'>{text}</span>")
        self.evaluate_button.setEnabled(True)

    def set_result(self, result, data) -> None:
        self._set_language_model(False)
        self.result, self.data = result, data
        self.evaluate_button.setEnabled(True)
        self.misclassified_button.setEnabled(True)
        run = result.run.rsplit("/", 1)[-1] if result.run else "model"
        wrong = len(result.y_true) - sum(result.confusion[i][i] for i in range(len(result.confusion)))
        self.status.setText(
            f"<b>{run}</b> on {result.split}: accuracy <b>{result.accuracy:.2%}</b>, loss "
            f"{result.loss:.4f}, {wrong} of {len(result.y_true)} wrong. Click a cell."
        )
        self.matrix.set_matrix(result.confusion, result.class_names)
        self.table.setRowCount(len(result.class_names))
        for row, name in enumerate(result.class_names):
            values = [
                name,
                f"{result.precision[row]:.2f}",
                f"{result.recall[row]:.2f}",
                f"{result.f1[row]:.2f}",
                str(result.support[row]),
            ]
            for col, value in enumerate(values):
                cell = QTableWidgetItem(value)
                cell.setTextAlignment(Qt.AlignCenter)
                self.table.setItem(row, col, cell)
        self.show_misclassified()

    def _set_gallery_mode(self, images: bool) -> None:
        """Thumbnails in a grid for images; one line per sample (classes, confidence, values) otherwise."""
        gallery = self.gallery
        if images:
            gallery.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
            gallery.setViewMode(QListWidget.IconMode)
            gallery.setGridSize(QSize(THUMB + 16, THUMB + 30))
            gallery.setUniformItemSizes(True)
        else:
            gallery.setViewMode(QListWidget.ListMode)
            gallery.setGridSize(QSize())
            gallery.setWordWrap(True)  # the values wrap under the classes in a narrow column
            gallery.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

    def show_cell(self, true_class: int, predicted_class: int) -> None:
        if self.result is None:
            return
        names = self.result.class_names
        indices = self.result.cell(true_class, predicted_class)
        self.matrix.mark(true_class, predicted_class)
        self._fill(
            indices,
            f"true <b>{names[true_class]}</b> predicted as <b>{names[predicted_class]}</b>: "
            f"{len(indices)} sample(s)",
        )

    def show_misclassified(self) -> None:
        if self.result is None:
            return
        wrong = self.result.misclassified()
        self._fill(wrong, f"misclassified: {len(wrong)} sample(s), the most confident mistakes first")

    def _fill(self, indices: list[int], caption: str) -> None:
        self.gallery.clear()
        shown = indices[:MAX_THUMBS]
        more = f" (first {MAX_THUMBS} shown)" if len(indices) > MAX_THUMBS else ""
        self.gallery_label.setText(caption + more)
        r, data = self.result, self.data
        images = bool(shown) and _sample_image(data, r.split, shown[0]) is not None
        self._set_gallery_mode(images)
        for i in shown:
            true, pred = r.class_names[r.y_true[i]], r.class_names[r.y_pred[i]]
            label = f"{true}→{pred}" if true != pred else true
            if not images:  # a table row or a text: its values beside the classes, in a list
                label = f"{label}  ({r.confidence[i]:.0%})\n{_sample_text(data, r.split, i)}"
            item = QListWidgetItem(label)
            image = _sample_image(data, r.split, i) if images else None
            if image is not None:
                item.setIcon(QIcon(to_pixmap(image)))
            tip = f"{r.split} sample {i}: true {true}, predicted {pred} ({r.confidence[i]:.0%})"
            text = getattr(data, "sample_text", None)
            if callable(text):
                with contextlib.suppress(Exception):  # a tooltip must never break the gallery
                    tip += f"\n{text(r.split, i)}"
            item.setToolTip(tip)
            item.setData(Qt.UserRole, i)
            self.gallery.addItem(item)


def _sample_text(data, split: str, i: int, width: int = 160) -> str:
    text = getattr(data, "sample_text", None)
    if data is None or not callable(text):
        return ""
    try:
        value = " ".join(str(text(split, i)).split())
    except Exception:  # noqa: BLE001 - a sample that cannot be read shows its classes only
        return ""
    return value if len(value) <= width else value[: width - 1] + "…"


def _sample_image(data, split: str, i: int):
    render = getattr(data, "sample_image", None)
    if data is None or not callable(render):
        return None
    try:
        return render(split, i)
    except Exception:  # noqa: BLE001 - a sample that cannot be drawn shows as text only
        return None
