"""DistributedDataParallel under torchrun: `torchrun --nproc-per-node N -m workbench train PROJECT`.

torchrun starts N copies of `workbench train` and tells each its place through the environment (RANK,
WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Here:

- `DistEnv.from_environ()` reads that place (None outside torchrun);
- `plan_device()` picks the backend: gloo on the CPU, nccl on CUDA with one GPU per local rank (cuda:LOCAL_RANK);
  more processes per node than GPUs is a clear error, not a hang;
- `process_group()` joins the group and always leaves it (also on errors);
- `DistributedTrainer` is the ordinary training loop (loop.Trainer) with the model wrapped in
  DistributedDataParallel and these rules:
    * the global batch is the project's batch size, split across the ranks (64 over 2 ranks = 2 x 32); the
      learning rate is unchanged, so N ranks train like one process with the same batch (same samples per step);
    * each epoch's sample order is torch's DistributedSampler (shuffle, seed, `set_epoch`): one permutation
      per epoch, padded to a multiple of the ranks, rank r taking every N-th sample from r (the in-memory path
      and the streamed DataLoader path use the same indices);
    * each batch loss, the per-epoch sums (loss, correct, samples) and validation are all-reduced, so rank 0's
      figures are global and every rank takes the same decisions (NaN, early stopping, best checkpoint);
    * a stop requested on any rank (Ctrl-C, SIGTERM) reaches all ranks at the same batch boundary;
    * only rank 0 writes the run folder, metrics and checkpoints; every rank learns its path.

Imports torch at module level: only `workbench train` (under torchrun) and tests import it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from workbench.core.data.dataset import Split
from workbench.core.errors import UserError
from workbench.core.training.batches import SplitBatches
from workbench.core.training.control import TrainingControl
from workbench.core.training.loop import Trainer

ORDER_SEED_STRIDE = (
    100_003  # Trainer._epoch_order seeds epoch e with seed * 100_003 + e; the sampler matches it
)


@dataclass(frozen=True)
class DistEnv:
    """This process's place in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> DistEnv | None:
        """The torchrun environment, or None when not started by torchrun (no RANK / WORLD_SIZE)."""
        env = os.environ if environ is None else environ
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return None
        try:
            rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
            local_rank = int(env.get("LOCAL_RANK", rank))
            local_world = int(env.get("LOCAL_WORLD_SIZE", world))
        except ValueError:
            raise UserError(
                f"RANK={env.get('RANK')!r} / WORLD_SIZE={env.get('WORLD_SIZE')!r} are not whole "
                "numbers; start distributed training with torchrun"
            ) from None
        if world < 1 or not 0 <= rank < world or not 0 <= local_rank < max(local_world, 1):
            raise UserError(
                f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}, "
                f"LOCAL_RANK={local_rank}, LOCAL_WORLD_SIZE={local_world}"
            )
        return cls(rank, world, local_rank, local_world)


def plan_device(
    device: str | None, env: DistEnv, cuda_available: bool | None = None, cuda_count: int | None = None
) -> tuple[str, str]:
    """(backend, device) for this rank: ("gloo", "cpu") or ("nccl", "cuda:<local rank>")."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_count is None:
        cuda_count = torch.cuda.device_count() if cuda_available else 0
    name = (device or "auto").strip().lower()
    if name == "cpu" or (name == "auto" and not cuda_available):
        return "gloo", "cpu"
    if re.fullmatch(r"cuda:\d+", name):
        raise UserError(
            f"--device {name}: under torchrun each process uses the GPU of its local rank "
            "(cuda:LOCAL_RANK); use --device cuda (or auto) and CUDA_VISIBLE_DEVICES to choose the GPUs"
        )
    if name not in ("auto", "cuda"):
        raise UserError(f"unknown device '{name}'; use auto, cpu or cuda under torchrun")
    if not cuda_available:
        raise UserError(
            f"device {name} is not available: this machine has no CUDA GPU that torch can use "
            f"(torch {torch.__version__}); use --device cpu to train with the gloo backend"
        )
    if max(env.local_world_size, env.local_rank + 1) > cuda_count:
        raise UserError(
            f"torchrun started {env.local_world_size} processes on this machine but it has "
            f"{cuda_count} GPU(s), and nccl needs one GPU per process; use --nproc-per-node "
            f"{cuda_count} (or fewer), or --device cpu to train on the CPU with gloo"
        )
    return "nccl", f"cuda:{env.local_rank}"


@contextlib.contextmanager
def process_group(env: DistEnv, backend: str, device: str, timeout_s: float = 1800.0) -> Iterator[None]:
    """Join the torchrun process group (env:// rendezvous) and destroy it on the way out, also on errors."""
    if not dist.is_available():
        raise UserError(
            "this PyTorch build has no torch.distributed; install a build with distributed support"
        )
    kwargs: dict[str, Any] = {}
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
        kwargs["device_id"] = torch.device(device)
    try:
        dist.init_process_group(
            backend, rank=env.rank, world_size=env.world_size, timeout=timedelta(seconds=timeout_s), **kwargs
        )
    except (RuntimeError, ValueError) as exc:
        raise UserError(
            f"cannot join the torchrun process group ({backend}, rank {env.rank} of "
            f"{env.world_size}): {exc}; start the job with torchrun (see docs/headless.md)"
        ) from exc
    try:
        yield
        if dist.is_initialized():  # every rank done before any tears the group down: a rank that left while
            dist.barrier()  # another still used the group aborted at exit ("terminate called ...")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def shard_split(split: Split, rank: int, world_size: int) -> Split:
    """Every `world_size`-th sample from `rank` (evaluation: no padding, so the reduced sums are exact)."""
    if split.x is not None and split.y is not None:  # in memory
        from torch.utils.data import TensorDataset

        x, y = split.x[rank::world_size], split.y[rank::world_size]
        return Split(split.name, TensorDataset(x, y), x=x, y=y)
    from torch.utils.data import Subset

    return Split(split.name, Subset(split.dataset, range(rank, len(split), world_size)))


class ShardBatches(SplitBatches):
    """One rank's training batches: its shard holds ceil(N / world) samples (DistributedSampler pads), so every
    rank takes the same number of steps; the batch count follows SplitBatches's rule for the shard's size."""

    def __init__(
        self, split: Split, device: torch.device, batch_size: int, num_workers: int, augment, shard_size: int
    ):
        super().__init__(split, device, batch_size, num_workers, augment=augment)
        full, rest = divmod(shard_size, batch_size)
        self.batches = full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)


class DistributedTrainer(Trainer):
    """Trainer for one rank of a torchrun job (see the module docstring for the rules)."""

    def __init__(
        self,
        project,
        data,
        *,
        env: DistEnv,
        backend: str,
        device: str,
        control: TrainingControl | None = None,
        runs_root=None,
        run_dir=None,
        resume_from=None,
        name=None,
        project_path=None,
        fork_from=None,
    ):
        self.local_control = control or TrainingControl()  # what Ctrl-C / SIGTERM set on this rank
        super().__init__(
            project,
            data,
            control=TrainingControl(),
            runs_root=runs_root,
            run_dir=run_dir,
            resume_from=resume_from,
            name=name,
            project_path=project_path,
            fork_from=fork_from,
            rank=env.rank,
            world_size=env.world_size,
        )
        self.env, self.backend, self.device_name = env, backend, device

    # -- set-up
    # ----------------------------------------------------------------------------------------------------
    def _resolve_device(self) -> torch.device:
        return torch.device(self.device_name)

    def _train_batches(self) -> SplitBatches:
        cfg, world = self.cfg, self.world_size
        per_rank = cfg.batch_size // world
        if per_rank < 1:
            raise UserError(
                f"batch size {cfg.batch_size} is smaller than the {world} processes: the global batch "
                f"is split across them; use --batch-size {world} or more"
            )
        self.per_rank_batch = per_rank
        self.notes.append(
            f"DistributedDataParallel over {world} processes ({self.backend}): global batch "
            f"{per_rank * world} = {world} x {per_rank} per process"
        )
        if cfg.batch_size % world:
            self.notes.append(
                f"batch size {cfg.batch_size} does not split evenly over {world} processes; the "
                f"global batch is {per_rank * world}"
            )
        shard = math.ceil(len(self.data.train) / world)
        step_batch = per_rank * cfg.grad_accumulation_steps  # micro-batches of per_rank (step.py)
        return ShardBatches(
            self.data.train, self.device, step_batch, cfg.num_workers, self.data.augment, shard
        )

    def _setup(self) -> None:
        from torch.nn.parallel import DistributedDataParallel

        super()._setup()
        # the reducer compares strides strictly, also over size-1 dimensions (a Conv2d with one input
        # channel);
        # the layouts are the same, the warning is noise
        warnings.filterwarnings(
            "ignore", message="Grad strides do not match bucket view strides", category=UserWarning
        )
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.model = DistributedDataParallel(self.model, device_ids=ids)
        self.val_batches = self._shard(self.val_batches)
        if self.rank:  # other dropout / augmentation draws than rank 0 (whose stream matches one process)
            torch.manual_seed(self.cfg.seed * ORDER_SEED_STRIDE + 7919 * self.rank)

    def _config_extra(self) -> dict[str, Any]:
        return {
            "distributed": {
                "world_size": self.world_size,
                "backend": self.backend,
                "nodes": max(1, self.world_size // max(self.env.local_world_size, 1)),
                "batch_per_process": self.per_rank_batch,
                "global_batch": self.per_rank_batch * self.world_size,
            }
        }

    def _open_run(self) -> None:
        """Rank 0 creates the run folder; every rank learns its path (or rank 0's error)."""
        box: list[Any] = [None, None]
        if self.is_main:
            try:
                super()._open_run()
                box[1] = str(self.run_path)
            except UserError as exc:
                box[0] = str(exc)
        dist.broadcast_object_list(box, src=0)
        if box[0]:
            raise UserError(box[0])
        self.run_path = Path(box[1])

    # -- the sampler, steps and reductions
    # -------------------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> torch.Tensor:
        from torch.utils.data import DistributedSampler

        sampler: DistributedSampler[int] = DistributedSampler(
            range(len(self.data.train)),  # type: ignore[arg-type]  # (it only takes the dataset's len())
            num_replicas=self.world_size,
            rank=self.rank,
            shuffle=True,
            seed=self.cfg.seed * ORDER_SEED_STRIDE,
            drop_last=False,
        )
        sampler.set_epoch(epoch)
        return torch.tensor(list(sampler), dtype=torch.long)

    def _train_step(self, xb: torch.Tensor, yb: torch.Tensor):
        self.samples_seen += len(yb) * (
            self.world_size - 1
        )  # every rank takes an equal batch: count them all
        return super()._train_step(xb, yb)

    def _loss_value(self, loss: torch.Tensor) -> float:
        """One all-reduce per step: the mean batch loss over the ranks, and whether any rank asked to stop."""
        stop = 1.0 if self.local_control.stop_requested else 0.0
        both = torch.stack([loss.detach().float().reshape(()), torch.tensor(stop, device=loss.device)])
        dist.all_reduce(both)
        total, stops = both.tolist()
        if stops > 0 and not self.control.stop_requested:
            self.control.stop()  # every rank sees it here, at the same step
        return total / self.world_size

    def _reduce(self, values: list[float]) -> list[float]:
        summed = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(summed)
        return summed.tolist()

    # -- evaluation
    # ------------------------------------------------------------------------------------------------
    def _shard(self, batches: SplitBatches) -> SplitBatches:
        if batches.size < self.world_size:  # tiny split: every rank evaluates all of it (ratios unchanged)
            return batches
        return SplitBatches(
            shard_split(batches.split, self.rank, self.world_size),
            batches.device,
            batches.batch_size,
            batches.num_workers,
        )

    def validate(self, batches: SplitBatches | None = None) -> tuple[float | None, float | None]:
        """Each rank evaluates its shard with the plain module (rank 0's buffers, e.g. BatchNorm statistics,
        broadcast first); the sums are all-reduced inside Trainer.validate."""
        batches = self.val_batches if batches is None else self._shard(batches)
        ddp = self.model
        module = ddp.module
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
        self.model = module
        try:
            return super().validate(batches)
        finally:
            self.model = ddp


def train_distributed(project, data, *, env: DistEnv, backend: str, device: str, **kwargs) -> Iterator:
    """The event generator for this rank (join `process_group` first)."""
    return DistributedTrainer(project, data, env=env, backend=backend, device=device, **kwargs).run()


__all__ = [
    "DistEnv",
    "DistributedTrainer",
    "ShardBatches",
    "plan_device",
    "process_group",
    "shard_split",
    "train_distributed",
]
