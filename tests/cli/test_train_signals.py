"""`workbench train` in a subprocess, stopped by SIGTERM (a scheduler, `kill`) or SIGINT (Ctrl-C) mid-run: the
step ends, the checkpoint and summary.json (status stopped) are written, `.lock` is removed, and the process
exits 143 / 130 with one line saying where to resume from; no traceback."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import pytest

from workbench.core.paths import SAMPLE_PROJECT
from workbench.core.training.checkpoints import checkpoint_step, load_checkpoint
from workbench.core.training.runs import LOCK, list_runs


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_run_with_checkpoint_and_summary(tmp_path, signum):
    project = tmp_path / "digits.wbproj"
    shutil.copy(SAMPLE_PROJECT, project)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "train", str(project), "--epochs", "500", "--json-lines"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(
            signal.SIGINT, signal.SIG_DFL
        ),  # (a background `make test` ignores it)
    )
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["kind"] == "batch" and event["step"] >= 12:  # mid-run
                break
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    name = signal.Signals(signum).name
    last = err.strip().splitlines()[-1]
    (run,) = list_runs(tmp_path / "runs")
    assert last.startswith(f"stopped by {name} at step ") and f"--resume {run.path}" in last
    assert json.loads(out.splitlines()[-1])["status"] == "stopped"
    summary = run.summary
    assert summary["status"] == "stopped" and summary["test_accuracy"] is None  # no final evaluation: quick
    assert not (run.path / LOCK).exists()
    assert checkpoint_step(run.path) == summary["steps"] >= 12
    assert load_checkpoint(run.path / "checkpoints" / "last.safetensors").build_model() is not None
