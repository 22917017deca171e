"""ClassHistogram: samples per class, stacked by split (pyqtgraph); a value histogram for regression targets."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

SPLIT_COLORS = {"train": (66, 133, 244), "val": (251, 140, 0), "test": (52, 168, 83)}
MAX_TICKS = 30


class ClassHistogram(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setObjectName("datasetHistogram")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(y=True, alpha=0.25)
        self.setLabel("left", "samples")
        self.legend_html = ""  # the splits' colours and counts, in the title: above the bars, never over them
        self._empty = pg.TextItem(
            "Load a dataset to see its classes", color=(120, 120, 120), anchor=(0.5, 0.5)
        )
        self.addItem(self._empty)
        self._empty.setPos(0.5, 0.5)
        self.setXRange(0, 1)
        self.setYRange(0, 1)
        self.getAxis("bottom").setTicks([[]])

    def _set_legend(self, entries: list[tuple[str, tuple]]) -> None:
        self.legend_html = "  ".join(
            f"<span style='color:rgb{color}'>\u25a0</span> {text}" for text, color in entries
        )
        self.setTitle(self.legend_html or None, size="8pt", color="#333")

    def clear_data(self, message: str = "Load a dataset to see its classes") -> None:
        self.clear()
        self._set_legend([])
        self.getAxis("bottom").setTicks([[]])
        self._empty.setText(message)
        self.addItem(self._empty)
        self._empty.setPos(0.5, 0.5)
        self.setXRange(0, 1)
        self.setYRange(0, 1)

    def show_classes(self, class_names: list[str], counts: dict[str, np.ndarray]) -> None:
        """counts: split name -> samples per class (same order as class_names); drawn stacked."""
        self.clear()
        entries = []
        x = np.arange(len(class_names))
        base = np.zeros(len(class_names))
        for name, c in counts.items():
            c = np.asarray(c, dtype=float)
            if c.sum() == 0:
                continue
            bar = pg.BarGraphItem(
                x=x,
                y0=base,
                height=c,
                width=0.8,
                brush=pg.mkBrush(*SPLIT_COLORS[name], 220),
                pen=pg.mkPen(None),
            )
            self.addItem(bar)
            entries.append((f"{name} ({int(c.sum()):,})", SPLIT_COLORS[name]))
            base = base + c
        step = max(1, int(np.ceil(len(class_names) / MAX_TICKS)))
        self.getAxis("bottom").setTicks(
            [[(i, _short(class_names[i])) for i in range(0, len(class_names), step)]]
        )
        self.setLabel("bottom", "class")
        self.setXRange(-0.6, len(class_names) - 0.4, padding=0)
        self._set_legend(entries)
        self.setYRange(0, max(1.0, float(base.max())) * 1.05, padding=0)

    def show_values(self, values: np.ndarray, label: str = "target") -> None:
        """A histogram of a continuous target (regression)."""
        self.clear()
        self._set_legend([])
        hist, edges = np.histogram(values, bins=min(40, max(5, len(values) // 10)))
        self.addItem(
            pg.BarGraphItem(
                x0=edges[:-1],
                x1=edges[1:],
                height=hist,
                brush=pg.mkBrush(66, 133, 244, 220),
                pen=pg.mkPen(None),
            )
        )
        self.getAxis("bottom").setTicks(None)
        self.setLabel("bottom", label)
        self.setXRange(edges[0], edges[-1])
        self.setYRange(0, max(1, hist.max()) * 1.1, padding=0)


def _short(name: str, width: int = 10) -> str:
    return name if len(name) <= width else name[: width - 1] + "\u2026"
