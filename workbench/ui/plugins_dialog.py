"""Help > Plugins: every plugin with its version, origin, contributions and status; errors with their
traceback; enable/disable checkboxes and plugin folders, saved at once and applied at the next start."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QBrush, QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.plugins.manager import (
    BUILTIN,
    DISABLED,
    FAILED,
    FOLDER_DISABLED,
    LOADED,
    PluginManager,
    PluginRecord,
)

ID_ROLE = Qt.ItemDataRole.UserRole
STATUS_TEXT = {
    LOADED: "Loaded",
    FAILED: "Failed",
    DISABLED: "Disabled",
    FOLDER_DISABLED: "Folder not enabled",
}
STATUS_COLOR = {LOADED: "#2e7d32", FAILED: "#c62828"}
BANNER = "QLabel {{ background: {bg}; border: 1px solid {border}; border-radius: 4px; padding: 6px; }}"


class PluginsDialog(QDialog):
    def __init__(self, manager: PluginManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.manager = manager
        self.setObjectName("pluginsDialog")
        self.setWindowTitle("Plugins")
        self.resize(820, 620)

        intro = QLabel(
            "Plugins add layers, data sources, exporters and panels. They come from the built-ins, "
            "installed packages (entry point <code>workbench.plugins</code>) and enabled plugin "
            "folders. <b>Changes apply the next time Workbench starts.</b>"
        )
        intro.setWordWrap(True)
        self.restart_banner = _banner("#fff4d6", "#e0b84c")
        self.restart_banner.setObjectName("pluginsRestartBanner")
        self.state_banner = _banner("#fde7e7", "#d77")

        self.plugin_list = QTreeWidget()
        self.plugin_list.setObjectName("pluginList")
        self.plugin_list.setHeaderLabels(["Plugin", "Version", "Origin", "Contributes", "Status"])
        self.plugin_list.setRootIsDecorated(False)
        self.plugin_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.plugin_list.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 5):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)

        self.details = QTextBrowser()
        self.details.setObjectName("pluginDetails")
        self.details.setOpenExternalLinks(True)
        self.traceback_box = QPlainTextEdit(readOnly=True)
        self.traceback_box.setObjectName("pluginTraceback")
        self.traceback_box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.traceback_box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.traceback_box.setPlaceholderText("No errors")
        self.traceback_group = QGroupBox("Traceback")
        QVBoxLayout(self.traceback_group).addWidget(self.traceback_box)

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.details)
        lower.addWidget(self.traceback_group)
        lower.setSizes([420, 380])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plugin_list)
        split.addWidget(lower)
        split.setSizes([250, 200])
        split.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.state_banner)
        layout.addWidget(self.restart_banner)
        layout.addWidget(split, 1)
        layout.addWidget(self._build_folders())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.plugin_list.currentItemChanged.connect(self._on_list_current_changed)
        self.plugin_list.itemChanged.connect(self._on_list_item_changed)
        self.refresh()

    def _build_folders(self) -> QGroupBox:
        box = QGroupBox("Plugin folders (each name.py file or name/ package is one plugin)")
        self.folder_list = QListWidget()
        self.folder_list.setObjectName("pluginFolders")
        self.folder_list.setMaximumHeight(78)
        self.folder_list.itemChanged.connect(self._on_folder_item_changed)
        add = QPushButton("Add folder…")
        add.clicked.connect(self._on_add_folder_clicked)
        self.remove_folder_button = QPushButton("Remove")
        self.remove_folder_button.clicked.connect(self._on_remove_folder_clicked)
        side = QVBoxLayout()
        side.addWidget(add)
        side.addWidget(self.remove_folder_button)
        side.addStretch(1)
        row = QHBoxLayout(box)
        row.addWidget(self.folder_list, 1)
        row.addLayout(side)
        return box

    # -- filling
    # -----------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        current = self.current_id()
        self.plugin_list.blockSignals(True)
        self.plugin_list.clear()
        for record in self.manager.records:
            item = QTreeWidgetItem(
                self.plugin_list,
                [
                    record.name,
                    record.version,
                    record.origin,
                    record.contribution_summary(),
                    STATUS_TEXT.get(record.status, record.status.capitalize()),
                ],
            )
            item.setData(0, ID_ROLE, record.id)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if record.can_disable:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
            item.setFlags(flags)
            enabled = record.origin == BUILTIN or self.manager.state.is_enabled(record.id)
            item.setCheckState(0, Qt.CheckState.Checked if enabled else Qt.CheckState.Unchecked)
            item.setToolTip(
                0,
                "Built in: always loaded"
                if not record.can_disable
                else "Checked: loaded at start-up. Unchecked: not imported at all.",
            )
            color = STATUS_COLOR.get(record.status)
            if color:
                item.setForeground(4, QBrush(QColor(color)))
            if record.status == FAILED:
                item.setIcon(4, self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical))
            if record.error:
                item.setToolTip(4, record.error)
        self.plugin_list.blockSignals(False)
        target = self.item_for(current) or self._first_problem() or self.plugin_list.topLevelItem(0)
        if target is not None:
            self.plugin_list.setCurrentItem(target)
        self._fill_folders()
        self._update_banners()

    def _fill_folders(self) -> None:
        self.folder_list.blockSignals(True)
        self.folder_list.clear()
        for path, enabled in self.manager.folders():
            exists = path.is_dir()
            item = QListWidgetItem(str(path) + ("" if exists else "   (does not exist yet)"))
            item.setData(ID_ROLE, str(path))
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable
            )
            item.setCheckState(Qt.CheckState.Checked if enabled else Qt.CheckState.Unchecked)
            item.setToolTip("Checked: plugins in this folder are loaded at start-up")
            self.folder_list.addItem(item)
        self.folder_list.blockSignals(False)

    def _update_banners(self) -> None:
        changes = self.manager.pending_changes()
        self.restart_banner.setText("<b>Restart Workbench to apply:</b> " + html.escape("; ".join(changes)))
        self.restart_banner.setVisible(bool(changes))
        warning = self.manager.state_warning
        self.state_banner.setText(html.escape(warning or ""))
        self.state_banner.setVisible(bool(warning))

    def _show_details(self, record: PluginRecord | None) -> None:
        if record is None:
            self.details.setHtml("<p>Select a plugin to see what it adds and where it comes from.</p>")
            self.traceback_box.setPlainText("")
            self.traceback_group.hide()
            return
        e = html.escape
        rows = [
            ("Id", f"<code>{e(record.id)}</code>"),
            ("Origin", e(record.origin)),
            ("From", f"<code>{e(record.location)}</code>"),
            (
                "Status",
                e(STATUS_TEXT.get(record.status, record.status))
                + (
                    f" in {record.seconds * 1000:.0f} ms"
                    if record.loaded and record.origin != BUILTIN
                    else ""
                ),
            ),
        ]
        for kind, names in record.contributions.items():
            if names:
                rows.append((kind.capitalize(), e(", ".join(names))))
        if not any(record.contributions.values()):
            rows.append(
                (
                    "Contributes",
                    {LOADED: "nothing", FAILED: "nothing (it failed to load)"}.get(
                        record.status, "unknown until it loads"
                    ),
                )
            )
        table = "".join(
            f"<tr><td style='color:#666;padding-right:10px'>{k}</td><td>{v}</td></tr>" for k, v in rows
        )
        error = f"<p style='color:#c62828'><b>Error:</b> {e(record.error)}</p>" if record.error else ""
        self.details.setHtml(
            f"<h3>{e(record.name)} <span style='color:#666'>{e(record.version)}</span></h3>"
            f"<p>{e(record.description) or '<i>No description</i>'}</p>{error}<table>{table}</table>"
        )
        self.traceback_box.setPlainText(record.traceback or "")
        self.traceback_group.setVisible(bool(record.traceback))

    # -- helpers for tests and automation
    # ------------------------------------------------------------------------------
    def item_for(self, plugin_id: str | None) -> QTreeWidgetItem | None:
        for i in range(self.plugin_list.topLevelItemCount()):
            item = self.plugin_list.topLevelItem(i)
            if item.data(0, ID_ROLE) == plugin_id:
                return item
        return None

    def current_id(self) -> str | None:
        item = self.plugin_list.currentItem()
        return item.data(0, ID_ROLE) if item is not None else None

    def _first_problem(self) -> QTreeWidgetItem | None:
        bad = next((r for r in self.manager.records if r.status == FAILED), None)
        return self.item_for(bad.id) if bad else None

    # -- events
    # --------------------------------------------------------------------------------------------------------
    def _on_list_current_changed(self, item: QTreeWidgetItem | None, _previous) -> None:
        self._show_details(self.manager.record(item.data(0, ID_ROLE)) if item is not None else None)

    def _on_list_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column != 0:
            return
        plugin_id = item.data(0, ID_ROLE)
        record = self.manager.record(plugin_id)
        if record is None or not record.can_disable:
            return
        enabled = item.checkState(0) == Qt.CheckState.Checked
        if enabled == self.manager.state.is_enabled(plugin_id):
            return
        try:
            self.manager.set_enabled(plugin_id, enabled)
        except UserError as exc:
            QMessageBox.warning(self, "Cannot save plugin settings", str(exc))
            with QSignalBlocker(
                self.plugin_list
            ):  # the item stays (never rebuild a list from its own signal)
                item.setCheckState(0, Qt.CheckState.Unchecked if enabled else Qt.CheckState.Checked)
        self._update_banners()

    def _on_folder_item_changed(self, item: QListWidgetItem) -> None:
        enabled = item.checkState() == Qt.CheckState.Checked
        try:
            self.manager.set_folder_enabled(item.data(ID_ROLE), enabled)
        except UserError as exc:
            QMessageBox.warning(self, "Cannot save plugin settings", str(exc))
            with QSignalBlocker(self.folder_list):
                item.setCheckState(Qt.CheckState.Unchecked if enabled else Qt.CheckState.Checked)
        self._update_banners()

    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a plugin folder", str(Path.home()))
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str | Path) -> None:
        try:
            self.manager.set_folder_enabled(Path(folder).resolve(), True)
        except UserError as exc:
            QMessageBox.warning(self, "Cannot save plugin settings", str(exc))
        self.refresh()

    def _on_remove_folder_clicked(self) -> None:
        item = self.folder_list.currentItem()
        if item is not None:
            self.manager.remove_folder(item.data(ID_ROLE))
            self.refresh()


def _banner(bg: str, border: str) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(BANNER.format(bg=bg, border=border))
    label.setVisible(False)
    return label


def main(argv: list[str] | None = None) -> int:
    """`python -m workbench.ui.plugins_dialog [--screenshot PNG] [--folder DIR]`: the dialog alone, on the
    plugins this checkout would load (plus DIR, e.g. tests/plugins/fixture_plugins to see failures)."""
    import argparse
    import sys

    from PySide6.QtWidgets import QApplication

    from workbench.plugins.manager import PluginManager

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the dialog and exit")
    parser.add_argument(
        "--folder", type=Path, action="append", default=[], help="also load this plugin folder"
    )
    parser.add_argument("--select", help="the plugin id to select")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    manager = PluginManager()
    for folder in args.folder:
        manager.state.folders[str(folder.resolve())] = True  # this preview only: not saved
    manager.load()
    dialog = PluginsDialog(manager)
    if args.select:
        dialog.plugin_list.setCurrentItem(dialog.item_for(args.select))
    dialog.show()
    if args.screenshot:
        for _ in range(10):
            app.processEvents()
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(args.screenshot))
        manager.unload()
        return 0
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
