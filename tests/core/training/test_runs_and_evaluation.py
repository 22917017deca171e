"""Run folders (ids, listing, rename, delete, interrupted runs), optimizer state, evaluation on demand."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from training_helpers import make_project, run_all

from workbench.core.errors import UserError
from workbench.core.training.checkpoints import load_training_state, save_training_state
from workbench.core.training.evaluation import evaluate_run, saved_evaluation
from workbench.core.training.runs import Run, create_run_dir, list_runs, new_run_id


def test_run_ids_sort_by_time_and_never_collide(tmp_path):
    made = [create_run_dir(tmp_path) for _ in range(20)]
    assert len({p.name for p in made}) == 20
    assert [p.name for p in made] == sorted(p.name for p in made)
    assert new_run_id(tmp_path) > made[-1].name


def test_run_dir_must_be_new_or_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(UserError, match="not empty"):
        create_run_dir(tmp_path, tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep me"


def test_list_rename_delete_and_interrupted(digits, tmp_path):
    first = run_all(make_project(epochs=1), digits, tmp_path)[-1]
    second = run_all(make_project(epochs=1), digits, tmp_path, name="wider")[-1]
    runs = list_runs(tmp_path / "runs")
    assert [r.path for r in runs] == sorted(
        [type(runs[0].path)(first.run_dir), type(runs[0].path)(second.run_dir)]
    )
    assert runs[1].name == "wider" and runs[0].status == "completed"
    metrics = runs[0].metrics()
    assert metrics.steps == list(range(1, len(metrics.steps) + 1)) and len(metrics.epochs) == 1
    runs[0].rename("baseline")
    assert Run(first.run_dir).name == "baseline"
    with pytest.raises(UserError):
        runs[0].rename("  ")
    # a run killed mid-way: no summary, a lock from a process that is gone, a half-written last line
    crashed = Run(second.run_dir)
    (crashed.path / "summary.json").unlink()
    (crashed.path / ".lock").write_text("999999999@" + __import__("socket").gethostname())
    with open(crashed.path / "metrics.jsonl", "a") as fh:
        fh.write('{"kind": "batch", "step": 99')
    assert crashed.status == "interrupted"
    assert len(crashed.metrics().steps) == len(metrics.steps)
    runs[0].delete()
    assert [r.path for r in list_runs(tmp_path / "runs")] == [crashed.path]


def test_optimizer_state_round_trip(tmp_path):
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(8, 4)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2)
    save_training_state(tmp_path / "o.safetensors", optimizer, scheduler.state_dict())
    state, sched = load_training_state(tmp_path / "o.safetensors")
    fresh = torch.optim.Adam(torch.nn.Linear(4, 3).parameters(), lr=0.5)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == 0.01
    assert torch.equal(
        fresh.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert sched["step_size"] == 2
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(UserError, match="optimizer state"):
        load_training_state(tmp_path / "bad.safetensors")


def test_evaluation_confusion_matrix_and_cells(digits, tmp_path):
    from sklearn.metrics import f1_score

    run_dir = run_all(make_project(epochs=3), digits, tmp_path)[-1].run_dir
    result = evaluate_run(run_dir, digits, "val", device="cpu")
    n = len(digits.val)
    assert len(result.confusion) == 10 and sum(map(sum, result.confusion)) == n
    assert result.y_true == digits.val.y.tolist()
    assert result.accuracy == pytest.approx(sum(result.confusion[i][i] for i in range(10)) / n)
    assert result.accuracy > 0.85
    assert result.f1 == pytest.approx(f1_score(result.y_true, result.y_pred, average=None).tolist())
    for t in range(10):
        for p in range(10):
            cell = result.cell(t, p)
            assert len(cell) == result.confusion[t][p]
            assert all(result.y_true[i] == t and result.y_pred[i] == p for i in cell)
    wrong = result.misclassified()
    assert len(wrong) == n - sum(result.confusion[i][i] for i in range(10))
    assert all(result.confidence[a] >= result.confidence[b] for a, b in itertools.pairwise(wrong))
    assert digits.sample_image("val", wrong[0]).shape == (8, 8)
    again = saved_evaluation(run_dir, "val")
    assert again == result
    json.loads((tmp_path / "runs" / Run(run_dir).id / "evaluation_val.json").read_text())


def test_evaluation_refuses_mismatched_data(digits, tmp_path):
    import copy

    run_dir = run_all(make_project(epochs=1), digits, tmp_path)[-1].run_dir
    other = copy.copy(digits)
    other.meta = copy.copy(digits.meta)
    other.meta.input_shape = (3, 32, 32)
    with pytest.raises(UserError, match="trained on inputs of shape"):
        evaluate_run(run_dir, other, "val")


def test_a_checkpoint_pair_is_one_unit_when_the_second_file_fails(tmp_path, monkeypatch):
    """The weights and the optimizer state are written first and renamed together: a save that dies while it
    writes the optimizer state (the trainer process killed, a full disk) leaves the previous pair whole, so the
    run still resumes. (The weights used to be renamed before the state was written: new weights beside old
    state, a pair that resume refuses.)"""
    import safetensors.torch

    from workbench.core.model.spec import ModelSpec
    from workbench.core.training.checkpoints import checkpoint_writer, load_checkpoint, optim_path

    spec = ModelSpec.model_validate({"input_shape": [4], "layers": [{"type": "Linear", "out_features": 2}]})
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters())
    path = tmp_path / "checkpoints" / "last.safetensors"

    def step_and_save(epoch):
        model(torch.randn(8, 4)).sum().backward()
        optimizer.step()
        checkpoint_writer(path, model, spec, {"epoch": epoch}, optimizer, {"last_epoch": epoch})()

    step_and_save(1)
    real_save = safetensors.torch.save_file

    def dies_on_the_state(tensors, filename, metadata=None):
        if ".optim." in filename:
            raise OSError(28, "No space left on device")
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", dies_on_the_state)
    with pytest.raises(UserError, match="No space left"):
        step_and_save(2)
    checkpoint = load_checkpoint(path)
    assert checkpoint.meta["epoch"] == 1
    load_training_state(optim_path(path), checkpoint.meta["state_id"])  # the pair still belongs together
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.optim.safetensors", "last.safetensors"]
