"""The network as a tree (`layerList`): one row per layer with its output shape, parameters and MACs, an
error marker on the offending layer, Residual bodies nested. Drops (palette types or moved rows) are turned into
signals; the panel edits the spec and the tree is rebuilt from it, never mutated by Qt itself."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QTreeWidget, QTreeWidgetItem

from workbench.core.units import count_text, shape_text
from workbench.ui.panels.builder.palette import LAYER_MIME

PATH_ROLE = Qt.ItemDataRole.UserRole
COMPOSITE_ROLE = Qt.ItemDataRole.UserRole + 1
ERROR_BG = QColor(255, 225, 225)
WARNING_BG = QColor(255, 243, 205)
COLUMNS = ("Layer", "Output", "Params", "MACs")


def _summary(layer: dict) -> str:
    """The few arguments worth showing beside the type: Conv2d(16, k3, p1)."""
    keys = {
        "out_features": "",
        "out_channels": "",
        "kernel_size": "k",
        "stride": "s",
        "padding": "p",
        "p": "p=",
        "hidden_size": "h",
        "embedding_dim": "d",
        "num_groups": "g",
        "name": "",
        "num_classes": "→",
        "output": "",
        "output_size": "",
        "unflattened_size": "",
        "nhead": "heads=",
        "num_heads": "heads=",
        "dim_feedforward": "ff",
        "patch_size": "patch ",
        "kind": "",
        "mode": "",
        "vocab_size": "→",
    }
    flags = ("causal", "rotary", "cls_token", "norm_first")  # shown by name when on
    parts = []
    for key, prefix in keys.items():
        if key in layer and layer[key] is not None:
            value = layer[key]
            text = "x".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{prefix}{text}")
    parts += [flag for flag in flags if layer.get(flag) is True]
    return f"({', '.join(parts)})" if parts else ""


class LayerList(QTreeWidget):
    sig_drop_type = Signal(str, tuple, int)  # layer type, parent path, index
    sig_move = Signal(tuple, tuple, int)  # path, parent path, index

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("layerList")
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(COLUMNS)
        self.setRootIsDecorated(True)
        self.setIndentation(14)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self._items: dict[tuple, QTreeWidgetItem] = {}

    # -- showing
    # ---------------------------------------------------------------------------------------------------
    def show_network(self, spec, analysis, selected: tuple | None) -> None:
        self.blockSignals(True)
        expanded = {path for path, item in self._items.items() if item.isExpanded()}
        self.clear()
        self._items = {}
        reports = {r.path: r for r in analysis.walk()} if analysis is not None else {}
        self._add(self.invisibleRootItem(), spec.to_dict()["layers"], (), reports, expanded)
        self.blockSignals(False)
        item = self._items.get(tuple(selected)) if selected else None
        self.setCurrentItem(item) if item else self.clearSelection()

    def _add(self, parent_item, layers, prefix, reports, expanded) -> None:
        error_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical)
        warn_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for i, layer in enumerate(layers):
            path = (*prefix, i)
            report = reports.get(path)
            label = f"{'.'.join(map(str, path))}  {layer['type']}{_summary(layer)}"
            item = QTreeWidgetItem(parent_item, [label, "", "", ""])
            item.setData(0, PATH_ROLE, path)
            item.setData(0, COMPOSITE_ROLE, layer.get("layers") is not None)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsDragEnabled | Qt.ItemFlag.ItemIsDropEnabled)
            for column in (2, 3):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if report is not None:
                item.setText(1, shape_text(report.output_shape))
                if report.output_shape is not None:
                    item.setText(2, count_text(report.num_params))
                    item.setText(3, count_text(report.macs))
                tip = (
                    f"input {shape_text(report.input_shape)} → output {shape_text(report.output_shape)}\n"
                    f"{report.num_params:,} parameters, {report.macs:,} MACs per sample"
                )
                marker = None
                if report.error:
                    marker, tip = (error_icon, ERROR_BG), f"{report.error}\n\n{tip}"
                elif report.warning:
                    marker, tip = (warn_icon, WARNING_BG), f"{report.warning}\n\n{tip}"
                if marker:
                    item.setIcon(0, marker[0])
                    for column in range(len(COLUMNS)):
                        item.setBackground(column, QBrush(marker[1]))
                        item.setForeground(column, QBrush(QColor(40, 40, 40)))
                for column in range(len(COLUMNS)):
                    item.setToolTip(column, tip)
            self._items[path] = item
            if layer.get("layers") is not None:
                self._add(item, layer["layers"], path, reports, expanded)
                item.setExpanded(path in expanded or True)

    def item_for(self, path) -> QTreeWidgetItem | None:
        return self._items.get(tuple(path))

    def selected_path(self) -> tuple | None:
        item = self.currentItem()
        return tuple(item.data(0, PATH_ROLE)) if item is not None else None

    # -- drag and drop
    # ---------------------------------------------------------------------------------------------
    def mimeTypes(self):  # noqa: N802 - Qt API
        return [*super().mimeTypes(), LAYER_MIME]

    def dragEnterEvent(self, event):  # noqa: N802 - Qt API
        if event.mimeData().hasFormat(LAYER_MIME) or event.source() is self:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):  # noqa: N802 - Qt API
        super().dragMoveEvent(event)
        if event.mimeData().hasFormat(LAYER_MIME) or event.source() is self:
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802 - Qt API
        parent, index = self.drop_target(event.position().toPoint())
        if event.mimeData().hasFormat(LAYER_MIME):
            name = bytes(event.mimeData().data(LAYER_MIME)).decode()
            self.sig_drop_type.emit(name, parent, index)
        elif event.source() is self and self.selected_path() is not None:
            self.sig_move.emit(self.selected_path(), parent, index)
        event.setDropAction(Qt.DropAction.CopyAction)  # the spec changes; Qt must not move items itself
        event.accept()

    def drop_target(self, pos) -> tuple[tuple, int]:
        """(parent path, index) for a drop at `pos`: above / below a row, or into a Residual's body."""
        item = self.itemAt(pos)
        if item is None:
            return (), self.topLevelItemCount()
        path = tuple(item.data(0, PATH_ROLE))
        rect = self.visualItemRect(item)
        y = pos.y() - rect.top()
        is_body = bool(item.data(0, COMPOSITE_ROLE))
        if is_body and rect.height() / 4 < y < rect.height() * 3 / 4:
            return path, item.childCount()
        return path[:-1], path[-1] + (1 if y >= rect.height() / 2 else 0)
