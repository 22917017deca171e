"""The runs table's model: one row per RunRow (workbench.core.training.run_table), built for 1,000 runs.

Columns: Run (the name; its check box ticks the run for overlay, its swatch is the overlay's colour), Status
(a damaged run says why), Epochs (done/planned), the settings that differ between the project's runs
(differing_settings), the results (best and last validation accuracy and loss, test accuracy, samples/s,
duration), the start time and the tags.
Sorting and filtering happen here on plain Python lists (no proxy model): sorting 1,000 rows takes about a
millisecond, runs without a value go last in either order. The filter takes words (every one must appear in the
row: name, id, status, settings, tags, notes) and comparisons such as `lr<0.01`, `batch_size>=64`,
`status=completed`, `acc>0.9` (a key is a settings or results key, a column's title, or acc / loss / test for
the best validation accuracy, best validation loss and test accuracy). The name and the tags are edited in place.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from dataclasses import replace

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from workbench.core.errors import UserError
from workbench.core.training.run_table import RunRow, differing_settings, row_matches

STATUS_COLORS = {
    "completed": "#2e7d32",
    "stopped": "#8d6e00",
    "failed": "#b00020",
    "interrupted": "#b00020",
    "damaged": "#b00020",
    "running": "#1565c0",
}
SETTING_TITLES = {
    "lr": "LR",
    "optimizer": "Optimizer",
    "batch_size": "Batch",
    "epochs": "Epochs",
    "finetune": "Fine-tune",
    "lora_rank": "LoRA rank",
    "scheduler": "Scheduler",
    "weight_decay": "Weight decay",
    "precision": "Precision",
    "seed": "Seed",
    "model": "Model",
    "data": "Data",
    "parent": "Resumed from",
    "forked_from": "Forked from",
}
RESULT_COLUMNS = (
    ("best_val_accuracy", "Best val acc"),
    ("last_val_accuracy", "Last val acc"),
    ("best_val_loss", "Best val loss"),
    ("last_val_loss", "Last val loss"),
    ("best_val_perplexity", "Best val ppl"),  # language models only: the column shows when a run has it
    ("test_accuracy", "Test acc"),
    ("samples_per_s", "Samples/s"),
    ("duration_s", "Duration"),
    ("started", "Started"),
)
OPTIONAL_RESULTS = ("best_val_perplexity",)
DEFAULT_SETTINGS = ("lr", "batch_size")  # shown while there is no second run to differ from
ALIASES = {
    "acc": "best_val_accuracy",
    "loss": "best_val_loss",
    "test": "test_accuracy",
    "batch": "batch_size",
}
COMPARISON = re.compile(r"^([A-Za-z_][\w/ .-]*?)(<=|>=|!=|<|>|=)(.+)$")
OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


DISPLAY, EDIT, CHECK, DECORATION, FOREGROUND, ALIGNMENT, TOOLTIP, USER = (
    int(role)
    for role in (
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.EditRole,
        Qt.ItemDataRole.CheckStateRole,
        Qt.ItemDataRole.DecorationRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.TextAlignmentRole,
        Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.UserRole,
    )
)
_ROLES = frozenset((DISPLAY, EDIT, CHECK, DECORATION, FOREGROUND, ALIGNMENT, TOOLTIP, USER))
_CHECKED, _UNCHECKED = Qt.CheckState.Checked, Qt.CheckState.Unchecked
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_BASE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_FLAGS = {
    "name": _BASE | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable,
    "tags": _BASE | Qt.ItemFlag.ItemIsEditable,
}
_COLORS: dict[str, QColor] = {}


def _color(name: str) -> QColor:
    if name not in _COLORS:
        _COLORS[name] = QColor(name)
    return _COLORS[name]


def format_value(key: str, value) -> str:
    if value is None or value == "":
        return ""
    if key == "lr" or key == "weight_decay":
        return f"{value:.3g}" if isinstance(value, int | float) else str(value)
    if key.endswith("_accuracy"):
        return f"{value:.4f}"
    if key.endswith(("_loss", "_perplexity")):
        return f"{value:.4g}"
    if key == "samples_per_s":
        return f"{value:,.0f}"
    if key == "duration_s":
        return format_duration(value)
    if key == "started":
        return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class RunsTableModel(QAbstractTableModel):
    sig_checked_changed = Signal()  # the runs ticked for overlay changed
    sig_error = Signal(str)  # an edit could not be saved: one line for a dialog

    def __init__(self, parent=None):
        super().__init__(parent)
        self.all_rows: list[RunRow] = []
        self.rows: list[RunRow] = []  # shown: filtered and sorted
        self.setting_keys: list[str] = []
        self.columns: list[tuple[str, str]] = []  # (key, title)
        self.checked: list[str] = []  # run folders ticked for overlay, in tick order
        self.colors: dict[str, str] = {}  # run folder -> overlay colour
        self.filter_text = ""
        self.sort_key: tuple[int, Qt.SortOrder] | None = None  # (column, order)

    # -- contents
    # ---------------------------------------------------------------------------------------------------
    def set_rows(self, rows: list[RunRow], differing: list[str] | None = None) -> None:
        """All of the project's runs (newest first unless sorted); keeps ticks of runs still there.
        `differing`: differing_settings(rows) when already known (computed with the rows, off the GUI thread)."""
        self.beginResetModel()
        self.all_rows = list(rows)
        present = {str(r.path) for r in rows}
        self.checked = [p for p in self.checked if p in present]
        if differing is None:
            differing = differing_settings(rows)
        keys = differing if len(rows) > 1 else list(DEFAULT_SETTINGS)
        self.setting_keys = [k for k in keys if k != "epochs"]  # (the Epochs column shows done/planned)
        self.columns = [
            ("name", "Run"),
            ("status", "Status"),
            ("epochs_completed", "Epochs"),
            *((k, SETTING_TITLES.get(k, k)) for k in self.setting_keys),
            *(
                (k, t)
                for k, t in RESULT_COLUMNS
                if k not in OPTIONAL_RESULTS or any(r.value(k) for r in rows)
            ),
            ("tags", "Tags"),
        ]
        self._apply()
        self.endResetModel()

    def set_filter(self, text: str) -> None:
        self.beginResetModel()
        self.filter_text = text
        self._apply()
        self.endResetModel()

    def _apply(self) -> None:
        matches = self.filter_function(self.filter_text)
        self.rows = [r for r in self.all_rows if matches(r)]
        if self.sort_key is not None and self.sort_key[0] < len(self.columns):
            self.rows = self._sorted(self.rows, *self.sort_key)

    def column_key(self, column: int) -> str:
        return self.columns[column][0]

    def column_of(self, key: str) -> int:
        return next(i for i, (k, _) in enumerate(self.columns) if k == key)

    def row_at(self, row: int) -> RunRow:
        return self.rows[row]

    def index_of(self, path) -> QModelIndex:
        for i, row in enumerate(self.rows):
            if str(row.path) == str(path):
                return self.index(i, 0)
        return QModelIndex()

    def set_colors(self, colors: dict[str, str]) -> None:
        self.colors = dict(colors)
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 0), [Qt.DecorationRole])

    def set_checked(self, path, on: bool) -> None:
        key = str(path)
        if on and key not in self.checked:
            self.checked.append(key)
        elif not on and key in self.checked:
            self.checked.remove(key)
        else:
            return
        index = self.index_of(key)
        if index.isValid():
            self.dataChanged.emit(index, index, [Qt.CheckStateRole])
        self.sig_checked_changed.emit()

    def checked_rows(self) -> list[RunRow]:
        by_path = {str(r.path): r for r in self.all_rows}
        return [by_path[p] for p in self.checked if p in by_path]

    # -- filter
    # -----------------------------------------------------------------------------------------------------
    def filter_function(self, text: str):
        words, tests = [], []
        for token in text.split():
            match = COMPARISON.match(token)
            key = self._key_named(match.group(1)) if match else None
            if match is None or key is None:
                words.append(token)
                continue
            tests.append((key, OPERATORS[match.group(2)], match.group(3)))
        plain = " ".join(words)

        def matches(row: RunRow) -> bool:
            if plain and not row_matches(row, plain):
                return False
            return all(self._compare(row.value(key), op, wanted) for key, op, wanted in tests)

        return matches

    def _key_named(self, name: str) -> str | None:
        name = name.strip().lower()
        if name in ALIASES:
            return ALIASES[name]
        titles = {title.lower().replace(" ", ""): key for key, title in self.columns}
        titles.update({title.lower().replace(" ", ""): key for key, title in SETTING_TITLES.items()})
        keys = {k for r in self.all_rows[:1] for k in (*r.settings, *r.results)} | {
            "status",
            "name",
            "id",
            "tags",
        }
        if name in keys or name in SETTING_TITLES or name in dict(RESULT_COLUMNS):
            return name
        return titles.get(name.replace(" ", ""))

    @staticmethod
    def _compare(value, op, wanted: str) -> bool:
        if value is None or value == "":
            return op is operator.ne
        number = _number(wanted)
        if isinstance(value, int | float) and number is not None:
            return op(float(value), number)
        text, wanted = str(value).lower(), wanted.lower()
        if op is operator.eq:
            return text == wanted or wanted in text.split(", ")
        if op is operator.ne:
            return text != wanted
        return op(text, wanted)

    # -- sorting
    # ----------------------------------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        """Sort by a column, keeping the selection (persistent indexes follow their rows)."""
        if not 0 <= column < len(self.columns):
            return
        self.sort_key = (column, order)
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        paths = [(str(self.rows[i.row()].path), i.column()) for i in old]
        self.rows = self._sorted(self.rows, column, order)
        position = {str(r.path): n for n, r in enumerate(self.rows)}
        self.changePersistentIndexList(old, [self.index(position[p], c) for p, c in paths])
        self.layoutChanged.emit()

    def _sorted(self, rows: list[RunRow], column: int, order: Qt.SortOrder) -> list[RunRow]:
        key = self.column_key(column)
        present = [r for r in rows if r.value(key) not in (None, "")]
        missing = [r for r in rows if r.value(key) in (None, "")]

        def rank(r: RunRow):
            v = r.value(key)
            return (0, float(v), "") if isinstance(v, int | float) else (1, 0.0, str(v).lower())

        return sorted(present, key=rank, reverse=order == Qt.DescendingOrder) + missing

    # -- Qt model
    # ---------------------------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802 - Qt API
        if orientation != Qt.Horizontal or not 0 <= section < len(self.columns):
            return None
        key, title = self.columns[section]
        if role == Qt.DisplayRole:
            return title
        if role == Qt.ToolTipRole:
            return f"{title} ({key}): click to sort; filter with e.g. {key}<value"
        return None

    def flags(self, index):
        return _FLAGS.get(self.columns[index.column()][0], _BASE)

    def data(self, index, role=DISPLAY):
        """One cell. Called for every role of every visible cell on each paint: plain int roles, few lookups."""
        role = int(role)
        if role not in _ROLES or not index.isValid():
            return None
        row = self.rows[index.row()]
        key = self.columns[index.column()][0]
        if role == DISPLAY:
            if key == "status" and row.status == "damaged":
                return f"damaged: {row.damage}"
            if key == "epochs_completed" and row.settings.get("epochs") is not None:
                return f"{format_value(key, row.value(key)) or 0}/{row.settings['epochs']}"
            return format_value(key, row.value(key))
        if role == USER:
            return row
        if key == "name":
            if role == CHECK:
                return _CHECKED if str(row.path) in self.checked else _UNCHECKED
            if role == DECORATION:
                color = self.colors.get(str(row.path))
                return _color(color) if color else None
            if role == EDIT:
                return row.name
            if role == TOOLTIP:
                return "\n".join(filter(None, (str(row.path), row.damage, row.notes)))
            return None
        if role == FOREGROUND:
            return _color(STATUS_COLORS.get(row.status, "#333")) if key == "status" else None
        if role == ALIGNMENT:
            value = row.value(key)
            return _RIGHT if isinstance(value, int | float) and key != "started" else None
        if role == EDIT:
            return ", ".join(row.tags) if key == "tags" else None
        if role == TOOLTIP:
            return (
                (row.damage or row.status) if key == "status" else format_value(key, row.value(key)) or None
            )
        return None

    def setData(self, index, value, role=Qt.EditRole) -> bool:  # noqa: N802 - Qt API
        if not index.isValid():
            return False
        row = self.rows[index.row()]
        key = self.column_key(index.column())
        if role == Qt.CheckStateRole and key == "name":
            self.set_checked(row.path, Qt.CheckState(value) == Qt.Checked)
            return True
        if role != Qt.EditRole:
            return False
        try:
            if key == "tags":
                from workbench.core.training.run_table import set_tags

                updated = replace(row, tags=set_tags(row.path, str(value).split(",")))
            elif key == "name":
                from workbench.core.training.runs import Run

                Run(row.path).rename(str(value))
                updated = replace(row, name=str(value).strip())
            else:
                return False
        except UserError as exc:
            self.sig_error.emit(str(exc))
            return False
        self.replace_row(updated)
        return True

    def replace_row(self, updated: RunRow) -> None:
        """A run's row changed (tags, notes, name): the same place, new values."""
        self.all_rows = [updated if r.path == updated.path else r for r in self.all_rows]
        for i, r in enumerate(self.rows):
            if r.path == updated.path:
                self.rows[i] = updated
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.columns) - 1))
