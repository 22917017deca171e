"""Exact resume (weights equal to an uninterrupted run's, with dropout, shuffling and augmentation on) and forks
(a new run from a checkpoint of an old one with changed settings) on the real digits."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from training_helpers import make_project, run_all

from workbench.core.data.augment import ImageAugment
from workbench.core.errors import UserError
from workbench.core.training.checkpoints import load_checkpoint
from workbench.core.training.control import TrainingControl
from workbench.core.training.fork import fork_points, resolve_fork
from workbench.core.training.loop import train
from workbench.core.training.runs import Run

DROPOUT_MLP = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 48},
        {"type": "ReLU"},
        {"type": "Dropout", "p": 0.3},
        {"type": "Linear", "out_features": 10},
    ],
}


def _stopped_at(project, data, root, step):
    control = TrainingControl()
    events = []
    for event in train(project, data, control=control, runs_root=root):
        events.append(event)
        if event.kind == "batch" and event.step == step:
            control.stop()
    assert events[-1].status == "stopped"
    return Path(events[-1].run_dir)


def _weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.safetensors").state_dict


@pytest.fixture
def augmented(digits):
    bundle = copy.copy(digits)
    bundle.augment = ImageAugment(flip=True, crop=1)  # draws from the global torch RNG every batch
    return bundle


def _streamed(bundle):
    """The same data through a DataLoader (a data set too large for memory takes this path)."""
    from torch.utils.data import TensorDataset

    streamed = copy.copy(bundle)
    for name in ("train", "val", "test"):
        split = copy.copy(bundle.split(name))
        split.dataset = TensorDataset(split.x, split.y)
        split.x = split.y = None
        setattr(streamed, name, split)
    return streamed


@pytest.mark.parametrize("where", ["memory", "streamed"])
def test_stopped_mid_epoch_then_resumed_equals_an_uninterrupted_run(augmented, tmp_path, where):
    if where == "streamed":
        augmented = _streamed(augmented)
    project = make_project(DROPOUT_MLP, epochs=2, optimizer="sgd", lr=0.05, scheduler="onecycle")
    straight = run_all(project, augmented, tmp_path / "a")
    assert straight[-1].status == "completed"
    parent = _stopped_at(project, augmented, tmp_path / "b" / "runs", 13)  # mid-epoch 1
    torch.manual_seed(12345)  # whatever happened in between in this process
    resumed = run_all(project, augmented, tmp_path / "b", resume_from=parent)
    assert resumed[-1].status == "completed" and resumed[0].first_step == 14
    a = _weights(Path(straight[-1].run_dir))
    b = _weights(Path(resumed[-1].run_dir))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the parent is marked and linked; the child records its parent relative to the runs folder
    assert Run(parent).status == "resumed" and Run(parent).resumed_by == resumed[0].run_id
    config = json.loads((Path(resumed[-1].run_dir) / "config.json").read_text())
    assert config["lineage"] == "resume" and config["parent"] == parent.name
    assert config["fork_step"] == 13 and config["resumed_from"]["run"] == parent.name


def test_resume_without_the_random_state_drifts(augmented, tmp_path):
    """The test above can fail: the same resume with the saved random state thrown away ends elsewhere."""
    from workbench.core.training import loop

    project = make_project(DROPOUT_MLP, epochs=1, optimizer="sgd", lr=0.05)
    straight = run_all(project, augmented, tmp_path / "a")
    parent = _stopped_at(project, augmented, tmp_path / "b" / "runs", 13)
    original = loop.Trainer._read_resume

    def forget_rng(self):
        checkpoint = original(self)
        checkpoint.meta.pop("rng", None)
        return checkpoint

    loop.Trainer._read_resume = forget_rng
    try:
        resumed = run_all(project, augmented, tmp_path / "b", resume_from=parent)
    finally:
        loop.Trainer._read_resume = original
    a, b = _weights(Path(straight[-1].run_dir)), _weights(Path(resumed[-1].run_dir))
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_fork_records_its_parent_starts_at_its_step_and_trains_with_the_new_lr(digits, tmp_path):
    root = tmp_path / "runs"
    parent_events = run_all(make_project(epochs=2, lr=3e-3), digits, tmp_path)
    parent = Path(parent_events[-1].run_dir)
    before = {p.name: p.stat().st_mtime_ns for p in parent.rglob("*") if p.is_file()}
    labels = [p.label for p in fork_points(parent)]
    assert labels[:2] == ["last", "best"]
    best = next(p for p in fork_points(parent) if p.label == "best")
    checkpoint = resolve_fork(f"{parent.name}:best", root)
    forked = run_all(make_project(epochs=4, lr=1e-4), digits, tmp_path, fork_from=checkpoint)
    assert forked[-1].status == "completed", forked[-1].message
    child = Path(forked[-1].run_dir)
    config = json.loads((child / "config.json").read_text())
    assert config["parent"] == parent.name and config["lineage"] == "fork"
    assert config["parent_checkpoint"] == "best"
    assert config["fork_step"] == best.step and config["fork_epoch"] == best.epoch
    assert config["training"]["lr"] == 1e-4
    lines = [json.loads(x) for x in (child / "metrics.jsonl").read_text().splitlines()]
    batch = [x for x in lines if x["kind"] == "batch"]
    assert batch[0]["step"] == best.step + 1  # starts after the fork point, nothing copied
    assert {x["lr"] for x in batch} == {1e-4}  # the new learning rate, not the parent's
    assert [x["epoch"] for x in lines if x["kind"] == "epoch"] == list(range(best.epoch + 1, 5))
    # the parent is untouched and still offers what it offered
    after = {p.name: p.stat().st_mtime_ns for p in parent.rglob("*") if p.is_file()}
    assert after == before and Run(parent).status == "completed"


def test_fork_refuses_a_missing_checkpoint_with_one_line(digits, tmp_path):
    parent = Path(run_all(make_project(epochs=1, save_best=False), digits, tmp_path)[-1].run_dir)
    with pytest.raises(UserError, match=r"has no 'best' checkpoint \(it has: last\)"):
        resolve_fork(f"{parent}:best")
    with pytest.raises(UserError, match="not one of last, best or epoch-N"):
        resolve_fork(f"{parent}:newest")
    with pytest.raises(UserError, match="no run folder"):
        resolve_fork("20990101-000000-000000", tmp_path / "runs")


def test_cli_fork_with_a_new_lr_and_a_missing_checkpoint(tmp_path, capsys):
    import shutil

    from workbench.cli import main
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.core.training.runs import list_runs

    project = tmp_path / "digits.wbproj"
    shutil.copy(SAMPLE_PROJECT, project)
    common = ["--batch-size", "128", "--device", "cpu"]
    assert main(["train", str(project), "--epochs", "1", *common]) == 0
    (parent,) = list_runs(tmp_path / "runs")
    capsys.readouterr()
    assert main(["train", str(project), "--fork", f"{parent.id}:epoch-1", *common]) == 2
    err = capsys.readouterr().err
    assert f"run {parent.id} has no 'epoch-1' checkpoint" in err and "Traceback" not in err
    assert len(list_runs(tmp_path / "runs")) == 1  # nothing written
    assert (
        main(
            ["train", str(project), "--fork", f"{parent.id}:best", "--epochs", "2", "--lr", "0.0005", *common]
        )
        == 0
    )
    child = list_runs(tmp_path / "runs")[1]
    assert child.config["parent"] == parent.id and child.config["parent_checkpoint"] == "best"
    assert (
        child.config["training"]["lr"] == 0.0005 and child.metrics().steps[0] == child.config["fork_step"] + 1
    )
    assert set(child.metrics().lr) == {0.0005} and parent.status == "completed"


def test_fork_from_an_epoch_checkpoint_with_the_same_settings_retraces_the_parent(augmented, tmp_path):
    """epoch-N checkpoints carry the optimizer, scheduler and random state: forking epoch-1 of a 2-epoch run
    unchanged ends on the parent's weights exactly; with another learning rate it ends elsewhere."""
    project = make_project(
        DROPOUT_MLP, epochs=2, optimizer="sgd", lr=0.05, scheduler="cosine", keep_epoch_checkpoints=True
    )
    parent = Path(run_all(project, augmented, tmp_path)[-1].run_dir)
    assert [p.label for p in fork_points(parent)] == ["last", "best", "epoch-1", "epoch-2"]
    same = run_all(project, augmented, tmp_path, fork_from=resolve_fork(f"{parent}:epoch-1"))
    assert same[0].first_step == fork_points(parent)[2].step + 1
    a, b = _weights(parent), _weights(Path(same[-1].run_dir))
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = make_project(DROPOUT_MLP, epochs=2, optimizer="sgd", lr=0.01, scheduler="cosine")
    changed = run_all(other, augmented, tmp_path, fork_from=resolve_fork(f"{parent}:epoch-1"))
    assert "learning-rate schedule starts at the fork" in " ".join(changed[0].notes)
    c = _weights(Path(changed[-1].run_dir))
    assert not all(torch.equal(a[k], c[k]) for k in a)
