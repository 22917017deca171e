"""The curves: batch loss (raw + smoothed) large on top; epoch losses, accuracies, learning rate and the
system (GPU, or CPU and RAM) below. One toolbar for x unit, log y, smoothing and export."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSlider,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.ui.widgets.live_plot import LivePlot

BLUE, ORANGE, GREEN, PURPLE, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#9aa7b4"
SECONDARY_REFRESH_S = 1.0  # the learning-rate and system plots: new points once a second
EPOCH_REFRESH_S = 0.5  # the epoch plots: at once, then at most twice a second
BOTH = f"<span style='color:{BLUE}'>train</span> · <span style='color:{ORANGE}'>val</span>"
# the small metric plot: accuracy, or perplexity (exp of the next-token loss) for a language model, where
# accuracy means little; its series keep the keys train_accuracy / val_accuracy whatever they show
METRICS = {
    "accuracy": ("Accuracy", "train_accuracy", "val_accuracy"),
    "perplexity": ("Perplexity", "train_perplexity", "val_perplexity"),
}


class CurvesView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss = LivePlot("Batch loss", "loss")
        self.loss.setObjectName("lossPlot")
        self.loss.add_series("loss", "loss", GREY, width=1)
        self.loss.add_series("loss_smooth", "smoothed", BLUE, smooth_of="loss")
        both = BOTH
        self.epoch_loss = LivePlot(f"Epoch loss: {both}", legend=False)
        self.epoch_loss.add_series("train_loss", "train", BLUE, symbol="o")
        self.epoch_loss.add_series("val_loss", "val", ORANGE, symbol="o")
        self.accuracy = LivePlot(f"Accuracy: {both}", legend=False)
        self.accuracy.setObjectName("metricPlot")
        self.metric_kind = "accuracy"  # or "perplexity" (set_metric)
        self.accuracy.add_series("train_accuracy", "train", BLUE, symbol="o")
        self.accuracy.add_series("val_accuracy", "val", ORANGE, symbol="o")
        self.lr = LivePlot("Learning rate", legend=False)
        self.lr.add_series("lr", "lr", PURPLE)
        self.system = LivePlot("System (%)", legend=False)
        self.system.set_x_mode("time")
        self.system.set_empty_text("CPU / GPU load\nwhile training")
        self.system.setObjectName("systemPlot")
        for secondary in (self.lr, self.system):
            secondary.min_refresh_s = SECONDARY_REFRESH_S
        for per_epoch in (self.epoch_loss, self.accuracy):  # short epochs (an MLP's 20 a second) batch up
            per_epoch.min_refresh_s = EPOCH_REFRESH_S
        self.plots = (self.loss, self.epoch_loss, self.accuracy, self.lr)
        self.all_plots = (*self.plots, self.system)
        self._system_kind: str | None = None
        self._overlays: list[str] = []
        self._extent: tuple[int | None, int | None] = (None, None)
        self._overlay_extent: tuple[float, float] = (0, 0)  # the longest overlay's last step and epoch
        for plot in self.all_plots:
            for axis in (
                "left",
                "bottom",
            ):  # "loss" with ticks 0.0006..0.0009, never "loss (x0.001)" 600..900
                plot.getPlotItem().getAxis(axis).enableAutoSIPrefix(False)
        self._build()
        self.set_empty("Press Start to train: the loss appears here within seconds")

    def _build(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("x"))
        self.x_combo = QComboBox()
        self.x_combo.setObjectName("xAxisCombo")
        self.x_combo.addItems(["step", "epoch", "time"])
        self.x_combo.setToolTip(
            "Plot against the optimizer step, the epoch, or seconds since the run started"
        )
        self.x_combo.currentTextChanged.connect(self._on_x_combo_changed)
        bar.addWidget(self.x_combo)
        self.log_check = QCheckBox("log y")
        self.log_check.setObjectName("logYCheck")
        self.log_check.toggled.connect(self._on_log_check_toggled)
        bar.addWidget(self.log_check)
        bar.addSpacing(8)
        bar.addWidget(QLabel("smoothing"))
        self.smooth_slider = QSlider(Qt.Horizontal)
        self.smooth_slider.setObjectName("smoothingSlider")
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)
        self.smooth_slider.setMaximumWidth(140)
        self.smooth_slider.setToolTip(
            "Debiased exponential moving average of the batch loss (display only: "
            "the stored points never change)"
        )
        self.smooth_slider.valueChanged.connect(self._on_smooth_slider_changed)
        bar.addWidget(self.smooth_slider)
        self.smooth_label = QLabel("0.60")
        self.smooth_label.setMinimumWidth(30)
        bar.addWidget(self.smooth_label)
        bar.addStretch(1)
        export = QToolButton()
        export.setObjectName("exportCurvesButton")
        export.setText("Export")
        export.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(export)
        for plot, name in (
            (self.loss, "batch loss"),
            (self.epoch_loss, "epoch loss"),
            (self.accuracy, "accuracy"),
            (self.lr, "learning rate"),
        ):
            menu.addAction(f"{name.capitalize()} as CSV…", lambda p=plot, n=name: self._export(p, n, "csv"))
            menu.addAction(f"{name.capitalize()} as PNG…", lambda p=plot, n=name: self._export(p, n, "png"))
        export.setMenu(menu)
        bar.addWidget(export)

        small = QSplitter(Qt.Horizontal)
        for plot in (self.epoch_loss, self.accuracy, self.lr, self.system):
            small.addWidget(plot)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.loss)
        split.addWidget(small)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)

    # -- data
    # ------------------------------------------------------------------------------------------------------
    def set_metric(self, metric: str) -> None:
        """What the small metric plot shows: "accuracy", or "perplexity" for a language-model run."""
        if metric == self.metric_kind:
            return
        self.metric_kind = metric
        self.accuracy.getPlotItem().setTitle(f"{METRICS[metric][0]}: {BOTH}", size="9pt", color="#333")
        self.accuracy.set_log_y(metric == "perplexity" and self.log_check.isChecked())

    def clear(self) -> None:
        self._extent = (None, None)
        self.set_metric("accuracy")  # a language-model run's first epoch switches it to perplexity
        for plot in self.all_plots:
            plot.clear_data()
        self.set_overlays([])
        for plot in self.all_plots:
            view = plot.getPlotItem().vb  # the old run's axes go too (another project opened, a new run)
            view.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            view.enableAutoRange()
            view.fresh = True
        self.set_extent(None, None)

    def set_empty(self, text: str) -> None:
        self.loss.set_empty_text(text)

    def add_points(self, batches: list, epochs: list, t0: float) -> None:
        """BatchEnds (runs of batch-end events, column by column) and EpochEnd events, each list in order: one array
        append per series, whatever the count."""
        if batches:

            def column(name: str) -> np.ndarray:
                values = itertools.chain.from_iterable(run.columns[name] for run in batches)
                return np.fromiter(values, dtype=np.float64)

            steps = column("step")
            fractions = (
                column("epoch") - 1 + column("batch") / np.maximum(column("batches"), 1)
            )  # fractional epoch
            times = column("time") - t0
            self.loss.extend("loss", steps, fractions, times, column("loss"))
            self.lr.extend("lr", steps, fractions, times, column("lr"))
        if not epochs:
            return
        if any(getattr(e, "train_perplexity", None) is not None for e in epochs):
            self.set_metric("perplexity")
        fields = METRICS[self.metric_kind][1:]
        for plot, keys in (
            (self.epoch_loss, (("train_loss", "train_loss"), ("val_loss", "val_loss"))),
            (self.accuracy, tuple(zip(("train_accuracy", "val_accuracy"), fields, strict=True))),
        ):
            for key, field in keys:
                rows = [(e, value) for e in epochs if (value := getattr(e, field, None)) is not None]
                if rows:
                    plot.extend(
                        key,
                        [e.step for e, _ in rows],
                        [e.epoch for e, _ in rows],
                        [e.time - t0 for e, _ in rows],
                        [value for _, value in rows],
                    )

    def add_hardware(self, snapshot, t: float, device: str | None) -> None:
        """CPU and RAM, or the training GPU's utilization and memory, from a hardware snapshot."""
        values = _system_values(snapshot, device)
        if not values:
            return
        kind = "gpu" if "GPU util" in values else "cpu"
        if kind != self._system_kind:
            for key in list(self.system.series):
                self.system.remove_series(key)
            colors = (GREEN, PURPLE)
            names = []
            for (label, _), color in zip(values.items(), colors, strict=False):
                self.system.add_series(label, label, color)
                names.append(f"<span style='color:{color}'>{label}</span>")
            self.system.getPlotItem().setTitle("System %: " + " · ".join(names), size="9pt", color="#333")
            self._system_kind = kind
        for label, value in values.items():
            if label in self.system.series:
                self.system.append(label, 0, 0, t, value)

    def refresh(self, force: bool = False) -> None:
        """Push the new points of every plot to its curves in this one frame (Qt paints them together on its
        next pass); the learning-rate and system plots at most SECONDARY_REFRESH_S apart unless `force` (a
        frame costs the GUI process CPU: the batch loss is the live one, the epoch plots change once an epoch)."""
        lr_changed = self.lr.has_new_points()
        for plot in self.all_plots:
            plot.refresh(force)  # a plot without new points only checks its empty-state text
        if lr_changed and not self.lr.has_new_points():  # (its range is set when its points are)
            self._fit_lr_range()

    def _fit_lr_range(self) -> None:
        lr = self.lr.series["lr"].y.view
        if len(lr) and lr.min() == lr.max() and not self.log_check.isChecked():
            self.lr.setYRange(0, lr[0] * 1.25, padding=0)  # a constant LR: show it against zero
        else:
            self.lr.enableAutoRange(axis="y")

    def set_extent(self, steps: int | None, epochs: int | None) -> None:
        """A live run's full length: the x axes span it from the start, so they are not re-laid out (and
        re-painted) on every frame, and the curves fill them left to right."""
        self._extent = (steps, epochs)
        self._apply_extent()

    def _apply_extent(self) -> None:
        steps, epochs = self._extent
        mode = self.x_combo.currentText()
        end = steps if mode == "step" else epochs if mode == "epoch" else None
        if end:  # a longer overlaid run is shown whole, not cut at this run's length
            end = max(end, self._overlay_extent[0 if mode == "step" else 1])
        for plot in self.plots:
            if end:
                plot.getPlotItem().enableAutoRange(x=False)
                plot.setXRange(0, end, padding=0.01)
            else:
                plot.getPlotItem().enableAutoRange(x=True)

    def show_run(self, metrics) -> None:
        """A saved run's curves (every point), in place of the live ones."""
        self.clear()
        t0 = metrics.time[0] if metrics.time else 0.0
        epoch_x = _epoch_fractions(metrics.batch_epoch)
        times = [t - t0 for t in metrics.time]
        self.loss.set_points("loss", metrics.steps, epoch_x, times, metrics.loss)
        self.lr.set_points("lr", metrics.steps, epoch_x, times, metrics.lr)
        lm = any(e.get("train_perplexity") is not None for e in metrics.epochs)
        self.set_metric("perplexity" if lm else "accuracy")
        fields = METRICS[self.metric_kind][1:]
        for plot, keys in (
            (self.epoch_loss, (("train_loss", "train_loss"), ("val_loss", "val_loss"))),
            (self.accuracy, tuple(zip(("train_accuracy", "val_accuracy"), fields, strict=True))),
        ):
            for key, field in keys:
                rows = [e for e in metrics.epochs if e.get(field) is not None]
                plot.set_points(
                    key,
                    [e.get("step", 0) for e in rows],
                    [e["epoch"] for e in rows],
                    [(e.get("time") or t0) - t0 for e in rows],
                    [e[field] for e in rows],
                )
        self.refresh()

    def set_overlays(self, runs: list) -> None:
        """Other runs beside the current curves: `runs` are (name, RunCurves) pairs (overlays.OverlayLoader
        reads them); drawn by overlays.RunOverlays, each over its whole length."""
        if not hasattr(self, "overlay_layer"):
            from workbench.ui.panels.training.overlays import RunOverlays

            self.overlay_layer = RunOverlays(self)
        self.overlay_layer.set_runs(runs)
        self._overlay_extent = self.overlay_layer.extent()
        self._apply_extent()
        self.refresh()
        if runs:  # no "Press Start" over other runs' curves
            self.loss.empty_text.setVisible(False)

    # -- toolbar
    # ---------------------------------------------------------------------------------------------------
    def _on_x_combo_changed(self, mode: str) -> None:
        for plot in self.plots:
            plot.set_x_mode(mode)
        self._apply_extent()
        if mode == "time":
            self.loss.setXLink(self.system)
        else:
            self.loss.setXLink(None)
            self.system.getPlotItem().enableAutoRange()

    def _on_log_check_toggled(self, on: bool) -> None:
        for plot in (self.loss, self.epoch_loss, self.lr):
            plot.set_log_y(on)
        self._fit_lr_range()
        self.accuracy.set_log_y(on and self.metric_kind == "perplexity")  # (a log accuracy says little)

    def _on_smooth_slider_changed(self, value: int) -> None:
        self.smooth_label.setText(f"{value / 100:.2f}")
        self.loss.set_smoothing(value / 100)

    def _export(self, plot: LivePlot, name: str, fmt: str) -> None:
        default = str(Path.home() / f"{name.replace(' ', '_')}.{fmt}")
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {name}", default, "CSV (*.csv)" if fmt == "csv" else "PNG image (*.png)"
        )
        if not path:
            return
        try:
            plot.export_csv(path) if fmt == "csv" else plot.export_png(path)
        except UserError as exc:
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.warning(self, "Export failed", str(exc))


def _epoch_fractions(batch_epochs: list[int]) -> list[float]:
    """Fractional epoch of each batch (0.05, 0.10, ... 1.0 for epoch 1) from the epoch of each batch line."""
    counts: dict[int, int] = {}
    for e in batch_epochs:
        counts[e] = counts.get(e, 0) + 1
    seen: dict[int, int] = {}
    out = []
    for e in batch_epochs:
        seen[e] = seen.get(e, 0) + 1
        out.append(e - 1 + seen[e] / counts[e])
    return out


def _system_values(snapshot, device: str | None) -> dict[str, float]:
    """Read a hardware snapshot defensively (another engineer's objects): GPU when training on one."""
    gpus = getattr(snapshot, "gpus", None) or ()
    if device and device.startswith("cuda") and gpus:
        gpu = None
        finder = getattr(snapshot, "gpu", None)
        if callable(finder):
            gpu = finder(device)
        gpu = gpu or gpus[0]
        util = getattr(gpu, "utilization", None)
        mem = getattr(gpu, "memory_percent", None)
        out = {}
        if util is not None:
            out["GPU util"] = float(util)
        if mem is not None:
            out["GPU mem"] = float(mem)
        if out:
            out.setdefault("GPU util", math.nan)
            return out
    cpu = getattr(getattr(snapshot, "cpu", None), "percent", None)
    ram = getattr(getattr(snapshot, "memory", None), "percent", None)
    out = {}
    if cpu is not None:
        out["CPU"] = float(cpu)
    if ram is not None:
        out["RAM"] = float(ram)
    return out
