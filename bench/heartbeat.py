"""The trainer process's heartbeat against its "not responding" limits (workbench.ui.jobs: 6 s, 20 s before the
first message): the longest silence a healthy trainer process shows (a) from spawn to Ready (Python start-up, the
torch import, the first optimizer step) and (b) while it trains the sample project with long steps (the whole
training split in one batch, a wide CNN: each step takes about a second or more here) and writes a checkpoint
every epoch. A silence close to the limit would be a false "not responding"; the margin is what this measures.

    .venv/bin/python bench/heartbeat.py [--repeats 3] [--seconds 20]

Writes bench/results/heartbeat.json, with os.getloadavg() before and after (the machine may be shared)."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

from workbench.core.jobs import Events, Ready, Submit
from workbench.core.paths import sample_project
from workbench.core.project import load_project
from workbench.core.trainer_process import TrainerProcess
from workbench.ui.jobs import NOT_RESPONDING_S, STARTUP_SILENCE_S

RESULTS = Path(__file__).parent / "results" / "heartbeat.json"
WIDE_CNN = [
    {"type": "Conv2d", "out_channels": 128, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "Conv2d", "out_channels": 128, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "Flatten"},
    {"type": "Linear", "out_features": 10},
]


def start_up() -> dict:
    spawned = time.monotonic()
    process = TrainerProcess()
    times = [spawned]
    while True:
        message = process.receive(0.05)
        if message is not None:
            times.append(time.monotonic())
            if isinstance(message, Ready):
                break
    process.close()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return {"first_message_s": gaps[0], "ready_s": times[-1] - spawned, "longest_silence_s": max(gaps)}


def training(seconds: float) -> dict:
    doc = load_project(sample_project())
    doc.model = type(doc.model).model_validate(doc.model.model_dump() | {"layers": WIDE_CNN})
    doc.training.batch_size = 4096  # the whole training split: one long step per epoch, a checkpoint after it
    doc.training.epochs = 10_000
    process = TrainerProcess()
    while not isinstance(process.receive(0.05), Ready):
        pass
    with tempfile.TemporaryDirectory() as runs:
        process.send(
            Submit(
                1,
                "train",
                "workbench.core.trainer_process:train_job",
                {"project": doc.model_dump(mode="json"), "runs_root": runs},
            )
        )
        last, longest, steps, step_times = time.monotonic(), 0.0, 0, []
        started = last
        while time.monotonic() - started < seconds:
            message = process.receive(0.02)
            now = time.monotonic()
            if message is None:
                continue
            longest, last = max(longest, now - last), now
            if isinstance(message, Events):
                for event in message.events:
                    if getattr(event, "kind", "") == "batch":
                        steps += 1
                        step_times.append(now)
        process.close(5.0)
    step_s = [b - a for a, b in itertools.pairwise(step_times)]
    return {"steps": steps, "longest_step_s": max(step_s, default=None), "longest_silence_s": longest}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = {
        "limits_s": {"not_responding": NOT_RESPONDING_S, "before_first_message": STARTUP_SILENCE_S},
        "start_up": [start_up() for _ in range(args.repeats)],
        "training_long_steps": training(args.seconds),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "note": "loadavg per core above 1 at the start: the machine was shared; rerun quiet"
        if load_before[0] > (os.cpu_count() or 1)
        else "a quiet machine",
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
