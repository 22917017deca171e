"""SourceForm: which data (kind, path, validation folder, target column) and the source's own options."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QWidget,
)

from workbench.core.data.registry import SourceType, get_source, source_types
from workbench.ui.panels.dataset.options_form import OptionsForm

TRANSFORM_KEYS = ("color", "resize", "normalize", "augment_flip", "augment_crop", "augment_rotation")


def is_image_kind(src: SourceType) -> bool:
    return any(o.name == "augment_flip" for o in src.options)


def source_options(src: SourceType) -> tuple:
    """The options edited here; image transforms are edited in the Split & transforms tab."""
    return tuple(o for o in src.options if not (is_image_kind(src) and o.name in TRANSFORM_KEYS))


class _PathRow(QWidget):
    sig_changed = Signal()

    def __init__(self, placeholder: str, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.editingFinished.connect(self.sig_changed)
        self.browse = QPushButton("Browse\u2026")
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.browse)


class SourceForm(QWidget):
    sig_load = Signal()  # the user asked to (re)load with this source

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.kind = QComboBox()
        self.kind.setObjectName("datasetKind")
        for src in source_types():
            self.kind.addItem(src.label, src.kind)
            self.kind.setItemData(self.kind.count() - 1, src.description, Qt.ToolTipRole)
        self.path = _PathRow("a folder or file")
        self.path.edit.setObjectName("datasetPath")
        self.val = _PathRow("optional: a separate validation folder")
        self.target = QComboBox()
        self.target.setEditable(True)
        self.target.setObjectName("datasetTarget")
        self.target.lineEdit().setPlaceholderText("last column")
        self.options_toggle = QToolButton()
        self.options_toggle.setText("Options")
        self.options_toggle.setCheckable(True)
        self.options_toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.options_toggle.setArrowType(Qt.RightArrow)
        self.options = OptionsForm()
        self.options.setVisible(False)
        self.load_button = QPushButton("Load")
        self.load_button.setObjectName("datasetLoadButton")
        self.load_button.setDefault(True)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(placeholder-text);")
        form.addRow("Source", self.kind)
        form.addRow("", self.description)
        form.addRow("Path", self.path)
        form.addRow("Validation", self.val)
        form.addRow("Target column", self.target)
        row = QHBoxLayout()
        row.addWidget(self.options_toggle)
        row.addStretch(1)
        row.addWidget(self.load_button)
        form.addRow(row)
        form.addRow(self.options)
        self._form = form
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self.kind.currentIndexChanged.connect(self._on_kind_switched)
        self.path.browse.clicked.connect(self._on_browse)
        self.val.browse.clicked.connect(self._on_browse_val)
        self.path.sig_changed.connect(self._refresh_columns)
        self.options_toggle.toggled.connect(self._on_options_toggled)
        self.load_button.clicked.connect(self.sig_load)
        self._on_kind_changed()

    # -- state
    # ----------------------------------------------------------------------------------------------------
    @property
    def source(self) -> SourceType:
        return get_source(self.kind.currentData())

    def set_settings(self, settings) -> None:
        with QSignalBlocker(self.kind):
            i = self.kind.findData(settings.kind)
            self.kind.setCurrentIndex(max(0, i))
        self._on_kind_changed()
        self.path.edit.setText("" if settings.source == "digits" else settings.source)
        self.val.edit.setText(settings.val_source or "")
        self._refresh_columns()
        self.target.setEditText(settings.target or "")
        self.options.set_values(settings.options)

    def values(self) -> dict:
        """kind, source, target, val_source and the source options (not the transforms)."""
        src = self.source
        path = self.path.edit.text().strip()
        return {
            "kind": src.kind,
            "source": "digits" if src.path_mode == "none" else path,
            "target": (self.target.currentText().strip() or None) if src.needs_target else None,
            "val_source": (self.val.edit.text().strip() or None) if src.supports_val_source else None,
            "options": self.options.values(),
        }

    # -- reactions
    # ------------------------------------------------------------------------------------------------
    def _set_row_visible(self, widget: QWidget, visible: bool) -> None:
        self._form.setRowVisible(widget, visible)

    def _on_kind_changed(self) -> None:
        src = self.source
        self.description.setText(src.description)
        self._set_row_visible(self.path, src.path_mode != "none")
        self._set_row_visible(self.val, src.supports_val_source)
        self._set_row_visible(self.target, src.needs_target)
        specs = source_options(src)
        self.options.set_specs(specs)
        self.options_toggle.setVisible(bool(specs))
        self.options.setVisible(bool(specs) and self.options_toggle.isChecked())
        self.path.edit.setPlaceholderText("a file" if src.path_mode == "file" else "a folder")

    def _on_kind_switched(self) -> None:
        """The user picked another source type: the old path (a folder for a CSV, ...) does not carry over."""
        for edit in (self.path.edit, self.val.edit):
            edit.clear()
        self.target.clear()
        self.target.setEditText("")

    def _on_options_toggled(self, on: bool) -> None:
        self.options_toggle.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
        self.options.setVisible(on and bool(self.options.editors))

    def _start_dir(self) -> str:
        text = self.path.edit.text().strip()
        return str(Path(text).expanduser().parent) if text else str(Path.home())

    def _on_browse(self) -> None:
        src = self.source
        if src.path_mode == "file":
            path, _ = QFileDialog.getOpenFileName(
                self,
                f"Choose {src.label}",
                self._start_dir(),
                f"{src.file_filter};;All files (*)" if src.file_filter else "",
            )
        else:
            path = QFileDialog.getExistingDirectory(self, f"Choose {src.label}", self._start_dir())
        if path:
            self.path.edit.setText(path)
            self._refresh_columns()

    def _on_browse_val(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a validation folder", self._start_dir())
        if path:
            self.val.edit.setText(path)

    def _refresh_columns(self) -> None:
        """Offer the CSV's columns as targets (reads the header only)."""
        if not self.source.needs_target:
            return
        from workbench.core.data.csvfile import read_csv
        from workbench.core.errors import UserError

        current = self.target.currentText()
        try:
            opts = self.options.values()
            header = read_csv(
                self.path.edit.text().strip(),
                opts.get("encoding", "auto"),
                opts.get("delimiter", "auto"),
                max_rows=1,
            ).header
        except (UserError, OSError):
            header = []
        with QSignalBlocker(self.target):
            self.target.clear()
            self.target.addItems(header)
            self.target.setEditText(current)
