"""One export, start to finish, as a generator of progress events (the GUI runs it in a QThread, the CLI
in a loop): write to a hidden work folder beside the destination, verify, then rename into place.
A cancelled or failed export leaves nothing behind."""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled, UserError
from workbench.core.export.registry import Exporter, get_exporter
from workbench.core.export.report import ExportReport, report_paths
from workbench.core.export.settings import ExportSettings
from workbench.core.export.source import ExportSource
from workbench.core.io import atomic_write_text, nearly_full, os_error_in

MIN_CALIBRATION_SAMPLES = 16
EXAMPLE_BATCH = 2  # >= 2: an example batch of 1 lets exporters fix the batch axis (LSTM)


@dataclass(frozen=True)
class ExportProgress:
    stage: str  # prepare / export / convert / quantize / calibrate / verify / save
    fraction: float  # 0..1 of the whole export
    message: str


@dataclass(frozen=True)
class ExportFinished:
    report: ExportReport
    pending: PendingExport | None = None  # a failed export held for the user to keep or discard (GUI)


EXIT_VERIFICATION_FAILED = 3  # the CLI's exit code when the export was made but failed verification


class VerificationFailed(Exception):
    """The export was written but failed a verification check (named first in the message)."""

    def __init__(self, report: ExportReport):
        self.report = report
        super().__init__(f"verification failed: {'; '.join(report.failed_checks)}")


@dataclass
class PendingExport:
    """A failed export still in its hidden work folder: `keep()` renames it into place, `discard()` deletes it."""

    report: ExportReport
    work_dir: Path
    work_path: Path
    target: Path

    def keep(self) -> ExportReport:
        _commit(self.report, self.work_dir, self.work_path, self.target)
        shutil.rmtree(self.work_dir, ignore_errors=True)
        return self.report

    def discard(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)


@dataclass
class ExportJob:
    """What an exporter's `write(job)` sees. It writes `work_path`; `fp32_path` is set by ONNX exporters."""

    source: ExportSource
    exporter: Exporter
    settings: ExportSettings
    work_dir: Path
    work_path: Path
    example: Any  # a torch batch of EXAMPLE_BATCH real (or random) inputs
    cancel: Callable[[], bool]
    inputs: Any = None  # numpy verification inputs (validation split, or random)
    labels: Any = None  # their labels (None without a dataset / for regression)
    samples_from: str = ""
    fp32_path: Path | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def model(self):
        return self.source.model

    @property
    def spec(self):
        return self.source.spec

    def progress(self, stage: str, fraction: float, message: str) -> ExportProgress:
        self.check_cancel()
        return ExportProgress(stage, fraction, message)

    def check_cancel(self) -> None:
        if self.cancel():
            raise Cancelled("export cancelled")

    def calibration_samples(self):
        """N samples of the train split (seeded random subset), checked for size before any slow work."""
        import numpy as np

        n = self.settings.calibration_samples
        bundle = self.source.bundle()
        if bundle is None:
            raise UserError(
                f"int8 static quantization calibrates on the train split, but {self.source.data_error}; "
                "load the dataset first, or choose onnx-int8-dynamic (no calibration)"
            )
        available = len(bundle.train)
        if n < MIN_CALIBRATION_SAMPLES:
            raise UserError(
                f"calibration set too small: {n} samples; use at least {MIN_CALIBRATION_SAMPLES} "
                "(100-500 is typical)"
            )
        if available < MIN_CALIBRATION_SAMPLES:
            raise UserError(
                f"calibration set too small: the train split has only {available} samples; static "
                f"quantization needs at least {MIN_CALIBRATION_SAMPLES}: add data or choose "
                "onnx-int8-dynamic"
            )
        if available < n:
            self.warnings.append(
                f"{n} calibration samples were asked for; the train split has {available}, "
                "all of them were used."
            )
        order = np.random.default_rng(0).permutation(available)[:n]
        x = split_arrays(bundle.train, sorted(order.tolist()))[0]
        return x.astype(
            np.int64 if self.source.input_dtype == "int64" else np.float32
        )  # as verification feeds

    def calibration_reader(self, samples, input_name: str, batch_size: int = 16):
        from onnxruntime.quantization import CalibrationDataReader

        job = self

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.position = 0

            def get_next(self):
                job.check_cancel()
                if self.position >= len(samples):
                    return None
                batch = samples[self.position : self.position + batch_size]
                self.position += batch_size
                job.facts["_calibrated"] = min(self.position, len(samples))
                return {input_name: batch}

            def rewind(self):
                self.position = 0

        return Reader()

    def blocking(self, fn: Callable[[], None], stage: str, start: float, end: float, message: str):
        """Run a long library call in a `wb-export` thread, yielding progress and honouring Cancel meanwhile."""
        box: dict[str, BaseException] = {}
        stop = threading.Event()
        outer_cancel = self.cancel
        self.cancel = lambda: stop.is_set() or outer_cancel()

        def target():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - handed back to the generator
                box["error"] = exc

        thread = threading.Thread(target=target, name="wb-export-step", daemon=True)
        thread.start()
        try:
            total = self.settings.calibration_samples or 1
            while thread.is_alive():
                done = self.facts.get("_calibrated", 0)
                yield ExportProgress(stage, start + (end - start) * min(done / total, 1.0), message)
                if outer_cancel():
                    stop.set()
                thread.join(0.1)
        finally:
            stop.set() if thread.is_alive() else None
            thread.join()
            self.cancel = outer_cancel
            self.facts.pop("_calibrated", None)
        if "error" in box:
            raise box["error"]


def split_arrays(split, indices: list[int] | None = None):
    """(x, y) numpy arrays of a split (or of `indices` in it), from memory or from its Dataset."""
    import numpy as np
    import torch

    if split.in_memory:
        x, y = split.x, split.y
        if indices is not None:
            index = torch.as_tensor(indices, dtype=torch.long)
            x, y = x[index], y[index]
        return np.asarray(x), np.asarray(y)  # torch tensors, or numpy arrays (an image folder's uint8 pixels)
    indices = list(range(len(split))) if indices is None else indices
    items = [split.dataset[i] for i in indices]
    return (np.stack([np.asarray(item[0]) for item in items]), np.asarray([int(item[1]) for item in items]))


def unavailable(exporter: Exporter) -> str | None:
    """Why this format cannot run on this machine (a module it requires is missing), else None."""
    import importlib.util

    if exporter.requires and importlib.util.find_spec(exporter.requires) is None:
        return (
            f"{exporter.label} needs the '{exporter.requires}' package, which is not installed here: "
            f"`pip install {exporter.requires}` on a machine with an NVIDIA GPU (CUDA), or choose another format"
        )
    return None


def output_path(out: str | os.PathLike, exporter: Exporter, source: ExportSource) -> Path:
    out = Path(out).expanduser()
    if out.is_dir() or str(out).endswith(os.sep):
        stem = source.path.stem if source.path else "model"
        return out / f"{stem}{exporter.suffix}"
    return out if out.suffix else out.with_name(out.name + exporter.suffix)


def run_export(
    source: ExportSource,
    settings: ExportSettings,
    out: str | os.PathLike,
    cancel: Callable[[], bool] | threading.Event | None = None,
    on_failure: str = "delete",
) -> Iterator[ExportProgress | ExportFinished]:
    """Export `source` as `settings.format` to `out`; yields ExportProgress, then one ExportFinished.

    When verification fails, `on_failure` says what happens to the file: "delete" (raise VerificationFailed,
    nothing left behind), "keep" (written under its name with its failed report) or "hold" (left in the work
    folder; ExportFinished.pending lets the caller keep or discard it)."""
    if on_failure not in ("delete", "keep", "hold"):
        raise ValueError(f"on_failure must be delete, keep or hold, not {on_failure!r}")
    is_cancelled = cancel.is_set if isinstance(cancel, threading.Event) else (cancel or (lambda: False))
    exporter = get_exporter(settings.format)
    missing = unavailable(exporter)
    if missing:
        raise UserError(missing)
    target = output_path(out, exporter, source)
    started = time.perf_counter()
    yield ExportProgress("prepare", 0.0, f"Preparing {exporter.label} export of {source.label}...")
    work_dir = _make_work_dir(target)
    pending = None
    try:
        with _disk_errors(target):
            job = _prepare_job(source, exporter, settings, work_dir, target, is_cancelled)
            yield from exporter.write(job)
            job.check_cancel()
            yield ExportProgress("verify", 0.65, "Verifying: checker, parity, accuracy, latency...")
            from workbench.core.export.verify import verify

            report = verify(job, target)
            report.seconds = round(time.perf_counter() - started, 2)
            job.check_cancel()
            failed = report.verdict == "failed"
            if failed and on_failure != "keep":
                if on_failure == "delete":
                    raise VerificationFailed(report)
                pending = PendingExport(report, work_dir, job.work_path, target)
                yield ExportProgress("done", 1.0, f"Verification failed: {report.failed_checks[0]}")
                yield ExportFinished(report, pending)
                return
            yield ExportProgress("save", 0.97, f"Saving {target.name} and its report...")
            _commit(report, work_dir, job.work_path, target)
    finally:
        if pending is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    yield ExportProgress("done", 1.0, f"Exported {target.name} in {report.seconds:.1f} s")
    yield ExportFinished(report)


def export(
    source: ExportSource,
    settings: ExportSettings,
    out: str | os.PathLike,
    progress: Callable[[ExportProgress], None] | None = None,
    cancel: Callable[[], bool] | threading.Event | None = None,
    on_failure: str = "delete",
) -> ExportReport:
    """Run an export to the end and return its report (progress / cancel as callbacks); raises
    VerificationFailed when verification fails (unless `on_failure="keep"`)."""
    report = None
    for event in run_export(source, settings, out, cancel, on_failure):
        if isinstance(event, ExportFinished):
            report = event.report
        elif progress is not None:
            progress(event)
    assert report is not None
    return report


def _commit(report: ExportReport, work_dir: Path, work_path: Path, target: Path) -> None:
    """Write the report files, then rename the model and its reports into place."""
    json_path, md_path = report_paths(target)
    atomic_write_text(work_dir / "report.json", report.to_json())
    atomic_write_text(work_dir / "report.md", report.to_markdown())
    os.replace(work_path, target)
    os.replace(work_dir / "report.json", json_path)
    os.replace(work_dir / "report.md", md_path)


def _make_work_dir(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".wb-export", dir=target.parent))
    except OSError as exc:
        raise UserError(
            f"cannot write to {target.parent}: {exc.strerror or exc}; choose a writable folder"
        ) from exc


@contextlib.contextmanager
def _disk_errors(target: Path):
    """A full disk or a folder that turned read-only mid-way: one clear message, whatever library hit it."""
    try:
        yield
    except (UserError, Cancelled, GeneratorExit):
        raise
    except Exception as exc:
        os_error = os_error_in(exc)
        if os_error is None and nearly_full(target.parent):
            os_error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if os_error is None:
            raise
        if os_error.errno == errno.ENOSPC:
            raise UserError(
                f"no space left on the disk while writing {target}; free some space or choose "
                "another folder (nothing was written)"
            ) from exc
        raise UserError(
            f"cannot write {target}: {os_error.strerror or os_error}; choose a writable folder "
            "(nothing was written)"
        ) from exc


def _prepare_job(source, exporter, settings, work_dir, target, is_cancelled) -> ExportJob:
    import torch

    from workbench.core.export.verify import verification_data

    source.model.float().eval()
    inputs, labels, samples_from, warnings = verification_data(source, settings)
    example = torch.from_numpy(inputs[:EXAMPLE_BATCH].copy())
    if len(example) < EXAMPLE_BATCH:
        example = torch.cat([example] * EXAMPLE_BATCH)[:EXAMPLE_BATCH]
    job = ExportJob(
        source,
        exporter,
        settings,
        work_dir,
        work_dir / f"model{exporter.suffix}",
        example,
        is_cancelled,
        inputs=inputs,
        labels=labels,
        samples_from=samples_from,
    )
    job.warnings.extend(warnings)
    if not source.trained:
        job.warnings.append(
            f"{source.label}: the weights are untrained (random); the export works, but the "
            "model predicts nothing useful. Export a trained run's checkpoint instead."
        )
    job.facts["created"] = datetime.datetime.now().isoformat(timespec="seconds")
    return job
