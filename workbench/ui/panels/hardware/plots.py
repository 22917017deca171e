"""HistoryPlot: one pyqtgraph plot of a chosen group of series from the sampler's History, on a clock axis
(the same unix-time axis the training view uses), over the last 1 min / 10 min / 1 h."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from workbench.core.hardware.history import History
from workbench.core.units import GiB
from workbench.ui.widgets.label_holder import LabelHolder

CPU_COLOR, RAM_COLOR, SWAP_COLOR = "#4c8bf5", "#a05cd6", "#8a8f98"
GPU_COLORS = ("#3fa34d", "#e07b24", "#d0453b", "#17a2b8", "#c2185b", "#7b8d23", "#6d4c41", "#5c6bc0")


@dataclass(frozen=True)
class Group:
    title: str
    unit: str
    patterns: tuple[str, ...]  # regexes over History keys
    scale: float = 1.0  # values are divided by this (bytes -> GiB)
    fixed_range: tuple[float, float] | None = None
    needs_gpu: bool = False


GROUPS = (
    Group("Usage", "%", (r"cpu", r"ram", r"gpu\d+\.util"), fixed_range=(0, 100)),
    Group("GPU memory", "GiB", (r"gpu\d+\.memory_used", r"gpu\d+\.ours"), scale=GiB, needs_gpu=True),
    Group("GPU temp", "°C", (r"gpu\d+\.temperature",), needs_gpu=True),
    Group("GPU power", "W", (r"gpu\d+\.power",), needs_gpu=True),
    Group("Workbench CPU", "% of a core", (r"process_cpu",)),
    Group("Workbench RAM", "GiB", (r"process_rss",), scale=GiB),
)

_LABELS = {
    "cpu": "CPU",
    "ram": "RAM",
    "swap": "swap",
    "process_cpu": "Workbench CPU",
    "process_rss": "Workbench RSS",
}
_GPU_KIND = {
    "util": "util",
    "memory": "mem %",
    "memory_used": "memory",
    "ours": "ours",
    "temperature": "temp",
    "power": "power",
}


def series_label(key: str) -> str:
    m = re.fullmatch(r"gpu(\d+)\.(\w+)", key)
    return f"GPU {m.group(1)} {_GPU_KIND.get(m.group(2), m.group(2))}" if m else _LABELS.get(key, key)


def series_pen(key: str):
    m = re.fullmatch(r"gpu(\d+)\.(\w+)", key)
    if m:
        color = GPU_COLORS[int(m.group(1)) % len(GPU_COLORS)]
        dashed = m.group(2) in ("memory", "ours")
        return pg.mkPen(color, width=2 if not dashed else 1.5, style=Qt.DashLine if dashed else Qt.SolidLine)
    return pg.mkPen({"cpu": CPU_COLOR, "ram": RAM_COLOR}.get(key, CPU_COLOR), width=2)


class HistoryPlot(QWidget):
    """A one-line colour legend above a pyqtgraph plot (a legend inside would hide the newest values)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("hardwarePlot")
        self.legend = QLabel()
        self.legend.setObjectName("hardwarePlotLegend")
        self.legend.setTextFormat(Qt.RichText)
        self.legend.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.legend.setFixedHeight(self.legend.fontMetrics().height() + 4)
        self.legend.setAutoFillBackground(True)  # opaque: its new text does not repaint what is behind it
        self.widget = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        # opaque: a transparent plot would be repainted whenever anything behind it is (every second)
        self.widget.setBackground(self.palette().color(QPalette.Base))
        # no axis grid: pyqtgraph redraws it from a QPicture on every paint (~5 ms, 10x the curves); light
        # reference lines on the percent plots instead
        self._guides = [
            pg.InfiniteLine(pos=v, angle=0, pen=pg.mkPen("#d5d9df"), movable=False) for v in (25, 50, 75)
        ]
        for guide in self._guides:
            guide.setZValue(-10)
            self.widget.addItem(guide, ignoreBounds=True)
        self.widget.setMouseEnabled(x=False, y=False)
        self.widget.setMenuEnabled(False)
        self.widget.hideButtons()
        self.widget.getPlotItem().setContentsMargins(0, 0, 4, 0)
        self.widget.getAxis("left").setWidth(34)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(LabelHolder(self.legend))  # new figures every second: no relayout
        layout.addWidget(self.widget, 1)
        self.group = GROUPS[0]
        self.seconds = 60.0
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._drawn_end = -np.inf  # newest time drawn (redraws are throttled to what a pixel shows)
        self._apply_group()

    def set_group(self, group: Group) -> None:
        self.group = group
        self._apply_group()

    def set_seconds(self, seconds: float) -> None:
        self.seconds = seconds
        self._drawn_end = -np.inf

    def _apply_group(self) -> None:
        for curve in self.curves.values():
            self.widget.removeItem(curve)
        self.curves.clear()
        self._drawn_end = -np.inf
        self.widget.setLabel("left", self.group.unit)
        for guide in self._guides:
            guide.setVisible(self.group.fixed_range is not None)
        if self.group.fixed_range:
            self.widget.enableAutoRange(axis="y", enable=False)
            self.widget.setYRange(*self.group.fixed_range, padding=0.02)
        else:
            self.widget.enableAutoRange(axis="y", enable=True)
        self.legend.setText(f"<span style='color:{SWAP_COLOR}'>{self.group.title}: no data yet</span>")

    def keys_for(self, history_keys: list[str]) -> list[str]:
        return [k for k in history_keys if any(re.fullmatch(p, k) for p in self.group.patterns)]

    def refresh(self, history: History, force: bool = False) -> None:
        """Update the legend's figures every time; redraw the curves once the newest sample has moved at least
        a pixel's worth of time (every sample on the 1 min view, every ~9 s on the 1 h view)."""
        keys = self.keys_for(history.keys())
        times, columns = history.window(self.seconds, keys)
        pixel_seconds = self.seconds / max(self.widget.width(), 100)
        draw = force or not len(times) or times[-1] - self._drawn_end >= pixel_seconds * 0.999
        shown = []
        for key in keys:
            values = columns[key] / self.group.scale
            finite = values[np.isfinite(values)]
            curve = self.curves.get(key)
            if finite.size == 0:  # nothing to draw (yet): no curve, no legend entry
                if curve is not None and draw:
                    curve.setData([], [])
                continue
            if curve is None:
                curve = self.widget.plot([], [], pen=series_pen(key), connect="finite")
                curve.setClipToView(True)
                curve.setDownsampling(auto=True, method="peak")
                self.curves[key] = curve
                draw = True
            if draw:
                curve.setData(times, values, connect="finite")
            color = series_pen(key).color().name()
            dash = "┄" if series_pen(key).style() == Qt.DashLine else "━"
            shown.append(
                f"<span style='color:{color}'>{dash}</span> {series_label(key)} "
                f"<b>{_fmt(finite[-1] if np.isfinite(values[-1]) else None, self.group)}</b>"
            )
        if shown:
            self.legend.setText("&nbsp;&nbsp; ".join(shown))
        if len(times) and draw:
            end = float(times[-1])
            self._drawn_end = end
            self.widget.setXRange(end - self.seconds, end, padding=0)
            # apply the new range now: pyqtgraph would do it at the start of the paint, which then asks for a
            # second paint (twice the drawing every second)
            self.widget.getPlotItem().getViewBox().prepareForPaint()


def _fmt(value, group: Group) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if group.scale != 1.0 else f"{value:.0f}"
