"""What differs between two or more runs: every config.json key whose value is not the same in all of them
(run_table.config_diff: 'training.lr', 'model.layers[3].out_channels', ...), one column per run."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

MAX_TEXT = 80  # a long value (a tokenizer, a layer list) is cut in the cell; the tooltip has more


def _text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


class RunsDiffView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setObjectName("runsDiffTitle")
        self.table = QTableWidget()
        self.table.setObjectName("runsDiffTable")
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        self.show_rows([])

    def show_rows(self, rows: list) -> None:
        """`rows`: the selected RunRows; two or more are compared, fewer say how to compare."""
        self.table.clear()
        if len(rows) < 2:
            self.title.setText("What differs: select two or more runs (Ctrl+click, Shift+click)")
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            return
        from workbench.core.training.run_table import config_diff

        diff = config_diff(rows)
        self.title.setText(
            f"What differs between {len(rows)} runs: {len(diff)} setting{'' if len(diff) == 1 else 's'}"
            if diff
            else f"What differs between {len(rows)} runs: nothing in their configs"
        )
        self.table.setColumnCount(1 + len(rows))
        self.table.setHorizontalHeaderLabels(["Setting", *(r.name for r in rows)])
        self.table.setRowCount(len(diff))
        for i, (key, values) in enumerate(diff):
            item = QTableWidgetItem(key)
            item.setToolTip(key)
            self.table.setItem(i, 0, item)
            for j, value in enumerate(values):
                text = _text(value)
                cell = QTableWidgetItem(text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…")
                cell.setToolTip(text[:2000])
                if value is None:
                    cell.setForeground(Qt.gray)
                self.table.setItem(i, 1 + j, cell)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)

    def values(self) -> dict[str, list[str]]:
        """The table as {key: [text per run]} (what a test or a copy reads)."""
        out = {}
        for i in range(self.table.rowCount()):
            out[self.table.item(i, 0).text()] = [
                self.table.item(i, j).text() for j in range(1, self.table.columnCount())
            ]
        return out
