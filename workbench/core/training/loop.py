"""The training loop: a plain generator of small frozen events (events.py), Qt-free, shared by the CLI and
the GUI's worker thread. It checks a TrainingControl between batches (pause holds with the model and
optimizer in memory; stop finishes the batch and saves a checkpoint) and writes the run folder (runs.py).

Ready for DistributedDataParallel (distributed.py): only rank 0 writes files (`self.is_main`), the epoch order goes
through one sampler hook (`_epoch_order`), and the per-epoch sums pass through one reduction point
(`_reduce`).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch

from workbench import __version__
from workbench.core.errors import Cancelled, UserError
from workbench.core.project import Project
from workbench.core.training import setup, step
from workbench.core.training.background import BackgroundWriter
from workbench.core.training.batches import SplitBatches
from workbench.core.training.checkpoints import (
    check_resume,
    checkpoint_writer,
    load_checkpoint,
    load_training_state,
)
from workbench.core.training.control import TrainingControl
from workbench.core.training.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    Event,
    Finished,
    Started,
    StateChanged,
)
from workbench.core.training.fork import capture_rng, rng_snapshot
from workbench.core.training.runs import RunWriter, create_run_dir, read_metrics_lines

T = TypeVar("T")


def _made(value: T | None, what: str) -> T:
    """An attribute the set-up makes before the first batch (None before: reading it then is a bug)."""
    if value is None:
        raise RuntimeError(f"{what} is read before the run's set-up made it")
    return value


class NonFiniteLoss(Exception):
    pass


def perplexity(loss: float | None) -> float | None:
    """exp(loss) of a mean next-token cross-entropy (capped at exp(700) to stay finite JSON; None stays None)."""
    if loss is None:
        return None
    return math.exp(min(loss, 700.0))


def train(
    project: Project,
    data: Any = None,
    *,
    control: TrainingControl | None = None,
    runs_root: str | Path | None = None,
    run_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    name: str | None = None,
    project_path: str | Path | None = None,
    fork_from: str | Path | None = None,
) -> Iterator[Event]:
    """Train `project.model` on `data` (a DataBundle; loaded from project.dataset when None) with
    `project.training`. Yields Started, StateChanged, BatchEnd, EpochEnd, Evaluated and finally Finished.
    Bad settings raise UserError before any file is written; failures after that end as a failed run.
    `fork_from`: a checkpoint file to start a new run from with `project.training`'s settings (fork.py)."""
    return Trainer(
        project,
        data,
        control=control,
        runs_root=runs_root,
        run_dir=run_dir,
        resume_from=resume_from,
        name=name,
        project_path=project_path,
        fork_from=fork_from,
    ).run()


def dataset_meta_dict(meta: Any) -> dict[str, Any]:
    """The facts an export needs to rebuild the data: stored in every checkpoint and in config.json."""
    return {
        "kind": meta.kind,
        "input_shape": list(meta.input_shape),
        "num_classes": meta.num_classes,
        "class_names": list(meta.class_names),
        "task": meta.task,
        "input_dtype": meta.input_dtype,
        "mean": meta.mean,
        "std": meta.std,
        "extra": meta.extra,
    }


class Trainer:
    def __init__(
        self,
        project: Project,
        data: Any,
        *,
        control: TrainingControl | None,
        runs_root,
        run_dir,
        resume_from,
        name,
        project_path,
        rank: int = 0,
        world_size: int = 1,
        fork_from=None,
    ):
        self.project = project
        self.cfg = project.training
        self.data = data
        self.control = control or TrainingControl()
        self.runs_root = Path(runs_root) if runs_root else None
        self.run_dir = Path(run_dir) if run_dir else None
        self.resume_from = Path(resume_from) if resume_from else None
        self.fork_from = Path(fork_from) if fork_from else None  # a checkpoint file (fork.resolve_fork)
        if self.fork_from is not None and self.resume_from is not None:
            raise UserError("a run is either resumed or forked, not both; pass one of them")
        self.name = name
        self.project_path = project_path
        self.rank, self.world_size = rank, world_size
        self.is_main = rank == 0
        self.writer: RunWriter | None = None
        self.saver = BackgroundWriter()  # checkpoints are written while training goes on
        self.step = 0
        self.epoch = 0
        self.epochs_completed = 0
        self.samples_seen = 0
        self.best_val_accuracy: float | None = None
        self.best_metric: float | None = None
        self.bad_epochs = 0
        self.paused_for = 0.0
        self.checkpoints: list[str] = []
        self.end_status, self.end_message = "completed", ""
        self.notes: list[str] = []  # things the user should know, in Started
        self.plan: setup.TrainingSetup | None = None  # device, precision, loss... (decided in _setup)
        self.t0: float | None = None  # perf_counter at the first epoch
        self.cause = ""  # why a run failed: "nan" | "oom" | "input" | "bug"
        self.final_eval: tuple[float | None, float | None] = (None, None)  # last weights on the test split
        self.best_eval: tuple[float | None, float | None] = (None, None)  # best checkpoint on the test split
        self.final_split: str | None = None
        # made by _setup and _open_run before the first batch (a run that fails earlier never reads them)
        self.spec: Any = None  # the model spec trained (the checkpoint's when resumed)
        self.model: Any = None
        self.optimizer: Any = None
        self.scheduler: setup.Scheduler | None = None
        self.train_batches: Any = None
        self.val_batches: Any = None
        self.run_path: Path | None = None
        self.start_epoch, self.skip_batches, self.first_step = 1, 0, 1  # where this run starts (resumes)
        self.batch = 0  # 1-based batch within the epoch, 0 before the first
        self.epoch_sums = [0.0, 0.0, 0.0]  # loss sum, correct, samples of the epoch so far
        self.epoch_complete = True
        self.parent_run: Path | None = None  # the run resumed from, and its metrics lines kept
        self.finetune: Any = None  # finetune.FinetunePlan: what trains (made by _setup)
        self.parent_lines: list[dict] = []
        self.rng_at_step: tuple | None = (
            None  # the random states right after the last step (fork.rng_snapshot)
        )
        self.lineage: dict[str, Any] = {}  # parent, fork_step ... (fork.lineage) for config.json
        self.new_method = False  # a fork that changed the fine-tuning method (fresh optimizer)

    # what `_setup` and `_open_run` made, before the first batch
    @property
    def decided(self) -> setup.TrainingSetup:
        return _made(self.plan, "the training set-up")

    @property
    def folder(self) -> Path:
        """The run folder (every rank knows it once `_open_run` ran), where it is now: a project folder moved or
        renamed while training takes its run along (FolderVanished, a UserError, once it was deleted)."""
        path = _made(self.run_path, "the run folder")
        anchor = getattr(self, "run_anchor", None)
        if anchor is not None:
            self.run_path = path = anchor.current()
        return path

    @property
    def schedule(self) -> setup.Scheduler:
        return _made(self.scheduler, "the LR scheduler")

    # what `_setup` decided (setup.TrainingSetup), read often enough to deserve a name
    @property
    def device(self) -> torch.device:
        return self.decided.device

    @property
    def precision(self) -> str:
        return self.decided.precision

    @property
    def task(self) -> str:
        return self.decided.task

    @property
    def loss_fn(self) -> torch.nn.Module:
        return self.decided.loss_fn

    @property
    def scaler(self) -> torch.amp.GradScaler | None:
        return self.decided.scaler

    # -- the generator
    # -----------------------------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        if self.data is None:
            yield StateChanged(state="loading", step=0)
            from workbench.core.data import load_dataset

            try:
                self.data = load_dataset(self.project.dataset, None, lambda: self.control.stop_requested)
            except Cancelled:
                yield Finished(
                    status="stopped",
                    epochs_completed=0,
                    steps=0,
                    best_val_accuracy=None,
                    samples_per_second=0.0,
                    elapsed=0.0,
                    run_dir="",
                    message="stopped while loading the data",
                )
                return
        self._setup()
        self._open_run()
        yield Started(
            run_dir=str(self.folder),
            run_id=self.folder.name,
            device=str(self.device),
            epochs=self.cfg.epochs,
            batches_per_epoch=self.train_batches.batches,
            train_samples=len(self.data.train),
            val_samples=len(self.data.val),
            first_step=self.step + 1,
            first_epoch=self.start_epoch,
            precision=self.precision,
            notes=tuple(self.notes),
        )
        status, message, error = "completed", "", None
        weights_intact = False
        try:
            yield from self._epochs()
            status, message = self.end_status, self.end_message
        except GeneratorExit:
            try:
                if not self.epoch_complete:
                    self._save_last(epoch_complete=False)
            finally:
                self._finish("stopped", "the run was closed before it finished", None)
            raise
        except NonFiniteLoss as exc:
            status, message, error, self.cause = "failed", str(exc), str(exc), "nan"
            weights_intact = True  # the step with the bad loss was not applied
        except torch.cuda.OutOfMemoryError:
            status, message, error, self.cause = "failed", self._oom_message(), traceback.format_exc(), "oom"
        except UserError as exc:
            status, message, error, self.cause = "failed", str(exc), traceback.format_exc(), "input"
        except Exception as exc:  # noqa: BLE001 - any bug becomes a failed run with its traceback
            oom = "out of memory" in str(exc) and self.device.type == "cuda"
            status = "failed"
            message = self._oom_message() if oom else f"{type(exc).__name__}: {exc}"
            error, self.cause = traceback.format_exc(), "oom" if oom else "bug"
        if status == "failed" and self.device.type == "cuda":
            torch.cuda.empty_cache()
        if status != "failed":
            try:
                if not self.epoch_complete:
                    self._save_last(epoch_complete=False)  # stopped mid-epoch: resumable from this batch
                self.saver.close()
                evaluated = None if self.control.final_evaluation_skipped else self._final_evaluation()
            except UserError as exc:  # e.g. the disk filled up while the last checkpoint was written
                status, message, error = "failed", str(exc), traceback.format_exc()
                evaluated, self.cause = None, "input"
            except Exception as exc:  # noqa: BLE001
                status, message, error = "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()
                evaluated, self.cause = None, "bug"
            if evaluated is not None:
                yield evaluated
        elif weights_intact and not self.epoch_complete:
            self._save_last(epoch_complete=False)
        yield self._finish(status, message, error)

    # -- set-up
    # ----------------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        from workbench.core.model.build import build_model

        cfg, data = self.cfg, self.data
        self.plan = setup.prepare(cfg, data, self._resolve_device())
        self.notes.extend(self.plan.notes)

        resume = self._read_resume()
        spec = resume.spec if resume is not None else self.project.model
        self.spec = spec
        setup.seed_everything(cfg.seed)
        model = build_model(spec)
        setup.check_vocabulary(model, data.meta)
        from workbench.core.training.finetune import apply_finetune, load_trained_state

        self.new_method = resume is not None and self._finetune_changed(resume)
        if (
            self.new_method
        ):  # a fork with another fine-tuning method: the parent's merged weights, then the new one
            from workbench.core.training.checkpoints import load_state_strict

            load_state_strict(model, resume.build_model().state_dict(), resume.path)
        self.finetune = apply_finetune(model, spec, cfg)  # freeze masks, LoRA adapters
        if self.finetune.partial:
            plan = self.finetune
            how = (
                f"LoRA rank {cfg.lora_rank} on {len(plan.lora['targets'])} modules"
                if plan.lora
                else plan.method
            )
            self.notes.append(
                f"fine-tuning: {how}; {plan.trainable_params:,} of {plan.total_params:,} parameters train "
                f"({100 * plan.trainable_params / max(plan.total_params, 1):.1f}%)"
                + (f", {len(plan.frozen)} module(s) locked" if plan.frozen else "")
            )
        if cfg.activation_checkpointing:
            from workbench.core.training.activation_checkpointing import with_activation_checkpointing

            model = with_activation_checkpointing(model)  # same parameters and state-dict keys
        if resume is not None and not self.new_method:
            load_trained_state(model, resume.state_dict, resume.path, self.finetune.partial)
        self.model = model.to(self.device)
        self.optimizer = setup.make_optimizer(cfg, [p for p in self.model.parameters() if p.requires_grad])
        self.train_batches = self._train_batches()
        if cfg.batch_size > len(data.train):
            self.notes.append(
                f"batch size {cfg.batch_size} is larger than the {len(data.train)} training samples; "
                "each epoch is one batch of them all"
            )
        self.val_batches = SplitBatches(data.val, self.device, max(cfg.batch_size, 256), cfg.num_workers)
        self.scheduler = setup.Scheduler(cfg, self.optimizer, self.train_batches.batches)
        self.start_epoch, self.skip_batches, self.epoch_sums = 1, 0, [0.0, 0.0, 0.0]
        if resume is not None:
            self._apply_resume(resume)
        self.first_step = self.step + 1
        if resume is not None:  # the last thing before the first batch: dropout and augmentation continue
            from workbench.core.training.fork import restore_rng

            restore_rng(resume.meta.get("rng"))
        self.epoch_complete = True

    # -- hooks that DistributedTrainer (distributed.py) overrides
    # ----------------------------------------------------
    def _resolve_device(self) -> torch.device:
        return setup.resolve_device(self.cfg.device)

    def _train_batches(self) -> SplitBatches:
        cfg = self.cfg  # one optimizer step takes batch_size x grad_accumulation_steps samples
        return SplitBatches(
            self.data.train,
            self.device,
            cfg.batch_size * cfg.grad_accumulation_steps,
            cfg.num_workers,
            augment=self.data.augment,
        )

    def _loss_value(self, loss: torch.Tensor) -> float:
        """The batch loss as logged and checked for NaN (under DDP: the mean over all ranks)."""
        return loss.item()

    def _config_extra(self) -> dict[str, Any]:
        """More entries for the run's config.json (under DDP: world size, backend, batch per rank)."""
        return {}

    def _read_resume(self):
        if self.resume_from is None and self.fork_from is None:
            return None
        source = self.resume_from or self.fork_from
        assert source is not None
        if source.is_dir() and (source / "checkpoints" / "last.safetensors").is_file():
            source = source / "checkpoints" / "last.safetensors"
        checkpoint = load_checkpoint(source)
        meta = checkpoint.meta
        if "step" in meta:
            check_resume(
                checkpoint, self.project_path, self.data.meta
            )  # position, project, data, optimizer pair
        if "step" not in meta:
            raise UserError(f"{checkpoint.path} has no training position (step, epoch); it cannot be resumed")
        done = meta["epoch"] if meta.get("epoch_complete") else meta["epoch"] - 1
        if done >= self.cfg.epochs:
            raise UserError(
                f"that run already trained {done} epoch(s); set Epochs above {done} to continue it"
            )
        from workbench.core.training.fork import lineage

        kind = "fork" if self.fork_from is not None else "resume"
        self.lineage = lineage(
            kind, checkpoint.path, meta, self.run_dir.parent if self.run_dir else self.runs_root
        )
        return checkpoint

    def _finetune_changed(self, checkpoint) -> bool:
        """A fork whose fine-tuning settings differ from the checkpoint's run (the weights are then merged)."""
        if self.fork_from is None:
            return False
        before = checkpoint.meta.get("training")
        if not isinstance(before, dict):
            return False
        now = self.cfg.model_dump(mode="json")
        keys = ("finetune", "frozen", "lora_rank", "lora_alpha", "lora_targets")
        return any(before.get(k, now[k]) != now[k] for k in keys)

    def _apply_resume(self, checkpoint) -> None:
        meta = checkpoint.meta
        self.step = int(meta["step"])
        self.best_val_accuracy = meta.get("best_val_accuracy")
        self.best_metric = meta.get("best_metric")
        bad = meta.get("bad_epochs")
        self.bad_epochs = bad if isinstance(bad, int) and not isinstance(bad, bool) and bad >= 0 else 0
        if meta.get("epoch_complete"):
            self.start_epoch, self.skip_batches = int(meta["epoch"]) + 1, 0
        else:
            self.start_epoch, self.skip_batches = int(meta["epoch"]), int(meta.get("batch", 0))
            self.epoch_sums = list(meta.get("epoch_sums") or [0.0, 0.0, 0.0])
            self._rescale_position(meta.get("training"))
        from workbench.core.training import fork

        before = meta.get("training")
        forked = self.fork_from is not None
        optim_path = checkpoint.path.with_name(checkpoint.path.stem + ".optim.safetensors")
        same_optimizer = not forked or (
            isinstance(before, dict) and before.get("optimizer") == self.cfg.optimizer
        )
        if optim_path.is_file() and same_optimizer and not self.new_method:
            fresh_groups = [dict(g) for g in self.optimizer.param_groups]  # the fork's own lr, momentum ...
            optim_state, sched_state = load_training_state(optim_path, meta.get("state_id"))
            self.optimizer.load_state_dict(optim_state)
            if forked and fork.schedule_changed(before, self.cfg):
                fork.keep_group_settings(self.optimizer, fresh_groups)
                self.notes.append(
                    "fork: new schedule settings; the learning-rate schedule starts at the fork"
                )
            else:
                self.schedule.load_state_dict(sched_state)
        elif forked:
            self.notes.append("fork: the optimizer starts fresh (no optimizer state kept for these settings)")
        else:
            self.notes.append("the checkpoint has no optimizer state; the optimizer starts fresh")
        self.parent_run = fork.run_of(checkpoint.path)
        if forked:  # a fork's metrics start after its fork step; the overlay draws it continuing the parent
            return
        self.parent_lines = [
            line
            for line in read_metrics_lines(self.parent_run / "metrics.jsonl")
            if (line.get("kind") == "batch" and line.get("step", 0) <= self.step)
            or (line.get("kind") == "epoch" and line.get("epoch", 0) < self.start_epoch)
        ]

    def _rescale_position(self, before: Any) -> None:
        """A mid-epoch fork with another batch size: continue the epoch after the samples already seen."""
        if self.fork_from is None or not isinstance(before, dict):
            return
        old = int(before.get("batch_size", 0) or 0) * int(before.get("grad_accumulation_steps", 1) or 1)
        new = self.cfg.batch_size * self.cfg.grad_accumulation_steps
        if old > 0 and old != new:
            self.skip_batches = min(self.train_batches.batches, self.skip_batches * old // new)

    def _open_run(self) -> None:
        if not self.is_main:
            return
        if self.run_dir is None and self.runs_root is None:
            raise UserError(
                "no folder for the run: save the project first (runs go in runs/ beside it) or pass --run-dir"
            )
        self.run_path = create_run_dir(self.runs_root, self.run_dir)
        from workbench.core.project_files import FollowedFolder

        self.run_anchor = FollowedFolder(self.run_path)  # checkpoints and summary follow a moved folder
        meta = self.data.meta
        config = {
            "name": self.name or self.run_path.name,
            "run_id": self.run_path.name,
            "created": time.time(),
            "project": str(self.project_path) if self.project_path else None,
            "dataset": self.project.dataset.model_dump(mode="json"),
            "model": self.spec.to_dict(),
            "training": self.cfg.model_dump(mode="json"),
            "device": str(self.device),
            "precision": self.precision,
            "dataset_meta": dataset_meta_dict(meta),
            "resumed_from": (  # the parent relative to the runs folder (fork.relative_ref), never absolute
                {"run": self.lineage["parent"], "step": self.step, "epoch": self.start_epoch}
                if self.resume_from
                else None
            ),
            "forked_from": (
                {
                    "run": self.lineage["parent"],
                    "step": self.step,
                    "checkpoint": self.lineage["parent_checkpoint"],
                }
                if self.fork_from
                else None
            ),
            **self.lineage,  # lineage, parent, parent_checkpoint, fork_step, fork_epoch (fork.py)
            "versions": {"workbench": __version__, "torch": torch.__version__},
            "finetune": self.finetune.to_dict() if self.finetune is not None else None,
            **self._config_extra(),
        }
        self.writer = RunWriter(self.run_path, config)
        if self.resume_from:
            self.writer.copy_metrics(self.parent_lines)
            if self.parent_run is not None and self.parent_run.resolve() != self.run_path.resolve():
                from workbench.core.training.fork import mark_resumed

                mark_resumed(self.parent_run, self.run_path.name)  # the parent no longer offers Resume

    # -- epochs and batches
    # ----------------------------------------------------------------------------------------
    def _epochs(self) -> Iterator[Event]:
        cfg, control = self.cfg, self.control
        self.t0 = time.perf_counter()
        for epoch in range(self.start_epoch, cfg.epochs + 1):
            self.epoch = epoch
            skip = self.skip_batches if epoch == self.start_epoch else 0
            if skip == 0:
                self.epoch_sums = [0.0, 0.0, 0.0]
            self.epoch_complete = False
            self.batch = skip
            self.model.train()
            for xb, yb in self.train_batches.epoch(self._epoch_order(epoch), skip):
                if control.stop_requested or control.paused:
                    yield from self._hold()
                    if control.stop_requested:
                        self.end_status, self.end_message = "stopped", f"stopped at step {self.step}"
                        return
                yield self._train_step(xb, yb)
            if control.stop_requested:
                self.end_status, self.end_message = "stopped", f"stopped at step {self.step}"
                return
            yield self._end_epoch()
            if self.end_status != "completed" or self.end_message:
                return
            if control.stop_after_epoch_requested or control.stop_requested:
                self.end_status, self.end_message = "stopped", f"stopped after epoch {epoch}"
                return

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        """The sampler hook: this epoch's shuffled sample order (reproducible from seed and epoch).
        Under DDP each rank takes its own stride of the same permutation."""
        generator = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        order = torch.randperm(len(self.data.train), generator=generator)
        return order[self.rank :: self.world_size] if self.world_size > 1 else order

    def _hold(self) -> Iterator[Event]:
        """Pause at a batch boundary: the model and optimizer stay in memory until resumed or stopped."""
        control = self.control
        if control.paused and not control.stop_requested:
            yield StateChanged(state="paused", step=self.step)
            started = time.perf_counter()
            while not control.wait_while_paused(0.1):
                pass
            self.paused_for += time.perf_counter() - started
            if not control.stop_requested:
                yield StateChanged(state="running", step=self.step)
        if control.stop_requested:
            yield StateChanged(state="stopping", step=self.step)

    def _train_step(self, xb: torch.Tensor, yb: torch.Tensor) -> BatchEnd:
        cfg, model, optimizer = self.cfg, self.model, self.optimizer
        self.step += 1
        self.batch += 1
        optimizer.zero_grad(set_to_none=True)
        correct: list[torch.Tensor] = []

        def count_correct(out: torch.Tensor, y: torch.Tensor) -> None:
            if self.task == "classification" and out.ndim == 2:
                correct.append((out.argmax(1) == y).sum())

        loss = step.forward_backward(  # grad_accumulation_steps micro-batches (step.py)
            model,
            xb,
            yb,
            self._loss,
            steps=cfg.grad_accumulation_steps,
            autocast=lambda: setup.autocast_for(self.device, self.precision),
            scale=self.scaler.scale if self.scaler is not None else None,
            on_output=count_correct,
        )
        loss_value = self._loss_value(loss)
        if not math.isfinite(loss_value):
            self._write_batch_line(loss_value, optimizer.param_groups[0]["lr"], time.time())
            raise NonFiniteLoss(
                f"the loss became {loss_value} at step {self.step} (epoch {self.epoch}, batch "
                f"{self.batch}); lower the learning rate (now {cfg.lr:g}), or turn on gradient "
                "clipping"
            )
        if cfg.grad_clip:
            if self.scaler is not None:
                self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
        lr = optimizer.param_groups[0]["lr"]
        self.schedule.after_batch()
        n = len(yb)
        self.samples_seen += n
        sums = self.epoch_sums
        sums[0] += loss_value * n
        sums[2] += n
        if correct:
            sums[1] += sum(c.item() for c in correct)
        now = time.time()
        elapsed = self._elapsed()
        on_gpu = self.device.type == "cuda"
        self._write_batch_line(loss_value, lr, now)
        self.rng_at_step = rng_snapshot()  # what a checkpoint at this batch boundary must restore
        return BatchEnd(
            step=self.step,
            epoch=self.epoch,
            batch=self.batch,
            batches=self.train_batches.batches,
            loss=loss_value,
            lr=lr,
            time=now,
            elapsed=elapsed,
            samples_per_second=self.samples_seen / elapsed if elapsed > 0 else 0.0,
            cuda_allocated=torch.cuda.memory_allocated(self.device) if on_gpu else None,
            cuda_reserved=torch.cuda.memory_reserved(self.device) if on_gpu else None,
            cuda_peak=torch.cuda.max_memory_allocated(self.device) if on_gpu else None,
        )

    def _write_batch_line(self, loss: float, lr: float, now: float) -> None:
        if self.writer is not None:
            line = {
                "kind": "batch",
                "step": self.step,
                "epoch": self.epoch,
                "loss": loss,
                "lr": lr,
                "time": now,
            }
            if self.task == "language_model":
                line["perplexity"] = perplexity(loss)
            self.writer.write(line)

    def _loss(self, out: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        if self.task == "language_model":  # out (B, L, vocab), yb (B, L): cross-entropy over every position
            if out.ndim != 3 or out.shape[:2] != yb.shape:
                raise UserError(
                    f"a language model outputs (L, vocab) logits per sample; this model outputs "
                    f"{tuple(out.shape[1:])} for targets {tuple(yb.shape[1:])}: end it with LMHead "
                    "(the gpt_lm template)"
                )
            vocab = int(self.data.meta.num_classes)
            if out.shape[-1] < vocab:  # a target id past the scores: torch's "out of bounds" at this batch
                raise UserError(
                    f"the model gives {out.shape[-1]:,} scores per step but the data's vocabulary has {vocab:,} "
                    f"tokens; set the LMHead's vocab_size (and the Embedding's num_embeddings) to {vocab}"
                )
            return self.loss_fn(out.reshape(-1, out.shape[-1]), yb.reshape(-1))
        if isinstance(self.loss_fn, torch.nn.MSELoss):
            if self.task == "classification":
                yb = torch.nn.functional.one_hot(yb, out.shape[-1]).to(out.dtype)
            elif yb.shape != out.shape and yb.numel() == out.numel():
                yb = yb.reshape(out.shape)
            return self.loss_fn(out.float(), yb.float())
        return self.loss_fn(out, yb)

    def _elapsed(self) -> float:
        return time.perf_counter() - _made(self.t0, "the start time") - self.paused_for

    def _reduce(self, values: list[float]) -> list[float]:
        """The metric reduction point: under DDP, all-reduce the per-epoch sums across ranks here."""
        return values

    def _end_epoch(self) -> EpochEnd:
        cfg, epoch = self.cfg, self.epoch
        loss_sum, correct, seen = self._reduce(self.epoch_sums)
        train_loss = loss_sum / max(seen, 1)
        train_acc = correct / max(seen, 1) if self.task == "classification" else None
        val_loss, val_acc = self.validate()
        self.epoch_complete = True
        self.epochs_completed = epoch
        if val_acc is not None and (self.best_val_accuracy is None or val_acc > self.best_val_accuracy):
            self.best_val_accuracy = val_acc
        improved = self._improved(train_loss, val_loss, val_acc)
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
        # the schedule steps before the checkpoints: a run resumed (or forked) from this epoch starts the next one
        # with the next epoch's rate, as the uninterrupted run does
        self.schedule.after_epoch(val_loss if val_loss is not None else train_loss)
        if improved and cfg.save_best:
            self._save("best", epoch_complete=True)
        self._save_last(epoch_complete=True)
        if cfg.keep_epoch_checkpoints:  # a fork point per epoch (training/fork.py)
            self._save(f"epoch-{epoch}", epoch_complete=True)
        now = time.time()
        if self.writer is not None:
            self.writer.write(
                {
                    "kind": "epoch",
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_accuracy": train_acc,
                    "val_loss": val_loss,
                    "val_accuracy": val_acc,
                    **self._perplexities(train_loss, val_loss),
                    "lr": lr,
                    "step": self.step,
                    "time": now,
                }
            )
        if cfg.early_stopping and self.bad_epochs >= cfg.patience:
            self.end_message = (
                f"early stopping: {self._monitored_name()} did not improve for {cfg.patience} epoch(s)"
            )
        return EpochEnd(
            epoch=epoch,
            step=self.step,
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_loss=val_loss,
            val_accuracy=val_acc,
            lr=lr,
            time=now,
            elapsed=self._elapsed(),
            improved=improved,
            train_perplexity=perplexity(train_loss) if self.task == "language_model" else None,
            val_perplexity=perplexity(val_loss) if self.task == "language_model" else None,
        )

    def _perplexities(self, train_loss: float, val_loss: float | None) -> dict[str, float | None]:
        """exp(mean next-token loss) for a language model's epoch line; nothing for other tasks."""
        if self.task != "language_model":
            return {}
        return {"train_perplexity": perplexity(train_loss), "val_perplexity": perplexity(val_loss)}

    def _monitored_name(self) -> str:
        if len(self.data.val) == 0:
            return "train_loss"
        if self.cfg.early_stopping or self.task != "classification":
            return self.cfg.early_stopping_metric if self.task == "classification" else "val_loss"
        return "val_accuracy"

    def _improved(self, train_loss: float, val_loss: float | None, val_acc: float | None) -> bool:
        """Best checkpoint and early stopping watch one number (higher-is-better accuracies, lower losses)."""
        name = self._monitored_name()
        value = {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_acc}[name]
        if value is None:
            return False
        score = value if name == "val_accuracy" else -value
        if self.best_metric is None or score > self.best_metric:
            self.best_metric = score
            self.bad_epochs = 0
            return True
        self.bad_epochs += 1
        return False

    @torch.no_grad()
    def validate(self, batches: SplitBatches | None = None) -> tuple[float | None, float | None]:
        batches = batches or self.val_batches
        if batches.size == 0:
            return None, None
        self.model.eval()
        loss_sum, correct, seen = 0.0, 0.0, 0.0
        for xb, yb in batches.in_order():
            with setup.autocast_for(self.device, self.precision):
                out = self.model(xb)
                loss = self._loss(out, yb)
            loss_sum += loss.item() * len(yb)
            seen += len(yb)
            if self.task == "classification" and out.ndim == 2:
                correct += (out.argmax(1) == yb).sum().item()
        self.model.train()
        loss_sum, correct, seen = self._reduce([loss_sum, correct, seen])
        accuracy = correct / seen if self.task == "classification" else None
        return loss_sum / max(seen, 1), accuracy

    def _final_evaluation(self) -> Evaluated | None:
        split = self.data.test if len(self.data.test) else self.data.val
        if len(split) == 0:
            return None
        self.final_eval = self.validate(
            SplitBatches(split, self.device, max(self.cfg.batch_size, 256), self.cfg.num_workers)
        )
        loss, acc = self.final_eval
        if loss is None:  # (a split with samples always has a loss)
            return None
        self.final_split = split.name
        self.best_eval = self._evaluate_best(split)
        return Evaluated(split=split.name, loss=loss, accuracy=acc, samples=len(split))

    def _evaluate_best(self, split) -> tuple[float | None, float | None]:
        """(loss, accuracy) of the best checkpoint on `split` (what export uses); the last weights are put back."""
        best = self.folder / "checkpoints" / "best.safetensors"
        if self.world_size > 1 or not best.exists():
            return None, None
        from workbench.core.training.checkpoints import load_checkpoint

        module = getattr(self.model, "module", self.model)
        module = getattr(module, "_orig_mod", module)
        last = {k: v.detach().clone() for k, v in module.state_dict().items()}
        from workbench.core.training.finetune import load_trained_state

        load_trained_state(module, load_checkpoint(best).state_dict, best, self.finetune.partial)
        try:
            return self.validate(
                SplitBatches(split, self.device, max(self.cfg.batch_size, 256), self.cfg.num_workers)
            )
        finally:
            module.load_state_dict(last)

    # -- checkpoints and the end
    # -----------------------------------------------------------------------------------
    def _checkpoint_meta(self, epoch_complete: bool) -> dict[str, Any]:
        return {
            "run_id": self.folder.name,
            "epoch": self.epoch,
            "step": self.step,
            "batch": self.batch if not epoch_complete else self.train_batches.batches,
            "epoch_complete": epoch_complete,
            "epoch_sums": self.epoch_sums,
            "best_val_accuracy": self.best_val_accuracy,
            "best_metric": self.best_metric,
            "bad_epochs": self.bad_epochs,
            "rng": capture_rng(
                self.rng_at_step
            ),  # exact resume: dropout and augmentation continue where they were (fork.py)
            "dataset": dataset_meta_dict(self.data.meta),
            "dataset_settings": self.project.dataset.model_dump(mode="json"),
            "training": self.cfg.model_dump(mode="json"),
            "finetune": self.finetune.to_dict() if self.finetune is not None else None,
            "time": time.time(),
        }

    def _save(self, which: str, epoch_complete: bool) -> None:
        if not self.is_main:
            return
        path = self.folder / "checkpoints" / f"{which}.safetensors"
        optimizer, scheduler_state = (  # one unit with the weights
            (self.optimizer, self.schedule.state_dict()) if which != "best" else (None, None)
        )
        from workbench.core.training.finetune import saved_keys

        module = getattr(self.model, "module", self.model)  # unwrapped from DDP / compile, as the writer does
        module = getattr(module, "_orig_mod", module)
        keys = (
            saved_keys(module) if self.finetune is not None and self.finetune.partial else None
        )  # fine-tuning
        meta = self._checkpoint_meta(epoch_complete)
        self.saver.submit(
            checkpoint_writer(path, self.model, self.spec, meta, optimizer, scheduler_state, keys=keys)
        )
        if str(path) not in self.checkpoints:
            self.checkpoints.append(str(path))

    def _save_last(self, epoch_complete: bool) -> None:
        if self.epoch > 0:
            self._save("last", epoch_complete)

    def _oom_message(self) -> str:
        smaller = max(1, self.cfg.batch_size // 2)
        return (
            f"CUDA ran out of memory at step {self.step + 1} with batch size {self.cfg.batch_size} on "
            f"{self.device}; try a batch size of {smaller} or less, bf16 mixed precision, or a smaller model"
        )

    def _finish(self, status: str, message: str, error: str | None) -> Finished:
        try:
            self.saver.close()
        except Exception as exc:  # noqa: BLE001 - a checkpoint that could not be written fails the run
            if status != "failed":
                status, message, error = "failed", str(exc), traceback.format_exc()
                self.cause = "input" if isinstance(exc, UserError) else "bug"
        elapsed = self._elapsed() if self.t0 is not None else 0.0
        sps = self.samples_seen / elapsed if elapsed > 0 else 0.0
        if self.writer is not None:
            test, best = self.final_eval, self.best_eval
            self.writer.finish(
                {
                    "status": status,
                    "epochs_completed": self.epochs_completed,
                    "best_val_accuracy": self.best_val_accuracy,
                    "samples_per_second": sps,
                    "error": error,
                    "message": message,
                    "steps": self.step,
                    "elapsed": elapsed,
                    "device": str(self.device),
                    "test_loss": test[0],
                    "test_accuracy": test[1],
                    "test_accuracy_weights": "last",
                    "best_checkpoint_test_loss": best[0],
                    "best_checkpoint_test_accuracy": best[1],
                    **(
                        {
                            "test_perplexity": perplexity(test[0]),
                            "best_checkpoint_test_perplexity": perplexity(best[0]),
                        }
                        if self.task == "language_model"
                        else {}
                    ),
                    "test_split": self.final_split,
                    "finished": time.time(),
                }
            )
            self.run_path, vanished = self.writer._path, self.writer.vanished
            self.writer = None
            if vanished and status != "failed":  # the run's folder was deleted while it trained
                status, message, error, self.cause = "failed", f"The run stopped: {vanished}", None, "input"
        return Finished(
            status=status,
            epochs_completed=self.epochs_completed,
            steps=self.step,
            best_val_accuracy=self.best_val_accuracy,
            samples_per_second=sps,
            elapsed=elapsed,
            run_dir=str(self.run_path) if self.is_main else "",
            message=message,
            error=error,
            cause=self.cause,
            checkpoints=tuple(self.checkpoints),
        )


__all__ = ["NonFiniteLoss", "Trainer", "dataset_meta_dict", "train"]
