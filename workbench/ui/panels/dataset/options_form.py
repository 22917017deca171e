"""OptionsForm: editors built from a source's `OptionSpec`s (check box, combo box, spin box or line edit)."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from workbench.core.data.registry import OptionSpec


def _editor(spec: OptionSpec) -> QWidget:
    if spec.choices:
        w = QComboBox()
        labels = spec.choice_labels or tuple(str(c) for c in spec.choices)
        for choice, label in zip(spec.choices, labels, strict=True):
            w.addItem(label, choice)
    elif isinstance(spec.default, bool):
        w = QCheckBox(spec.label)
    elif isinstance(spec.default, int):
        w = QSpinBox()
        w.setRange(
            int(spec.minimum if spec.minimum is not None else -1_000_000),
            int(spec.maximum if spec.maximum is not None else 1_000_000),
        )
        if spec.default == 0 and spec.minimum == 0 and "automatic" in spec.help:
            w.setSpecialValueText("auto")  # 0 = sized from the data (the text sequence length)
    elif isinstance(spec.default, float):
        w = QDoubleSpinBox()
        w.setDecimals(1)
        w.setRange(
            spec.minimum if spec.minimum is not None else -1e6,
            spec.maximum if spec.maximum is not None else 1e6,
        )
    else:
        w = QLineEdit()
        w.setPlaceholderText(spec.help or "")
    w.setToolTip(spec.help)
    w.setObjectName(f"option_{spec.name}")
    return w


class OptionsForm(QWidget):
    sig_changed = Signal()

    def __init__(self, specs: tuple[OptionSpec, ...] = (), parent=None):
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.editors: dict[str, tuple[OptionSpec, QWidget]] = {}
        self.set_specs(specs)

    def set_specs(self, specs: tuple[OptionSpec, ...]) -> None:
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self.editors = {}
        for spec in specs:
            w = _editor(spec)
            self.editors[spec.name] = (spec, w)
            if isinstance(w, QCheckBox):
                self._layout.addRow("", w)
                w.toggled.connect(self.sig_changed)
            else:
                self._layout.addRow(spec.label, w)
                sig = {
                    QComboBox: "currentIndexChanged",
                    QSpinBox: "valueChanged",
                    QDoubleSpinBox: "valueChanged",
                    QLineEdit: "editingFinished",
                }[type(w)]
                getattr(w, sig).connect(self.sig_changed)
            self._set(spec, w, spec.default)

    def _set(self, spec: OptionSpec, w: QWidget, value) -> None:
        with QSignalBlocker(w):
            if isinstance(w, QComboBox):
                i = w.findData(value)
                w.setCurrentIndex(i if i >= 0 else max(0, w.findData(spec.default)))
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QSpinBox):
                w.setValue(int(value or 0))
            elif isinstance(w, QDoubleSpinBox):
                w.setValue(float(value or 0.0))
            else:
                w.setText("" if value is None else str(value))

    def set_values(self, values: dict) -> None:
        for name, (spec, w) in self.editors.items():
            self._set(spec, w, values.get(name, spec.default))

    def values(self) -> dict:
        """Only what differs from the defaults (a lean project file)."""
        out = {}
        for name, (spec, w) in self.editors.items():
            if isinstance(w, QComboBox):
                v = w.currentData()
            elif isinstance(w, QCheckBox):
                v = w.isChecked()
            elif isinstance(w, QSpinBox | QDoubleSpinBox):
                v = w.value()
            else:
                v = w.text().strip()
            if v != spec.default:
                out[name] = v
        return out
