"""ProjectSession: the one shared model the panels edit and listen to. A panel never reaches into another
panel; it writes through the session's `update_*` methods and reacts to its `sig_*` signals."""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence

from workbench.core.data.settings import DatasetSettings
from workbench.core.errors import UserError
from workbench.core.export.settings import ExportSettings
from workbench.core.io import atomic_write_text
from workbench.core.model.spec import ModelSpec
from workbench.core.project import Project, autosave_path, load_project, runs_dir, save_project
from workbench.core.project_files import (
    UNTITLED_DOCUMENT,
    FileStamp,
    FollowedFolder,
    changed_on_disk,
    count_runs,
    file_stamp,
    transfer_runs,
)
from workbench.core.training.config import TrainingConfig
from workbench.ui.jobs import JobRunner
from workbench.ui.memory import MemoryPlanner

AUTOSAVE_MS = 30_000
ADOPT_DELAY_MS = 3000  # a run that was training at the first Save moves this long after it ends


def untitled_folder() -> Path:
    """A fresh per-project folder under the user data folder for an unsaved project's runs (and exports)."""
    from workbench.core.paths import user_data_dir

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return user_data_dir() / "untitled" / f"{stamp}-{uuid.uuid4().hex[:6]}"


class SaveConflict(Exception):
    """Save to the project's own path refused: the file moved or vanished ("moved"), or another window or
    program changed it since it was opened or saved ("changed"). The window asks what to do."""

    def __init__(self, kind: str, path: Path, moved_to: Path | None = None):
        super().__init__(kind)
        self.kind, self.path, self.moved_to = kind, path, moved_to


def move_runs(source: Path, target: Path) -> list[Path]:
    """Move every finished run folder from `source` into `target` (a name taken there gets a suffix); a run
    still being written stays. Returns the runs left behind."""
    return transfer_runs(source, target, move=True)


def untitled_root() -> Path:
    from workbench.core.paths import user_data_dir

    return user_data_dir() / "untitled"


COMMANDS = {  # id: (text, tip, shortcut): the menus, the toolbar and the panels share these QActions
    "train": ("Train", "Start training (Training panel)", "Ctrl+T"),
    "pause": ("Pause", "Pause or resume at the next batch", "Ctrl+P"),
    "stop": ("Stop", "Stop after the current batch and save a checkpoint", None),
    "export": ("Export...", "Open the export wizard", "Ctrl+E"),
}


def _action(parent: QObject, command: str, text: str, tip: str, shortcut: str | None) -> QAction:
    action = QAction(text, parent)
    action.setObjectName(f"{command}Action")
    action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    return action


class ProjectSession(QObject):
    sig_project_loaded = Signal(object)  # Project: a new document (New / Open), panels re-read everything
    sig_dataset_changed = Signal(object)  # DatasetSettings: project.dataset replaced (settings, not data)
    sig_data_loaded = Signal(object)  # the loaded, Qt-free dataset (or None when cleared)
    sig_model_changed = Signal(object)  # ModelSpec: project.model replaced
    sig_training_changed = Signal(object)  # TrainingConfig: project.training replaced
    sig_export_changed = Signal(object)  # ExportSettings: project.export replaced
    sig_dirty_changed = Signal(bool)
    sig_runs_changed = Signal()  # a run was added, renamed or deleted
    sig_runs_root_changed = Signal(object)  # Path: where runs are listed and written (New / Open / Save As)
    sig_run_selected = Signal(object)  # Path of the run a panel selected (or None)
    sig_device_changed = Signal(str)  # "cpu", "cuda:0", ... picked in the toolbar or hardware panel
    sig_gpu_memory = Signal(object)  # {device: free_bytes} from the hardware sampler
    sig_hardware = Signal(object)  # each workbench.core.hardware snapshot, for plots beside the loss
    sig_status = Signal(str)  # a message for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.project = Project()
        self.path: Path | None = None
        self.data: Any = None  # workbench.core.data dataset object once loaded
        self.device = "auto"
        self.gpu_free: dict[str, int] = {}
        self.selected_run: Path | None = None
        self._dirty = False
        self._saved_json = self.project.to_json()  # the document as last saved / opened (undo back = clean)
        self._untitled = untitled_folder()  # an unsaved project's runs live here until its first Save
        self._pending_runs: Path | None = None  # runs still training at the first Save: moved when done
        self._stamp: FileStamp | None = None  # the project file as opened / saved (changed on disk since?)
        self._folder: FollowedFolder | None = None  # the project's folder, followed when it moves
        self._unsaved_runs = False  # an untitled project with runs: unsaved until its first Save
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_MS)
        self._autosave.timeout.connect(self.autosave)
        self.jobs = JobRunner(self)  # every background job; the trainer process lives here
        self.memory = MemoryPlanner(self)  # the traced memory plan of the next run (ui/memory.py)
        self.actions = {command: _action(self, command, *spec) for command, spec in COMMANDS.items()}
        self.sampler: Any = None  # the hardware sampler (`start_sampling`); its snapshots: sig_hardware
        self.sig_runs_changed.connect(self._on_runs_changed)

    # -- document
    # ---------------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """Unsaved edits, or an untitled project that has runs (they are lost unless it is saved)."""
        return self._dirty or self._unsaved_runs

    @property
    def unsaved_runs(self) -> int:
        """How many runs an untitled project has (0 once saved: they live beside the file)."""
        return count_runs(self._untitled / "runs") if self.path is None else 0

    def _set_dirty(self, dirty: bool) -> None:
        if dirty and self.project.to_json() == self._saved_json:
            dirty = False  # edited back to the saved state (undo)
        if dirty:
            self._autosave.start()
        if dirty != self._dirty:
            before = self.dirty
            self._dirty = dirty
            if self.dirty != before:
                self.sig_dirty_changed.emit(self.dirty)

    def _check_unsaved_runs(self) -> None:
        """An untitled project that gained runs counts as unsaved; its document is kept beside the runs, so
        the start-up recovery can bring back both."""
        before = self.dirty
        self._unsaved_runs = self.unsaved_runs > 0
        if self._unsaved_runs:
            self._write_untitled_document()
        if self.dirty != before:
            self.sig_dirty_changed.emit(self.dirty)

    def _write_untitled_document(self) -> None:
        try:
            atomic_write_text(self._untitled / UNTITLED_DOCUMENT, self.project.to_json())
        except Exception as exc:  # noqa: BLE001 - must never break training or editing
            self.sig_status.emit(f"Could not keep the untitled project beside its runs: {exc}")

    @property
    def runs_dir(self) -> Path:
        """Where this project's runs are: `runs/` beside the project file, or (never saved yet) a per-project
        folder under the user data folder that moves beside the file on the first Save."""
        return runs_dir(self.path) if self.path else self._untitled / "runs"

    @property
    def display_name(self) -> str:
        return self.project.name or (self.path.stem if self.path else "Untitled")

    def new(self, project: Project | None = None) -> None:
        self._replace(project or Project(), None)

    def open(self, path: str | Path) -> None:
        """Load a project; a bad file raises UserError and leaves the current project as it was. A bundled
        project (the sample) opens as the user's copy: nothing is ever written into the installation."""
        from workbench.core.paths import writable_copy

        path = writable_copy(path)
        project = load_project(path)
        self._replace(project, Path(path).resolve())

    def adopt_untitled(self, folder: Path) -> None:
        """Recover an untitled project of an earlier session: its document and runs (still unsaved)."""
        document = folder / UNTITLED_DOCUMENT
        project = load_project(document) if document.is_file() else Project()
        self._replace(project, None, untitled=folder)

    def discard(self) -> None:
        """The user dropped the unsaved document: its autosave goes (no recovery prompt next time), and an
        untitled project's folder with its runs is deleted (the question said so)."""
        self._discard_autosave()
        if self.path is None and self._untitled.exists():
            shutil.rmtree(self._untitled, ignore_errors=True)
        self._autosave.stop()
        self._dirty = self._unsaved_runs = False
        self.sig_dirty_changed.emit(False)

    def _replace(self, project: Project, path: Path | None, untitled: Path | None = None) -> None:
        self.project = project
        self.path = path
        self.data = None
        self.selected_run = None
        self._saved_json = project.to_json()
        if path is None:
            self._untitled = untitled or untitled_folder()
        self._remember_file()
        self._autosave.stop()
        self._dirty = True  # so that the next line always tells the window (title, star)
        self._unsaved_runs = False
        self._set_dirty(False)
        self._check_unsaved_runs()
        self.sig_project_loaded.emit(self.project)
        self.sig_runs_root_changed.emit(self.runs_dir)

    def recover(self, autosave: str | Path) -> None:
        """Replace the document with an autosaved one, keeping the project's path; it stays unsaved (dirty)."""
        project = load_project(autosave)
        path = self.path
        self._replace(project, path)
        try:
            self._saved_json = load_project(path).to_json() if path else Project().to_json()
        except Exception:  # noqa: BLE001 - the file itself unreadable: the recovered document is unsaved
            self._saved_json = ""
        self._set_dirty(True)

    def _remember_file(self) -> None:
        """The project file as it is now (a later Save compares) and its folder (followed when it moves)."""
        if self._folder is not None:
            self._folder.close()
        self._stamp = file_stamp(self.path) if self.path else None
        self._folder = FollowedFolder(self.path.parent) if self.path else None

    def moved_to(self) -> Path | None:
        """Where the project file is now when its folder was moved or renamed (None: not moved, or gone)."""
        if self.path is None or self._folder is None or self.path.is_file():
            return None
        folder = self._folder.moved()
        candidate = folder / self.path.name if folder else None
        return candidate if candidate is not None and candidate.is_file() else None

    def check_file(self) -> None:
        """Raise SaveConflict when Save to the project's own path would re-create a moved or deleted file or
        overwrite another window's (or program's) save."""
        if self.path is None:
            return
        if not self.path.is_file():
            raise SaveConflict("moved", self.path, self.moved_to())
        if changed_on_disk(self.path, self._stamp):
            raise SaveConflict("changed", self.path)

    def reload(self) -> None:
        """Read the project file again (the changes made elsewhere win; this window's edits are dropped)."""
        if self.path is not None:
            self._discard_autosave()
            self.open(self.path)

    def save(self, path: str | Path | None = None, runs: str = "copy", force: bool = False) -> Path:
        """Save (to the project's path) or Save As (`path`). Save refuses with SaveConflict when the file moved,
        vanished or changed on disk since it was read, unless `force`. Save As of a saved project with runs
        copies them (`runs`: "copy", "move" or "leave"); an untitled project's runs always move beside the file.
        The project keeps its name (a project still called "Untitled" takes the file's)."""
        target = Path(path).resolve() if path else self.path
        if target is None:
            raise ValueError("no path to save to")
        if not force and target == self.path:
            self.check_file()
        old_path, old_root = self.path, self.runs_dir
        if target != old_path and self.project.name in ("", "Untitled"):
            self.project.name = target.stem
        save_project(self.project, target)
        self.path = target
        self._saved_json = self.project.to_json()
        if old_path is None:
            self._discard_autosave(None)
        self._discard_autosave()
        self._remember_file()
        self._set_dirty(False)
        if self.runs_dir != old_root:
            if old_path is None:  # first Save: the runs so far move beside the file
                self._adopt_runs(old_root)
                self._unsaved_runs = False
                self.sig_dirty_changed.emit(self.dirty)
            elif runs in ("copy", "move"):
                self._adopt_runs(old_root, move=runs == "move")
            self.sig_runs_root_changed.emit(self.runs_dir)
            self.sig_runs_changed.emit()
        self.sig_status.emit(f"Saved {target}")
        return target

    def _adopt_runs(self, source: Path, move: bool = True) -> None:
        try:
            left = transfer_runs(source, self.runs_dir, move=move)
        except (OSError, UserError) as exc:
            self.sig_status.emit(f"Could not {'move' if move else 'copy'} the runs to {self.runs_dir}: {exc}")
            return
        self._pending_runs = source if left and move else None
        if not left and move:  # the untitled project's folder, when nothing else is in it
            with contextlib.suppress(OSError):
                (source.parent / UNTITLED_DOCUMENT).unlink(missing_ok=True)
            for folder in (source, source.parent):
                with contextlib.suppress(OSError):
                    folder.rmdir()

    def _on_runs_changed(self) -> None:
        self._check_unsaved_runs()
        if self._pending_runs is not None:  # the run that was training at the first Save, once it has ended
            QTimer.singleShot(ADOPT_DELAY_MS, self._adopt_pending)

    def adopt_pending_runs(self) -> None:
        """Now (the window closes): the run that was training at the first Save joins the others."""
        self._adopt_pending()

    def _adopt_pending(self) -> None:
        source, self._pending_runs = self._pending_runs, None
        if source is not None and self.path is not None and source != self.runs_dir:
            self._adopt_runs(source)
            self.sig_runs_changed.emit()

    def autosave(self) -> None:
        """Write the unsaved document to a side file; the project file itself is never touched here."""
        if self._dirty:
            try:
                side = autosave_path(self.path) if self.path else self._untitled / UNTITLED_DOCUMENT
                atomic_write_text(side, self.project.to_json())
            except Exception as exc:  # noqa: BLE001 - autosave must never break editing
                self.sig_status.emit(f"Autosave failed: {exc}")

    def _discard_autosave(self, path: Path | bool | None = False) -> None:
        with contextlib.suppress(OSError):
            autosave_path(self.path if path is False else path).unlink(missing_ok=True)
            if (self.path if path is False else path) is None:
                (self._untitled / UNTITLED_DOCUMENT).unlink(missing_ok=True)

    # -- edits (each replaces one part of the document and tells everyone)
    # -------------------------------------
    def update_dataset(self, settings: DatasetSettings) -> None:
        if settings != self.project.dataset:
            self.project.dataset = settings
            self._set_dirty(True)
            self.sig_dataset_changed.emit(settings)

    def set_data(self, data: Any) -> None:
        self.data = data
        self.sig_data_loaded.emit(data)

    def update_model(self, spec: ModelSpec) -> None:
        if spec != self.project.model:
            self.project.model = spec
            self._set_dirty(True)
            self.sig_model_changed.emit(spec)

    def update_training(self, config: TrainingConfig) -> None:
        if config != self.project.training:
            self.project.training = config
            self._set_dirty(True)
            self.sig_training_changed.emit(config)

    def update_export(self, settings: ExportSettings) -> None:
        if settings != self.project.export:
            self.project.export = settings
            self._set_dirty(True)
            self.sig_export_changed.emit(settings)

    def rename(self, name: str) -> None:
        if name and name != self.project.name:
            self.project.name = name
            self._set_dirty(True)

    def set_device(self, device: str) -> None:
        if device != self.device:
            self.device = device
            self.sig_device_changed.emit(device)

    def select_run(self, run: Path | None) -> None:
        self.selected_run = run
        self.sig_run_selected.emit(run)

    def start_sampling(self, sampler: Any = None) -> Any:
        """Sample the hardware in the background (a job of kind "hardware"; a new sampler replaces the old one)
        and publish every snapshot: sig_hardware, and the GPUs' free memory (sig_gpu_memory)."""
        from workbench.core.hardware.sampler import HardwareSampler
        from workbench.ui.jobs import ThreadJob

        if sampler is not None or self.sampler is None:
            self.sampler = sampler or HardwareSampler(disk_path=self.path.parent if self.path else None)
        running = self.jobs.current("hardware")
        if running is not None and running.sampler is self.sampler:
            return self.sampler
        current = self.sampler
        job = ThreadJob("hardware", current.stream, on_command=lambda action, _arg: current.halt())
        job.sampler = current
        job.sig_events.connect(lambda snapshots: [self.publish_hardware(s) for s in snapshots])
        self.jobs.start(job)
        return current

    def publish_hardware(self, snapshot: Any) -> None:
        self.sig_hardware.emit(snapshot)
        free = snapshot.gpu_free()
        if free or self.gpu_free:
            self.set_gpu_free(free)

    def set_gpu_free(self, free: dict[str, int]) -> None:
        self.gpu_free = dict(free)
        self.sig_gpu_memory.emit(self.gpu_free)
