"""TrainingPanel: start / pause / stop a run of the project's model on its data, watch it live, compare
runs, evaluate them.

The core loop (workbench.core.training.loop) runs in the trainer process (a `ProcessJob` of kind "train",
see workbench.ui.jobs); its events reach this panel on the live view's own clock, up to 30 frames a second,
every batch included (and in the run's metrics.jsonl). The trainer never waits for the GUI. One training job at
a time; settings are locked while it runs; closing asks, then stops within 2 s. When the trainer process dies,
the run ends as interrupted (resumable from its last checkpoint) and the error box says how it ended.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import UserError
from workbench.ui.jobs import FRAME_MS, Job, JobError, describe
from workbench.ui.panels.training.curves import CurvesView
from workbench.ui.panels.training.evaluation_view import EvaluationView
from workbench.ui.panels.training.memory_box import FitBadge
from workbench.ui.panels.training.not_responding import NotRespondingBanner
from workbench.ui.panels.training.overlays import OverlayLoader
from workbench.ui.panels.training.runs_view import RunsView
from workbench.ui.panels.training.settings_form import TrainingSettingsForm
from workbench.ui.widgets.label_holder import LabelHolder

PROGRESS_S = 0.25  # progress bars and the stats line: 4 updates a second (the loss plot: every frame)
STATE_TEXT = {
    "idle": "Idle",
    "warming": "Starting PyTorch…",  # Start pressed while the trainer process still imports torch
    "loading": "Loading data…",
    "running": "Training",
    "paused": "Paused",
    "stopping": "Stopping…",
    "starting": "Starting…",
}


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ErrorBox(QFrame):
    """A failed run: the message, and the traceback behind a Details toggle."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingErrorBox")
        self.setStyleSheet(
            "#trainingErrorBox { background: #fdecea; border: 1px solid #f5c2c0; border-radius: 4px; }"
        )
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.toggle = QToolButton()
        self.toggle.setText("Details")
        self.toggle.setCheckable(True)
        close = QToolButton()
        close.setText("✕")
        close.clicked.connect(self.hide)
        self.details = QPlainTextEdit()
        self.details.setObjectName("tracebackDetails")
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(140)
        self.details.hide()
        self.toggle.toggled.connect(self.details.setVisible)
        top = QHBoxLayout()
        top.addWidget(self.message, 1)
        top.addWidget(self.toggle)
        top.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.details)
        self.hide()

    def show_error(self, message: str, details: str | None = None) -> None:
        self.message.setText(f"<b>Training failed.</b> {message}")
        self.details.setPlainText(details or "")
        self.toggle.setVisible(bool(details))
        self.toggle.setChecked(False)
        self.show()


def latest_run_line(runs_root: Path) -> str:
    """One line about the project's newest finished run ("Last run … : completed · 3 epoch(s) · best val acc
    …"), or "" when it has none. Run ids begin with their start time, so the newest is the largest name."""
    import json

    try:
        folders = sorted((p for p in runs_root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    except OSError:
        return ""
    for folder in folders[:20]:
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(summary, dict):
            continue
        parts = [f"Last run {folder.name}: {summary.get('status', '?')}"]
        if isinstance(summary.get("epochs_completed"), int):
            parts.append(f"{summary['epochs_completed']} epoch(s)")
        if isinstance(summary.get("best_val_accuracy"), int | float):
            parts.append(f"best val acc {summary['best_val_accuracy']:.2%}")
        return "  ·  ".join(parts)
    return ""


class TrainingPanel(QWidget):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.job: Job | None = None
        self.eval_job: Job | None = None
        self.sample_run: Path | None = None  # the language-model run the sample box generates with
        self.generate_job: Job | None = None
        self.paused = False
        self._progress_shown = 0.0
        self.state = "idle"
        self.run_path: Path | None = None
        self.started = None
        self.t0 = time.time()
        self.last_finished_run: Path | None = None
        self._build()
        session.actions["train"].triggered.connect(lambda: self.start())
        session.actions["pause"].triggered.connect(self.toggle_pause)
        session.actions["stop"].triggered.connect(self.stop)
        session.sig_project_loaded.connect(self._on_session_project_loaded)
        session.sig_runs_changed.connect(self.runs.reload)
        session.sig_hardware.connect(self._on_session_hardware)
        session.sig_data_loaded.connect(self._on_session_data_loaded)
        session.jobs.host.sig_process_started.connect(self._on_trainer_ready)
        for changed in (session.sig_model_changed, session.sig_dataset_changed, session.sig_training_changed):
            changed.connect(self._on_session_project_edited)
        self._on_session_project_loaded()

    # -- layout
    # ----------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startTrainingButton")
        self.start_button.setToolTip("Train the project's model on its dataset (a new run)")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseTrainingButton")
        self.pause_button.setToolTip("Hold at the next batch boundary (model and optimizer stay in memory)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopTrainingButton")
        self.stop_button.setToolTip("Finish the current batch, save a checkpoint and end the run")
        self.stop_epoch_check = QCheckBox("stop after this epoch")
        self.stop_epoch_check.setObjectName("stopAfterEpochCheck")
        self.state_label = QLabel()
        self.state_label.setObjectName("trainingStateLabel")
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.stop_epoch_check.toggled.connect(self._on_stop_epoch_toggled)
        controls = QHBoxLayout()
        for widget in (self.start_button, self.pause_button, self.stop_button, self.stop_epoch_check):
            controls.addWidget(widget)
        self.fit_badge = FitBadge(self.session)  # the plan will not fit: the fixes are in Settings
        controls.addWidget(self.fit_badge)
        controls.addStretch(1)
        controls.addWidget(self.state_label)
        self.script_button = QPushButton("Script…")
        self.script_button.setObjectName("exportScriptButton")
        self.script_button.setToolTip(
            "Write a standalone train.py for this project: the model, the data loading and "
            "these settings; runs with `python train.py` or under torchrun, no Workbench "
            "needed"
        )
        self.script_button.clicked.connect(lambda: self.export_script())
        controls.addWidget(self.script_button)

        self.epoch_bar = QProgressBar()
        self.epoch_bar.setObjectName("epochProgress")
        self.epoch_bar.setFormat("epoch %v/%m")
        self.batch_bar = QProgressBar()
        self.batch_bar.setObjectName("batchProgress")
        self.batch_bar.setFormat("batch %v/%m")
        for bar in (self.epoch_bar, self.batch_bar):
            bar.setAutoFillBackground(
                True
            )  # opaque: a new value repaints the bar alone, not the window beneath
            bar.setMaximumHeight(18)
            bar.setRange(0, 1)
            bar.setValue(0)
        self.stats_label = QLabel("")
        self.stats_label.setObjectName("trainingStats")
        progress = QHBoxLayout()
        progress.addWidget(self.epoch_bar, 1)
        progress.addWidget(self.batch_bar, 1)
        stats = QHBoxLayout()
        stats.addWidget(LabelHolder(self.stats_label), 1)  # a new line 4 times a second: no relayout

        self.error_box = ErrorBox()
        self.not_responding = NotRespondingBanner(self.session.jobs.host)  # Wait / End it
        self.curves = CurvesView()
        self.runs = RunsView()
        self.runs.jobs = self.session.jobs  # a large runs folder is read on a thread
        self.evaluation = EvaluationView()
        self.settings = TrainingSettingsForm(self.session)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("trainingTabs")
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.runs, "Runs")
        self.tabs.addTab(self.evaluation, "Evaluation")
        self.tabs.addTab(self.settings, "Settings")
        self.tabs.currentChanged.connect(self._on_tabs_changed)
        self.fit_badge.linkActivated.connect(lambda _link: self.tabs.setCurrentWidget(self.settings))
        self.runs.sig_selected.connect(self._on_runs_selected)
        self.overlay_loader = OverlayLoader(self.session.jobs, self)
        self.overlay_loader.sig_loaded.connect(self._on_overlay_loader_loaded)
        self.runs.sig_overlays_changed.connect(self.overlay_loader.request)
        self.runs.sig_resume.connect(lambda run: self.start(resume_from=run.path))
        self.runs.sig_fork.connect(
            lambda checkpoint, changes: self.start(fork_from=checkpoint, training=changes)
        )
        self.runs.sig_evaluate.connect(lambda run: self.evaluate(run.path))
        self.runs.sig_changed.connect(self.session.sig_runs_changed.emit)
        self.evaluation.sig_evaluate_requested.connect(self._on_evaluation_requested)
        self.evaluation.sample_box.sig_generate_requested.connect(self._on_sample_box_generate_requested)
        self.evaluation.sample_box.sig_stop_requested.connect(self._on_sample_box_stop_requested)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(controls)
        layout.addLayout(progress)
        layout.addLayout(stats)
        layout.addWidget(self.not_responding)
        layout.addWidget(self.error_box)
        layout.addWidget(self.tabs, 1)
        self._set_state("idle")

    # -- commands
    # --------------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    def start(
        self, resume_from: Path | None = None, fork_from: Path | None = None, training: dict | None = None
    ) -> bool:
        """Start a run (or continue `resume_from`, or fork from the checkpoint `fork_from` with the parent's
        training settings changed by `training`) in the trainer process. Refused while one runs."""
        if self.running or self.session.jobs.closing:
            return False
        project = self.session.project.model_copy(deep=True)
        if (
            fork_from is not None
        ):  # the parent's settings with the changes (the project document is untouched)
            from pydantic import ValidationError

            from workbench.core.training.config import TrainingConfig
            from workbench.core.training.fork import run_of
            from workbench.core.training.runs import Run

            parent = Run(run_of(Path(fork_from))).config.get("training") or {}
            known = {k: v for k, v in parent.items() if k in TrainingConfig.model_fields}
            settings = {**project.training.model_dump(), **known, **(training or {})}
            try:
                project.training = TrainingConfig.model_validate(settings)
            except ValidationError as exc:
                problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                self.error_box.show_error(f"Cannot fork with these settings: {problem}", None)
                return False
        if self.session.device and self.session.device != "auto":
            project.training.device = self.session.device
        job = self.session.jobs.job(
            "train",
            "train",
            interval_ms=FRAME_MS,
            project=project.model_dump(mode="json"),
            runs_root=str(self._runs_root()),
            resume_from=str(resume_from) if resume_from else None,
            fork_from=str(fork_from) if fork_from else None,
            project_path=str(self.session.path) if self.session.path else None,
        )
        job.sig_events.connect(self._on_job_events)
        job.sig_done.connect(self._on_job_done)
        if not self.session.jobs.start(job, if_busy="refuse"):
            return False
        self.job = job
        self.paused = False
        if self.stop_epoch_check.isChecked():
            job.command("stop_after_epoch", True)
        self.error_box.hide()
        self._reset_status_lines()  # nothing of the previous run (ETA, "completed") under this one
        self.curves.clear()
        self.overlay_loader.request(self.runs.overlay_requests())  # the ticked runs stay beside the new one
        self.started = None
        self.t0 = time.time()
        self.tabs.setCurrentWidget(self.curves)
        self.settings.set_locked(True)
        self._show_waiting("starting" if self.session.jobs.host.ready else "warming")
        return True

    def _show_waiting(self, state: str) -> None:
        """Before the first point: the trainer process is still importing torch, the data loads, or the run starts."""
        if state == "starting" and self.session.data is None:
            state = "loading"
        self.curves.set_empty(
            {
                "warming": "Starting PyTorch in the trainer process…",
                "loading": "Loading the data…",
                "starting": "Starting…",
            }[state]
        )
        self._set_state(state)

    def _on_trainer_ready(self, _pid: int) -> None:
        if self.state == "warming":
            self._show_waiting("starting")

    def toggle_pause(self) -> None:
        if self.job is None or self.state in ("stopping", "idle", "warming", "starting", "loading"):
            return
        self.paused = not self.paused
        self.job.command("pause" if self.paused else "resume")
        self.pause_button.setText("Resume" if self.paused else "Pause")
        self.session.actions["pause"].setText(self.pause_button.text())
        self.state_label.setText("Pausing…" if self.paused else STATE_TEXT["running"])

    def stop(self) -> None:
        if self.job is not None and self.state != "stopping":
            self.job.command("stop")
            self._set_state("stopping")

    def _on_stop_epoch_toggled(self, on: bool) -> None:
        if self.job is not None:
            self.job.command("stop_after_epoch", on)

    # -- job events (GUI thread: one frame per tick of the job's clock, <= 30 a second)
    # -----------------------------
    def _on_job_events(self, events: list) -> None:
        from workbench.core.training.events import pack_batches

        events = pack_batches(events)  # (the trainer process sends them packed: BatchEnds, column by column)
        last_batches = next((event for event in reversed(events) if event.kind == "batches"), None)
        last_epoch = next((event for event in reversed(events) if event.kind == "epoch"), None)
        finished_now = False
        batches: list = []
        epochs: list = []
        for event in events:
            kind = event.kind
            if kind == "batches":
                batches.append(event)
                continue
            if kind == "epoch":
                epochs.append(event)
                continue
            self.curves.add_points(batches, epochs, self.t0)  # the points before it first ("started" sets t0)
            batches, epochs = [], []
            if kind == "started":
                self._on_started(event)
            elif kind == "state":
                self._set_state(event.state)
            elif kind == "evaluation" and event.accuracy is not None:
                self.last_evaluation = event
            elif kind == "finished":
                finished_now = True
                self._on_finished(event)
        self.curves.add_points(batches, epochs, self.t0)  # one append per series for a frame's points
        now = time.monotonic()
        due = now - self._progress_shown >= PROGRESS_S  # (QProgressBar.setValue repaints at once: 1-2 ms)
        if last_epoch is not None and (due or finished_now):  # an MLP's epochs come 20 a second
            self.epoch_bar.setValue(last_epoch.epoch)
        if last_batches is not None and not finished_now and due:
            self._progress_shown = now
            self._show_progress(last_batches.last())
        self.curves.refresh(force=finished_now)  # one frame for every plot; the last one shows every point

    def _on_started(self, event) -> None:
        from workbench.core.training.runs import Run

        self.started = event
        self.run_path = Path(event.run_dir)
        self.t0 = time.time()
        self.curves.set_empty("")
        if event.first_step > 1:  # resumed: the curve so far, then the live points continue it
            metrics = Run(self.run_path).metrics().before(event.first_step, event.first_epoch)
            self.curves.show_run(metrics)  # (the live events bring everything from first_step on)
            if metrics.time:
                self.t0 = metrics.time[0]
        self.curves.set_extent(event.epochs * event.batches_per_epoch, event.epochs)
        self.epoch_bar.setRange(0, event.epochs)
        self.epoch_bar.setValue(event.first_epoch - 1)
        self.batch_bar.setRange(0, event.batches_per_epoch)
        self.batch_bar.setValue(0)
        self.settings.set_locked(True)
        self._set_state("running")
        notes = " ".join(event.notes)
        self.session.sig_status.emit(f"Training on {event.device}: run {event.run_id}. {notes}".strip())
        self.runs.reload()
        self.runs.set_busy(True, self.run_path)
        self.session.sig_runs_changed.emit()

    def _show_progress(self, e) -> None:
        self.batch_bar.setRange(0, e.batches)
        self.batch_bar.setValue(e.batch)
        self.epoch_bar.setValue(max(self.epoch_bar.value(), e.epoch - 1))
        parts = [
            f"step {e.step:,}",
            f"{e.samples_per_second:,.0f} samples/s",
            f"elapsed {_clock(e.elapsed)}",
            f"LR {e.lr:.3g}",
        ]
        started = self.started
        if started is not None and e.step >= started.first_step:
            done = e.step - started.first_step + 1
            remaining = started.epochs * started.batches_per_epoch - e.step
            parts.insert(0, f"ETA {_clock(e.elapsed / done * remaining)}")
        if e.cuda_allocated is not None:
            if self.session.sampler is not None and started is not None:  # the hardware view shows them too
                self.session.sampler.trainer.report(
                    started.device, e.cuda_allocated, e.cuda_reserved, e.cuda_peak
                )
            parts.append(f"GPU mem {e.cuda_allocated / 2**20:,.0f} MiB (peak {e.cuda_peak / 2**20:,.0f})")
        self.stats_label.setText("  ·  ".join(parts))

    def _on_finished(self, event) -> None:
        self.last_finished = event
        if (
            event.status == "completed"
        ):  # (the bars show a frame's last batch and epoch at most 4 times a second)
            self.batch_bar.setValue(self.batch_bar.maximum())
            self.epoch_bar.setValue(self.epoch_bar.maximum())
        if event.status == "failed":
            self.error_box.show_error(event.message, event.error if event.error != event.message else None)
        elif event.run_dir:
            self.last_finished_run = Path(event.run_dir)
        what = {"completed": "Training completed", "stopped": "Training stopped", "failed": "Training failed"}
        acc = (
            f", best val accuracy {event.best_val_accuracy:.2%}"
            if event.best_val_accuracy is not None
            else ""
        )
        why = f" ({event.message})" if event.message and event.status != "failed" else ""
        self.session.sig_status.emit(
            f"{what.get(event.status, event.status)}{why}: {event.epochs_completed} epoch(s){acc}"
        )
        speed = f"{event.samples_per_second:,.0f} samples/s" if event.samples_per_second else ""
        self.stats_label.setText(
            "  ·  ".join(
                p
                for p in (
                    f"{what.get(event.status, event.status)}{why}",
                    f"{event.epochs_completed} epoch(s)",
                    f"{event.steps:,} steps",
                    speed,
                    f"elapsed {_clock(event.elapsed)}",
                    f"best val acc {event.best_val_accuracy:.2%}"
                    if event.best_val_accuracy is not None
                    else "",
                )
                if p
            )
        )

    def _on_job_done(self, error: JobError | None) -> None:
        self.job = None
        self.paused = False
        if error is not None:
            self.error_box.show_error(describe(error), error.details)
            self.stats_label.setText("")  # the failure banner alone: no stale ETA or step under it
            self.session.sig_status.emit(f"Training failed: {describe(error)}")
            self.curves.refresh()  # the last points before a crash stay drawn
        self.settings.set_locked(False)
        self._set_state("idle")
        self.runs.set_busy(False)
        self.runs.reload()
        self.session.sig_runs_changed.emit()
        if self.started is None:
            self.curves.set_empty("Press Start to train: the loss appears here within seconds")
        finished = getattr(self, "last_finished", None)
        if (
            error is None
            and not self.session.jobs.closing
            and finished is not None
            and finished.status != "failed"
            and finished.run_dir
        ):
            # evaluation after training; started from the event loop, not from inside this callback
            QTimer.singleShot(0, lambda: self.evaluate(Path(finished.run_dir)))

    def _set_state(self, state: str) -> None:
        self.state = state
        busy = state != "idle"
        self.start_button.setEnabled(not busy)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.stop_button.setEnabled(busy and state != "stopping")
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.state_label.setText(STATE_TEXT.get(state, state))
        actions = self.session.actions  # the toolbar's Train / Pause / Stop follow the buttons
        for command, button in (
            ("train", self.start_button),
            ("pause", self.pause_button),
            ("stop", self.stop_button),
        ):
            actions[command].setEnabled(button.isEnabled())
        actions["pause"].setText(self.pause_button.text())

    def export_script(self, path: str | None = None) -> Path | None:
        """Write the standalone training script (workbench.core.scriptgen) to `path`, asking where when None."""
        from PySide6.QtWidgets import QFileDialog, QMessageBox

        from workbench.core.scriptgen import export_training_script

        if path is None:
            start = str((self.session.path.parent if self.session.path else Path.home()) / "train.py")
            path, _ = QFileDialog.getSaveFileName(self, "Export training script", start, "Python (*.py)")
            if not path:
                return None
        try:
            written = export_training_script(self.session.project, path)
        except UserError as exc:
            QMessageBox.warning(self, "Cannot write the training script", str(exc))
            return None
        self.session.sig_status.emit(
            f"Wrote {written}: run it with `python {written.name}` or under torchrun"
        )
        return written

    # -- runs
    # ------------------------------------------------------------------------------------------------------
    def _runs_root(self) -> Path:
        """The project's runs folder (an unsaved project's own folder under the user data folder); it moves on
        Save / Save As, so the run list asks for it on every reload."""
        return self.session.runs_dir

    def _on_session_project_loaded(self) -> None:
        self.runs.set_root(self._runs_root)
        self.error_box.hide()  # an earlier project's failure is not this one's
        self.evaluation.clear()  # nor its classes and confusion matrix
        if not self.running:
            self.curves.clear()
            self.curves.set_empty("Press Start to train: the loss appears here within seconds")
            self._reset_status_lines()
            self.last_finished = None
            self.last_finished_run = None
            self.stats_label.setText(latest_run_line(self._runs_root()))  # this project's own, or none

    def _reset_status_lines(self) -> None:
        self.stats_label.setText("")
        for bar in (self.epoch_bar, self.batch_bar):
            bar.setRange(0, 1)
            bar.setValue(0)

    def _on_runs_selected(self, run) -> None:
        self.session.select_run(run.path if run is not None else None)
        if run is not None and not self.running:
            self.curves.show_run(run.metrics())
            self.overlay_loader.request(self.runs.overlay_requests())  # (show_run cleared them; cached)

    def _on_overlay_loader_loaded(self, overlays: list) -> None:
        self.curves.set_overlays(overlays)
        self.runs.set_overlay_colors(self.curves.overlay_layer.colors())

    def _on_tabs_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.runs:
            self.runs.reload()

    def _on_session_project_edited(self) -> None:
        """A failed run's banner is about the project as it was: an edit (the fix, usually) puts it away."""
        if not self.running:
            self.error_box.hide()

    def _on_session_data_loaded(self, data) -> None:
        """The trainer process loads the same data now, so Start does not wait for it."""
        if data is not None and not self.session.jobs.closing:
            self.session.jobs.start(
                self.session.jobs.job(
                    "prepare", "prepare", dataset=self.session.project.dataset.model_dump(mode="json")
                )
            )

    def _on_session_hardware(self, snapshot) -> None:
        if not self.running or self.started is None:
            return
        t = getattr(snapshot, "time", None)
        if isinstance(t, int | float):
            self.curves.add_hardware(snapshot, t - self.t0, self.started.device)

    # -- evaluation
    # ------------------------------------------------------------------------------------------------
    def _on_evaluation_requested(self, split: str) -> None:
        run = self.runs.selected()
        path = run.path if run is not None else self.last_finished_run
        if path is None:
            self.evaluation.set_error("Select a run in the Runs tab first.")
            return
        self.evaluate(path, split)

    def evaluate(self, run_path: Path, split: str | None = None) -> bool:
        """Evaluate a run's best checkpoint in the trainer process; a newer request replaces an older one."""
        if self.session.jobs.closing:
            return False
        from workbench.core.training.runs import Run

        split = split or self.evaluation.split_combo.currentText()
        run = Run(run_path)
        if run.config.get("dataset_meta", {}).get("task") == "language_model":
            self.sample_run = run_path  # no confusion matrix: text generated from a prompt instead
            self.evaluation.show_language_model(run.name)
            return True
        dataset = run.config.get("dataset")
        same_data = dataset == self.session.project.dataset.model_dump(mode="json")
        data = self.session.data if same_data else None  # the samples behind each cell are drawn from it
        device = "cpu" if self.running else (self.session.device or "auto")
        job = self.session.jobs.job(
            "evaluate", "evaluate", run_dir=str(run_path), split=split, device=device, dataset=dataset
        )
        job.sig_events.connect(lambda events: self.evaluation.set_result(events[-1], data))
        job.sig_done.connect(self._on_eval_done)
        self.eval_job = job
        self.evaluation.set_busy(f"Evaluating {run.name} on {split}…")
        return self.session.jobs.start(job)

    def _on_eval_done(self, error: JobError | None) -> None:
        self.eval_job = None
        if error is not None:
            self.evaluation.set_error(describe(error))

    def _on_sample_box_generate_requested(self, options: dict) -> None:
        """Generate text with the language-model run shown in the sample box, in the trainer process."""
        box = self.evaluation.sample_box
        if self.session.jobs.closing or self.sample_run is None:
            return
        device = "cpu" if self.running else (self.session.device or "auto")
        job = self.session.jobs.job(
            "generate", "generate", run_dir=str(self.sample_run), device=device, **options
        )
        job.sig_events.connect(lambda events: box.set_sample(events[-1]))
        job.sig_done.connect(self._on_generate_done)
        self.generate_job = job
        box.set_busy()
        self.session.jobs.start(job)

    def _on_sample_box_stop_requested(self) -> None:
        """Stop: the job is cancelled (its later events are dropped); the text so far stays."""
        if self.generate_job is not None:
            self.generate_job.cancel()
            self.generate_job = None
        self.evaluation.sample_box.set_stopped()

    def _on_generate_done(self, error: JobError | None) -> None:
        self.generate_job = None
        if error is not None:
            self.evaluation.sample_box.set_error(describe(error))

    # -- closing
    # ---------------------------------------------------------------------------------------------------
    def confirm_close(self) -> bool:
        if not self.running:
            return True
        answer = QMessageBox.question(
            self,
            "Training is running",
            "A run is training. Stop it (a checkpoint is saved) and close?",
            QMessageBox.Yes | QMessageBox.No,
            QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def shutdown(self) -> None:
        """Every job ends with the session's JobRunner.shutdown (the main window calls it)."""
        self.job = self.eval_job = None
