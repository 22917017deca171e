"""The layer palette: registered layer types grouped by category, filtered as you type, dragged or
double-clicked into the network."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from workbench.core.model.registry import CATEGORIES, layer_types

LAYER_MIME = "application/x-workbench-layer-type"
TYPE_ROLE = Qt.ItemDataRole.UserRole


class _PaletteTree(QTreeWidget):
    def mimeData(self, items):  # noqa: N802 - Qt API
        names = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        data = QMimeData()
        if names:
            data.setData(LAYER_MIME, names[0].encode())
            data.setText(names[0])
        return data

    def mimeTypes(self):  # noqa: N802 - Qt API
        return [LAYER_MIME]


class LayerPalette(QWidget):
    """Search box over a grouped tree (`layerPalette`). sig_activated(type) on double-click / Enter."""

    sig_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search layers…", clearButtonEnabled=True)
        self.search.setObjectName("layerSearch")
        self.tree = _PaletteTree()
        self.tree.setObjectName("layerPalette")
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setIndentation(12)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self._on_search_changed)
        self.search.returnPressed.connect(self._on_search_return)
        self.tree.itemActivated.connect(self._on_tree_activated)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild from the registry (plugins may have added layer types)."""
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        types = layer_types().values()
        order = {c: i for i, c in enumerate(CATEGORIES)}
        for lt in sorted(types, key=lambda t: (order.get(t.category, len(order)), t.category)):
            group = groups.get(lt.category)
            if group is None:
                group = groups[lt.category] = QTreeWidgetItem(self.tree, [lt.category])
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
            item = QTreeWidgetItem(group, [lt.name])
            item.setData(0, TYPE_ROLE, lt.name)
            item.setToolTip(
                0, f"<b>{lt.name}</b><br>{lt.doc}<br><i>Double-click or drag into the network</i>"
            )
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
            )
        self.tree.expandAll()
        self._on_search_changed(self.search.text())

    def selected_type(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, TYPE_ROLE) if item is not None and not item.isHidden() else None

    def visible_types(self) -> list[str]:
        out = []
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            out += [
                group.child(i).data(0, TYPE_ROLE)
                for i in range(group.childCount())
                if not group.child(i).isHidden()
            ]
        return out

    def _on_search_changed(self, text: str) -> None:
        needle = text.strip().lower()
        first = None
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            shown = 0
            for i in range(group.childCount()):
                item = group.child(i)
                lt = layer_types().get(item.data(0, TYPE_ROLE))
                hay = f"{item.text(0)} {group.text(0)} {lt.doc if lt else ''}".lower()
                match = not needle or needle in hay
                item.setHidden(not match)
                shown += match
                if match and first is None:
                    first = item
            group.setHidden(shown == 0)
        if needle and first is not None:
            self.tree.setCurrentItem(first)

    def _on_search_return(self) -> None:
        name = self.selected_type()
        if name:
            self.sig_activated.emit(name)

    def _on_tree_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        name = item.data(0, TYPE_ROLE)
        if name:
            self.sig_activated.emit(name)
