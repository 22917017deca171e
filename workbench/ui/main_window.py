"""The main window: five dock panels around one ProjectSession, menus, toolbar, status bar, saved layout."""

from __future__ import annotations

import html
import importlib
import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QCoreApplication, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QTabBar,
    QTabWidget,
    QToolBar,
    QWidget,
)

from workbench import __version__
from workbench.core.errors import UserError
from workbench.core.project import SUFFIX, autosave_path
from workbench.ui import project_guard
from workbench.ui.panels import PANELS
from workbench.ui.session import ProjectSession, SaveConflict

MAX_RECENT = 8
FIRST_SCREEN_SHARE = 0.8  # the first window takes this share of the screen's width and height
STOP_WAIT_S = 30  # New / Open on a stopping run: after this long, the status bar says it is still stopping
LAYOUT_VERSION = 1
FILE_FILTER = f"Workbench projects (*{SUFFIX});;All files (*)"


def _panel_error_widget(title: str, exc: BaseException) -> QWidget:
    label = QLabel(
        f"<b>{title} could not be loaded.</b><br><pre>{traceback.format_exception_only(exc)[-1]}</pre>"
    )
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
    label.setMargin(12)
    return label


class MainWindow(QMainWindow):
    def __init__(self, session: ProjectSession | None = None, defer_panels: bool = False):
        """`defer_panels`: docks first, panels on `build_panels()`, so the window can be shown sooner."""
        super().__init__()
        self._defer_panels = defer_panels
        self._closed = False  # closeEvent accepted (a second close does nothing more)
        self._no_questions = False  # Ctrl-C with nobody to answer: close with a clean stop, no dialogs
        self._factories: dict[str, tuple[str, str]] = {}
        self.setObjectName("mainWindow")
        self.session = session or ProjectSession(self)
        self.settings = QSettings("Workbench", "Workbench")
        self.docks: dict[str, QDockWidget] = {}
        self.panels: dict[str, QWidget] = {}
        self.setDockOptions(
            QMainWindow.AnimatedDocks | QMainWindow.AllowTabbedDocks | QMainWindow.AllowNestedDocks
        )
        self.setTabPosition(Qt.AllDockWidgetAreas, QTabWidget.North)
        self._build_docks()
        self._build_actions()
        self._build_toolbar()
        self.statusBar().showMessage("Ready")
        self._add_plugin_problems_label()
        self._add_trainer_problem_label()
        self.session.sig_dirty_changed.connect(self._update_title)
        self.session.sig_project_loaded.connect(self._on_session_project_loaded)
        self.session.sig_status.connect(self._on_session_status)
        self.session.sig_gpu_memory.connect(self._on_session_gpu_memory)
        self.session.sig_device_changed.connect(self._on_session_device_changed)
        self._default = self._default_state()
        self._proportioned = False
        self._state_restored = False
        self._restore_layout()
        self._place_new_plugin_docks()
        self._update_title()

    # -- construction
    # -------------------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        central = QWidget()
        central.setMaximumSize(0, 0)
        self.setCentralWidget(central)
        for object_name, title, module, cls in PANELS:
            self._add_dock(object_name, title, f"{module}:{cls}")
        self._build_plugin_docks()

    def _build_plugin_docks(self) -> None:
        """Docks that loaded plugins contribute, after the built-ins; their classes are imported only here."""
        from workbench.plugins.manager import plugin_manager

        manager = plugin_manager()
        self.plugin_docks: dict[str, str] = {}  # dock object name -> area
        for contribution in manager.panels() if manager.loaded else []:
            self._add_dock(contribution.dock_name, contribution.title, contribution.factory)
            self.plugin_docks[contribution.dock_name] = contribution.area

    def _add_dock(self, object_name: str, title: str, factory: str) -> None:
        """A dock for the panel `factory` ("module:Class"); built now, or by build_panels() when deferred."""
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name)
        dock.setFeatures(
            QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable
        )
        self.docks[object_name] = dock
        self._factories[object_name] = (title, factory)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)
        if self._defer_panels:
            loading = QLabel(f"Loading {title}…")
            loading.setAlignment(Qt.AlignCenter)
            dock.setWidget(loading)
        else:
            self._make_panel(object_name)

    def _make_panel(self, object_name: str) -> None:
        title, factory = self._factories[object_name]
        module, _, cls = factory.partition(":")
        try:
            panel = getattr(importlib.import_module(module), cls)(self.session)
        except Exception as exc:  # noqa: BLE001 - a broken panel (built-in or plugin) must not take the window down
            traceback.print_exc()
            panel = _panel_error_widget(title, exc)
        self.docks[object_name].setWidget(panel)
        self.panels[object_name] = panel
        if object_name == "builderDock" and hasattr(self, "edit_menu"):  # (deferred panels: built later)
            self._fill_edit_menu(panel)

    def _fill_edit_menu(self, builder) -> None:
        """Edit > Undo / Redo: the builder's own actions (its undo stack sets their enabled state and text)."""
        for name in ("undo_action", "redo_action"):
            action = getattr(builder, name, None)
            if action is not None:
                self.edit_menu.addAction(action)

    def build_panels(self) -> None:
        """Build the panels of a window made with `defer_panels=True` (the app shows the window first). The
        event loop runs between panels, so the window keeps painting while they are built."""
        for object_name in self._factories:
            if object_name not in self.panels:
                self._make_panel(object_name)
                QCoreApplication.processEvents()

    def _add_plugin_problems_label(self) -> None:
        """A lasting note in the status bar when a plugin failed to load; the link opens Help > Plugins."""
        from workbench.plugins.manager import FAILED, plugin_manager

        failed = [r.name for r in plugin_manager().records if r.status == FAILED]
        if failed:
            label = QLabel(
                f"<a href='plugins'>{len(failed)} plugin{'s' if len(failed) > 1 else ''} failed to load</a>"
            )
            label.setObjectName("pluginProblemsLabel")
            label.setToolTip(f"{', '.join(failed)}: see Help > Plugins for the errors")
            label.linkActivated.connect(lambda _link: self.show_plugins())
            self.statusBar().addPermanentWidget(label)

    def _add_trainer_problem_label(self) -> None:
        """When the trainer process cannot start (3 tries), the status bar says why (the last line of its stderr,
        the rest in the tooltip) and offers Retry; jobs meanwhile fail at once with the same line."""
        label = QLabel(objectName="trainerProblemLabel", textFormat=Qt.RichText)
        label.setWordWrap(False)
        label.hide()
        host = self.session.jobs.host

        def gave_up(line: str, tail: str) -> None:
            label.setText(
                f"<span style='color:#b00020'>{html.escape(line)}</span> &nbsp;<a href='retry'>Retry</a>"
            )
            label.setToolTip(f"<pre>{html.escape(tail[-3000:])}</pre>" if tail else "")
            label.show()

        def retry(_link: str) -> None:
            label.hide()
            self.statusBar().showMessage("Starting the trainer process again…", 5000)
            host.retry()

        host.sig_gave_up.connect(gave_up)
        label.linkActivated.connect(retry)
        self.trainer_problem_label = label
        self.statusBar().addPermanentWidget(label, 1)

    def _action(self, text: str, slot, shortcut=None, menu=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        if menu is not None:
            menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action("&New project", self.new_project, QKeySequence.New, file_menu)
        self._action(
            "New project from a &model...", self.new_project_from_model, None, file_menu
        ).setObjectName("newFromModelAction")
        self._action("&Open...", self.open_dialog, QKeySequence.Open, file_menu)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self._action("&Save", self.save, QKeySequence.Save, file_menu)
        self._action("Save &As...", self.save_as, "Ctrl+Shift+S", file_menu)
        file_menu.addSeparator()
        self._action("&Quit", self.close, "Ctrl+Q", file_menu)

        self.edit_menu = self.menuBar().addMenu("&Edit")
        self.edit_menu.setObjectName("editMenu")
        if "builderDock" in self.panels:
            self._fill_edit_menu(self.panels["builderDock"])

        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        self._action("&Reset layout", self.reset_layout, None, view_menu)

        run_menu = self.menuBar().addMenu("&Run")  # the session's actions: the toolbar shows them too
        for command in ("train", "pause", "stop"):
            run_menu.addAction(self.session.actions[command])
        run_menu.addSeparator()
        run_menu.addAction(self.session.actions["export"])

        self.help_menu = self.menuBar().addMenu("&Help")
        self._action("&Plugins...", self.show_plugins, None, self.help_menu)
        self._action("&About Workbench", self.about, None, self.help_menu)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("mainToolBar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonTextOnly)
        self.addToolBar(Qt.TopToolBarArea, bar)
        self.project_label = QLabel()
        self.project_label.setObjectName("projectNameLabel")
        self.project_label.setContentsMargins(8, 0, 16, 0)
        bar.addWidget(self.project_label)
        bar.addWidget(QLabel("Device "))
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setToolTip("Where training runs: auto picks the first CUDA GPU, else the CPU")
        self.device_combo.addItems(["auto", "cpu"])
        self.device_combo.currentTextChanged.connect(self._on_device_combo_changed)
        bar.addWidget(self.device_combo)
        bar.addSeparator()
        actions = self.session.actions
        for command in ("train", "pause", "stop"):
            bar.addAction(actions[command])
        bar.addSeparator()
        bar.addAction(actions["export"])
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        bar.addWidget(spacer)

    # -- layout
    # ---------------------------------------------------------------------------------------------------
    def _default_state(self) -> QByteArray:
        """Dataset | Builder tabbed on the left, Training right, Hardware | Export tabbed bottom right.

        Built in a throwaway window with stand-in docks of the same names: Qt (6.11) leaves stale tab bars
        behind when docks are tabified and later restored, but restoring onto plainly added docks is clean."""
        stage = QMainWindow()
        docks = {}
        for name in self.docks:
            docks[name] = QDockWidget(name, stage)
            docks[name].setObjectName(name)
        stage.addDockWidget(Qt.LeftDockWidgetArea, docks["datasetDock"])
        stage.addDockWidget(Qt.RightDockWidgetArea, docks["trainingDock"])
        stage.tabifyDockWidget(docks["datasetDock"], docks["builderDock"])
        stage.splitDockWidget(docks["trainingDock"], docks["hardwareDock"], Qt.Vertical)
        stage.tabifyDockWidget(docks["hardwareDock"], docks["exportDock"])
        for name, area in self.plugin_docks.items():  # plugin docks join the built-in group of their area
            anchor = {"left": "builderDock", "right": "trainingDock"}.get(area, "exportDock")
            stage.tabifyDockWidget(docks[anchor], docks[name])
        state = stage.saveState(LAYOUT_VERSION)
        stage.deleteLater()
        return state

    def _apply_proportions(self) -> None:
        """The left column ~42% of the width; the training curves ~64% of the right column's height."""
        d = self.docks
        width, height = self.width(), self.height()
        self.resizeDocks(
            [d["datasetDock"], d["trainingDock"]], [int(width * 0.42), int(width * 0.58)], Qt.Horizontal
        )
        self.resizeDocks(
            [d["trainingDock"], d["hardwareDock"]], [int(height * 0.62), int(height * 0.38)], Qt.Vertical
        )

    def reset_layout(self) -> None:
        size = self.size()  # docks stacked for a moment below would grow the window to their summed height
        for dock in self.docks.values():
            self.removeDockWidget(dock)
        for dock in self.docks.values():
            self.addDockWidget(Qt.LeftDockWidgetArea, dock)
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._default, LAYOUT_VERSION)
        self.resize(size)
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self and bar.count() == 0:
                bar.hide()
        self.docks["datasetDock"].raise_()
        self.docks["hardwareDock"].raise_()
        self.docks["trainingDock"].raise_()  # in front of plugin docks tabbed with it
        QTimer.singleShot(0, self._apply_proportions)  # once the restored layout has settled

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        QTimer.singleShot(0, self.session.jobs.warm_up)  # the trainer process imports torch while we wait
        if not self._proportioned:
            self._proportioned = True
            if not self._state_restored:
                self._apply_proportions()

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if not (isinstance(geometry, QByteArray | bytes) and self.restoreGeometry(geometry)):
            self._first_geometry()
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray | bytes):
            self._state_restored = self.restoreState(state, LAYOUT_VERSION)
        if not self._state_restored:
            self.restoreState(self._default, LAYOUT_VERSION)
            self.docks["datasetDock"].raise_()
            self.docks["hardwareDock"].raise_()

    def _first_geometry(self) -> None:
        """The first window: FIRST_SCREEN_SHARE of the screen's available area, centred (remembered on close)."""
        from PySide6.QtGui import QGuiApplication

        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(1280, 800)
            return
        area = screen.availableGeometry()
        width, height = int(area.width() * FIRST_SCREEN_SHARE), int(area.height() * FIRST_SCREEN_SHARE)
        self.setGeometry(
            area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2, width, height
        )

    def _save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("window/pluginDocks", list(self.plugin_docks))

    def _place_new_plugin_docks(self) -> None:
        """A plugin dock the saved layout does not know (a newly enabled plugin) joins its area's group."""
        if not self._state_restored:  # the default layout placed them: keep the built-ins in front
            for name in ("trainingDock", "datasetDock", "hardwareDock") if self.plugin_docks else ():
                self.docks[name].raise_()
            return
        known = self.settings.value("window/pluginDocks", [])
        known = [known] if isinstance(known, str) else list(known or [])
        for name, area in self.plugin_docks.items():
            if name not in known:
                anchor = {"left": "builderDock", "right": "trainingDock"}.get(area, "exportDock")
                self.tabifyDockWidget(self.docks[anchor], self.docks[name])
                self.docks[anchor].raise_()

    # -- project commands
    # -------------------------------------------------------------------------------------------
    def _confirm_discard(self) -> bool:
        """True when it is fine to drop the current document (saved, or the user said so). Discard drops the
        autosave (no recovery prompt next time) and an untitled project's runs (the question says so)."""
        if not self.session.dirty:
            return True
        answer = self._ask_save_changes()
        if answer == QMessageBox.Save:
            return self.save()
        if answer == QMessageBox.Discard:
            self.session.discard()
            return True
        return False

    def _ask_save_changes(self):
        session = self.session
        text = project_guard.save_changes_text(session.display_name, session.unsaved_runs, session._dirty)
        answer = project_guard.ask(
            self, "Unsaved changes", text, ["Save", "Discard", "Cancel"], "Save", "saveChangesBox"
        )
        return {"Save": QMessageBox.Save, "Discard": QMessageBox.Discard}.get(answer, QMessageBox.Cancel)

    def _training_panel(self):
        return self.panels.get("trainingDock")

    def _confirm_stop_training(self, doing: str, then: Callable[[], object]) -> bool:
        """A run that trains belongs to the project it started in: before another project replaces this one,
        ask to stop it (its checkpoint is saved) or cancel. True when nothing trains: go on now. On Stop, False:
        `then()` is called once the run has ended (no waiting here: the window stays live meanwhile)."""
        panel = self._training_panel()
        if not getattr(panel, "running", False):
            return True
        answer = QMessageBox.question(
            self,
            "Training is running",
            f"A run of “{self.session.display_name}” is training. Stop it (a checkpoint is saved) and {doing}?",
            QMessageBox.Yes | QMessageBox.Cancel,
            QMessageBox.Cancel,
        )
        if answer != QMessageBox.Yes:
            return False
        job = panel.job

        def ended(_error) -> None:
            job.sig_done.disconnect(ended)
            timer.stop()
            self.statusBar().clearMessage()
            then()

        def too_slow() -> None:
            if panel.job is job:
                self.statusBar().showMessage(
                    f"The run is still stopping; it will {doing} when it has", 10_000
                )

        timer = QTimer(self, singleShot=True, interval=STOP_WAIT_S * 1000)
        timer.timeout.connect(too_slow)
        job.sig_done.connect(ended)
        panel.stop()
        self.statusBar().showMessage("Stopping the run (its checkpoint is saved)…")
        timer.start()
        return False

    def new_project(self) -> None:
        """File > New: pick data (folder, CSV, npz, ...), see it, pick a template sized to it."""
        if (
            not self._confirm_stop_training("start a new project", self.new_project)
            or not self._confirm_discard()
        ):
            return
        from workbench.ui.panels.dataset.new_project import NewFromDataDialog

        dialog = NewFromDataDialog(self)
        if dialog.exec():
            self.session.new(dialog.project())
            self.statusBar().showMessage("New project: save it (Ctrl+S) to keep its runs beside it", 10_000)

    def new_project_from_model(self) -> None:
        """File > New project from a model: a Hugging Face folder, an ONNX file or a PyTorch module, and data."""
        if (
            not self._confirm_stop_training("start a new project", self.new_project_from_model)
            or not self._confirm_discard()
        ):
            return
        from workbench.ui.new_from_model_dialog import NewFromModelDialog

        dialog = NewFromModelDialog(self.session, self)
        if dialog.exec() and dialog.project is not None:
            self.session.new(dialog.project)
            self.statusBar().showMessage(f"New project from {dialog.note}: save it (Ctrl+S)", 10_000)

    def open_dialog(self) -> None:
        if (
            not self._confirm_stop_training("open another project", self.open_dialog)
            or not self._confirm_discard()
        ):
            return
        start = str(self.session.path.parent) if self.session.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, FILE_FILTER)
        if path:
            self.open_project(path, confirmed=True)

    def open_project(self, path: str | Path, confirmed: bool = False) -> bool:
        """Open a project; a bad file shows a dialog and leaves the current project (and the file) untouched."""
        if not confirmed and not (
            self._confirm_stop_training("open another project", lambda: self.open_project(path))
            and self._confirm_discard()
        ):
            return False
        try:
            self.session.open(path)
        except UserError as exc:
            self.show_error("Cannot open project", _spec_hint(path) or str(exc))
            return False
        self._add_recent(Path(path).resolve())
        self._offer_autosave_recovery()
        return True

    def offer_untitled_recovery(self) -> bool:
        """At start-up: untitled projects of earlier sessions that have runs; Recover opens one (unsaved),
        Discard deletes one after a confirmation. True when one was recovered."""
        from workbench.core.project_files import untitled_projects
        from workbench.ui.session import untitled_root

        found = untitled_projects(untitled_root(), exclude=self.session._untitled)
        if not found:
            return False
        dialog = project_guard.RecoveryDialog(found, self)
        self.recovery_dialog = dialog
        if not dialog.exec() or dialog.recovered is None or not self._confirm_discard():
            return False
        try:
            self.session.adopt_untitled(dialog.recovered)
        except UserError as exc:
            self.show_error("Cannot recover the project", str(exc))
            return False
        self.statusBar().showMessage(
            "Recovered an unsaved project: save it (Ctrl+S) to keep its runs", 10_000
        )
        return True

    def _offer_autosave_recovery(self) -> None:
        """A newer autosave beside the project means the last session ended with unsaved edits."""
        side = autosave_path(self.session.path)
        try:
            newer = side.exists() and side.stat().st_mtime > self.session.path.stat().st_mtime
        except OSError:
            return
        if not newer:
            return
        answer = QMessageBox.question(
            self,
            "Recover unsaved changes",
            f"“{self.session.path.name}” has unsaved changes from an earlier session ({side.name}). Recover them?",
            QMessageBox.Yes | QMessageBox.No,
            QMessageBox.Yes,
        )
        if answer == QMessageBox.Yes:
            try:
                self.session.recover(side)
            except UserError as exc:
                self.show_error("Cannot recover autosave", str(exc))

    def save(self) -> bool:
        """Save to the project's file; a file moved, deleted or changed elsewhere since it was read asks first
        (never re-created at its old path, never silently overwritten)."""
        if self.session.path is None:
            return self.save_as()
        try:
            self.session.check_file()
        except SaveConflict as conflict:
            return self._resolve_conflict(conflict)
        return self._save_to(self.session.path)

    def _resolve_conflict(self, conflict: SaveConflict) -> bool:
        name = conflict.path.name
        if conflict.kind == "moved":
            where = f" Its folder is now {conflict.moved_to.parent}." if conflict.moved_to else ""
            answer = project_guard.ask(
                self,
                "Project moved",
                f"“{name}” is no longer at {conflict.path.parent} (moved, renamed or deleted).{where} "
                "Choose where to save it.",
                ["Save As…", "Cancel"],
                "Save As…",
                "projectMovedBox",
            )
            start = conflict.moved_to or Path.home() / name
            return answer == "Save As…" and self.save_as(start)
        answer = project_guard.ask(
            self,
            "Project changed on disk",
            f"“{name}” was changed on disk (another window or program saved it) since it was opened here. "
            "Reload it (this window's changes are dropped), overwrite it with this window's version, or save "
            "this version as another file?",
            ["Reload", "Overwrite", "Save As…", "Cancel"],
            "Save As…",
            "projectChangedBox",
        )
        if answer == "Reload":
            try:
                self.session.reload()
            except UserError as exc:
                self.show_error("Cannot reload project", str(exc))
                return False
            return True
        if answer == "Overwrite":
            return self._save_to(conflict.path, force=True)
        return answer == "Save As…" and self.save_as()

    def save_as(self, start: Path | None = None) -> bool:
        """Save As; a saved project's runs are copied (default) or moved to the new folder, as the user says."""
        start = start or self.session.path or Path.home() / f"{self.session.display_name}{SUFFIX}"
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", str(start), FILE_FILTER)
        if not path:
            return False
        if not path.endswith(SUFFIX):
            path += SUFFIX
        runs = "copy"
        from workbench.core.project import runs_dir
        from workbench.core.project_files import count_runs

        count = count_runs(self.session.runs_dir) if self.session.path is not None else 0
        if count and runs_dir(path) != self.session.runs_dir:
            answer = project_guard.ask(
                self,
                "Runs of the project",
                f"“{self.session.display_name}” has {count} run(s) in {self.session.runs_dir}. Copy them beside "
                "the new file (the old project keeps its own), or move them?",
                ["Copy runs", "Move runs", "Leave them", "Cancel"],
                "Copy runs",
                "saveAsRunsBox",
            )
            if answer == "Cancel":
                return False
            runs = {"Copy runs": "copy", "Move runs": "move"}.get(answer, "leave")
        return self._save_to(Path(path), runs=runs)

    def _save_to(self, path: Path, runs: str = "copy", force: bool = False) -> bool:
        try:
            self.session.save(path, runs=runs, force=force)
        except SaveConflict as conflict:
            return self._resolve_conflict(conflict)
        except UserError as exc:
            self.show_error("Cannot save project", str(exc))
            return False
        self._add_recent(path.resolve())
        self._update_title()  # Save As: the new path and name, even when nothing was unsaved
        return True

    def show_error(self, title: str, message: str) -> None:
        self.statusBar().showMessage(message, 10_000)
        QMessageBox.warning(self, title, message)

    def last_project(self) -> str | None:
        """The project opened last (Open Recent's first entry) when it still exists: the app reopens it."""
        return next((p for p in self._recent() if Path(p).is_file()), None)

    def _recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str)]

    def _add_recent(self, path: Path) -> None:
        items = [str(path)] + [p for p in self._recent() if p != str(path)]
        self.settings.setValue("recent", items[:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = [p for p in self._recent() if Path(p).exists()]
        for path in recent:  # the full path: two projects are often both called project.wbproj
            action = self._action(path, lambda _=False, p=path: self.open_project(p), None, self.recent_menu)
            action.setToolTip(path)
        if not recent:
            self.recent_menu.addAction("(no recent projects)").setEnabled(False)

    def install_exception_hook(self):
        """Unexpected exceptions (a failing slot) show a dialog over this window and go to the error log."""
        from workbench.ui import errors

        self.exception_hook = errors.install(lambda: self)
        return self.exception_hook

    def show_plugins(self) -> None:
        """Help > Plugins: what is loaded, from where, errors, enable/disable (applied at the next start)."""
        from workbench.plugins.manager import plugin_manager
        from workbench.ui.plugins_dialog import PluginsDialog

        dialog = PluginsDialog(plugin_manager(), self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.open()
        self.plugins_dialog = dialog

    def about(self) -> None:
        QMessageBox.about(self, "About Workbench", about_text(self.session.jobs.host))

    # -- session events
    # ---------------------------------------------------------------------------------------------
    def _update_title(self, *_args) -> None:
        where = f" — {self.session.path}" if self.session.path else ""
        star = "*" if self.session.dirty else ""
        self.setWindowTitle(f"{star}{self.session.display_name}{where} — Workbench")
        self.project_label.setText(f"<b>{self.session.display_name}</b>{star}")

    def _on_session_project_loaded(self) -> None:
        self._update_title()
        self.statusBar().showMessage(f"Opened {self.session.path or 'a new project'}", 5000)

    def _on_session_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def _on_session_gpu_memory(self, free: dict) -> None:
        known = {self.device_combo.itemText(i) for i in range(self.device_combo.count())}
        for device in sorted(free):
            if device not in known:
                self.device_combo.addItem(device)

    def _on_device_combo_changed(self, device: str) -> None:
        self.session.set_device(device)

    def _on_session_device_changed(self, device: str) -> None:
        if self.device_combo.currentText() != device:
            if self.device_combo.findText(device) < 0:
                self.device_combo.addItem(device)
            self.device_combo.setCurrentText(device)

    # -- closing
    # ------------------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._closed:
            event.accept()
            return
        then = self._confirm_close()
        if then is None:
            event.ignore()
            return
        self._closed = True
        self._save_layout()
        report = self.shutdown()
        if then == "discard":  # after the stop: the run being written is part of what is discarded
            self.session.discard()
        else:
            self.session.adopt_pending_runs()  # a run that trained at the first Save joins the others now
        if report.run_dir is not None and not report.saved:
            self.show_error("The run could not be stopped in time", report.line())
        event.accept()

    def _confirm_close(self) -> str | None:
        """The one question before the window closes: None to stay open, else "keep" or "discard". A run that
        trains is paused while the question is open and stopped (with a checkpoint) before anything else."""
        if self._no_questions:
            self.session.autosave()  # unsaved edits are offered for recovery at the next open
            return "keep"
        for panel in self.panels.values():
            confirm = getattr(panel, "confirm_close", None)
            if panel is not self._training_panel() and confirm is not None and not confirm():
                return None
        panel = self._training_panel()
        if not getattr(panel, "running", False):
            return "keep" if self._confirm_discard() else None
        was_paused = panel.paused
        if not was_paused and panel.state == "running":
            panel.toggle_pause()  # training does not go on while the question is open
        session = self.session
        from workbench.ui.jobs import SHUTDOWN_S

        text = (
            f"A run of “{session.display_name}” is training. Closing stops it first: a checkpoint is saved if "
            f"the current step ends within {SHUTDOWN_S:g} s (if not, you are told, and the run resumes from "
            "its last checkpoint)."
        )
        if session.dirty:
            extra = project_guard.save_changes_text(
                session.display_name, session.unsaved_runs, session._dirty
            )
            buttons = ["Save", "Discard", "Cancel"]
            text = f"{text}\n\n{extra}"
        else:
            buttons = ["Stop and quit", "Cancel"]
        answer = project_guard.ask(
            self, "Training is running", text, buttons, buttons[0], "closeWhileTrainingBox"
        )
        if self._closed:  # a second Ctrl-C closed the window meanwhile
            return None
        if answer == "Save" and not self.save():
            answer = "Cancel"
        if answer == "Cancel":
            if panel.running and panel.paused and not was_paused:
                panel.toggle_pause()
            return None
        return "discard" if answer == "Discard" else "keep"

    def on_interrupt(self, forced: bool = False) -> None:
        """Ctrl-C in the terminal: Quit (the same questions) when someone can answer them; otherwise, or on a
        second Ctrl-C, close without questions (the run stops with its checkpoint, edits go to the autosave)."""
        from PySide6.QtWidgets import QApplication

        if not forced and project_guard.can_ask() and QApplication.activeModalWidget() is None:
            self.close()
            return
        self._no_questions = True
        while (modal := QApplication.activeModalWidget()) is not None and modal is not self:
            modal.reject() if hasattr(modal, "reject") else modal.close()
            modal.hide()
        self.close()
        QApplication.quit()

    def shutdown(self):
        """Stop every background job (training saves a checkpoint) and the trainer process: within 2 s. The
        StopReport says whether the run's checkpoint was written."""
        for panel in self.panels.values():
            stop = getattr(panel, "shutdown", None)
            if stop is not None:
                stop()
        return self.session.jobs.shutdown()


def _spec_hint(path) -> str | None:
    """A model spec (input_shape + layers at the top) opened as a project: say where it opens instead."""
    from workbench.core.io import read_json

    try:
        doc = read_json(path, "project file")
    except UserError:
        return None
    if isinstance(doc, dict) and "layers" in doc and "model" not in doc:
        return (
            f"{Path(path).name} is a model spec, not a project: open it in the Model builder with "
            "Spec > Open spec…, or make a project from data with File > New project."
        )
    return None


def about_text(host) -> str:
    """Versions for Help > About; torch's come from the trainer process (its Ready message): the GUI process
    never imports torch."""
    import PySide6
    from PySide6.QtCore import qVersion

    lines = [
        f"<h3>Workbench {__version__}</h3>",
        "<p>Build, train, monitor and export PyTorch networks in one window.</p>",
        f"<p>Qt {qVersion()} · PySide6 {PySide6.__version__}",
    ]
    v = host.versions
    if v:
        devices = v.get("devices") or []
        cuda = (
            f"CUDA {v['cuda']}, {len(devices)} GPU(s): {', '.join(devices)}"
            if v.get("cuda")
            else "no CUDA GPU"
        )
        lines.append(f" · torch {v['torch']} · {cuda} · {v.get('threads', '?')} CPU threads for training")
    elif host.failure is not None:
        lines.append(f" · torch not available ({html.escape(host.failure.message)})")
    else:
        lines.append(" · torch: the trainer process is still starting (look again in a few seconds)")
    lines.append("</p>")
    return "".join(lines)
