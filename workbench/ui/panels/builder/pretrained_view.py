"""The builder's view of an imported (Pretrained) model: its real modules as a tree (path, type, output shape,
parameters, MACs, from the analysis' `details`), runs of identical sibling blocks folded into "Block × N", a lock
per module (checked: its weights stay fixed in training, `training.frozen`) and the trainable parameter count,
updated as locks and the fine-tuning method change. Qt only; the numbers come from the analysis."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from workbench.core.units import shape_text

PATH_ROLE = (
    Qt.ItemDataRole.UserRole + 1
)  # the module's full state-dict prefix ("0.model.bert.encoder.layer.0")
COLUMNS = ("Module (☐ lock: weights fixed)", "Type", "Output", "Params", "MACs")
EXPANDED_DEPTH = 6  # open down to the folded groups, which stay closed


def _count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1_000_000 else f"{n:,}"


class PretrainedView(QWidget):
    sig_frozen_changed = Signal(list)  # the module paths the user locked (top-most only)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setObjectName("pretrainedTrainable")
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("pretrainedTree")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)
        self.tree.setColumnWidth(0, 215)  # names (indented), then a type that may be elided
        self.tree.setColumnWidth(1, 110)
        for column in range(2, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemChanged.connect(self._on_tree_item_changed)
        self.empty = QLabel(
            "No imported model. Use Import… above to start from a Hugging Face folder (config.json + "
            "*.safetensors), an ONNX file or a PyTorch module; its blocks, shapes and parameters appear here."
        )
        self.empty.setObjectName("pretrainedEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty, 1)
        self._key: tuple | None = None
        self._reports: list[Any] = []
        self._analysis: Any = None
        self._training: Any = None
        self._reading = False
        self._emit_timer = QTimer(self)  # a folded group's check toggles each block: one change, not N
        self._emit_timer.setSingleShot(True)
        self._emit_timer.setInterval(0)
        self._emit_timer.timeout.connect(lambda: self.sig_frozen_changed.emit(self.locked_paths()))
        self.show_analysis(None, None)

    # -- showing
    def show_analysis(self, analysis, training) -> None:
        """Show the imported layers of `analysis` with the locks of `training.frozen` (no echo)."""
        self._analysis, self._training = analysis, training
        reports = [r for r in (analysis.layers if analysis is not None else []) if r.details]
        has = bool(reports)
        self.tree.setVisible(has)
        self.summary.setVisible(has)
        self.empty.setVisible(not has)
        key = tuple((r.path, r.num_params, len(r.details["modules"])) for r in reports)
        self._reading = True
        try:
            if key != self._key:
                self._key, self._reports = key, reports
                self._build(reports)
            self._read_locks(list(training.frozen) if training is not None else [])
        finally:
            self._reading = False
        self._sync_groups()
        self._update_summary()

    def _build(self, reports) -> None:
        self.tree.clear()
        for report in reports:
            prefix = ".".join(map(str, report.path))
            top = QTreeWidgetItem(
                [
                    f"{prefix}: {report.type} ({report.params.get('format', '')})",
                    report.details.get("model_type", ""),
                ]
            )
            top.setText(2, shape_text(report.output_shape or (), "x"))
            top.setText(3, _count(report.num_params))
            top.setText(4, _count(report.macs))
            self.tree.addTopLevelItem(top)
            rows = report.details["modules"]
            children: dict[str, list[dict]] = {}
            for row in rows:
                parent = row["path"].rpartition(".")[0] if row["depth"] > 1 else ""
                children.setdefault(parent, []).append(row)
            self._add_children(top, "", children, prefix)
            top.setExpanded(True)
            self._expand(top, 0)

    def _add_children(self, parent_item, parent_path: str, children: dict, prefix: str) -> None:
        rows = children.get(parent_path, [])
        i = 0
        while i < len(rows):
            run = 1
            while i + run < len(rows) and _same(rows[i], rows[i + run]):
                run += 1
            target = parent_item
            if run >= 2:  # consecutive identical blocks: one folded group
                first, last = rows[i]["path"].rpartition(".")[2], rows[i + run - 1]["path"].rpartition(".")[2]
                group = QTreeWidgetItem([f"{rows[i]['type']} ×{run} ({first}–{last})", rows[i]["type"]])
                group.setText(3, _count(sum(r["params"] for r in rows[i : i + run])))
                group.setText(4, _count(sum(r["macs"] for r in rows[i : i + run])))
                group.setFlags(group.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                group.setCheckState(0, Qt.CheckState.Unchecked)
                group.setToolTip(0, f"{run} identical blocks folded; expand to lock one of them")
                parent_item.addChild(group)
                target = group
            for row in rows[i : i + run]:
                item = QTreeWidgetItem([row["path"].rpartition(".")[2] or row["path"], row["type"]])
                item.setText(2, shape_text(row["output_shape"] or (), "x") if row["output_shape"] else "")
                item.setText(3, _count(row["params"]))
                item.setText(4, _count(row["macs"]))
                item.setData(0, PATH_ROLE, f"{prefix}.{row['path']}")
                item.setToolTip(
                    0, f"{prefix}.{row['path']}" + (" (new: the head)" if row["new_params"] else "")
                )
                if row["params"]:
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(0, Qt.CheckState.Unchecked)
                target.addChild(item)
                self._add_children(item, row["path"], children, prefix)
            i += run

    def _expand(self, item, depth: int) -> None:
        for k in range(item.childCount()):
            child = item.child(k)
            folded = child.data(0, PATH_ROLE) is None
            child.setExpanded(depth < EXPANDED_DEPTH and not folded)
            self._expand(child, depth + 1)

    # -- locks
    def _items(self):
        stack = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop()
            yield item
            stack.extend(item.child(k) for k in range(item.childCount()))

    def _read_locks(self, frozen: list[str]) -> None:
        for item in self._items():
            path = item.data(0, PATH_ROLE)
            if path is not None and item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                locked = any(path == f or path.startswith(f + ".") for f in frozen)
                if (item.checkState(0) == Qt.CheckState.Checked) != locked:
                    item.setCheckState(0, Qt.CheckState.Checked if locked else Qt.CheckState.Unchecked)

    def _sync_groups(self) -> None:
        """A folded group shows checked when all its blocks are locked, partly when some are."""
        self._reading = True
        try:
            for item in self._items():
                if item.data(0, PATH_ROLE) is not None or not item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                    continue
                states = {item.child(k).checkState(0) for k in range(item.childCount())}
                state = states.pop() if len(states) == 1 else Qt.CheckState.PartiallyChecked
                if item.checkState(0) != state:
                    item.setCheckState(0, state)
        finally:
            self._reading = False

    def locked_paths(self) -> list[str]:
        """The top-most locked modules (a locked block covers everything inside it)."""
        out: list[str] = []
        for item in self._items():
            path = item.data(0, PATH_ROLE)
            if path is None or item.checkState(0) != Qt.CheckState.Checked:
                continue
            if not any(path.startswith(p + ".") for p in out):
                out = [p for p in out if not p.startswith(path + ".")] + [path]
        return sorted(out)

    def _on_tree_item_changed(self, item, column: int) -> None:
        if self._reading or column != 0:
            return
        state = item.checkState(0)
        if state != Qt.CheckState.PartiallyChecked:  # a lock covers everything inside the block
            self._reading = True
            try:
                stack = [item.child(k) for k in range(item.childCount())]
                while stack:
                    child = stack.pop()
                    if child.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                        child.setCheckState(0, state)
                    stack.extend(child.child(k) for k in range(child.childCount()))
            finally:
                self._reading = False
        self._sync_groups()
        self._update_summary()
        self._emit_timer.start()

    # -- the trainable count
    def trainable(self) -> tuple[int, int, str]:
        """(trainable, total, how) for the current locks and fine-tuning method."""
        analysis, cfg = self._analysis, self._training
        if analysis is None:
            return 0, 0, ""
        total = analysis.total_params
        locked = self.locked_paths()
        method = getattr(cfg, "finetune", "full")
        rows = [
            (f"{'.'.join(map(str, r.path))}.{m['path']}", m)
            for r in self._reports
            for m in r.details["modules"]
        ]

        def is_locked(path: str) -> bool:
            return any(path == p or path.startswith(p + ".") for p in locked)

        def leaf_sum(key: str, keep) -> int:  # over depth-1 rows (each parameter counted once)
            return sum(m[key] for p, m in rows if m["depth"] == 1 and keep(p))

        imported = sum(r.num_params for r in self._reports)
        own = total - imported  # the spec's other layers
        if method == "full":
            locked_params = sum(m["params"] for p, m in rows if p in locked)
            return total - locked_params, total, "full fine-tuning"
        new = leaf_sum("new_params", lambda p: not is_locked(p)) + own
        if method == "freeze":
            return new, total, "imported weights fixed, the new head trains"
        rank = getattr(cfg, "lora_rank", 8)
        targets = set()
        for r in self._reports:
            targets.update(r.details.get("lora_default_targets") or [])
        adapters = 0
        for path, m in rows:
            if "in_features" not in m or m["new_params"] or is_locked(path):
                continue
            if not targets or path.rpartition(".")[2] in targets:
                adapters += rank * (m["in_features"] + m["out_features"])
        where = ", ".join(sorted(targets)) if targets else "every Linear"
        return adapters + new, total + adapters, f"LoRA rank {rank} on {where} + the head"

    def _update_summary(self) -> None:
        trainable, total, how = self.trainable()
        if not total:
            self.summary.setText("")
            return
        locked = self.locked_paths()
        share = 100.0 * trainable / total
        text = f"<b>Trainable: {trainable:,}</b> of {total:,} parameters ({share:.1f}%) — {how}"
        if locked:
            text += f"; {len(locked)} locked"
        new: list[str] = []
        unused: list[str] = []
        for report in self._reports:
            unmapped = report.details.get("unmapped") or {}
            new += unmapped.get("new_tensors", [])
            unused += unmapped.get("source_tensors_unused", [])
        text += f"<br>New (not from the file): {_names(new)}. Not used from the file: {_names(unused)}."
        self.summary.setText(text)


def _names(keys: list[str], shown: int = 3) -> str:
    """Tensor names in short: none, or the first few and how many more."""
    if not keys:
        return "none"
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _same(a: dict, b: dict) -> bool:
    return a["type"] == b["type"] and a["params"] == b["params"] and a["output_shape"] == b["output_shape"]
