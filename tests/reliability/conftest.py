"""Fixtures for the reliability tests: a trained digits run (made once), a project beside its runs, a tiny
full filesystem where one can be mounted."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from qt_fixtures import (  # noqa: F401  (autouse fixtures: no modal dialog hangs, jobs end, one warm trainer)
    _jobs_shut_down,
    _no_blocking_dialogs,
    _warm_trainer_process_shared,
)
from reliability_helpers import MLP, write_project


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory) -> Path:
    """A digits project (small MLP) with one completed run in runs/ beside it. Copy it before changing it."""
    from workbench.core.project import load_project, runs_dir
    from workbench.core.training.loop import train

    root = tmp_path_factory.mktemp("trained")
    path = write_project(
        root / "digits.wbproj",
        model=MLP,
        training={"epochs": 1, "batch_size": 128, "device": "cpu", "lr": 0.01},
    )
    events = list(train(load_project(path), runs_root=runs_dir(path), project_path=path))
    assert events[-1].status == "completed", events[-1]
    return path


@pytest.fixture
def project_copy(trained_project, tmp_path) -> Path:
    """A private copy of the trained project folder (project file + runs/)."""
    folder = tmp_path / "project"
    shutil.copytree(trained_project.parent, folder)
    return folder / trained_project.name


@pytest.fixture
def run_dir(project_copy) -> Path:
    from workbench.core.training.runs import list_runs

    return list_runs(project_copy.parent / "runs")[0].path


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def tiny_disk(tmp_path):
    """A 512 KiB tmpfs (root only; skipped elsewhere); `fill(leave=bytes)` fills it up to that many free bytes."""
    if not _can_mount():
        pytest.skip("mounting a tiny tmpfs needs root; the patched-write cases cover a full disk elsewhere")
    mount_point = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")

    def fill(leave: int = 0) -> None:
        stats = os.statvfs(mount_point)
        free = stats.f_bavail * stats.f_frsize
        with open(mount_point / ".filler", "wb") as fh, contextlib.suppress(OSError):
            fh.write(b"\0" * max(0, free - leave))
            fh.flush()

    try:
        yield SimpleNamespace(path=mount_point, fill=fill)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
