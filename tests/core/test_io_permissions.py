"""Files written through workbench.core.io follow the umask like any other file (mkstemp alone gives 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from workbench.core.io import atomic_replace_with, atomic_write_json, atomic_write_text


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    before = os.umask(0o022)
    os.umask(before)
    yield set_mask
    os.umask(before)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    atomic_write_text(tmp_path / "config.json", "{}")
    atomic_write_json(tmp_path / "summary.json", {"status": "completed"})
    atomic_replace_with(tmp_path / "model.onnx", lambda tmp: Path(tmp).write_bytes(b"x"))
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what a plain open() gives under this umask
    assert _mode(plain) == 0o666 & ~mask
    for name in ("config.json", "summary.json", "model.onnx"):
        assert _mode(tmp_path / name) == 0o666 & ~mask, name


def test_a_run_folder_is_readable_by_the_group(tmp_path, umask):
    """config.json, summary.json and the checkpoints of a real run: 0644 under umask 022, like metrics.jsonl."""
    from workbench.core.data import DatasetSettings, load_dataset
    from workbench.core.model.spec import ModelSpec
    from workbench.core.project import Project
    from workbench.core.training.config import TrainingConfig
    from workbench.core.training.loop import train

    umask(0o022)
    project = Project(
        model=ModelSpec(
            input_shape=[1, 8, 8], layers=[{"type": "Flatten"}, {"type": "Linear", "out_features": 10}]
        ),
        training=TrainingConfig(epochs=1, batch_size=64, device="cpu"),
    )
    events = list(train(project, load_dataset(DatasetSettings()), runs_root=tmp_path / "runs"))
    run = tmp_path / "runs" / os.path.basename(events[-1].run_dir)
    files = [
        run / "config.json",
        run / "summary.json",
        run / "metrics.jsonl",
        *sorted((run / "checkpoints").glob("*.safetensors")),
    ]
    assert len(files) >= 5
    for path in files:
        assert _mode(path) == 0o644, f"{path.name} is {oct(_mode(path))}"
