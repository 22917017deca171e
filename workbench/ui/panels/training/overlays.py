"""Run overlays on the curves: other runs drawn beside the current one, readable at 20 runs.

Each overlaid run gets a colour of Paul Tol's colour-blind-safe "muted" palette (none of them the live run's blue,
orange or grey); past nine runs the colours repeat dashed, then dotted. A run keeps its colour while it stays
ticked. On the batch-loss plot a run is drawn over its whole length as
  - its raw batch loss as a pale min/max envelope: one (min, max) pair per pixel column (decimate.minmax_columns,
    so no spike is hidden), recomputed when the view's range or width changes;
  - its smoothed loss (the curves' smoothing slider) as a line, the lowest point marked with a dot;
and on the metric plot by its validation accuracy (or perplexity) per epoch, its best epoch marked with a star.
Hovering a plot shows a vertical line and, for every overlaid run, its value at that x ("run-a 0.83 @ step 1200").
The x unit follows the curves' x combo (step, epoch, time). A forked run's curves arrive already shifted to its
parent's step at the fork (RunCurves.shifted), so it continues from that point.

`OverlayLoader` reads the ticked runs' metrics with the "overlay_curves" job on a thread (cached: a run already
read is not read again), then emits them for `CurvesView.set_overlays`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from workbench.ui.widgets.decimate import minmax_columns, visible_slice
from workbench.ui.widgets.live_plot import X_LABELS, debiased_ema

# Paul Tol's "muted" qualitative palette, ordered so that the first runs are far apart (and all far from the live
# run's #1f77b4 / #ff7f0e / #9aa7b4)
PALETTE = ("#882255", "#117733", "#DDCC77", "#332288", "#CC6677", "#44AA99", "#AA4499", "#999933", "#88CCEE")
STYLES = (Qt.SolidLine, Qt.DashLine, Qt.DotLine)
ENVELOPE_ALPHA = 70  # of 255: the raw loss behind the smoothed line
LEGEND_MAX = 6  # more overlays than this: no legend (the read-out and the run table's swatches name them)
UNITS = {"step": "step ", "epoch": "epoch ", "time": ""}
READOUT_LINE_PX = 14  # one line of the 8 pt read-out


def overlay_style(slot: int) -> tuple[str, Qt.PenStyle]:
    """The colour and line style of the overlay in palette slot `slot`."""
    return PALETTE[slot % len(PALETTE)], STYLES[(slot // len(PALETTE)) % len(STYLES)]


def _decimate(
    x: np.ndarray, y: np.ndarray, columns: int, x_range, middle: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """minmax_columns, ending at the last point drawn (a column's pair sits at the column's first x, so the
    run's last point, or the first one past the visible range, is added). `middle`: one point per column, the
    middle of its (min, max) pair (a smoothed line, whose pairs are close)."""
    cut = visible_slice(x, x_range)
    xs, ys = minmax_columns(x, y, columns, x_range)
    if middle and cut.stop - cut.start > 2 * columns:  # decimated into pairs
        xs, ys = xs[0::2], (ys[0::2] + ys[1::2]) / 2
    x, y = x[cut], y[cut]
    if len(x) and len(xs) and xs[-1] != x[-1]:
        return np.append(xs, x[-1]), np.append(ys, y[-1])
    return xs, ys


@dataclass
class Overlay:
    name: str
    curves: object  # workbench.core.training.run_curves.RunCurves
    slot: int
    smooth: np.ndarray = field(default_factory=lambda: np.empty(0))
    smoothing: float = -1.0  # the weight `smooth` was computed with
    items: dict = field(default_factory=dict)  # envelope, line (loss plot); val (metric plot): PlotCurveItems

    @property
    def color(self) -> str:
        return overlay_style(self.slot)[0]

    def x(self, mode: str) -> np.ndarray:
        c = self.curves
        return {"step": c.step, "epoch": c.epoch, "time": c.time}[mode]

    def val_xy(self, mode: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        c = self.curves
        x = {"step": c.val_step, "epoch": c.val_epoch, "time": c.val_time}[mode]
        y = c.val_perplexity if metric == "perplexity" else c.val_accuracy
        keep = np.isfinite(x) & np.isfinite(y)
        return x[keep], y[keep]


def _log10(y: np.ndarray, on: bool) -> np.ndarray:
    """What a log-y plot draws: log10 of the positive values (PlotCurveItem does not do it itself)."""
    if not on:
        return y
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)


def _set_curve(item, x: np.ndarray, y: np.ndarray) -> None:
    finite = bool(np.isfinite(y).all())
    item.setData(x, y, connect="all" if finite else "finite", skipFiniteCheck=finite)


class RunOverlays(QObject):
    """The overlays of a CurvesView: its batch-loss plot and metric plot, x combo, log-y check and smoothing
    slider. Three curve items per run (reused while the run stays ticked) and one marker item per plot."""

    def __init__(self, view):
        super().__init__(view)
        self.view = view
        self.loss_plot = view.loss
        self.metric_plot = view.accuracy
        self.overlays: list[Overlay] = []
        self._drawn: tuple = ()  # (columns, x range) of the last decimation
        self._slots: dict[str, int] = {}  # run folder -> palette slot, kept while the run stays ticked
        self.best_loss = pg.ScatterPlotItem(symbol="o", size=8, pen=pg.mkPen("w"))
        self.best_val = pg.ScatterPlotItem(symbol="star", size=13, pen=pg.mkPen("w"))
        for plot, item in ((self.loss_plot, self.best_loss), (self.metric_plot, self.best_val)):
            item.setZValue(7)
            plot.getPlotItem().addItem(item)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(30)
        self._redraw_timer.timeout.connect(self.redraw_loss)
        vb = self.loss_plot.getPlotItem().vb
        vb.sigXRangeChanged.connect(self._schedule_redraw)
        vb.sigResized.connect(self._schedule_redraw)
        view.x_combo.currentTextChanged.connect(lambda _mode: self.redraw())
        view.log_check.toggled.connect(lambda _on: self.redraw())
        view.smooth_slider.valueChanged.connect(lambda _value: self._resmooth())
        self.cursors = {}
        for plot in (self.loss_plot, self.metric_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#777", style=Qt.DashLine))
            text = pg.TextItem(
                "", color="#222", anchor=(1, 0), fill=pg.mkBrush(255, 255, 255, 230), border=pg.mkPen("#bbb")
            )
            for item in (line, text):
                item.setZValue(30)
                item.setVisible(False)
                plot.getPlotItem().addItem(item, ignoreBounds=True)
            self.cursors[plot] = (line, text)
            plot.scene().sigMouseMoved.connect(lambda pos, p=plot: self._on_mouse_moved(p, pos))

    # -- contents
    # ----------------------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.view.x_combo.currentText()

    @property
    def metric(self) -> str:
        return self.view.metric_kind

    def set_runs(self, runs: list) -> None:
        """`runs`: (name, RunCurves) pairs, in the order to list them; replaces the overlays shown (a run still
        shown keeps its items and colour)."""
        old = {o.curves.run_dir: o for o in self.overlays}
        keep = {c.run_dir for _, c in runs}
        for run_dir, overlay in old.items():
            if run_dir not in keep:
                self._remove_items(overlay)
        self._slots = {d: s for d, s in self._slots.items() if d in keep}
        self.overlays = []
        for name, curves in runs:
            if curves.run_dir not in self._slots:
                used = set(self._slots.values())
                self._slots[curves.run_dir] = next(i for i in range(len(used) + 1) if i not in used)
            overlay = old.get(curves.run_dir)
            if overlay is None:
                overlay = Overlay(name, curves, self._slots[curves.run_dir])
                self._add_items(overlay)
            elif overlay.curves is not curves:  # read again (the run grew): smooth it again
                overlay.curves, overlay.smoothing = curves, -1.0
            overlay.name = name
            self.overlays.append(overlay)
        self._update_legend()
        self._resmooth()

    def colors(self) -> dict[str, str]:
        """Run folder -> its overlay colour (the run table shows it as a swatch)."""
        return {o.curves.run_dir: o.color for o in self.overlays}

    def extent(self) -> tuple[float, float]:
        """The longest overlay's last step and last (fractional) epoch."""
        steps = [float(o.curves.step[-1]) for o in self.overlays if len(o.curves.step)]
        epochs = [float(o.curves.epoch[-1]) for o in self.overlays if len(o.curves.epoch)]
        return max(steps, default=0.0), max(epochs, default=0.0)

    def _add_items(self, overlay: Overlay) -> None:
        color, style = overlay_style(overlay.slot)
        faint = pg.mkColor(color)
        faint.setAlpha(ENVELOPE_ALPHA)
        loss, metric = self.loss_plot.getPlotItem(), self.metric_plot.getPlotItem()
        for key, plot, pen, z in (
            ("envelope", loss, pg.mkPen(faint, width=1), 5),
            ("line", loss, pg.mkPen(color, width=1, style=style), 6),  # (1 px: a wider pen paints 4x slower)
            ("val", metric, pg.mkPen(color, width=1, style=style), 6),
        ):
            item = pg.PlotCurveItem(pen=pen)
            item.setZValue(z)
            plot.addItem(item)
            overlay.items[key] = item

    def _remove_items(self, overlay: Overlay) -> None:
        if self.loss_plot.legend is not None:
            self.loss_plot.legend.removeItem(overlay.items["line"])
        for key, item in overlay.items.items():
            plot = self.metric_plot if key == "val" else self.loss_plot
            plot.getPlotItem().removeItem(item)
        overlay.items.clear()

    def _update_legend(self) -> None:
        legend = self.loss_plot.legend
        if legend is None:
            return
        for overlay in self.overlays:
            legend.removeItem(overlay.items["line"])
        if len(self.overlays) <= LEGEND_MAX:
            for overlay in self.overlays:
                legend.addItem(overlay.items["line"], overlay.name)

    # -- drawing
    # -----------------------------------------------------------------------------------------------------
    def _resmooth(self) -> None:
        weight = min(max(self.view.smooth_slider.value() / 100, 0.0), 0.999)
        for overlay in self.overlays:
            if overlay.smoothing != weight:
                overlay.smooth = debiased_ema(overlay.curves.loss, weight)
                overlay.smoothing = weight
        self.redraw()

    def redraw(self) -> None:
        self.redraw_loss()
        mode, metric = self.mode, self.metric
        log = self.metric_plot.getPlotItem().ctrl.logYCheck.isChecked()
        spots = []
        for overlay in self.overlays:
            x, y = overlay.val_xy(mode, metric)
            _set_curve(overlay.items["val"], x, _log10(y, log))
            if len(y):
                i = int(np.argmin(y) if metric == "perplexity" else np.argmax(y))
                best = _log10(y[i : i + 1], log)[0]
                spots.append({"pos": (x[i], best), "brush": pg.mkBrush(overlay.color)})
        self.best_val.setData(spots)

    def _schedule_redraw(self, *_args) -> None:
        """The view's range or size changed: decimate again, unless the columns would be the same (a live run's
        steady axes move now and then; the overlays are not recomputed for nothing)."""
        if self.overlays and self._decimation() != self._drawn:
            self._redraw_timer.start()

    def _decimation(self) -> tuple:
        vb = self.loss_plot.getPlotItem().vb
        x_range = None if vb.autoRangeEnabled()[0] else tuple(vb.viewRange()[0])
        return max(int(vb.width()), 100), x_range

    def redraw_loss(self) -> None:
        """Decimate every overlay to the loss plot's pixel columns: the whole run while the x axis auto-ranges,
        else the visible range (a zoomed view shows every point it can). The raw loss is drawn as its min/max
        envelope; the smoothed line by one point per column (the middle of its pair)."""
        columns, x_range = self._drawn = self._decimation()
        mode, log = self.mode, self.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
        spots = []
        for overlay in self.overlays:
            x, raw, smooth = overlay.x(mode), overlay.curves.loss, overlay.smooth
            ex, ey = _decimate(x, raw, columns, x_range)
            _set_curve(overlay.items["envelope"], ex, _log10(ey, log))
            lx, ly = _decimate(x, smooth, columns, x_range, middle=True)
            _set_curve(overlay.items["line"], lx, _log10(ly, log))
            finite = np.isfinite(smooth)
            if finite.any():
                i = int(np.nanargmin(np.where(finite, smooth, np.nan)))
                spots.append(
                    {"pos": (x[i], _log10(smooth[i : i + 1], log)[0]), "brush": pg.mkBrush(overlay.color)}
                )
        self.best_loss.setData(spots)

    # -- value at x
    # --------------------------------------------------------------------------------------------------
    def readout_at(self, x: float, plot=None) -> list[str]:
        """Each overlay's value nearest `x` on `plot` (the loss plot by default): "run-a 0.83 @ step 1200";
        "(last)" after the run's end."""
        plot = plot or self.loss_plot
        mode, lines = self.mode, []
        for overlay in self.overlays:
            if plot is self.loss_plot:
                xs, ys = overlay.x(mode), overlay.smooth
            else:
                xs, ys = overlay.val_xy(mode, self.metric)
            if not len(xs):
                continue
            i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
            if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
                i -= 1
            at = f"{UNITS[mode]}{xs[i]:.4g}" + (" s" if mode == "time" else "")
            last = " (last)" if x > xs[-1] and i == len(xs) - 1 else ""
            lines.append(f"{overlay.name} {ys[i]:.4g} @ {at}{last}")
        return lines

    def _on_mouse_moved(self, plot, pos) -> None:
        line, text = self.cursors[plot]
        item = plot.getPlotItem()
        inside = bool(self.overlays) and item.vb.sceneBoundingRect().contains(pos)
        lines = self.readout_at(item.vb.mapSceneToView(pos).x(), plot) if inside else []
        line.setVisible(bool(lines))
        text.setVisible(bool(lines))
        legend = getattr(plot, "legend", None)
        if legend is not None:  # the read-out names every run: the legend steps aside meanwhile
            legend.setVisible(not lines)
        if not lines:
            return
        x = item.vb.mapSceneToView(pos).x()
        line.setPos(x)
        cells = [
            f"<td><span style='color:{o.color}'>&#9632;</span> {row}&nbsp;&nbsp;</td>"
            for o, row in zip(self.overlays, lines, strict=False)
        ]
        fit = max(int(item.vb.height() // READOUT_LINE_PX) - 1, 1)  # rows that fit: more runs, more columns
        per_column = math.ceil(len(cells) / math.ceil(len(cells) / fit))
        rows = "".join(
            "<tr>"
            + "".join(cells[c + r] for c in range(0, len(cells), per_column) if c + r < len(cells))
            + "</tr>"
            for r in range(per_column)
        )
        text.setHtml(
            f"<div style='font-size:8pt'>{X_LABELS[self.mode]} {x:.4g}"
            f"<table cellspacing=0 cellpadding=0>{rows}</table></div>"
        )
        (x0, x1), (_, y1) = item.viewRange()
        right_half = x > (x0 + x1) / 2  # beside the cursor, on the side with more room
        text.setAnchor((1, 0) if right_half else (0, 0))
        text.setPos(x, y1)


class OverlayLoader(QObject):
    """Loads the runs ticked for overlay with the "overlay_curves" job (a thread), then emits
    sig_loaded([(name, RunCurves)]). A newer request cancels an older one; cached runs come at once."""

    sig_loaded = Signal(list)

    def __init__(self, jobs, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self.job = None

    def request(self, runs: list) -> None:
        """`runs`: (name, run folder, fork step) triples: a fork whose own steps start again from 1 (an older
        writer) is drawn from its parent's step at the fork; one whose steps go on from there (fork.py) as it is."""
        from workbench.core.training.run_curves import cached_curves

        if self.job is not None:
            self.job.cancel()
            self.job = None
        cached = {str(d): cached_curves(d) for _, d, _ in runs}
        missing = [d for d, c in cached.items() if c is None]
        if not missing:
            self._emit(runs, cached)
            return
        job = self.jobs.job("overlays", "overlay_curves", run_dirs=missing)

        def collect(events, job=job):
            for curves in events:
                cached[curves.run_dir] = curves

        def done(error, job=job):
            if self.job is job:
                self.job = None
                if error is None:
                    self._emit(runs, cached)

        job.sig_events.connect(collect)
        job.sig_done.connect(done)
        self.job = job
        self.jobs.start(job)

    def _emit(self, runs: list, cached: dict) -> None:
        out = []
        for name, run_dir, fork_step in runs:
            curves = cached.get(str(run_dir))
            if curves is not None:
                restarted = fork_step and len(curves.step) and curves.step[0] <= fork_step
                out.append((name, curves.shifted(fork_step) if restarted else curves))
        self.sig_loaded.emit(out)
