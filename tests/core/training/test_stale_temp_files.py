"""The hidden temp files of atomic writes that a killed run leaves (`.last.safetensors.<random>.tmp`, as large as
the checkpoint) are removed only when no live process writes the run, at listing only once untouched for a minute,
and at the next start in that runs folder or resume of that run (workbench.core.training.checkpoints)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

from workbench.core.training.checkpoints import STALE_TEMP_S, clean_before_run, clean_stale_temp_files
from workbench.core.training.runs import LOCK


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def killed_run(root, name="20261204-100000-000000", pid=None):
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "checkpoints" / "last.safetensors").write_bytes(b"w" * 4096)
    (run / LOCK).write_text(f"{pid or dead_pid()}@{socket.gethostname()}\n")
    fd, temp = tempfile.mkstemp(prefix=".last.safetensors.", suffix=".tmp", dir=run / "checkpoints")
    os.write(fd, b"w" * 4096)  # full size: the kill came after the data, before the rename
    os.close(fd)
    fd, config_temp = tempfile.mkstemp(prefix=".summary.json.", suffix=".tmp", dir=run)
    os.close(fd)
    return run, [config_temp, temp]


def age(paths, seconds):
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


def test_stale_temp_files_of_a_dead_writer_go_and_nothing_else(tmp_path):
    run, temps = killed_run(tmp_path)
    (run / "checkpoints" / ".keep.tmp").write_text("not ours: no random part")
    (run / "notes.tmp").write_text("not hidden")
    assert clean_stale_temp_files(run) == []  # fresh: left alone at listing
    age(temps, STALE_TEMP_S + 5)
    assert sorted(map(str, clean_stale_temp_files(run))) == sorted(temps)
    assert (run / "checkpoints" / "last.safetensors").stat().st_size == 4096
    assert (run / "checkpoints" / ".keep.tmp").exists() and (run / "notes.tmp").exists()


def test_a_live_writer_keeps_its_temp_files_whatever_their_age(tmp_path):
    run, temps = killed_run(tmp_path, pid=os.getpid())  # this process writes the run
    age(temps, 3600)
    assert clean_stale_temp_files(run, min_age_s=0) == [] and all(os.path.exists(t) for t in temps)


def test_the_next_start_cleans_the_resumed_run_at_once_and_its_unfinished_siblings_once_stale(tmp_path):
    resumed, resumed_temps = killed_run(tmp_path, "20261204-100000-000001")
    sibling, sibling_temps = killed_run(tmp_path, "20261204-100000-000002")
    finished, finished_temps = killed_run(tmp_path, "20261204-100000-000003")
    (finished / "summary.json").write_text("{}")
    age(sibling_temps + finished_temps, STALE_TEMP_S + 5)
    clean_before_run(tmp_path, resumed)
    assert not any(os.path.exists(t) for t in resumed_temps + sibling_temps)
    assert all(os.path.exists(t) for t in finished_temps)  # a finished run's folder is not scanned
