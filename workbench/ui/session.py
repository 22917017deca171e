"""ProjectSession: the one shared model the panels edit and listen to. A panel never reaches into another
panel; it writes through the session's `update_*` methods and reacts to its `sig_*` signals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from workbench.core.data.settings import DatasetSettings
from workbench.core.export.settings import ExportSettings
from workbench.core.io import atomic_write_text
from workbench.core.model.spec import ModelSpec
from workbench.core.project import Project, autosave_path, load_project, runs_dir, save_project
from workbench.core.training.config import TrainingConfig

AUTOSAVE_MS = 30_000


class ProjectSession(QObject):
    sig_project_loaded = Signal()          # a new document (New / Open): panels re-read everything
    sig_dataset_changed = Signal()         # project.dataset replaced (settings, not data)
    sig_data_loaded = Signal(object)       # the loaded, Qt-free dataset (or None when cleared)
    sig_model_changed = Signal()           # project.model replaced
    sig_training_changed = Signal()        # project.training replaced
    sig_export_changed = Signal()          # project.export replaced
    sig_dirty_changed = Signal(bool)
    sig_runs_changed = Signal()            # a run was added, renamed or deleted
    sig_run_selected = Signal(object)      # Path of the run a panel selected (or None)
    sig_device_changed = Signal(str)       # "cpu", "cuda:0", ... picked in the toolbar or hardware panel
    sig_gpu_memory = Signal(object)        # {device: free_bytes} from the hardware sampler
    sig_hardware = Signal(object)          # each workbench.core.hardware snapshot, for plots beside the loss
    sig_command = Signal(str)              # toolbar requests: "train", "pause", "stop", "export"
    sig_status = Signal(str)               # a message for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.project = Project()
        self.path: Path | None = None
        self.data: Any = None               # workbench.core.data dataset object once loaded
        self.device = "auto"
        self.gpu_free: dict[str, int] = {}
        self.selected_run: Path | None = None
        self._dirty = False
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_MS)
        self._autosave.timeout.connect(self.autosave)

    # -- document ---------------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def _set_dirty(self, dirty: bool) -> None:
        if dirty:
            self._autosave.start()
        if dirty != self._dirty:
            self._dirty = dirty
            self.sig_dirty_changed.emit(dirty)

    @property
    def runs_dir(self) -> Path | None:
        return runs_dir(self.path) if self.path else None

    @property
    def display_name(self) -> str:
        return self.project.name or (self.path.stem if self.path else "Untitled")

    def new(self, project: Project | None = None) -> None:
        self._replace(project or Project(), None)

    def open(self, path: str | Path) -> None:
        """Load a project; a bad file raises UserError and leaves the current project as it was."""
        project = load_project(path)
        self._replace(project, Path(path).resolve())

    def _replace(self, project: Project, path: Path | None) -> None:
        self.project = project
        self.path = path
        self.data = None
        self.selected_run = None
        self._autosave.stop()
        self._set_dirty(False)
        self.sig_project_loaded.emit()

    def recover(self, autosave: str | Path) -> None:
        """Replace the document with an autosaved one, keeping the project's path; it stays unsaved (dirty)."""
        project = load_project(autosave)
        path = self.path
        self._replace(project, path)
        self._set_dirty(True)

    def save(self, path: str | Path | None = None) -> Path:
        target = Path(path).resolve() if path else self.path
        if target is None:
            raise ValueError("no path to save to")
        save_project(self.project, target)
        self.path = target
        self._discard_autosave()
        self._set_dirty(False)
        self.sig_status.emit(f"Saved {target}")
        return target

    def autosave(self) -> None:
        """Write the unsaved document to a side file; the project file itself is never touched here."""
        if self._dirty:
            try:
                atomic_write_text(autosave_path(self.path), self.project.to_json())
            except Exception as exc:  # noqa: BLE001 - autosave must never break editing
                self.sig_status.emit(f"Autosave failed: {exc}")

    def _discard_autosave(self) -> None:
        try:
            autosave_path(self.path).unlink(missing_ok=True)
        except OSError:
            pass

    # -- edits (each replaces one part of the document and tells everyone) -------------------------------------
    def update_dataset(self, settings: DatasetSettings) -> None:
        if settings != self.project.dataset:
            self.project.dataset = settings
            self._set_dirty(True)
            self.sig_dataset_changed.emit()

    def set_data(self, data: Any) -> None:
        self.data = data
        self.sig_data_loaded.emit(data)

    def update_model(self, spec: ModelSpec) -> None:
        if spec != self.project.model:
            self.project.model = spec
            self._set_dirty(True)
            self.sig_model_changed.emit()

    def update_training(self, config: TrainingConfig) -> None:
        if config != self.project.training:
            self.project.training = config
            self._set_dirty(True)
            self.sig_training_changed.emit()

    def update_export(self, settings: ExportSettings) -> None:
        if settings != self.project.export:
            self.project.export = settings
            self._set_dirty(True)
            self.sig_export_changed.emit()

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

    def publish_hardware(self, snapshot: Any) -> None:
        self.sig_hardware.emit(snapshot)

    def set_gpu_free(self, free: dict[str, int]) -> None:
        self.gpu_free = dict(free)
        self.sig_gpu_memory.emit(self.gpu_free)
