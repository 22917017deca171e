"""BuilderPanel: build a network by clicking, with live shapes, parameters, MACs, validation and one-click fixes.

Every edit is a QUndoCommand that swaps the whole spec (specs are small and immutable here), then writes through
`session.update_model`. The analysis runs on the GUI thread when the spec has only rule-based layers (no torch
needed, a few ms); a spec with a torchvision backbone or a rule-less layer is analyzed as a job (workbench.ui.jobs)
in the trainer process, which builds it on the meta device (a plugin's layer: on a `wb-analysis` thread here).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyle,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.core.hardware.fit import fit_warning
from workbench.core.model import editing
from workbench.core.model.analysis import Analysis, analyze
from workbench.core.model.registry import get_layer_type
from workbench.core.model.spec import ModelSpec
from workbench.core.units import bytes_text, count_text, shape_text
from workbench.ui.jobs import ThreadJob
from workbench.ui.panels.builder.diagram import NetworkDiagram
from workbench.ui.panels.builder.import_model import import_menu
from workbench.ui.panels.builder.layer_list import LayerList
from workbench.ui.panels.builder.palette import LayerPalette
from workbench.ui.panels.builder.pretrained_view import PretrainedView
from workbench.ui.panels.builder.properties import PropertyEditor


class _SpecEdit(QUndoCommand):
    """One edit: the spec before and after, and which layer is selected on either side."""

    MERGE_ID = 4242

    def __init__(self, panel, before, after, text, select_before, select_after, merge_key=None):
        super().__init__(text)
        self.panel, self.before, self.after = panel, before, after
        self.select_before, self.select_after, self.merge_key = select_before, select_after, merge_key

    def redo(self):
        self.panel._set_spec(self.after, self.select_after)

    def undo(self):
        self.panel._set_spec(self.before, self.select_before)

    def id(self):
        return self.MERGE_ID if self.merge_key else -1

    def mergeWith(self, other):  # noqa: N802 - Qt API: typing 3, 4, 5 into one field is one undo step
        if other.merge_key != self.merge_key:
            return False
        self.after, self.select_after = other.after, other.select_after
        return True


def _builtin_layers(layers) -> bool:
    """The trainer process can analyze the spec: every layer type is known there (workbench.core.jobs.
    placement_of_item: a layer type registered only in this process is not)."""
    from workbench.core.jobs import Placement, placement_of_item
    from workbench.core.model.registry import LAYERS

    for layer in layers:
        try:
            get_layer_type(layer.type)
        except UserError:
            return False
        if placement_of_item(LAYERS, layer.type) is not Placement.TRAINER or (
            layer.layers and not _builtin_layers(layer.layers)
        ):
            return False
    return True


def _needs_torch(layers) -> bool:
    for layer in layers:
        try:
            lt = get_layer_type(layer.type)
        except UserError:
            continue
        if not (lt.shape and lt.count_params) or (layer.layers and _needs_torch(layer.layers)):
            return True
    return False


class BuilderPanel(QWidget):
    sig_analyzed = Signal(object)  # each new Analysis (tests and other views)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.spec: ModelSpec = session.project.model
        self.analysis: Analysis | None = None
        self.selected: tuple | None = None
        self.meta = None  # the loaded dataset's DatasetMeta
        self.undo_stack = QUndoStack(self)
        self._writing = False
        self._generation = 0
        self._build_ui()
        self._build_actions()
        session.sig_project_loaded.connect(self._on_session_project_loaded)
        session.sig_model_changed.connect(self._on_session_model_changed)
        session.sig_data_loaded.connect(self._on_session_data_loaded)
        session.sig_training_changed.connect(self.refresh)
        session.memory.sig_plan.connect(self._on_session_gpu_memory)
        session.memory.sig_planning.connect(self._on_memory_planning)
        session.sig_gpu_memory.connect(self._on_session_gpu_memory)
        if session.data is not None:
            self.meta = getattr(session.data, "meta", None)
        self.refresh()

    # -- layout
    # -----------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.palette = LayerPalette()
        self.layer_list = LayerList()
        self.properties = PropertyEditor()
        self.toolbar = QHBoxLayout()
        self.toolbar.setSpacing(2)
        self.diagram = NetworkDiagram()
        self.diagram.start_dir = self._start_dir  # exports are offered beside the project
        self.network_tabs = QTabWidget()  # the layer list and the diagram of the same network
        self.network_tabs.setObjectName("builderNetworkTabs")
        self.network_tabs.setDocumentMode(True)
        self.network_tabs.addTab(self.layer_list, "Layers")
        self.network_tabs.addTab(self.diagram, "Diagram")
        self.pretrained_view = PretrainedView()  # an imported model's modules, locks and trainable count
        self.network_tabs.addTab(self.pretrained_view, "Imported")
        self.pretrained_view.sig_frozen_changed.connect(self._on_pretrained_view_frozen_changed)
        self.middle = middle = QSplitter(Qt.Orientation.Horizontal)
        middle.addWidget(self.palette)
        middle.addWidget(self.network_tabs)
        middle.setStretchFactor(1, 1)
        middle.setSizes([175, 345])
        middle.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(middle)
        self.splitter.addWidget(self.properties)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([340, 260])

        self.problem = QLabel()
        self.problem.setObjectName("builderProblem")
        self.problem.setWordWrap(True)
        self.fix_button = QPushButton()
        self.fix_button.setObjectName("fixButton")
        self.fix_button.clicked.connect(self._on_fix_button_clicked)
        problem_row = QHBoxLayout()
        problem_row.addWidget(self.problem, 1)
        problem_row.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignTop)

        self.input_edit = QLineEdit()
        self.input_edit.setObjectName("inputShapeEdit")
        self.input_edit.setMaximumWidth(110)
        self.input_edit.setToolTip(
            "Input shape without the batch dimension, e.g. 3, 32, 32 (set from the dataset)"
        )
        self.input_edit.editingFinished.connect(self._on_input_edit_finished)
        self.totals = QLabel()
        self.totals.setObjectName("builderTotals")
        self.totals.setWordWrap(True)
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        totals_row = QHBoxLayout()
        totals_row.addWidget(QLabel("Input"))
        totals_row.addWidget(self.input_edit)
        totals_row.addWidget(self.totals, 1)
        self.memory = QLabel()
        self.memory.setObjectName("memoryWarning")
        self.memory.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(self.toolbar)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(problem_row)
        layout.addLayout(totals_row)
        layout.addWidget(self.memory)

        self.palette.sig_activated.connect(self._on_palette_activated)
        self.layer_list.currentItemChanged.connect(self._on_layer_list_current_changed)
        self.layer_list.sig_drop_type.connect(self._on_layer_list_drop_type)
        self.layer_list.sig_move.connect(self._on_layer_list_move)
        self.diagram.sig_layer_clicked.connect(self._on_diagram_layer_clicked)
        self.diagram.sig_beside.connect(self._on_diagram_beside)
        self.properties.sig_param_changed.connect(self._on_properties_param_changed)
        self.properties.sig_fix.connect(self.apply_fix)

    def _build_actions(self) -> None:
        icon = self.style().standardIcon
        sp = QStyle.StandardPixmap

        def action(name, text, slot, pixmap=None, shortcuts=()):
            act = QAction(text, self)
            act.setObjectName(name)
            if pixmap is not None:
                act.setIcon(icon(pixmap))
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.setToolTip(text + (f" ({QKeySequence(shortcuts[0]).toString()})" if shortcuts else ""))
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.add_action = action(
            "addLayerAction", "Add layer", self._on_add_clicked, sp.SP_FileDialogNewFolder
        )
        self.delete_action = action(
            "deleteLayerAction", "Delete", self.delete_selected, sp.SP_TrashIcon, ("Delete",)
        )
        self.duplicate_action = action(
            "duplicateLayerAction",
            "Duplicate",
            self.duplicate_selected,
            sp.SP_FileDialogDetailedView,
            ("Ctrl+D",),
        )
        self.up_action = action(
            "moveUpAction", "Move up", lambda: self.move_selected(-1), sp.SP_ArrowUp, ("Alt+Up",)
        )
        self.down_action = action(
            "moveDownAction", "Move down", lambda: self.move_selected(1), sp.SP_ArrowDown, ("Alt+Down",)
        )
        self.undo_action = action("undoAction", "Undo", self.undo_stack.undo, sp.SP_ArrowBack, ("Ctrl+Z",))
        self.redo_action = action(
            "redoAction", "Redo", self.undo_stack.redo, sp.SP_ArrowForward, ("Ctrl+Shift+Z", "Ctrl+Y")
        )
        self.undo_stack.canUndoChanged.connect(self.undo_action.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.redo_action.setEnabled)
        self.undo_stack.undoTextChanged.connect(lambda t: self.undo_action.setToolTip(f"Undo {t} (Ctrl+Z)"))
        self.undo_stack.redoTextChanged.connect(
            lambda t: self.redo_action.setToolTip(f"Redo {t} (Ctrl+Shift+Z)")
        )
        for act in (
            self.add_action,
            self.delete_action,
            self.duplicate_action,
            self.up_action,
            self.down_action,
            None,
            self.undo_action,
            self.redo_action,
            None,
        ):
            if act is None:
                self.toolbar.addSpacing(8)
                continue
            button = QToolButton()
            button.setDefaultAction(act)
            button.setAutoRaise(True)
            if act is self.add_action:
                button.setText("Add")
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.toolbar.addWidget(button)
        self.templates_menu = QMenu("Templates", self)
        self.templates_menu.aboutToShow.connect(self._fill_templates_menu)
        self.templates_button = self._menu_button("templatesButton", "Templates", self.templates_menu)
        file_menu = QMenu(self)
        file_menu.addAction("Open spec…", self.open_spec_dialog)
        file_menu.addAction("Save spec as…", self.save_spec_dialog)
        self.file_button = self._menu_button("specFileButton", "Spec", file_menu)
        self.import_button = self._menu_button("importModelButton", "Import", import_menu(self))
        self.import_button.setToolTip(
            "Start from a model made elsewhere: a Hugging Face folder or an ONNX file, read offline"
        )
        self.export_button = QPushButton("Export code…")
        self.export_button.setObjectName("exportCodeButton")
        self.export_button.setToolTip("Write a standalone PyTorch .py file (imports only torch)")
        self.export_button.clicked.connect(self.export_code_dialog)
        self.toolbar.addWidget(self.templates_button)
        self.toolbar.addWidget(self.file_button)
        self.toolbar.addWidget(self.import_button)
        self.toolbar.addStretch(1)
        self.toolbar.addWidget(self.export_button)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)

    def _menu_button(self, name: str, text: str, menu: QMenu) -> QToolButton:
        button = QToolButton()
        button.setObjectName(name)
        button.setText(text)
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        return button

    # -- the one way the spec changes
    # ----------------------------------------------------------------------------
    def edit(self, after: ModelSpec, text: str, select=None, merge_key=None) -> None:
        """Push an undoable edit (applied at once)."""
        if after == self.spec:
            return
        self.undo_stack.push(_SpecEdit(self, self.spec, after, text, self.selected, select, merge_key))

    def _set_spec(self, spec: ModelSpec, select) -> None:
        self.spec = spec
        self.selected = tuple(select) if select is not None and editing.exists(spec, select) else None
        self._writing = True
        try:
            self.session.update_model(spec)
        finally:
            self._writing = False
        self.refresh()

    # -- analysis
    # ------------------------------------------------------------------------------------------------
    def _analysis_args(self) -> dict:
        training = self.session.project.training
        meta = self.meta
        return {
            "batch_size": training.batch_size,
            "precision": training.precision,
            "num_classes": (meta.num_classes or None) if meta is not None else None,
            "input_dtype": getattr(meta, "input_dtype", "float32") if meta is not None else "float32",
        }

    def refresh(self) -> None:
        """Re-analyze the spec and redraw. Rule-based specs are analyzed right here (a few ms)."""
        self._generation += 1
        self.input_edit.setText(", ".join(map(str, self.spec.input_shape)))
        if _needs_torch(self.spec.layers):
            self._show(None)
            self.totals.setText("<i>Analyzing (loading torch)…</i>")
            self._start_worker(self._generation)
            return
        self._show(analyze(self.spec, **self._analysis_args()))

    def _start_worker(self, generation: int) -> None:
        """Analyze a spec with torch-backed layers as a job: in the trainer process (torch stays out of the GUI)
        or, for plugin layers, on a thread here. A newer analysis cancels the older one (its result is stale)."""
        spec, args, jobs = self.spec, self._analysis_args(), self.session.jobs
        if jobs.closing:
            return
        if _builtin_layers(spec.layers):
            job = jobs.job("analysis", "analyse", spec=spec.to_dict(), **args)
        else:

            def analysis():
                yield analyze(spec, **args)

            job = ThreadJob("analysis", analysis)
        job.sig_events.connect(lambda events: self._on_worker_done(generation, events[-1]))
        job.sig_done.connect(
            lambda error: error is not None and self._on_worker_done(generation, RuntimeError(error.message))
        )
        jobs.start(job)

    def _on_pretrained_view_frozen_changed(self, paths: list) -> None:
        training = self.session.project.training
        if list(training.frozen) != list(paths):
            self.session.update_training(training.model_copy(update={"frozen": list(paths)}))

    def _on_worker_done(self, generation: int, result) -> None:
        if generation != self._generation:
            return
        if isinstance(result, Exception):
            self.totals.setText(f"<span style='color:#b00020'>Analysis failed: {result}</span>")
            return
        self._show(result)

    def _show(self, analysis: Analysis | None) -> None:
        self.analysis = analysis
        self._vet_fixes(analysis)
        self.layer_list.show_network(self.spec, analysis, self.selected)
        self.diagram.show_network(self.spec, analysis, self.selected)
        self.pretrained_view.show_analysis(analysis, self.session.project.training)
        self._show_properties()
        self._show_problem()
        self._show_totals()
        self._on_session_gpu_memory()
        has_sel = self.selected is not None
        for act in (self.delete_action, self.duplicate_action, self.up_action, self.down_action):
            act.setEnabled(has_sel)
        if analysis is not None:
            self.sig_analyzed.emit(analysis)

    def _vet_fixes(self, analysis: Analysis | None) -> None:
        """Offer each fix only as it leaves the whole model (fixes.vet_fix): checked against the layers after
        it, an Embedding sized from the vocabulary. Specs analyzed in the background keep their fixes as given."""
        if analysis is None or _needs_torch(self.spec.layers):
            return
        from workbench.ui.panels.builder.fixes import vet_fix

        args = self._analysis_args()
        extra = (self.meta.extra or {}) if self.meta is not None else {}
        vocab = extra.get("vocab_size") or len(extra.get("vocab") or []) or None
        for report in analysis.walk():
            if report.error and report.fix is not None:
                report.fix = vet_fix(self.spec, report.fix, vocab, **args)
            if report.warning and report.warning_fix is not None:
                report.warning_fix = vet_fix(self.spec, report.warning_fix, vocab, **args)

    def _show_properties(self) -> None:
        if self.selected is None:
            self.properties.show_layer(None, None)
            return
        report = self.analysis.find(self.selected) if self.analysis else None
        self.properties.show_layer(editing.layer_at(self.spec, self.selected), report, self.selected)

    def _first_problem(self):
        if self.analysis is None:
            return None, None, None
        for r in self.analysis.walk():
            if r.error and (r.fix or not r.children):
                return "error", r, r.fix
        if self.analysis.error:  # an error with no layer (empty network)
            return "error", None, None
        for r in self.analysis.walk():
            if r.warning:
                return "warning", r, r.warning_fix
        return None, None, None

    def _show_problem(self) -> None:
        kind, report, fix = self._first_problem()
        if kind is None:
            self.problem.hide()
            self.fix_button.hide()
            self._problem_fix = None
            return
        if report is None:
            text = self.analysis.error
        else:
            message = report.error if kind == "error" else report.warning
            text = f"Layer {report.label} ({report.type}): {message}"
        color = "#b00020" if kind == "error" else "#8a6100"
        self.problem.setText(f"<span style='color:{color}'><b>{kind.title()}</b> — {text}</span>")
        self._problem_fix = fix
        self.fix_button.setText(f"Fix: {fix.label}" if fix else "")
        # the property editor already shows the selected layer's problem and fix
        shown_above = report is not None and report.path == self.selected
        self.problem.setVisible(not shown_above)
        self.fix_button.setVisible(fix is not None and not shown_above)

    def _show_totals(self) -> None:
        a = self.analysis
        if a is None:
            return
        if not a.layers:
            self.totals.setText("<i>Add layers from the palette, or pick a template.</i>")
            return
        lead = f"→ <b>{shape_text(a.output_shape)}</b> · " if a.ok else "Up to the error: "
        # an imported model: what trains follows its locks and the fine-tuning method (the Imported tab's count)
        trainable, with_adapters, _how = self.pretrained_view.trainable()
        if not with_adapters:
            trainable, with_adapters = a.trainable_params, a.total_params
        self.totals.setText(
            f"{lead}<b>{with_adapters:,}</b> params ({count_text(trainable)} trainable, "
            f"{bytes_text(a.param_bytes)}) · {count_text(a.total_macs)} MACs/sample · batch {a.batch_size}: "
            f"layer outputs {bytes_text(a.activation_bytes)}"
        )

    def _on_memory_planning(self) -> None:
        if self.session.memory.plan is None:
            self.memory.setText("<span style='color:#666'>Tracing the training step's memory…</span>")
            self.memory.show()

    def _on_session_gpu_memory(self, *_args) -> None:
        """The traced memory plan (ui/memory.py): the peak of a training step by category, whether it fits the
        device (the hardware panel's check, against the latest free memory) and the largest batch that does."""
        plan = self.session.memory.plan
        if plan is None or self.analysis is None or not self.analysis.ok:
            self.memory.setText(self._memory_unknown())
            self.memory.setVisible(bool(self.memory.text()))
            return
        est = plan.estimate
        cats = est.categories
        parts = [
            f"weights {bytes_text(cats['parameters'] + cats['buffers'])}",
            f"gradients {bytes_text(cats['gradients'])}",
            f"optimizer {bytes_text(cats['optimizer_states'])}",
            f"activations {bytes_text(cats['activations'] + cats['temporaries'])}",
        ]
        line = (
            f"<b>Training peak {bytes_text(est.peak_bytes)}</b> on {plan.device} (batch {est.batch_size}, "
            f"{est.precision}{', traced' if est.method == 'traced' else ', ' + est.method}): "
            + " · ".join(parts)
        )
        latest = self.session.memory.latest  # the fit against the latest free memory, else the plan's own
        warning = fit_warning(plan, self.session.device, latest) if latest is not None else plan.advice()
        if warning:
            line += f"<br><span style='color:#b00020'>⚠ {warning}.</span>"
        elif plan.available_bytes is not None:
            largest = f"; largest batch {plan.max_batch_size:,}" if plan.max_batch_size else ""
            if plan.max_batch_size and plan.max_batch_size == self._train_size():
                largest += " (the whole training split)"
            line += (
                f"<br><span style='color:#2e7d32'>Fits: needs {bytes_text(plan.needed_bytes)} with headroom, "
                f"{bytes_text(plan.available_bytes)} free{largest}.</span>"
            )
        self.memory.setText(line)
        self.memory.show()

    def _train_size(self) -> int | None:
        train = getattr(self.session.data, "train", None)
        return len(train) if train is not None else None

    def _memory_unknown(self) -> str:
        error = self.session.memory.error
        if error and self.analysis is not None and self.analysis.ok:
            return f"<span style='color:#8a6100'>Memory not estimated: {error}</span>"
        return ""

    # -- editing actions
    # -----------------------------------------------------------------------------------------
    def _in_shape_at(self, parent: tuple, index: int):
        a = self.analysis
        if a is None:
            return None
        if index > 0:
            r = a.find((*parent, index - 1))
            return r.output_shape if r else None
        if parent:
            r = a.find(parent)
            return r.input_shape if r else None
        return tuple(self.spec.input_shape)

    def _insert_position(self) -> tuple[tuple, int]:
        sel = self.selected
        if sel is None:
            return (), len(self.spec.layers)
        layer = editing.layer_at(self.spec, sel)
        if layer.get("layers") is not None:
            return sel, len(layer["layers"])
        return sel[:-1], sel[-1] + 1

    def add_layer(self, type_name: str, parent: tuple | None = None, index: int | None = None) -> None:
        if parent is None or index is None:
            parent, index = self._insert_position()
        try:
            layer = editing.new_layer(type_name, self._in_shape_at(parent, index))
        except UserError as exc:
            self._error("Cannot add layer", str(exc))
            return
        self.edit(editing.insert(self.spec, parent, index, layer), f"add {type_name}", (*parent, index))

    def delete_selected(self) -> None:
        sel = self.selected
        if sel is None:
            return
        after = editing.remove(self.spec, sel)
        select = (
            sel
            if editing.exists(after, sel)
            else ((*sel[:-1], sel[-1] - 1) if sel[-1] > 0 else (sel[:-1] or None))
        )
        self.edit(after, f"delete {editing.layer_at(self.spec, sel)['type']}", select)

    def duplicate_selected(self) -> None:
        sel = self.selected
        if sel is not None:
            self.edit(editing.duplicate(self.spec, sel), "duplicate layer", (*sel[:-1], sel[-1] + 1))

    def move_selected(self, step: int) -> None:
        sel = self.selected
        if sel is None:
            return
        target = sel[-1] + (step if step < 0 else step + 1)
        siblings = (
            len(editing.layer_at(self.spec, sel[:-1]).get("layers", []))
            if sel[:-1]
            else len(self.spec.layers)
        )
        if target < 0 or target > siblings:
            return
        after, path = editing.move(self.spec, sel, sel[:-1], target)
        self.edit(after, "move layer", path)

    def move_layer(self, path: tuple, parent: tuple, index: int) -> None:
        try:
            after, new_path = editing.move(self.spec, path, parent, index)
        except (ValueError, IndexError):
            return
        self.edit(after, "move layer", new_path)

    def set_param(self, key: str, value) -> None:
        if self.selected is None:
            return
        after = editing.set_param(self.spec, self.selected, key, value)
        self.edit(after, f"set {key}", self.selected, merge_key=(self.selected, key))

    def apply_fix(self, fix) -> None:
        from workbench.ui.panels.builder.fixes import apply_any

        select = fix.path
        if fix.op == "insert":
            count = len(fix.layer) if isinstance(fix.layer, list) else 1
            shift = (
                count if editing.exists(self.spec, fix.path) else count - 1
            )  # the fixed layer, or the last added
            select = (*fix.path[:-1], fix.path[-1] + shift)
        self.edit(apply_any(self.spec, fix), fix.label[0].lower() + fix.label[1:], select)
        self.layer_list.setFocus()  # on the fixed layer: not a text field whose text a key would replace

    def apply_template(self, name: str) -> None:
        from workbench.core.model.templates import make_template

        meta = self.meta
        shape = list(meta.input_shape) if meta is not None else self.spec.input_shape
        classes = meta.num_classes if meta is not None else self._current_classes()
        dtype = getattr(meta, "input_dtype", "float32") if meta is not None else "float32"
        extra = (meta.extra or {}) if meta is not None else {}
        vocab = extra.get("vocab_size") or len(extra.get("vocab") or []) or None
        try:
            spec = make_template(name, shape, classes, dtype, vocab_size=vocab)
        except UserError as exc:
            self._error("Template does not fit", str(exc))
            return
        self.edit(spec, f"template {name}", None)

    def _current_classes(self) -> int:
        out = self.analysis.output_shape if self.analysis is not None else None
        return out[0] if out and len(out) == 1 else 10

    # -- files
    # -----------------------------------------------------------------------------------------------------
    def _start_dir(self) -> str:
        return str(self.session.path.parent) if self.session.path else str(Path.home())

    def open_spec(self, path) -> None:
        from workbench.core.model.spec import load_spec

        self.edit(load_spec(path), f"open {Path(path).name}", None)

    def open_spec_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open model spec", self._start_dir(), "Model specs (*.json *.wbproj)"
        )
        if path:
            try:
                self.open_spec(path)
            except UserError as exc:
                self._error("Cannot open the spec", str(exc))

    def save_spec_dialog(self) -> None:
        from workbench.core.model.spec import save_spec

        path, _ = QFileDialog.getSaveFileName(
            self, "Save model spec", str(Path(self._start_dir()) / "model.json"), "Model spec (*.json)"
        )
        if path:
            try:
                save_spec(self.spec, path)
                self.session.sig_status.emit(f"Saved model spec {path}")
            except UserError as exc:
                self._error("Cannot save the spec", str(exc))

    def export_code(self, path) -> Path:
        from workbench.core.model.codegen import export_code

        written = export_code(self.spec, path)
        self.session.sig_status.emit(f"Exported PyTorch code to {written}")
        return written

    def export_code_dialog(self) -> None:
        """The generated code first (a preview to read or copy), then Save as… writes it."""
        from workbench.core.model.codegen import generate_code
        from workbench.ui.panels.builder.code_preview import CodePreviewDialog

        try:
            source = generate_code(self.spec)
        except UserError as exc:
            self._error("Cannot export code", str(exc))
            return
        self.code_preview = CodePreviewDialog(source, self._save_code_dialog, self)
        self.code_preview.open()

    def _save_code_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export PyTorch code", str(Path(self._start_dir()) / "model.py"), "Python (*.py)"
        )
        if not path:
            return False
        try:
            self.export_code(path)
        except UserError as exc:
            self._error("Cannot export code", str(exc))
            return False
        return True

    def _error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    # -- handlers
    # --------------------------------------------------------------------------------------------------
    def _fill_templates_menu(self) -> None:
        from workbench.core.model.templates import templates_for

        self.templates_menu.clear()
        meta = self.meta
        shape = meta.input_shape if meta is not None else self.spec.input_shape
        dtype = getattr(meta, "input_dtype", "float32") if meta is not None else "float32"
        where = f"{meta.kind}: " if meta is not None else ""
        header = self.templates_menu.addAction(f"For {where}{shape_text(shape)} → {self._classes_text()}")
        header.setEnabled(False)
        for t in templates_for(shape, dtype, getattr(meta, "task", None)):  # a text file: the language models
            act = self.templates_menu.addAction(t.title, lambda n=t.name: self.apply_template(n))
            act.setToolTip(t.doc)
        self.templates_menu.setToolTipsVisible(True)

    def _classes_text(self) -> str:
        if self.meta is not None:
            return f"{self.meta.num_classes} classes" if self.meta.num_classes else "1 output (regression)"
        return f"{self._current_classes()} outputs"

    def _on_add_clicked(self) -> None:
        name = self.palette.selected_type()
        if name is None:
            self.session.sig_status.emit("Pick a layer type in the palette first (or double-click it)")
            return
        self.add_layer(name)

    def _on_palette_activated(self, name: str) -> None:
        self.add_layer(name)

    def _on_layer_list_drop_type(self, name: str, parent: tuple, index: int) -> None:
        self.add_layer(name, parent, index)

    def _on_layer_list_move(self, path: tuple, parent: tuple, index: int) -> None:
        self.move_layer(path, parent, index)

    def _on_layer_list_current_changed(self, current, _previous) -> None:
        path = self.layer_list.selected_path() if current is not None else None
        if path != self.selected:
            self.selected = path
            self.diagram.select(path)
            self._show_properties()
            self._show_problem()
            for act in (self.delete_action, self.duplicate_action, self.up_action, self.down_action):
                act.setEnabled(path is not None)

    def _on_diagram_beside(self, beside: bool) -> None:
        """The diagram in its own pane right of the tabs (palette | layers | diagram), or back in its tab."""
        diagram, tabs = self.diagram, self.network_tabs
        if beside and tabs.indexOf(diagram) >= 0:
            tabs.removeTab(tabs.indexOf(diagram))
            tabs.setCurrentWidget(self.layer_list)
            self.middle.addWidget(diagram)
            diagram.show()
            palette, rest = self.middle.sizes()[0], sum(self.middle.sizes()[1:])
            self.middle.setSizes([palette, rest * 9 // 20, rest - rest * 9 // 20])
        elif not beside and tabs.indexOf(diagram) < 0:
            tabs.insertTab(1, diagram, "Diagram")
            tabs.setCurrentWidget(diagram)
        diagram.beside_button.setChecked(beside)

    def _on_diagram_layer_clicked(self, path: tuple) -> None:
        item = self.layer_list.item_for(path)
        if item is not None:
            self.layer_list.setCurrentItem(item)  # selects the layer: properties, actions, highlight

    def _on_properties_param_changed(self, key: str, value) -> None:
        self.set_param(key, value)

    def _on_fix_button_clicked(self) -> None:
        if getattr(self, "_problem_fix", None) is not None:
            self.apply_fix(self._problem_fix)

    def _on_input_edit_finished(self) -> None:
        text = self.input_edit.text()
        try:
            shape = [int(p) for p in text.replace("x", ",").replace("×", ",").split(",") if p.strip()]
            if not shape or any(d < 1 for d in shape):
                raise ValueError
        except ValueError:
            self.input_edit.setText(", ".join(map(str, self.spec.input_shape)))
            self.session.sig_status.emit(f"Input shape {text!r}: enter positive sizes such as 3, 32, 32")
            return
        self.edit(editing.set_input_shape(self.spec, shape), "set input shape", self.selected)

    def _on_session_project_loaded(self) -> None:
        self.undo_stack.clear()
        self.meta = None
        self.spec = self.session.project.model
        self.selected = None
        self.refresh()

    def _on_session_model_changed(self) -> None:
        if self._writing or self.session.project.model == self.spec:
            return
        self.spec = self.session.project.model
        if self.selected is not None and not editing.exists(self.spec, self.selected):
            self.selected = None
        self.refresh()

    def _on_session_data_loaded(self, data) -> None:
        self.meta = getattr(data, "meta", None) if data is not None else None
        if self.meta is not None and list(self.meta.input_shape) != list(self.spec.input_shape):
            self.edit(
                editing.set_input_shape(self.spec, self.meta.input_shape),
                "adapt input to the dataset",
                self.selected,
            )
        else:
            self.refresh()

    def shutdown(self) -> None:
        self._generation += 1  # a late result is dropped; the job ends with JobRunner.shutdown
