"""The training loop on the real digits: accuracy, control (pause / stop / stop after epoch), resume,
faults (non-finite loss, exceptions, bad device), determinism, options."""

from __future__ import annotations

import json
import math

import pytest
import torch
from training_helpers import CNN, MLP, make_project, run_all

from workbench.core.errors import UserError
from workbench.core.training.checkpoints import load_checkpoint
from workbench.core.training.control import TrainingControl
from workbench.core.training.loop import Trainer, train
from workbench.core.training.runs import Run


def batches(events):
    return [e for e in events if e.kind == "batch"]


def metrics_lines(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_digits_reaches_95_percent_and_writes_the_run_folder(digits, tmp_path):
    events = run_all(make_project(CNN, epochs=4), digits, tmp_path)
    finished = events[-1]
    assert finished.kind == "finished" and finished.status == "completed", finished.message
    epochs = [e for e in events if e.kind == "epoch"]
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert epochs[-1].val_accuracy >= 0.95
    run = tmp_path / "runs" / events[0].run_id
    lines = metrics_lines(run)
    batch_lines = [x for x in lines if x["kind"] == "batch"]
    assert len(batch_lines) == len(batches(events)) == 4 * events[0].batches_per_epoch
    assert set(batch_lines[0]) >= {"kind", "step", "epoch", "loss", "lr", "time"}
    assert [x["step"] for x in batch_lines] == list(range(1, len(batch_lines) + 1))
    epoch_line = [x for x in lines if x["kind"] == "epoch"][-1]
    assert set(epoch_line) >= {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "time"}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 4 and summary["error"] is None
    assert summary["best_val_accuracy"] == max(e.val_accuracy for e in epochs)
    assert summary["samples_per_second"] > 0
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["epochs"] == 4 and config["dataset"]["kind"] == "digits"
    assert config["model"]["layers"][0]["type"] == "Conv2d"
    best = load_checkpoint(run / "checkpoints" / "best.safetensors")
    assert best.meta["dataset"]["num_classes"] == 10 and best.meta["dataset"]["mean"] == digits.meta.mean
    assert best.meta["dataset_settings"]["kind"] == "digits"
    assert (run / "checkpoints" / "last.safetensors").is_file()
    assert not (run / ".lock").exists()
    evaluation = next(e for e in events if e.kind == "evaluation")
    assert evaluation.split == "test" and evaluation.accuracy > 0.9


def test_events_are_plain_numbers(digits, tmp_path):
    for event in run_all(make_project(epochs=1), digits, tmp_path):
        for value in (
            vars(event).values()
            if hasattr(event, "__dict__")
            else [getattr(event, f) for f in event.__slots__]
        ):
            assert not isinstance(value, torch.Tensor)


def test_pause_then_resume_continues_the_same_step_count(digits, tmp_path):
    control = TrainingControl()
    events, paused_seen = [], False
    gen = train(make_project(epochs=1), digits, control=control, runs_root=tmp_path / "runs")
    for event in gen:
        events.append(event)
        if event.kind == "batch" and event.step == 5:
            control.pause()
        if event.kind == "state" and event.state == "paused":
            paused_seen = True
            assert event.step == 5
            control.resume()
    assert paused_seen
    states = [e.state for e in events if e.kind == "state"]
    assert states == ["paused", "running"]
    steps = [e.step for e in batches(events)]
    assert steps == list(range(1, events[0].batches_per_epoch + 1))
    assert events[-1].status == "completed"


def test_pause_holds_until_resumed_from_another_thread(digits, tmp_path):
    import threading
    import time

    control = TrainingControl()
    control.pause()
    resumed_at = []

    def resume_later():
        time.sleep(0.3)
        resumed_at.append(time.perf_counter())
        control.resume()

    gen = train(make_project(epochs=1), digits, control=control, runs_root=tmp_path / "runs")
    assert next(gen).kind == "started"
    assert next(gen).state == "paused"
    thread = threading.Thread(target=resume_later, name="wb-test-resume")
    thread.start()
    assert next(gen).state == "running"  # blocked until the other thread resumed
    assert resumed_at and next(gen).step == 1
    gen.close()
    thread.join()


def test_stop_leaves_a_loadable_checkpoint(digits, tmp_path):
    control = TrainingControl()
    events = []
    for event in train(make_project(epochs=3), digits, control=control, runs_root=tmp_path / "runs"):
        events.append(event)
        if event.kind == "batch" and event.step == 7:
            control.stop()
    finished = events[-1]
    assert finished.status == "stopped" and finished.steps == 7
    assert batches(events)[-1].step == 7
    run = Run(finished.run_dir)
    assert run.status == "stopped" and run.summary["epochs_completed"] == 0
    checkpoint = load_checkpoint(run.path)  # a run folder resolves to its best, else last
    assert checkpoint.meta["step"] == 7 and checkpoint.meta["epoch_complete"] is False
    model = checkpoint.build_model()
    assert model(digits.val.x[:4]).shape == (4, 10)


def test_stop_after_epoch(digits, tmp_path):
    control = TrainingControl()
    control.stop_after_epoch()
    events = run_all(make_project(epochs=5), digits, tmp_path, control=control)
    assert events[-1].status == "stopped" and events[-1].epochs_completed == 1
    assert "after epoch 1" in events[-1].message


def test_resume_from_checkpoint_continues_the_curve_exactly(digits, tmp_path):
    project = make_project(epochs=2, scheduler="onecycle")
    straight = run_all(project, digits, tmp_path / "a")
    control = TrainingControl()
    first = []
    for event in train(project, digits, control=control, runs_root=tmp_path / "b"):
        first.append(event)
        if event.kind == "batch" and event.step == 11:  # mid-epoch 1
            control.stop()
    resumed = run_all(project, digits, tmp_path / "b", resume_from=first[-1].run_dir)
    assert resumed[0].first_step == 12 and resumed[0].first_epoch == 1
    assert resumed[-1].status == "completed" and resumed[-1].steps == straight[-1].steps
    assert next(e.step for e in batches(resumed)) == 12
    losses_straight = [e.loss for e in batches(straight)]
    losses_joined = [e.loss for e in batches(first)] + [e.loss for e in batches(resumed)]
    assert losses_joined == pytest.approx(losses_straight, rel=1e-4, abs=1e-6)
    lines = metrics_lines(tmp_path / "b" / "runs" / resumed[0].run_id)
    assert [x["step"] for x in lines if x["kind"] == "batch"] == list(range(1, straight[-1].steps + 1))
    assert [x["epoch"] for x in lines if x["kind"] == "epoch"] == [1, 2]
    config = json.loads((tmp_path / "b" / "runs" / resumed[0].run_id / "config.json").read_text())
    assert config["resumed_from"]["step"] == 11


def test_resume_a_finished_run_needs_more_epochs(digits, tmp_path):
    done = run_all(make_project(epochs=1), digits, tmp_path)
    with pytest.raises(UserError, match="set Epochs above 1"):
        run_all(make_project(epochs=1), digits, tmp_path, resume_from=done[-1].run_dir)
    more = run_all(make_project(epochs=2), digits, tmp_path, resume_from=done[-1].run_dir)
    assert more[0].first_epoch == 2 and [e.epoch for e in more if e.kind == "epoch"] == [2]


def test_same_seed_same_curve_other_seed_other_curve(digits, tmp_path):
    a = [e.loss for e in batches(run_all(make_project(CNN, epochs=1), digits, tmp_path / "a"))]
    b = [e.loss for e in batches(run_all(make_project(CNN, epochs=1), digits, tmp_path / "b"))]
    c = [e.loss for e in batches(run_all(make_project(CNN, epochs=1, seed=1), digits, tmp_path / "c"))]
    assert a == b
    assert a != c


def test_non_finite_loss_stops_with_the_step_and_advice(fresh_digits, tmp_path):
    fresh_digits.train.x[:] = float("nan")
    events = run_all(make_project(epochs=2), fresh_digits, tmp_path)
    finished = events[-1]
    assert finished.status == "failed" and finished.cause == "nan"
    assert "step 1" in finished.message and "lower the learning rate" in finished.message
    summary = json.loads((tmp_path / "runs" / events[0].run_id / "summary.json").read_text())
    assert summary["status"] == "failed" and "step 1" in summary["error"]
    lines = metrics_lines(tmp_path / "runs" / events[0].run_id)
    assert lines and lines[0]["loss"] is None  # NaN is stored as JSON null, the file stays valid


def test_a_too_high_learning_rate_is_caught(digits, tmp_path):
    linear = {
        "input_shape": [1, 8, 8],
        "layers": [
            {"type": "Flatten"},
            {"type": "Linear", "out_features": 64},
            {"type": "Linear", "out_features": 10},
        ],
    }
    events = run_all(make_project(linear, epochs=3, optimizer="sgd", lr=5.0, momentum=0.9), digits, tmp_path)
    finished = events[-1]
    step = batches(events)[-1].step + 1
    assert finished.status == "failed" and f"at step {step} " in finished.message
    assert "lower the learning rate (now 5)" in finished.message
    checkpoint = load_checkpoint(finished.run_dir)  # the weights before the bad step were kept
    assert all(torch.isfinite(t).all() for t in checkpoint.state_dict.values())


def test_an_exception_marks_the_run_failed_with_the_traceback(digits, tmp_path, monkeypatch):
    original = Trainer._loss

    def broken(self, out, yb):
        if self.step == 3:
            raise RuntimeError("boom in the loss")
        return original(self, out, yb)

    monkeypatch.setattr(Trainer, "_loss", broken)
    events = run_all(make_project(epochs=1), digits, tmp_path)
    finished = events[-1]
    assert finished.status == "failed" and finished.cause == "bug"
    assert "boom in the loss" in finished.message and "Traceback" in finished.error
    run = Run(finished.run_dir)
    assert run.status == "failed" and "RuntimeError: boom in the loss" in run.summary["error"]


def test_a_device_that_does_not_exist_is_refused_before_writing(digits, tmp_path):
    bad = "cuda:7" if torch.cuda.device_count() < 8 else "cuda:99"
    with pytest.raises(UserError, match=r"cuda:|CUDA"):
        run_all(make_project(device=bad), digits, tmp_path)
    with pytest.raises(UserError, match="unknown device"):
        run_all(make_project(device="tpu"), digits, tmp_path)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "lr": 0.05},
        {"optimizer": "adamw", "weight_decay": 0.01},
        {"optimizer": "rmsprop", "lr": 1e-3, "momentum": 0.0},
        {"scheduler": "cosine", "label_smoothing": 0.1, "grad_clip": 1.0},
        {"loss": "mse", "lr": 1e-2},
    ],
)
def test_options_train(digits, tmp_path, options):
    events = run_all(make_project(epochs=2, **options), digits, tmp_path)
    epochs = [e for e in events if e.kind == "epoch"]
    assert events[-1].status == "completed", events[-1].message
    assert epochs[-1].train_loss < epochs[0].train_loss or epochs[-1].val_accuracy > 0.5


def test_schedulers_move_the_learning_rate(digits, tmp_path):
    step = run_all(make_project(epochs=3, scheduler="step", step_size=1, gamma=0.5), digits, tmp_path / "s")
    assert [e.lr for e in step if e.kind == "epoch"] == pytest.approx([3e-3, 1.5e-3, 0.75e-3])
    cycle = [
        e.lr for e in batches(run_all(make_project(epochs=2, scheduler="onecycle"), digits, tmp_path / "o"))
    ]
    peak = cycle.index(max(cycle))
    assert 0 < peak < len(cycle) - 1 and cycle[-1] < cycle[0]
    plateau = run_all(
        make_project(
            epochs=4,
            scheduler="plateau",
            plateau_patience=0,
            gamma=0.1,
            lr=1e-6,
            optimizer="sgd",
            momentum=0.0,
        ),
        digits,
        tmp_path / "p",
    )
    lrs = [e.lr for e in plateau if e.kind == "epoch"]
    assert lrs[-1] < lrs[0]


def test_early_stopping(digits, tmp_path):
    events = run_all(
        make_project(
            epochs=10, lr=1e-9, early_stopping=True, early_stopping_metric="val_accuracy", patience=2
        ),
        digits,
        tmp_path,
    )
    assert events[-1].status == "completed" and events[-1].epochs_completed == 3
    assert "early stopping" in events[-1].message


def test_streamed_split_trains_like_the_in_memory_one(digits, tmp_path):
    import copy

    from torch.utils.data import TensorDataset

    streamed = copy.copy(digits)
    for name in ("train", "val", "test"):
        split = copy.copy(digits.split(name))
        split.dataset = TensorDataset(split.x, split.y)
        split.x = split.y = None
        setattr(streamed, name, split)
    a = [e.loss for e in batches(run_all(make_project(epochs=1), digits, tmp_path / "a"))]
    b = [e.loss for e in batches(run_all(make_project(epochs=1), streamed, tmp_path / "b"))]
    assert b == pytest.approx(a, rel=1e-5)


def test_regression_targets_train_with_mse(digits, tmp_path):
    import copy

    data = copy.copy(digits)
    data.meta = copy.copy(digits.meta)
    data.meta.task, data.meta.num_classes = "regression", 0
    for name in ("train", "val", "test"):
        split = copy.copy(digits.split(name))
        split.y = split.x.flatten(1).mean(1)  # predict the mean brightness
        setattr(data, name, split)
    model = dict(MLP, layers=MLP["layers"][:-1] + [{"type": "Linear", "out_features": 1}])
    events = run_all(make_project(model, epochs=3, loss="mse"), data, tmp_path)
    epochs = [e for e in events if e.kind == "epoch"]
    assert events[-1].status == "completed" and epochs[0].train_accuracy is None
    assert epochs[-1].val_loss < 0.05 and math.isfinite(epochs[-1].val_loss)


def test_fp16_on_the_cpu_falls_back_with_a_note(digits, tmp_path):
    events = run_all(make_project(epochs=1, precision="fp16"), digits, tmp_path)
    assert events[0].precision == "fp32" and "CUDA" in events[0].notes[0]
    assert events[-1].status == "completed"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_training_reports_memory(digits, tmp_path, precision):
    events = run_all(make_project(CNN, epochs=3, device="cuda", precision=precision), digits, tmp_path)
    assert events[-1].status == "completed", events[-1].message
    batch = batches(events)[-1]
    assert batch.cuda_allocated > 0 and batch.cuda_peak >= batch.cuda_allocated
    assert [e for e in events if e.kind == "epoch"][-1].val_accuracy > 0.9


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_out_of_memory_suggests_a_smaller_batch(digits, tmp_path, monkeypatch):
    original = Trainer._loss

    def oom(self, out, yb):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(Trainer, "_loss", oom)
    events = run_all(make_project(epochs=1, device="cuda", batch_size=64), digits, tmp_path)
    assert events[-1].status == "failed" and events[-1].cause == "oom"
    assert "batch size of 32" in events[-1].message
    monkeypatch.setattr(Trainer, "_loss", original)
