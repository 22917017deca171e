"""LivePlot: a pyqtgraph plot for curves that grow while training.

Every point is kept (growing numpy arrays, one per unit of x: step, epoch, time) up to MAX_POINTS per series;
past that the older half is thinned 2:1, keeping the min and max of each block of four (spikes survive), so
memory stays bounded however long a run goes (every point stays on disk in the run's metrics.jsonl). The display is
downsampled (`clipToView` + `autoDownsample`, together: ~8 ms for 1M points instead of ~100 ms) and
redrawn only by `refresh()` (the panel calls it once a frame), with `setData` on existing curves.
A repaint is cheap when the scales hold still: the axes (with a grid line per labelled tick only) are cached as
pixmaps and the auto-range is steady (SteadyViewBox), so most frames repaint the curves and blit the rest:
0.8 ms for a 900x300 plot instead of 8-16 ms (measured here; redrawing the axes and a minor grid was the rest).
A smoothed series is derived from a raw one with a debiased EMA (as TensorBoard does, without its bias
toward the first point); changing the smoothing recomputes the display only, never the stored points.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem

from workbench.ui.widgets.decimate import minmax_columns

X_MODES = ("step", "epoch", "time")
MAX_POINTS = 100_000  # per series in memory (~4 MB with its three x arrays); older points are thinned beyond
X_LABELS = {"step": "step", "epoch": "epoch", "time": "time (s)"}
HEADROOM = 0.25  # a growing auto-range takes a quarter of the span more than it needs, on the side it grew
MIN_FILL = 0.5  # and shrinks when the data fills less than half of it


def steady_range(
    current: tuple[float, float], data: tuple[float, float], padding: float = 0.02
) -> tuple[float, float]:
    """The range to show `data` (its exact bounds) in, given what is shown now: unchanged while the data fits and
    fills at least MIN_FILL of it; otherwise the data with HEADROOM on each side that grew (`padding` on the
    others), from zero for data that is not negative and comes near it (a falling loss settles on a range from zero
    instead of rescaling as it falls)."""
    (c0, c1), (d0, d1) = current, data
    span = d1 - d0
    if c0 <= d0 and d1 <= c1 and span >= MIN_FILL * (c1 - c0):
        return c0, c1
    fits = c0 <= d0 and d1 <= c1
    low = d0 - (HEADROOM if fits or d0 < c0 else padding) * span
    high = d1 + (HEADROOM if fits or d1 > c1 else padding) * span
    if d0 >= 0 and low < HEADROOM * span:  # near zero: from zero (whatever a pen's pixel padding added)
        low = 0.0
    return low, high


class SteadyViewBox(pg.ViewBox):
    """pyqtgraph's auto-range, made steady: a live curve rescales now and then (steady_range), not on every
    frame. The first auto-range after `fresh = True` (new data) fits the data as pyqtgraph does; explicit
    ranges and the user's zoom and pan are untouched."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fresh = True
        # per auto-ranged axis: the bounds of the data the last auto-range was made for
        self.data_bounds: dict[int, tuple[float, float]] = {}
        # while a curve's tail is set (LivePlot._push): "check" the auto-range at the next paint without repainting
        # the whole view for it (the tail repaints its strip; a range that changes repaints everything anyway), or
        # leave it "as is" (the new points lie within the data the range was made for)
        self.tail_update: str | None = None

    def queueUpdateAutoRange(self) -> None:  # noqa: N802 - pyqtgraph API
        if self.tail_update == "as is":
            return
        if self.tail_update == "check":
            self._autoRangeNeedsUpdate = True
            return
        super().queueUpdateAutoRange()

    def holds(self, bounds: tuple[tuple[float, float], tuple[float, float]]) -> bool:
        """Points within `bounds` ((x0, x1), (y0, y1)) leave the auto-range as it is: each auto-ranged axis was
        ranged for data at least that wide."""
        for axis, (low, high) in enumerate(bounds):
            # (low > high: no finite value, nothing to range)
            if self.state["autoRange"][axis] is False or not low <= high:
                continue
            known = self.data_bounds.get(axis)
            if known is None or not known[0] <= low <= high <= known[1]:
                return False
        return True

    def setRange(  # noqa: N802 - pyqtgraph API
        self,
        rect=None,
        xRange=None,  # noqa: N803 - pyqtgraph's argument names
        yRange=None,  # noqa: N803
        padding=None,
        update=True,
        disableAutoRange=True,  # noqa: N803
    ):
        if rect is None and not disableAutoRange:  # an auto-range step (updateAutoRange)
            padded = (xRange, yRange)
            data = [self._unpadded(axis, r) for axis, r in enumerate(padded)]
            self.data_bounds = {axis: d for axis, d in enumerate(data) if d is not None}
            if not self.fresh:
                xRange, yRange = (  # noqa: N806
                    r
                    if d is None
                    else steady_range(tuple(self.viewRange()[axis]), d, self.suggestPadding(axis))
                    for axis, (r, d) in enumerate(zip(padded, data, strict=True))
                )
            self.fresh = False
        super().setRange(rect, xRange, yRange, padding, update, disableAutoRange)

    def _unpadded(self, axis: int, padded) -> tuple[float, float] | None:
        """pyqtgraph asks for the data's bounds widened by suggestPadding() on each side: the data's bounds."""
        if padded is None or not padded[1] > padded[0]:
            return None
        p = self.suggestPadding(axis)
        pad = (padded[1] - padded[0]) * p / (1 + 2 * p)
        return padded[0] + pad, padded[1] - pad


class GrowingArray:
    """Append-only float64 storage with amortized O(1) appends and zero-copy views."""

    def __init__(self, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def append(self, value: float) -> None:
        if self.n == len(self._data):
            self._data = np.resize(self._data, max(1024, 2 * self.n))
        self._data[self.n] = value
        self.n += 1

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.float64)
        need = self.n + len(values)
        if need > len(self._data):
            self._data = np.resize(self._data, max(need, 2 * len(self._data)))
        self._data[self.n : need] = values
        self.n = need

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]

    def keep(self, index: np.ndarray) -> None:
        """Keep only the points at `index` (ascending), in place."""
        kept = self._data[: self.n][index]
        self.n = len(kept)
        self._data[: self.n] = kept


def thinning_index(y: np.ndarray, older: int) -> np.ndarray:
    """Indices that keep the first `older` points at half density (the min and the max of each block of four,
    in order) and every point after them."""
    blocks = older // 4
    head = y[: blocks * 4].reshape(blocks, 4)
    low = np.where(np.isnan(head), np.inf, head).argmin(1)
    high = np.where(np.isnan(head), -np.inf, head).argmax(1)
    high = np.where(low == high, np.where(low == 3, 0, 3), high)  # a flat block: keep two distinct points
    base = np.arange(blocks) * 4
    pairs = np.stack([base + np.minimum(low, high), base + np.maximum(low, high)], axis=1).ravel()
    return np.concatenate([pairs, np.arange(blocks * 4, len(y))])


# a live curve's newest points are drawn apart while they span at most this share of the x axis (LivePlot._push)
TAIL_SHARE = 0.25
SYMBOL_POINTS = 60  # a series drawn with markers shows them up to this many points (a 100-epoch run: a line)
EMA_BLOCK = 64  # the closed form below per block of this many points: weight**-64 stays far inside float64


def ema_filter(x: np.ndarray, weight: float, last: float = 0.0) -> np.ndarray:
    """y[n] = weight * y[n-1] + (1 - weight) * x[n], starting from y[-1] = `last`, in numpy (as
    scipy.signal.lfilter([1 - w], [1, -w], x, zi=[w * last]) computes it; importing scipy.signal costs the GUI
    thread seconds). Per block: y_k = w^(k+1) s + (1 - w) w^k cumsum(w^-j x_j)."""
    out = np.empty(len(x), dtype=np.float64)
    if weight <= 0:
        out[:] = x
        return out
    k = np.arange(EMA_BLOCK, dtype=np.float64)
    up, down = weight**k, weight**-k
    state = float(last)
    for start in range(0, len(x), EMA_BLOCK):
        block = np.asarray(x[start : start + EMA_BLOCK], dtype=np.float64)
        n = len(block)
        y = weight * up[:n] * state + (1.0 - weight) * up[:n] * np.cumsum(block * down[:n])
        out[start : start + n] = y
        state = float(y[-1])
    return out


def debiased_ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average divided by (1 - weight^k): no pull toward zero at the start.
    Non-finite points pass through unsmoothed and do not disturb the average."""
    out = np.array(values, dtype=np.float64, copy=True)
    if weight <= 0 or len(values) == 0:
        return out
    finite = np.isfinite(out)
    y = out[finite]
    if len(y):
        ema = ema_filter(y, weight)
        ema /= 1.0 - weight ** np.arange(1, len(y) + 1)
        out[finite] = ema
    return out


@dataclass
class Series:
    key: str
    label: str
    curve: pg.PlotDataItem
    xs: dict[str, GrowingArray] = field(default_factory=lambda: {m: GrowingArray() for m in X_MODES})
    y: GrowingArray = field(default_factory=GrowingArray)
    smooth_of: str | None = None  # this series displays the EMA of another series
    symbol: str | None = None  # a marker per point, while there are few of them
    ema_state: tuple[float, int] = (0.0, 0)
    tail: pg.PlotDataItem | None = None  # draws the newest points (see LivePlot._push)
    dirty: bool = False
    drawn: int = 0  # points `curve` draws (`tail` the ones after); 0: `curve` is drawn again with every point
    finite: bool = True  # every point finite: pyqtgraph skips its per-frame check (skipFiniteCheck)

    def __len__(self) -> int:
        return self.y.n

    def redraw(self) -> None:
        """Not only new points: the next refresh draws the whole curve again."""
        self.dirty, self.drawn = True, 0

    def extend_x(self, steps, epochs, times) -> None:
        """The new points' x values, one array per x mode."""
        for mode, values in zip(X_MODES, (steps, epochs, times), strict=True):
            self.xs[mode].extend(values)


def compact_number(value: float) -> str:
    """2000 -> 2k, 1500000 -> 1.5M: x tick labels that fit side by side in a small plot."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


class CompactAxis(pg.AxisItem):
    """A bottom axis whose labels stay short (steps run into the thousands; at 1280x800 a small plot is
    150 px wide and "2000 4000 6000 8000" ran together)."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        if spacing * scale < 1000:
            return super().tickStrings(values, scale, spacing)
        return [compact_number(v * scale) for v in values]


class LivePlot(pg.PlotWidget):
    paint_seconds = 0.0  # time spent painting every LivePlot (bench/training.py reports it)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        start = time.perf_counter()
        super().paintEvent(event)
        LivePlot.paint_seconds += time.perf_counter() - start

    def __init__(self, title: str = "", y_label: str = "", parent=None, legend: bool = True):
        super().__init__(
            parent=parent,
            background="w",
            viewBox=SteadyViewBox(),
            axisItems={"bottom": CompactAxis("bottom")},
        )
        self.setMinimumSize(120, 90)
        item = self.getPlotItem()
        item.setTitle(title, size="9pt", color="#333")
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setLabel("left", y_label)
        item.setLabel("bottom", X_LABELS["step"])
        for axis in ("left", "bottom"):
            item.getAxis(axis).setTextPen("#444")
            item.getAxis(axis).setPen("#888")
            item.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # a grid line per labelled tick (minor lines cost 3x); room for the labels grows but never shrinks
            # (a narrower label re-laid out the plot, and repainted all of it, a frame later)
            item.getAxis(axis).setStyle(maxTickLevel=0, autoReduceTextSpace=False)
        item.setMenuEnabled(True)
        self.legend = item.addLegend(offset=(-4, 4), labelTextSize="8pt") if legend else None
        if self.legend is not None:
            self.legend.setBrush(pg.mkBrush(255, 255, 255, 200))
            # inside the curves' area: repainted with them every frame, from a pixmap instead of in Python
            self.legend.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.series: dict[str, Series] = {}
        self.max_points = MAX_POINTS
        self.min_refresh_s = 0.0  # a secondary plot pushes its new points at most this often (refresh(force))
        self._refreshed = 0.0
        self._decimated = False  # a curve draws a decimated copy: redo it when the x range changes
        self._redecimating = False
        item.vb.sigXRangeChanged.connect(self._on_view_x_changed)
        item.vb.sigResized.connect(self._on_view_x_changed)
        self.x_mode = "step"
        self.smoothing = 0.6
        self.empty_text = pg.TextItem("", color="#777", anchor=(0.5, 0.5))
        self.empty_text.setZValue(10)
        item.addItem(self.empty_text, ignoreBounds=True)
        self._crosshair()

    # -- series
    # ----------------------------------------------------------------------------------------------------
    def add_series(
        self,
        key: str,
        label: str,
        color,
        width: float = 1.0,
        style=Qt.SolidLine,
        smooth_of: str | None = None,
        symbol: str | None = None,
    ) -> Series:
        if key in self.series:
            return self.series[key]
        # 1 px by default: Qt strokes wider lines segment by segment (the live view's widest cost: 2 px pens took the
        # window's CPU share from 8.7% to 10.9% of a core while an MLP trained, bench/training.py settings)
        pen = pg.mkPen(color, width=width, style=style)
        curve = self.getPlotItem().plot(
            [], [], pen=pen, name=label, symbol=symbol, symbolSize=5, symbolBrush=color, symbolPen=None
        )
        # no pyqtgraph clipping or downsampling: refresh() hands it at most a (min, max) pair per pixel column
        series = Series(key, label, curve, smooth_of=smooth_of, symbol=symbol)
        if symbol is None:
            series.tail = self.getPlotItem().plot([], [], pen=pen)  # (not in the legend)
            curve.visibleChanged.connect(lambda: series.tail.setVisible(series.curve.isVisible()))
        self.series[key] = series
        return series

    def remove_series(self, key: str) -> None:
        series = self.series.pop(key, None)
        if series is not None:
            self.getPlotItem().removeItem(series.curve)
            if series.tail is not None:
                self.getPlotItem().removeItem(series.tail)
            if self.legend is not None:
                self.legend.removeItem(series.curve)

    def clear_data(self) -> None:
        """Forget every point (a new run starts); the curves stay."""
        self.getPlotItem().vb.fresh = True
        for series in self.series.values():
            series.xs = {m: GrowingArray() for m in X_MODES}
            series.y = GrowingArray()
            series.ema_state = (0.0, 0)
            series.redraw()
            series.finite = True

    def append(self, key: str, step: float, epoch: float, t: float, y: float) -> None:
        self.extend(key, (step,), (epoch,), (t,), (y,))

    def extend(self, key: str, steps, epochs, times, ys) -> None:
        """Add points to a series (and its smoothed companions): one array append per axis, whatever the count."""
        series = self.series[key]
        series.extend_x(steps, epochs, times)
        series.y.extend(ys)
        series.dirty = True
        series.finite = series.finite and bool(np.isfinite(np.asarray(ys, dtype=np.float64)).all())
        for smooth in self.series.values():
            if smooth.smooth_of == key:
                smooth.extend_x(steps, epochs, times)
                smooth.y.extend(self._ema_extend(smooth, ys))
                smooth.dirty = True
                smooth.finite = series.finite  # (non-finite points pass through the smoothing)
        if len(series) > self.max_points:
            self._thin(series)

    def _thin(self, series: Series) -> None:
        """Halve the density of the older half of a series (and of its smoothed companions): bounded memory."""
        n = len(series)
        index = thinning_index(series.y.view, n // 2)
        for target in [series] + [s for s in self.series.values() if s.smooth_of == series.key]:
            if len(target) != n:
                continue
            for array in (*target.xs.values(), target.y):
                array.keep(index)
            target.redraw()

    def set_points(self, key: str, steps, epochs, times, ys) -> None:
        """Replace a series' points at once (a saved run); its smoothed companions follow."""
        self.getPlotItem().vb.fresh = True
        series = self.series[key]
        series.xs = {m: GrowingArray() for m in X_MODES}
        series.y = GrowingArray()
        series.extend_x(steps, epochs, times)
        series.y.extend(ys)
        series.redraw()
        series.finite = bool(np.isfinite(series.y.view).all())
        for smooth in self.series.values():
            if smooth.smooth_of == key:
                smooth.finite = series.finite
                smooth.xs = {m: GrowingArray() for m in X_MODES}
                for mode in X_MODES:
                    smooth.xs[mode].extend(series.xs[mode].view)
                self._resmooth(smooth)

    def _ema_extend(self, smooth: Series, ys) -> np.ndarray:
        """The debiased EMA of new points, continuing from `smooth.ema_state` (vectorized: a frame brings
        hundreds of points). Non-finite points pass through and do not disturb the average."""
        out = np.array(ys, dtype=np.float64)
        weight = self.smoothing
        finite = np.isfinite(out)
        if weight <= 0 or not finite.any():
            return out
        last, count = smooth.ema_state
        ema = ema_filter(out[finite], weight, last)
        counts = count + np.arange(1, len(ema) + 1)
        out[finite] = ema / (1.0 - weight**counts)
        smooth.ema_state = (float(ema[-1]), int(counts[-1]))
        return out

    def _resmooth(self, smooth: Series) -> None:
        raw = self.series[smooth.smooth_of].y.view
        smooth.y = GrowingArray(max(1024, len(raw)))
        smooth.y.extend(debiased_ema(raw, self.smoothing))
        finite = raw[np.isfinite(raw)]
        if self.smoothing > 0 and len(finite):
            w = self.smoothing
            k = len(finite)
            last = smooth.y.view[np.isfinite(raw)][-1] * (1.0 - w**k)
            smooth.ema_state = (float(last), k)
        else:
            smooth.ema_state = (0.0, 0)
        smooth.redraw()

    # -- display
    # ---------------------------------------------------------------------------------------------------
    def set_smoothing(self, weight: float) -> None:
        self.smoothing = min(max(weight, 0.0), 0.999)
        for smooth in self.series.values():
            if smooth.smooth_of:
                self._resmooth(smooth)
        self.refresh()

    def set_x_mode(self, mode: str) -> None:
        if mode not in X_MODES:
            raise ValueError(mode)
        self.x_mode = mode
        self.getPlotItem().vb.fresh = True
        self.getPlotItem().setLabel("bottom", X_LABELS[mode])
        for series in self.series.values():
            series.redraw()
        self.refresh()
        self.getPlotItem().enableAutoRange()

    def set_log_y(self, enabled: bool) -> None:
        self.getPlotItem().vb.fresh = True
        self.getPlotItem().setLogMode(y=enabled)

    def set_empty_text(self, text: str) -> None:
        self.empty_text.setText(text)
        self._place_empty_text()

    def _place_empty_text(self) -> None:
        (x0, x1), (y0, y1) = self.getPlotItem().viewRange()
        self.empty_text.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    def has_new_points(self) -> bool:
        """Points (or a change of display) that `refresh()` has not pushed to the curves yet."""
        return any(series.dirty for series in self.series.values())

    def refresh(self, force: bool = False) -> None:
        """Push new points to the curves (one setData per changed series; nothing, and no repaint, when no series
        changed or, unless `force`, when the last push is younger than `min_refresh_s`)."""
        if self.min_refresh_s and not force and self.has_new_points():
            now = time.monotonic()
            if now - self._refreshed < self.min_refresh_s:
                return
            self._refreshed = now
        has_points = False
        for series in self.series.values():
            has_points = has_points or len(series) > 0
            if series.dirty:
                self._push(series)
                series.dirty = False
        self.empty_text.setVisible(not has_points and bool(self.empty_text.toPlainText()))
        if not has_points:
            self._place_empty_text()

    def _push(self, series: Series) -> None:
        """Hand a series' points to its curves. New points at the right end of a line go to its tail curve alone,
        while the tail spans at most TAIL_SHARE of the view: Qt then repaints the strip they are in, not the whole
        plot (the window's CPU share while a CNN trained fell by about a point, bench/training.py's window). Anything
        else, or a longer tail, draws the whole curve again (and the tail starts anew)."""
        x, y = series.xs[self.x_mode].view, series.y.view
        view = self.getPlotItem().vb
        start = series.drawn - 1  # the tail starts at the curve's last point: the line stays joined
        if series.tail is not None and 0 <= start < len(x) - 1 and self._fits_tail(x[start], x[-1]):
            tail = y[start:]
            finite = tail[np.isfinite(tail)] if not series.finite else tail
            bounds = (x[start], x[-1]), (finite.min(), finite.max()) if len(finite) else (np.inf, -np.inf)
            logged = any(series.curve.opts["logMode"])
            view.tail_update = "as is" if not logged and view.holds(bounds) else "check"
            try:
                series.tail.setData(*self.drawn_points(x[start:], tail), skipFiniteCheck=series.finite)
            finally:
                view.tail_update = None
            return
        if series.symbol is not None:  # markers go past SYMBOL_POINTS: each setData redraws them all
            wanted = series.symbol if len(series) <= SYMBOL_POINTS else None
            if series.curve.opts["symbol"] != wanted:
                series.curve.setSymbol(wanted)
        series.curve.setData(*self.drawn_points(x, y), skipFiniteCheck=series.finite)
        if series.tail is not None and series.tail.xData is not None and len(series.tail.xData):
            series.tail.setData([], [])
        series.drawn = len(x)

    def _fits_tail(self, first: float, last: float) -> bool:
        """A tail from x `first` to `last` lies in the view and spans at most TAIL_SHARE of it."""
        (x0, x1), _ = self.getPlotItem().viewRange()
        return x0 <= first and last <= x1 and (last - first) <= TAIL_SHARE * (x1 - x0)

    def drawn_points(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What a curve draws of points (x, y): all of them while there are at most two per pixel column of the
        view, else the points in the visible x range as one (min, max) pair per column (minmax_columns: a one-step
        spike stays). Columns are counted over the part of the view the data spans (a live run's axis spans the
        whole run)."""
        view = self.getPlotItem().vb
        width = max(int(view.width()), 50)
        if len(x) <= 2 * width or not x[-1] > x[0]:
            return x, y
        self._decimated = True
        (x0, x1), _ = view.viewRange()
        shown = (max(x0, x[0]), min(x1, x[-1]))
        if not shown[1] > shown[0]:  # the view is elsewhere (an auto-range to come): all of it, binned
            return minmax_columns(x, y, width)
        columns = width * (shown[1] - shown[0]) / (x1 - x0)
        return minmax_columns(x, y, max(int(columns), 1), (x0, x1))

    def _on_view_x_changed(self) -> None:
        """Zoom, pan or a new auto-range: a decimated curve is cut and binned again for the new view."""
        if self._decimated and not self._redecimating:
            self._decimated, self._redecimating = False, True
            try:
                for series in self.series.values():
                    series.redraw()
                self.refresh(force=True)
            finally:
                self._redecimating = False

    # -- crosshair read-out
    # ------------------------------------------------------------------------------------------
    def _crosshair(self) -> None:
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#999", style=Qt.DashLine))
        self.vline.setVisible(False)
        self.readout = pg.TextItem("", color="#222", anchor=(0, 0), fill=pg.mkBrush(255, 255, 255, 220))
        self.readout.setZValue(20)
        self.readout.setVisible(False)
        item = self.getPlotItem()
        item.addItem(self.vline, ignoreBounds=True)
        item.addItem(self.readout, ignoreBounds=True)
        self._proxy = pg.SignalProxy(
            self.scene().sigMouseMoved, rateLimit=30, slot=self._on_scene_mouse_moved
        )

    def _on_scene_mouse_moved(self, args) -> None:
        pos = args[0]
        item = self.getPlotItem()
        if not item.sceneBoundingRect().contains(pos):
            self.vline.setVisible(False)
            self.readout.setVisible(False)
            return
        point = item.vb.mapSceneToView(pos)
        text = self.readout_at(point.x())
        self.vline.setPos(point.x())
        self.vline.setVisible(bool(text))
        (x0, _), (_, y1) = item.viewRange()
        self.readout.setText(text)
        self.readout.setPos(x0, y1)
        self.readout.setVisible(bool(text))

    def readout_at(self, x: float) -> str:
        """`x = …` and each curve's value at the nearest point (what the crosshair shows)."""
        lines = []
        for series in self.series.values():
            if not len(series) or not series.curve.isVisible():
                continue
            xs = series.xs[self.x_mode].view
            i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
            if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
                i -= 1
            lines.append(f"{series.label}: {series.y.view[i]:.4g}")
        if not lines:
            return ""
        return f"{X_LABELS[self.x_mode]} {x:.4g}\n" + "\n".join(lines)

    # -- export
    # ------------------------------------------------------------------------------------------------------
    def export_csv(self, path: str | os.PathLike, keys: list[str] | None = None) -> int:
        """Every point the plot holds of the chosen series (all by default): series, step, epoch, time, value.
        (Past MAX_POINTS the older points are thinned; the run's metrics.jsonl has every one.)"""
        from workbench.core.io import atomic_open

        rows = 0
        with atomic_open(path, "w") as fh:
            writer = csv.writer(fh)
            writer.writerow(["series", "step", "epoch", "time", "value"])
            for key in keys or list(self.series):
                series = self.series[key]
                for s, e, t, y in zip(*(series.xs[m].view for m in X_MODES), series.y.view, strict=True):
                    writer.writerow([series.label, f"{s:.10g}", f"{e:.10g}", f"{t:.10g}", f"{y:.10g}"])
                    rows += 1
        return rows

    def export_png(self, path: str | os.PathLike) -> None:
        from workbench.core.errors import UserError
        from workbench.core.io import atomic_replace_with

        image = self.grab()

        def write(tmp: str) -> None:
            if not image.save(tmp, "PNG"):
                raise UserError(f"cannot write {path}; choose a writable folder")

        atomic_replace_with(path, write)
