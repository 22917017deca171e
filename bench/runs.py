"""A project with 1,000 runs (issue 26, "Scale"): how fast the runs are listed, against the naive way.

The run folders are written by this script, not trained: config.json shaped like a real run's (copied from the
structure `workbench train` writes for the sample), metrics.jsonl with one line per batch and per epoch (a few
thousand steps), summary.json, tags; varied learning rate, batch size, optimizer, epochs, fine-tuning method and
model; some runs interrupted (no summary, the last line cut), some resumed or forked from another, a few damaged
(config.json not JSON, summary.json not an object, a corrupt line mid-file, config.json missing).

Measured, in one run of this script:
  core   `RunIndex.rows()` in this process: cold (no index file), warm (index fresh), after one run changed
  cli    `workbench runs list PROJECT --json` as a subprocess, wall time: cold (index deleted) and warm
  naive  (a) what the Runs tab did before the index: list_runs + config + summary for each run, metrics.jsonl
             only for runs without a summary; (b) the same information as a row: every metrics.jsonl read
  gui    `measure_gui(project, results)`: open the project, show the Runs tab, sort, filter, overlay 20 runs, the
         event loop's lateness meanwhile (--gui-only skips core and cli; --screenshots DIR writes the PNGs)
Goals (issue 26): `runs list` <= 1 s warm; open <= 2 s, overlay 20 <= 0.5 s, lateness p99 <= 16 ms (GUI).

    .venv/bin/python bench/runs.py [--runs 1000] [--steps 3000] [--keep DIR]

`make_runs(root, n, steps, seed)` and `make_project(folder, n, steps, seed)` are importable (tests, screenshots):
    from bench.runs import make_project        # with the repository root on sys.path (python -m pytest)
Writes bench/results/runs.json (with os.getloadavg(): the machine may be shared while it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "runs.json"
START = 1_780_000_000.0  # 2026-05-28: the first generated run's start

CNN_LAYERS = [
    {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Flatten"},
    {"type": "Linear", "out_features": 10},
]
MLP_LAYERS = [
    {"type": "Flatten"},
    {"type": "Linear", "out_features": 128},
    {"type": "ReLU"},
    {"type": "Dropout", "p": 0.1},
    {"type": "Linear", "out_features": 10},
]
TEXT_LAYERS = [
    {"type": "Pretrained", "format": "huggingface", "source": "/models/bert-tiny", "sha256": "0" * 64},
    {"type": "Linear", "out_features": 4},
]


def _training(rng: random.Random, epochs: int, finetune: str) -> dict:
    return {
        "epochs": epochs,
        "batch_size": rng.choice([16, 32, 64, 128]),
        "optimizer": rng.choice(["adam", "adamw", "sgd"]),
        "lr": rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2]),
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": rng.choice([0.0, 0.0, 1e-4, 1e-2]),
        "scheduler": rng.choice(["none", "none", "cosine", "step"]),
        "step_size": 10,
        "gamma": 0.1,
        "plateau_patience": 2,
        "loss": "cross_entropy",
        "label_smoothing": 0.0,
        "device": "auto",
        "precision": rng.choice(["fp32", "fp32", "bf16"]),
        "grad_accumulation_steps": 1,
        "activation_checkpointing": False,
        "grad_clip": None,
        "seed": rng.choice([0, 0, 0, 1, 2]),
        "early_stopping": False,
        "early_stopping_metric": "val_loss",
        "patience": 5,
        "save_best": True,
        "num_workers": 0,
        "finetune": finetune,
        "frozen": [],
        "lora_rank": rng.choice([4, 8, 16]),
        "lora_alpha": 16.0,
        "lora_dropout": 0.0,
        "lora_targets": [],
    }


def _config(rng: random.Random, run_id: str, created: float, project: str, epochs: int) -> dict:
    text = rng.random() < 0.2
    finetune = rng.choice(["full", "freeze", "lora"]) if text else "full"
    layers = TEXT_LAYERS if text else rng.choice([CNN_LAYERS, MLP_LAYERS])
    total = 4_386_436 if text else (20_490 if layers is CNN_LAYERS else 101_770)
    trainable = {"full": total, "freeze": 516, "lora": 26_116}[finetune]
    dataset = (
        {
            "kind": "csv",
            "source": "data/reviews.csv",
            "target": "label",
            "val_source": None,
            "split": {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 0},
            "options": {"text_column": "text"},
        }
        if text
        else {
            "kind": "digits",
            "source": "digits",
            "target": None,
            "val_source": None,
            "split": {"train": 0.7, "val": 0.15, "test": 0.15, "seed": rng.choice([0, 0, 1])},
            "options": {"resize": "28"},
        }
    )
    return {
        "name": run_id,
        "run_id": run_id,
        "created": created,
        "project": project,
        "dataset": dataset,
        "model": {"format_version": 1, "input_shape": [128] if text else [1, 28, 28], "layers": layers},
        "training": _training(rng, epochs, finetune),
        "device": "cpu",
        "precision": "fp32",
        "dataset_meta": {
            "kind": dataset["kind"],
            "input_shape": [128] if text else [1, 28, 28],
            "num_classes": 4 if text else 10,
            "class_names": [str(i) for i in range(4 if text else 10)],
            "task": "classification",
            "input_dtype": "int64" if text else "float32",
            "mean": [0.3056151567468203],
            "std": [0.3763425059701712],
            "extra": {"modality": "text" if text else "image", "num_samples": 1797, "streaming": False},
        },
        "resumed_from": None,
        "versions": {"workbench": "0.1.0", "torch": "2.14.1+cu130"},
        "finetune": {
            "method": finetune,
            "total_params": total,
            "trainable_params": trainable,
            "trainable_share": trainable / total,
            "partial_checkpoints": finetune != "full",
            "lora": {"rank": 8, "alpha": 16.0} if finetune == "lora" else None,
            "frozen": [],
            "base": [],
        },
    }


def _metrics(
    rng: random.Random, steps: int, epochs: int, created: float, lr: float
) -> tuple[list[str], dict]:
    """Batch and epoch lines as the trainer writes them (json.dumps' layout) and the summary's values."""
    per_epoch = max(1, steps // epochs)
    tau = rng.uniform(0.1, 0.5) * steps
    floor = rng.uniform(0.02, 0.3)
    speed = rng.uniform(0.002, 0.01)  # seconds per batch
    lines: list[str] = []
    best_acc, best_loss, last = None, None, {}
    t = created
    step = 0
    for epoch in range(1, epochs + 1):
        train = []
        for _ in range(per_epoch):
            step += 1
            t += speed * rng.uniform(0.8, 1.2)
            loss = floor + 2.3 * pow(2.718281828, -step / tau) + abs(rng.gauss(0, 0.05))
            if rng.random() < 0.0005:
                loss *= 4  # the odd spike a real curve has
            train.append(loss)
            lines.append(
                f'{{"kind": "batch", "step": {step}, "epoch": {epoch}, "loss": {loss!r}, "lr": {lr!r}, '
                f'"time": {t!r}}}\n'
            )
        val_loss = floor * 1.2 + 2.3 * pow(2.718281828, -step / tau) + abs(rng.gauss(0, 0.02))
        val_acc = max(0.0, min(1.0, 1.0 - val_loss / 2.6 + rng.gauss(0, 0.005)))
        t += speed * 5
        epoch_line = {
            "kind": "epoch",
            "epoch": epoch,
            "train_loss": sum(train) / len(train),
            "train_accuracy": val_acc * 1.01,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "lr": lr,
            "step": step,
            "time": t,
        }
        lines.append(json.dumps(epoch_line) + "\n")
        best_acc = val_acc if best_acc is None else max(best_acc, val_acc)
        best_loss = val_loss if best_loss is None else min(best_loss, val_loss)
        last = epoch_line
    values = {
        "epochs_completed": epochs,
        "best_val_accuracy": best_acc,
        "last_val_accuracy": last.get("val_accuracy"),
        "last_val_loss": last.get("val_loss"),
        "best_val_loss": best_loss,
        "steps": step,
        "elapsed": t - created,
    }
    return lines, values


def _run_id(created: float, i: int) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(created))
    return f"{stamp}-{i:06d}"


def make_runs(root: str | os.PathLike, n: int = 1000, steps: int = 3000, seed: int = 0) -> list[Path]:
    """Write `n` run folders under `root` (the runs/ folder): about 85% completed or stopped (half of them
    with an older summary.json that lacks the last/best validation values), 10% interrupted, resumed and forked
    runs, and damaged ones: 1 in 100 (1 in 10 when n < 300, none when n < 10). Returns the run folders, oldest first."""
    rng = random.Random(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    project = str(root.parent / "project.wbproj")
    paths: list[Path] = []
    damaged_every = 100 if n >= 300 else 10 if n >= 10 else 0
    for i in range(n):
        created = START + i * 900 + rng.uniform(0, 60)
        run_id = _run_id(created, i)
        path = root / run_id
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
        epochs = rng.choice([5, 10, 20, 30])
        run_steps = max(epochs, int(steps * rng.uniform(0.5, 1.5)))
        config = _config(rng, run_id, created, project, epochs)
        if paths and rng.random() < 0.08:
            _lineage(rng, config, rng.choice(paths), run_id, steps)
        lr = config["training"]["lr"]
        lines, values = _metrics(rng, run_steps, epochs, created, lr)
        kind = rng.random()
        (path / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if kind < 0.10:  # interrupted: killed mid-run, the last line half written
            cut = rng.randrange(len(lines) // 4, len(lines))
            text = "".join(lines[:cut]) + lines[cut][: len(lines[cut]) // 2]
            (path / "metrics.jsonl").write_text(text, encoding="utf-8")
            (path / ".lock").write_text("999999999@" + platform.node() + "\n", encoding="utf-8")
        else:
            (path / "metrics.jsonl").write_text("".join(lines), encoding="utf-8")
            stopped = kind > 0.95
            summary = {
                "status": "stopped" if stopped else "completed",
                "epochs_completed": values["epochs_completed"],
                "best_val_accuracy": values["best_val_accuracy"],
                "samples_per_second": config["training"]["batch_size"] * values["steps"] / values["elapsed"],
                "error": None,
                "message": "",
                "steps": values["steps"],
                "elapsed": values["elapsed"],
                "device": "cpu",
                "test_loss": values["last_val_loss"] * rng.uniform(0.9, 1.1),
                "test_accuracy": min(1.0, values["last_val_accuracy"] * rng.uniform(0.98, 1.01)),
                "test_accuracy_weights": "last",
                "test_split": "test",
                "finished": created + values["elapsed"],
            }
            if i % 2:  # written by this version: the last / best validation values are in the summary
                summary.update(
                    {k: values[k] for k in ("last_val_accuracy", "last_val_loss", "best_val_loss")}
                )
            (path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if rng.random() < 0.05:
            tags = rng.sample(["baseline", "good", "lr-sweep", "check", "paper"], k=rng.randint(1, 2))
            meta = {"tags": tags, "notes": "generated by bench/runs.py"}
            (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if damaged_every and i % damaged_every == damaged_every // 2:
            _damage(path, (i // damaged_every) % 4)
        paths.append(path)
    return paths


def _lineage(rng: random.Random, config: dict, parent: Path, run_id: str, steps: int) -> None:
    """A resume (of a stopped or interrupted parent, which then says resumed_by) or a fork, recorded as
    training/fork.py records them (the parent relative to the runs folder: its id)."""
    summary = parent / "summary.json"
    resumable = not summary.exists() or '"stopped"' in summary.read_text(encoding="utf-8")
    resume = resumable and rng.random() < 0.6
    step = rng.randrange(10, max(11, steps // 2))
    checkpoint = "last" if resume else rng.choice(["last", "best", "epoch-2"])
    config.update(
        lineage="resume" if resume else "fork",
        parent=parent.name,
        parent_checkpoint=checkpoint,
        fork_step=step,
        fork_epoch=2,
    )
    if resume:
        config["resumed_from"] = {"run": parent.name, "step": step, "epoch": 2}
        meta_path = parent / "meta.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        meta["resumed_by"] = run_id
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
    else:
        config["forked_from"] = {"run": parent.name, "step": step, "checkpoint": checkpoint}


def _damage(path: Path, how: int) -> None:
    if how == 0:
        (path / "config.json").write_text('{"name": "half a conf', encoding="utf-8")
    elif how == 1:
        (path / "summary.json").write_text("[1, 2, 3]\n", encoding="utf-8")
    elif how == 2:
        lines = (path / "metrics.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        lines[len(lines) // 2] = '{"kind": "batch", "st\n'
        (path / "metrics.jsonl").write_text("".join(lines), encoding="utf-8")
        (path / "summary.json").unlink(missing_ok=True)  # a corrupt line in a run that never finished
        (path / ".lock").unlink(missing_ok=True)
    else:
        (path / "config.json").unlink()


def make_project(folder: str | os.PathLike, n: int = 1000, steps: int = 3000, seed: int = 0) -> Path:
    """A copy of the sample project in `folder` with `n` generated runs beside it; returns the .wbproj."""
    from workbench.core.paths import SAMPLE_PROJECT

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    project = folder / "project.wbproj"
    shutil.copyfile(SAMPLE_PROJECT, project)
    make_runs(folder / "runs", n, steps, seed)
    return project


# ---------------------------------------------------------------- measurements


def _timed(fn, repeats: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def naive_tab(runs_root: Path) -> int:
    """What the Runs tab did before the index: config + summary per run; metrics.jsonl when no summary."""
    from workbench.core.training.runs import list_runs

    n = 0
    for run in list_runs(runs_root):
        summary, status, _config = run.summary, run.status, run.config
        if summary is None and status in ("running", "interrupted"):
            run.metrics()
        n += 1
    return n


def naive_full(runs_root: Path) -> int:
    """The same information as a RunRow the plain way: config, summary and every metrics.jsonl parsed."""
    from workbench.core.training.runs import list_runs

    n = 0
    for run in list_runs(runs_root):
        _ = (run.summary, run.status, run.config)
        epochs = run.metrics().epochs
        _ = [e.get("val_accuracy") for e in epochs], [e.get("val_loss") for e in epochs]
        n += 1
    return n


def _drop_page_cache_hint() -> str:
    return (
        "files were just written: the OS page cache holds them (a cold disk would be slower for all methods)"
    )


def measure_core(runs_root: Path, repeats: int) -> dict:
    from workbench.core.training.run_index import INDEX_FILE, RunIndex

    (runs_root / INDEX_FILE).unlink(missing_ok=True)
    cold, rows = _timed(lambda: RunIndex(runs_root).rows())
    warm, _ = _timed(lambda: RunIndex(runs_root).rows(), repeats)
    some = sorted(runs_root.iterdir())[5]
    (some / "summary.json").touch()
    t0 = time.perf_counter()
    index = RunIndex(runs_root)
    index.rows()
    one_changed = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for row in rows:  # type: ignore[union-attr]
        statuses[row.status] = statuses.get(row.status, 0) + 1
    naive_a, n = _timed(lambda: naive_tab(runs_root))
    naive_b, _ = _timed(lambda: naive_full(runs_root))
    return {
        "rows": len(rows),  # type: ignore[arg-type]
        "statuses": statuses,
        "index_rows_cold_s": round(cold, 4),
        "index_rows_warm_s": round(warm, 4),
        "index_rows_one_run_changed_s": round(one_changed, 4),
        "index_reread_after_one_change": index.rebuilt,
        "naive_runs_tab_s": round(naive_a, 4),
        "naive_runs_tab_runs": n,
        "naive_full_rows_s": round(naive_b, 4),
        "index_size_bytes": (runs_root / INDEX_FILE).stat().st_size,
    }


def measure_cli(project: Path, repeats: int) -> dict:
    from workbench.core.training.run_index import INDEX_FILE

    cmd = [sys.executable, "-m", "workbench", "runs", "list", str(project), "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def once() -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"runs list failed: {done.stderr.strip()}")

    (project.parent / "runs" / INDEX_FILE).unlink(missing_ok=True)
    cold, _ = _timed(once)
    warm, _ = _timed(once, repeats)
    table_cmd = cmd[:-1]
    t0 = time.perf_counter()
    subprocess.run(table_cmd, capture_output=True, text=True, env=env, check=True)
    table = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench", "--version"], capture_output=True, env=env, check=True)
    startup = time.perf_counter() - t0
    return {
        "runs_list_json_cold_s": round(cold, 3),
        "runs_list_json_warm_s": round(warm, 3),
        "runs_list_table_warm_s": round(table, 3),
        "workbench_version_s": round(startup, 3),
        "goal_warm_s": 1.0,
        "goal_met": warm <= 1.0,
    }


PROBE_MS = 5  # the GUI event loop's lateness probe (bench/gui_latency.py's method, finer)
SETTLE_S = 0.5  # each measured phase runs on this long after its action (what the user sees next counts too)
OVERLAYS = 20


def _wait(condition, timeout: float) -> bool:
    from gui_latency import wait  # bench/ is on sys.path when a bench script runs

    return wait(condition, timeout, interval_ms=2)


def _lateness(gaps: list[tuple[float, float]], spans: list[tuple[float, float]]) -> dict:
    """p50 / p99 / max of the probe's lateness (ms) within the time spans."""
    import numpy as np

    values = np.array([g for t, g in gaps if any(a <= t <= b for a, b in spans)] or [0.0])
    return {
        "p50": round(float(np.percentile(values, 50)), 2),
        "p99": round(float(np.percentile(values, 99)), 2),
        "max": round(float(values.max()), 2),
        "probes": len(values),
    }


def measure_gui(project: Path, results: dict, screenshots: Path | None = None) -> None:
    """The real main window (offscreen) at 1280x800 with a 5 ms QTimer probing its event loop throughout:
      open      File > Open of the project with the Runs tab showing, until the table is painted with its rows
                (the index fresh, as on every open after the first; `open_cold_index_s`: the index deleted first)
      sort      a click on the "Best val acc" header until the sorted table is painted (ascending, then descending)
      filter    typing `lr<0.001` into the filter box until the filtered table is painted
      overlay   20 runs ticked (the 20 best, one of them a forked run with its parent when there is one) with the
                Curves tab showing, until the loss plot is painted with the 20 overlays (their metrics.jsonl read
                cold; `overlay_20_cached_s`: untick and tick them again)
    results["gui"] gets the times (seconds, action -> painted), the lateness (ms) per phase (the action and
    SETTLE_S after it) and over all phases, and the goals.
    `screenshots`: also write runs_table_1000.png and runs_overlay_20.png there (the other panels closed so that
    the Training panel has the window)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import (
        QElapsedTimer,
        QEvent,
        QItemSelectionModel,
        QObject,
        QPoint,
        QPointF,
        Qt,
        QTimer,
    )
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from workbench.core.paths import sample_project
    from workbench.core.training.run_index import INDEX_FILE
    from workbench.ui.main_window import MainWindow
    from workbench.ui.widgets.live_plot import LivePlot

    paints: dict[str, list[float]] = {"table": [], "loss": []}

    class PaintClock(QObject):
        """Records when each paint of the table has finished (it paints inside the filter, then stamps)."""

        def eventFilter(self, watched, event):  # noqa: N802 - Qt API
            if event.type() != QEvent.Paint:
                return False
            watched.removeEventFilter(self)
            QApplication.sendEvent(watched, event)
            watched.installEventFilter(self)
            paints["table"].append(time.perf_counter())
            return True

    original_paint = LivePlot.paintEvent

    def recording_paint(self, event):
        original_paint(self, event)
        if self.objectName() == "lossPlot":
            paints["loss"].append(time.perf_counter())

    LivePlot.paintEvent = recording_paint
    gaps: list[tuple[float, float]] = []
    clock, last = QElapsedTimer(), [0]
    probe = QTimer()
    probe.setTimerType(Qt.PreciseTimer)
    probe.setInterval(PROBE_MS)

    def on_probe():
        now = clock.nsecsElapsed()
        gaps.append((time.perf_counter(), (now - last[0]) / 1e6 - PROBE_MS))
        last[0] = now

    probe.timeout.connect(on_probe)
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    if screenshots is not None:  # the Training panel alone in the window (View menu: the other panels closed)
        for name, dock in window.docks.items():
            if name != "trainingDock":
                dock.hide()
    panel = window.panels["trainingDock"]
    panel.tabs.setCurrentWidget(panel.runs)
    table = panel.runs.table
    paint_clock = PaintClock()
    table.viewport().installEventFilter(paint_clock)
    _wait(lambda: False, 1.0)  # the window settles (the trainer process starts) before the clock runs
    clock.start()
    probe.start()
    out: dict = {"window": "1280x800 offscreen", "probe_ms": PROBE_MS}
    phases: dict[str, tuple[float, float]] = {}

    def painted_after(kind: str, t0: float, condition=lambda: True, timeout: float = 30.0) -> float:
        _wait(lambda: condition() and any(t > t0 for t in paints[kind]), timeout)
        later = [t for t in paints[kind] if t > t0]
        return (later[0] - t0) if later and condition() else float("nan")

    runs_root = project.parent / "runs"
    for label, cold in (("open_cold_index_s", True), ("open_s", False)):
        window.open_project(str(sample_project()), confirmed=True)  # another project first
        _wait(lambda: False, 0.3)
        if cold:
            (runs_root / INDEX_FILE).unlink(missing_ok=True)
        t0 = time.perf_counter()
        window.open_project(str(project), confirmed=True)
        out[label] = round(painted_after("table", t0, lambda: panel.runs.model.rowCount() > 0), 3)
        _wait(lambda: False, SETTLE_S)
        phases[label] = (t0, time.perf_counter())
    out["rows"] = panel.runs.model.rowCount()
    out["columns"] = [title for _, title in panel.runs.model.columns]

    header = table.horizontalHeader()
    column = next(i for i, (k, _) in enumerate(panel.runs.model.columns) if k == "best_val_accuracy")
    sorts = []
    t_sort = time.perf_counter()
    for _ in range(2):
        x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
        if not 0 <= x < header.viewport().width():
            table.scrollTo(panel.runs.model.index(0, column))
            x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
        t0 = time.perf_counter()
        QTest.mouseClick(header.viewport(), Qt.LeftButton, Qt.NoModifier, QPoint(x, header.height() // 2))
        sorts.append(painted_after("table", t0))
        _wait(lambda: False, SETTLE_S)
    phases["sort"] = (t_sort, time.perf_counter())
    out["sort_s"] = round(max(sorts), 4)
    best_first = [r for r in panel.runs.rows() if r.status != "damaged"]  # sorted by best val acc, descending

    t0 = time.perf_counter()
    QTest.keyClicks(panel.runs.filter_edit, "lr<0.001")
    out["filter_s"] = round(painted_after("table", t0), 4)
    out["filter_rows"] = panel.runs.model.rowCount()
    _wait(lambda: False, SETTLE_S)
    phases["filter"] = (t0, time.perf_counter())
    panel.runs.filter_edit.clear()
    _wait(lambda: False, 0.3)
    table.scrollToTop()

    chosen = best_first[: OVERLAYS - 2]
    fork = next((r for r in best_first if r.settings.get("forked_from")), None)
    if fork is not None:
        parent_id = str(fork.settings["forked_from"]).split("@")[0]
        parent = next((r for r in best_first if r.id == parent_id), None)
        chosen = (
            [r for r in chosen if r not in (fork, parent)][: OVERLAYS - 2]
            + [fork]
            + ([parent] if parent else [])
        )
    chosen = (chosen + [r for r in best_first if r not in chosen])[:OVERLAYS]
    out["overlaid_fork"] = fork.id if fork is not None else None
    panel.tabs.setCurrentWidget(panel.curves)
    _wait(lambda: False, 0.5)
    layer = lambda: getattr(panel.curves, "overlay_layer", None)  # noqa: E731

    def overlaid() -> bool:
        return layer() is not None and len(layer().overlays) == len(chosen)

    for label in ("overlay_20_s", "overlay_20_cached_s"):
        for row in chosen:
            panel.runs.set_overlay(row.path, False)
        _wait(lambda: layer() is None or not layer().overlays, 10)
        _wait(lambda: False, 0.3)
        t0 = time.perf_counter()
        for row in chosen:
            panel.runs.set_overlay(row.path, True)
        out[label] = round(painted_after("loss", t0, overlaid), 3)
        _wait(lambda: False, SETTLE_S)
        phases[label] = (t0, time.perf_counter())
    out["overlays"] = len(chosen)
    out["overlay_points"] = int(sum(len(o.curves.step) for o in layer().overlays))
    if screenshots is not None:
        plot = panel.curves.loss
        item = plot.getPlotItem()
        x = 0.45 * sum(item.vb.viewRange()[0])
        scene_pos = item.vb.mapViewToScene(QPointF(x, sum(item.vb.viewRange()[1]) / 2))
        layer()._on_mouse_moved(plot, scene_pos)  # the value read-out, as hovering shows it
        _wait(lambda: False, 0.5)
        screenshots.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(screenshots / "runs_overlay_20.png"))
        # the table as a user sees it then: the 20 runs ticked with their colours, two selected (what differs)
        panel.tabs.setCurrentWidget(panel.runs)
        panel.runs.select(best_first[0].path)
        table.selectionModel().select(
            panel.runs.model.index(1, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows
        )
        _wait(lambda: False, 0.5)
        window.grab().save(str(screenshots / "runs_table_1000.png"))
    probe.stop()
    out["lateness_ms"] = {name: _lateness(gaps, [span]) for name, span in phases.items()}
    out["lateness_ms"]["all"] = _lateness(gaps, list(phases.values()))  # every phase (not the screenshots)
    out["goals"] = {"open_s": 2.0, "overlay_20_s": 0.5, "lateness_p99_ms": 16.0}
    out["goals_met"] = {
        "open": out["open_s"] <= 2.0,
        "overlay_20": out["overlay_20_s"] <= 0.5,
        "lateness_p99": out["lateness_ms"]["all"]["p99"] <= 16.0,
    }
    LivePlot.paintEvent = original_paint
    window.close()
    app.processEvents()
    results["gui"] = out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=3000, help="batches per run (about; each run varies)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="write the project here and keep it")
    parser.add_argument("--no-gui", action="store_true", help="skip measure_gui")
    parser.add_argument(
        "--gui-only",
        action="store_true",
        help="only measure_gui (printed; bench/results/runs.json is left alone)",
    )
    parser.add_argument(
        "--screenshots", metavar="DIR", type=Path, help="measure_gui also writes its PNGs here"
    )
    args = parser.parse_args(argv)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="wb-runs-bench-"))
    try:
        t0 = time.perf_counter()
        project = make_project(folder, args.runs, args.steps)
        generated = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in (folder / "runs").rglob("*") if f.is_file())
        results: dict = {
            "benchmark": "bench/runs.py",
            "settings": {"runs": args.runs, "steps_about": args.steps, "repeats": args.repeats},
            "generated_s": round(generated, 2),
            "runs_folder_mb": round(size / 2**20, 1),
            "page_cache": _drop_page_cache_hint(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        }
        if not args.gui_only:
            results["core"] = measure_core(folder / "runs", args.repeats)
            results["cli"] = measure_cli(project, args.repeats)
        if not args.no_gui:
            measure_gui(project, results, args.screenshots)
        results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        results["note"] = "measured while other jobs shared this machine (see loadavg); rerun on a quiet one"
        if not args.gui_only:  # (a partial run, e.g. `make screenshots`, leaves the full results alone)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(results, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
