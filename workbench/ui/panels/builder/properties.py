"""The property editor: one typed field per parameter of the selected layer, from the registry's schema
(ranges, choices, tooltips; inferred sizes show "auto (N)"), the layer's error or warning and its one-click fix."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.core.model.registry import REQUIRED, Param, get_layer_type
from workbench.core.units import shape_text

INT_LIMIT = 2_147_483_647


def _parse_ints(text: str, param: Param):
    """ "3" -> 3, "3, 2" -> [3, 2], "" -> None; ValueError when it is not that."""
    parts = [p for p in text.replace("x", ",").replace(" ", ",").split(",") if p]
    if not parts:
        return None
    values = [int(p) for p in parts]
    if param.kind == "shape":
        return values
    return values[0] if len(values) == 1 else values


def _ints_text(value) -> str:
    if value is None:
        return ""
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _as_int(value, default, fallback) -> int:
    """The spec's value for a spin box; a wrong type in the file shows the default (the error says why)."""
    for candidate in (value, default):
        if isinstance(candidate, int | float) and not isinstance(candidate, bool):
            return int(candidate)
    return fallback


class FloatSpinBox(QDoubleSpinBox):
    """Shows a float as written (1e-05, 0.001, 0.9): a fixed 4 decimals showed BatchNorm's eps 1e-5 as 0.0000."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(12)  # the value is kept, not rounded to 4 places

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt API
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt API
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        from PySide6.QtGui import QValidator

        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            ok = stripped in ("", "-", "+", ".") or stripped.lower().endswith(("e", "e-", "e+"))
            return (QValidator.Intermediate if ok else QValidator.Invalid), text, pos
        inside = self.minimum() <= value <= self.maximum()
        return (QValidator.Acceptable if inside else QValidator.Intermediate), text, pos


def _as_float(value, default) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float(default)


class PropertyEditor(QWidget):
    """sig_param_changed(key, value): value None removes the key (inferred / default again).
    sig_fix(): apply the shown layer's fix."""

    sig_param_changed = Signal(str, object)
    sig_fix = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setObjectName("layerTitle")
        self.title.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setObjectName("layerProblem")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fix_button = QPushButton()
        self.fix_button.setObjectName("layerFixButton")
        self.fix_button.clicked.connect(self._on_fix_clicked)
        self._form_host = QWidget()
        self.form = QFormLayout(self._form_host)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self._form_host)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.problem)
        fix_row = QHBoxLayout()
        fix_row.addWidget(self.fix_button)
        fix_row.addStretch(1)
        layout.addLayout(fix_row)
        layout.addWidget(scroll, 1)
        self.fields: dict[str, QWidget] = {}
        self._fix = None
        self._shown = None
        self.show_layer(None, None)

    def show_layer(self, layer: dict | None, report, path=None) -> None:
        """Fill the form for `layer` (its raw spec dict) with `report` (its analysis) for inferred values.
        The same layer shown again is updated in place, so the field being edited keeps its focus."""
        key = (tuple(path) if path is not None else None, layer["type"] if layer else None)
        if layer is not None and key == self._shown and self.fields:
            self._update_in_place(layer, report)
            return
        self._shown = key
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = {}
        self._fix = None
        if layer is None:
            self.title.setText("<i>Select a layer to edit its properties, or add one from the palette.</i>")
            self.problem.hide()
            self.fix_button.hide()
            return
        try:
            lt = get_layer_type(layer["type"])
        except UserError as exc:  # e.g. a plugin layer whose plugin is not installed
            self.title.setText(f"<b>{layer['type']}</b>")
            self.problem.setText(f"<span style='color:#b00020'><b>Error:</b> {exc}</span>")
            self.problem.show()
            self.fix_button.hide()
            return
        self._show_header(lt, report)
        resolved = report.params if report is not None else {}
        for param in lt.params:
            widget = self._field(param, layer.get(param.name), resolved.get(param.name))
            label = QLabel(param.name)
            tip = f"<b>{param.name}</b> ({param.kind}{self._range(param)})<br>{param.doc}"
            label.setToolTip(tip)
            widget.setToolTip(tip)
            self.form.addRow(label, widget)
            self.fields[param.name] = widget
        if lt.composite:
            self.form.addRow(
                QLabel(
                    "<i>Its body is edited in the layer list: select a layer inside it, or drop "
                    "layers onto it.</i>"
                )
            )
        if not lt.params and not lt.composite:
            self.form.addRow(QLabel("<i>No parameters.</i>"))

    def _update_in_place(self, layer: dict, report) -> None:
        lt = get_layer_type(layer["type"])
        self._show_header(lt, report)
        resolved = report.params if report is not None else {}
        for param in lt.params:
            widget = self.fields.get(param.name)
            if widget is None:
                continue
            widget.blockSignals(True)
            try:
                self._set_value(widget, param, layer.get(param.name), resolved.get(param.name))
            finally:
                widget.blockSignals(False)

    def _set_value(self, widget, param: Param, value, resolved) -> None:
        if isinstance(widget, QSpinBox):
            if param.inferred:
                widget.setSpecialValueText(f"auto ({resolved})" if resolved is not None else "auto")
                widget.setValue(
                    widget.minimum() if value is None else _as_int(value, resolved, widget.minimum())
                )
            else:
                widget.setValue(_as_int(value, param.default, widget.minimum()))
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(_as_float(value, param.default))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value if value is not None else param.default))
        elif isinstance(widget, QComboBox):
            current = value if value is not None else param.default
            if current in param.choices:
                widget.setCurrentIndex(list(param.choices).index(current))
        else:
            edit = widget if isinstance(widget, QLineEdit) else widget.findChild(QLineEdit)
            text = (value or "") if param.kind == "str" else _ints_text(value)
            if edit.text() != text:  # leave the cursor alone while the text is the same
                edit.setText(text)
            if param.kind != "str" and param.inferred:
                edit.setPlaceholderText(f"auto ({_ints_text(resolved)})" if resolved is not None else "auto")

    def _show_header(self, lt, report) -> None:
        shapes = ""
        if report is not None and report.input_shape is not None:
            shapes = f" — {shape_text(report.input_shape)} → {shape_text(report.output_shape)}"
        self.title.setText(f"<b>{lt.name}</b>{shapes}<br><span style='color:#666'>{lt.doc}</span>")
        message = report.error if report is not None and report.error else None
        kind = "error"
        if message is None and report is not None and report.warning:
            message, kind = report.warning, "warning"
        self._fix = (report.fix if kind == "error" else report.warning_fix) if message else None
        color = "#b00020" if kind == "error" else "#8a6100"
        self.problem.setText(
            f"<span style='color:{color}'><b>{kind.title()}:</b> {message}</span>" if message else ""
        )
        self.problem.setVisible(bool(message))
        self.fix_button.setText(f"Fix: {self._fix.label}" if self._fix else "")
        self.fix_button.setVisible(self._fix is not None)

    @staticmethod
    def _range(param: Param) -> str:
        if param.minimum is None and param.maximum is None:
            return ""
        lo = "" if param.minimum is None else f"{param.minimum:g}"
        hi = "" if param.maximum is None else f"{param.maximum:g}"
        return f", {lo}…{hi}"

    def _field(self, param: Param, value, resolved) -> QWidget:
        name = param.name
        if param.kind == "int" and not param.optional:
            box = QSpinBox()
            lo = int(param.minimum) if param.minimum is not None else -INT_LIMIT
            hi = int(min(param.maximum, INT_LIMIT)) if param.maximum is not None else INT_LIMIT
            if param.inferred:  # the minimum - 1 stands for "inferred"
                lo -= 1
                box.setSpecialValueText(f"auto ({resolved})" if resolved is not None else "auto")
            box.setRange(lo, hi)
            default = resolved if param.inferred else (param.default if param.default is not REQUIRED else lo)
            box.setValue(lo if param.inferred and value is None else _as_int(value, default, lo))
            box.setKeyboardTracking(False)
            box.valueChanged.connect(
                lambda v, n=name, p=param, b=box: self.sig_param_changed.emit(
                    n, None if p.inferred and v == b.minimum() else v
                )
            )
            return box
        if param.kind == "float":
            box = FloatSpinBox()
            box.setRange(
                param.minimum if param.minimum is not None else -1e9,
                param.maximum if param.maximum is not None else 1e9,
            )
            small = _as_float(value, param.default)
            small = small if 0 < abs(small) < 0.01 else _as_float(param.default, 0.0)
            step = abs(small) if 0 < abs(small) < 0.01 else 0.05 if (param.maximum or 0) <= 1 else 0.1
            box.setSingleStep(step)  # eps 1e-5 steps by 1e-5, not by 0.05
            box.setValue(_as_float(value, param.default))
            box.setKeyboardTracking(False)
            box.valueChanged.connect(lambda v, n=name: self.sig_param_changed.emit(n, float(v)))
            return box
        if param.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(value if value is not None else param.default))
            box.toggled.connect(lambda v, n=name: self.sig_param_changed.emit(n, bool(v)))
            return box
        if param.kind == "choice":
            box = QComboBox()
            box.addItems([str(c) for c in param.choices])
            current = value if value is not None else param.default
            box.setCurrentIndex(list(param.choices).index(current) if current in param.choices else 0)
            box.currentIndexChanged.connect(
                lambda i, n=name, p=param: self.sig_param_changed.emit(n, p.choices[i])
            )
            return box
        edit = QLineEdit()
        if param.kind == "str":
            edit.setText(value or "")
            edit.setPlaceholderText("none")
            edit.editingFinished.connect(
                lambda n=name, e=edit: self.sig_param_changed.emit(n, e.text().strip() or None)
            )
            if "path" in name:
                return self._with_browse(edit, name)
            return edit
        # ints / shape / optional ints: free text, checked on commit
        edit.setText(_ints_text(value))
        hint = _ints_text(resolved) if resolved is not None else ""
        default = _ints_text(param.default) if param.default not in (REQUIRED, None) else ""
        edit.setPlaceholderText(f"auto ({hint})" if param.inferred else (default or "none"))
        edit.editingFinished.connect(lambda n=name, p=param, e=edit: self._commit_text(n, p, e))
        return edit

    def _with_browse(self, edit: QLineEdit, name: str) -> QWidget:
        host = QWidget()
        row = QHBoxLayout(host)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        browse = QPushButton("Browse…")

        def pick():
            path, _ = QFileDialog.getOpenFileName(
                self, "Weights file", "", "Weights (*.safetensors *.pt *.pth)"
            )
            if path:
                edit.setText(path)
                self.sig_param_changed.emit(name, path)

        browse.clicked.connect(pick)
        row.addWidget(browse)
        host.setFocusProxy(edit)
        return host

    def _commit_text(self, name: str, param: Param, edit: QLineEdit) -> None:
        try:
            value = _parse_ints(edit.text(), param)
        except ValueError:
            edit.setStyleSheet("border: 1px solid #b00020")
            edit.setToolTip(f"{name}: enter whole numbers such as 3 or 3, 2")
            return
        edit.setStyleSheet("")
        self.sig_param_changed.emit(name, value)

    def _on_fix_clicked(self) -> None:
        if self._fix is not None:
            self.sig_fix.emit(self._fix)
