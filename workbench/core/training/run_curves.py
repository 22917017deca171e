"""A run's curves as numpy arrays, read once and cached: what the run overlays draw (Qt-free).

`load_curves(run_dir)` parses `metrics.jsonl` 256 lines per `json.loads` call (a half-written last line, or any
line a metrics writer does not make, falls back to line-by-line parsing that skips it) into float64 arrays: step,
fractional epoch, seconds since the run's first batch, batch loss; and the epoch lines' validation accuracy, loss
and perplexity. ~5 ms for a 4,000-step run. The cache holds the last CACHE_RUNS runs by (path, size, mtime), so
ticking a run again, or a finished run, is not read twice.

`overlay_curves_job` is the job (placement THREAD, "overlay_curves" in workbench.core.jobs.JOBS) that loads the
runs ticked for overlay off the GUI thread, one event per run.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE_RUNS = 64  # ~130 KB per 4,000-step run
PARSE_LINES = 256  # metrics lines per json.loads call


@dataclass(frozen=True)
class RunCurves:
    """Every batch and epoch point of one run (arrays of equal length per group; NaN where a value is missing)."""

    run_dir: str
    step: np.ndarray
    epoch: np.ndarray  # fractional: 0.05, 0.10, ... 1.0 for the batches of epoch 1
    time: np.ndarray  # seconds since the first batch
    loss: np.ndarray
    val_step: np.ndarray
    val_epoch: np.ndarray
    val_time: np.ndarray
    val_accuracy: np.ndarray
    val_loss: np.ndarray
    val_perplexity: np.ndarray

    @property
    def metric(self) -> str:
        """ "perplexity" for a language-model run (its validation perplexity is recorded), else "accuracy"."""
        return "perplexity" if np.isfinite(self.val_perplexity).any() else "accuracy"

    def shifted(self, steps: float) -> RunCurves:
        """The same curves `steps` optimizer steps later (a fork drawn from its parent's step at the fork)."""
        if not steps:
            return self
        return _replace(self, step=self.step + steps, val_step=self.val_step + steps)


def _replace(curves: RunCurves, **changes: Any) -> RunCurves:
    from dataclasses import replace

    return replace(curves, **changes)


def _parse_lines(text: str) -> list[Any]:
    """The JSON lines of `text`, PARSE_LINES at a time in one json.loads each (a thread parsing a large file then
    holds the GIL ~1 ms at a time, not one 20 ms call: the GUI thread's event loop stays on time); a chunk that
    fails (a half-written last line, a line no writer makes) is parsed line by line, skipping what is not JSON."""
    lines = [line for line in text.split("\n") if line.strip()]
    out: list[Any] = []
    for start in range(0, len(lines), PARSE_LINES):
        chunk = lines[start : start + PARSE_LINES]
        try:
            out.extend(json.loads("[" + ",".join(chunk) + "]"))
            continue
        except (ValueError, RecursionError):
            pass
        for raw in chunk:
            try:
                out.append(json.loads(raw))
            except (ValueError, RecursionError):
                continue
    return out


def _floats(rows: list[dict], key: str) -> np.ndarray:
    values = [row.get(key) for row in rows]
    return np.array([np.nan if not isinstance(v, int | float) else v for v in values], dtype=np.float64)


def epoch_fractions(batch_epochs: np.ndarray) -> np.ndarray:
    """Fractional epoch of each batch (0.05 ... 1.0 for the 20 batches of epoch 1), from each batch's epoch."""
    e = np.asarray(batch_epochs, dtype=np.float64)
    if not len(e):
        return e
    starts = np.flatnonzero(np.r_[True, e[1:] != e[:-1]])
    lengths = np.diff(np.r_[starts, len(e)])
    position = np.arange(len(e)) - np.repeat(starts, lengths) + 1
    return e - 1 + position / np.repeat(lengths, lengths)


def parse_curves(run_dir: str | os.PathLike, text: str) -> RunCurves:
    lines = [obj for obj in _parse_lines(text) if isinstance(obj, dict)]
    batches = [o for o in lines if o.get("kind") == "batch" and isinstance(o.get("step"), int | float)]
    epochs = [o for o in lines if o.get("kind") == "epoch"]
    times = _floats(batches, "time")
    finite_times = times[np.isfinite(times)]
    t0 = float(finite_times[0]) if len(finite_times) else 0.0
    val_times = _floats(epochs, "time")
    return RunCurves(
        run_dir=str(run_dir),
        step=_floats(batches, "step"),
        epoch=epoch_fractions(np.nan_to_num(_floats(batches, "epoch"))),
        time=times - t0,
        loss=_floats(batches, "loss"),
        val_step=_floats(epochs, "step"),
        val_epoch=_floats(epochs, "epoch"),
        val_time=np.where(np.isfinite(val_times), val_times - t0, np.nan),
        val_accuracy=_floats(epochs, "val_accuracy"),
        val_loss=_floats(epochs, "val_loss"),
        val_perplexity=_floats(epochs, "val_perplexity"),
    )


_cache: OrderedDict[str, tuple[tuple[int, int], RunCurves]] = OrderedDict()
_cache_lock = threading.Lock()


def load_curves(run_dir: str | os.PathLike) -> RunCurves:
    """The run's curves (empty arrays when it has no readable metrics.jsonl), from the cache while the file is
    unchanged."""
    path = Path(run_dir) / "metrics.jsonl"
    key = str(Path(run_dir))
    try:
        stat = path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        stamp = (-1, -1)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            _cache.move_to_end(key)
            return hit[1]
    text = ""
    if stamp[0] >= 0 and path.is_file():
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    curves = parse_curves(key, text)
    with _cache_lock:
        _cache[key] = (stamp, curves)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_RUNS:
            _cache.popitem(last=False)
    return curves


def cached_curves(run_dir: str | os.PathLike) -> RunCurves | None:
    """The cached curves of a run whose metrics file has not changed since, else None (no reading)."""
    key = str(Path(run_dir))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is None:
        return None
    try:
        stat = (Path(run_dir) / "metrics.jsonl").stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        stamp = (-1, -1)
    return hit[1] if hit[0] == stamp else None


def overlay_curves_job(control, run_dirs: list[str]) -> Iterator[RunCurves]:
    """Load each run's curves (cached ones at once); stops early when cancelled (a newer tick replaced it)."""
    for run_dir in run_dirs:
        if control.cancelled.is_set():
            return
        yield load_curves(run_dir)
