"""GpuProcessTable: who uses each GPU and how much memory, our own process first and marked."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from workbench.core.hardware.snapshot import GpuStats
from workbench.core.units import bytes_text

COLUMNS = ("GPU", "PID", "Process", "Memory")


class GpuProcessTable(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("gpuProcessTable")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(20)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        self._rows: list[tuple] = []

    def show_gpus(self, gpus: tuple[GpuStats, ...]) -> None:
        rows = [(g.index, p.pid, _name(p), _memory(p), p.ours, p.source) for g in gpus for p in g.processes]
        if not rows:
            rows = [("", "", "No processes on the GPU" if gpus else "No NVIDIA GPU", "", False, "")]
        if rows == self._rows:
            return
        self._rows = rows
        self.setRowCount(len(rows))
        bold = QFont(self.font())
        bold.setBold(True)
        for r, (gpu, pid, name, memory, ours, source) in enumerate(rows):
            for c, text in enumerate((str(gpu), str(pid), name, memory)):
                item = QTableWidgetItem(text)
                if c in (0, 1, 3):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if c == 2 and not ours and name == "(not visible here)":
                    item.setToolTip("No such PID here: in a container NVML reports the host's PIDs")
                if ours:
                    item.setFont(bold)
                    item.setToolTip(
                        "This Workbench process (the trainer)"
                        + (
                            "; memory reported by torch.cuda (reserved), because NVML did not list it"
                            if source == "torch"
                            else ""
                        )
                    )
                self.setItem(r, c, item)

    def row_texts(self) -> list[list[str]]:
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]


def _name(p) -> str:
    if p.ours:
        return "▶ Workbench (this process)"
    return p.name or "(not visible here)"


def _memory(p) -> str:
    if p.memory_used is None:
        return "n/a (WDDM)"
    return bytes_text(p.memory_used) + (" (torch)" if p.source == "torch" else "")
