"""The memory plan the GUI shows: the traced peak of a training step of the project (core/memory), placed on
the chosen device (core/hardware/fit.py). Traced in the trainer process (job "memory"; torch never loads here)
once it runs (the window warms it up at start; a panel alone plans nothing until then), again when the model,
the training settings or the device change (debounced), and published once: `session.memory.plan` /
`sig_plan`, read by the builder, the training settings and the hardware panel."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from workbench.core.errors import UserError
from workbench.core.hardware.fit import MemoryPlan, available_bytes, resolve_device

DEBOUNCE_MS = 250  # typing a batch size or dragging a layer re-plans once it settles


class MemoryPlanner(QObject):
    sig_plan = Signal(object)  # MemoryPlan | None: the latest plan (None: no valid model / planning failed)
    sig_planning = Signal()  # a new plan is being traced

    def __init__(self, session: Any):
        super().__init__(session)
        self.session = session
        self.plan: MemoryPlan | None = None
        self.error: str | None = None  # why there is no plan (a model that cannot be built, ...)
        self.latest: Any = None  # the latest hardware snapshot (free memory for the fit)
        self._generation = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)
        for signal in (
            session.sig_project_loaded,
            session.sig_model_changed,
            session.sig_training_changed,
            session.sig_device_changed,
            session.sig_data_loaded,
        ):
            signal.connect(self.request)
        session.sig_hardware.connect(self._on_hardware)
        session.jobs.host.sig_process_started.connect(self.request)

    def request(self, *_args) -> None:
        """Plan again soon (several edits in a row: once)."""
        self._timer.start()

    def _on_hardware(self, snapshot: Any) -> None:
        first = self.latest is None
        self.latest = snapshot
        if first:  # the first free-memory figures: the fit and the largest batch can now be said
            self.request()

    def target(self) -> tuple[str, int | None, str]:
        """(device, free bytes or None, name) for the session's device on the latest snapshot."""
        target = resolve_device(self.session.device, self.latest)
        if self.latest is None:
            return target, None, target
        try:
            available, name = available_bytes(target, self.latest)
        except UserError:
            return target, None, target
        return target, available, name

    def refresh(self) -> None:
        jobs = self.session.jobs
        if jobs.closing or not jobs.host.isRunning():  # plans once the trainer process is up (warm_up)
            return
        project = self.session.project
        if not project.model.layers:
            self.publish(None, "the network has no layers")
            return
        target, available, name = self.target()
        meta = getattr(self.session.data, "meta", None)
        task = getattr(meta, "task", None) or (
            "regression" if project.dataset.options.get("task") == "regression" else "classification"
        )
        self._generation += 1
        generation = self._generation
        job = jobs.job(
            "memory",
            "memory",
            spec=project.model.to_dict(),
            training=project.training.model_dump(),
            target=target,
            available=available,
            device_name=name,
            task=task,
            input_dtype=getattr(meta, "input_dtype", None),
            **self._limit(),
        )
        job.sig_events.connect(lambda events: self._on_result(generation, events[-1]))
        job.sig_done.connect(lambda error: error is not None and self._on_failed(generation, error.message))
        self.sig_planning.emit()
        jobs.start(job)

    def _limit(self) -> dict:
        """The largest batch worth searching: the training split (a larger batch is the whole split)."""
        train = getattr(self.session.data, "train", None)
        try:
            return {"limit": len(train)} if train is not None and len(train) > 0 else {}
        except TypeError:
            return {}

    def _on_result(self, generation: int, doc: dict) -> None:
        if generation == self._generation:
            self.publish(MemoryPlan.from_dict(doc), None)

    def _on_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.publish(None, message)

    def publish(self, plan: MemoryPlan | None, error: str | None = None) -> None:
        """Show `plan` everywhere (the job's result comes here; tests and screenshots publish one made here)."""
        self.plan, self.error = plan, error
        self.sig_plan.emit(plan)
