"""DistributedDataParallel: the torchrun environment, backend choice, the sampler, and real runs (gloo on the CPU:
one rank in-process, two ranks under torchrun against a single-process run)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from training_helpers import make_project

from workbench.core.errors import UserError
from workbench.core.paths import SAMPLE_PROJECT
from workbench.core.training.control import TrainingControl
from workbench.core.training.distributed import (
    DistEnv,
    DistributedTrainer,
    plan_device,
    process_group,
    train_distributed,
)
from workbench.core.training.loop import Trainer
from workbench.core.training.runs import list_runs

TORCHRUN_ENV = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "GROUP_RANK",
    "ROLE_RANK",
    "TORCHELASTIC_RUN_ID",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(rank=0, world=2, local_rank=None, local_world=None) -> DistEnv:
    return DistEnv(
        rank, world, rank if local_rank is None else local_rank, world if local_world is None else local_world
    )


# -- the torchrun environment and the backend
# --------------------------------------------------------------------
def test_env_is_none_outside_torchrun():
    assert DistEnv.from_environ({}) is None
    assert DistEnv.from_environ({"RANK": "0"}) is None


def test_env_reads_torchrun_variables():
    env = DistEnv.from_environ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert env == DistEnv(3, 4, 1, 2) and not env.is_main


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, "not whole numbers"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "inconsistent"),
    ],
)
def test_bad_env_is_a_user_error(environ, message):
    with pytest.raises(UserError, match=message):
        DistEnv.from_environ(environ)


def test_plan_device_cpu_is_gloo_and_gpus_are_nccl_per_local_rank():
    assert plan_device("cpu", _env(), cuda_available=True, cuda_count=8) == ("gloo", "cpu")
    assert plan_device("auto", _env(), cuda_available=False, cuda_count=0) == ("gloo", "cpu")
    assert plan_device("auto", _env(1, 2), cuda_available=True, cuda_count=2) == ("nccl", "cuda:1")
    assert plan_device("cuda", _env(5, 8, 1, 4), cuda_available=True, cuda_count=4) == ("nccl", "cuda:1")


@pytest.mark.parametrize(
    "device, available, count, message",
    [
        ("cuda", False, 0, "no CUDA GPU"),
        ("auto", True, 1, "started 2 processes on this machine but it has 1 GPU"),
        ("cuda:1", True, 2, "GPU of its local rank"),
        ("tpu", True, 2, "unknown device"),
    ],
)
def test_plan_device_errors(device, available, count, message):
    with pytest.raises(UserError, match=message) as info:
        plan_device(device, _env(), cuda_available=available, cuda_count=count)
    if "GPU(s)" in str(info.value):
        assert "--nproc-per-node 1" in str(info.value) and "--device cpu" in str(info.value)


# -- the sampler
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("world", [2, 3])
def test_ranks_take_the_single_process_batches_between_them(digits, world):
    """DistributedSampler with set_epoch over the trainer's permutation: at every step the ranks' batches
    together are exactly the samples one process would take in that step with the same global batch."""
    project = make_project(batch_size=12 * world)
    single = Trainer(
        project,
        digits,
        control=None,
        runs_root=None,
        run_dir=None,
        resume_from=None,
        name=None,
        project_path=None,
    )
    ranks = [
        DistributedTrainer(project, digits, env=_env(r, world), backend="gloo", device="cpu")
        for r in range(world)
    ]
    n = len(digits.train)
    for epoch in (1, 2):
        order = single._epoch_order(epoch)
        shards = [t._epoch_order(epoch) for t in ranks]
        assert all(len(s) == -(-n // world) for s in shards)  # padded: equal steps on every rank
        assert set(torch.cat(shards).tolist()) == set(range(n))  # every sample (plus padding)
        for step in range(n // (12 * world)):
            together = sorted(torch.cat([s[step * 12 : (step + 1) * 12] for s in shards]).tolist())
            assert together == sorted(order[step * 12 * world : (step + 1) * 12 * world].tolist())
    assert not torch.equal(ranks[0]._epoch_order(1), ranks[0]._epoch_order(2))  # set_epoch reshuffles


# -- a real process group, one rank in this process
# ------------------------------------------------------------------
@pytest.fixture
def one_rank_group(monkeypatch):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    env = DistEnv(0, 1, 0, 1)
    with process_group(env, "gloo", "cpu", timeout_s=60):
        yield env
    assert not torch.distributed.is_initialized()  # left on the way out


def test_one_rank_trains_and_a_local_stop_reaches_the_loop(digits, one_rank_group, tmp_path):
    project = make_project(epochs=3, batch_size=64)
    control = TrainingControl()
    events = []
    for event in train_distributed(
        project,
        digits,
        env=one_rank_group,
        backend="gloo",
        device="cpu",
        control=control,
        runs_root=tmp_path / "runs",
    ):
        events.append(event)
        if event.kind == "batch" and event.step == 25:
            control.stop()  # what Ctrl-C does on one rank; it is agreed on at the next step
    finished = events[-1]
    assert finished.status == "stopped" and finished.steps == 26
    assert any("DistributedDataParallel over 1 processes" in n for n in events[0].notes)
    run = list_runs(tmp_path / "runs")[0]
    assert run.config["distributed"] == {
        "world_size": 1,
        "backend": "gloo",
        "nodes": 1,
        "batch_per_process": 64,
        "global_batch": 64,
    }
    assert run.summary["status"] == "stopped" and run.checkpoint("last") is not None


def test_batch_smaller_than_the_ranks_is_refused(digits, tmp_path):
    trainer = DistributedTrainer(
        make_project(batch_size=1), digits, env=_env(0, 2), backend="gloo", device="cpu", runs_root=tmp_path
    )
    trainer.notes = []
    with pytest.raises(UserError, match="use --batch-size 2 or more"):
        trainer._train_batches()


# -- two ranks under torchrun
# ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_torchrun_two_cpu_ranks_match_one_process(tmp_path, digits):
    """The acceptance run: 2 gloo ranks, 2 epochs, one run folder, accuracy within 2 points of one process."""
    from workbench.cli import main

    ddp_dir, single_dir = tmp_path / "ddp", tmp_path / "single"
    for folder in (ddp_dir, single_dir):
        folder.mkdir()
        shutil.copy(SAMPLE_PROJECT, folder / "digits.wbproj")
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
    env["PYTHONWARNINGS"] = "ignore::UserWarning"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "workbench",
        "train",
        "digits.wbproj",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, cwd=ddp_dir, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        main(
            [
                "train",
                str(single_dir / "digits.wbproj"),
                "--epochs",
                "2",
                "--batch-size",
                "64",
                "--device",
                "cpu",
            ]
        )
        == 0
    )

    runs = list_runs(ddp_dir / "runs")
    assert len(runs) == 1 and sorted(p.name for p in (ddp_dir / "runs").iterdir()) == [runs[0].id]
    ddp, single = runs[0], list_runs(single_dir / "runs")[0]
    assert ddp.summary["status"] == "completed" and ddp.config["distributed"]["world_size"] == 2
    assert ddp.config["distributed"]["global_batch"] == 64
    assert proc.stderr.count("epoch 2 ") == 1  # only rank 0 reports
    ddp_epochs, single_epochs = ddp.metrics().epochs, single.metrics().epochs
    assert len(ddp_epochs) == 2 and len(ddp.metrics().steps) == len(single.metrics().steps)
    assert abs(ddp_epochs[-1]["val_accuracy"] - single_epochs[-1]["val_accuracy"]) <= 0.02
    assert ddp_epochs[-1]["val_accuracy"] > 0.85
    summary = json.loads((ddp.path / "summary.json").read_text())
    assert summary["epochs_completed"] == 2 and summary["samples_per_second"] > 0
