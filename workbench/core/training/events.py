"""What the training loop yields: small frozen records of plain numbers (never live tensors), cheap to
create on every batch and safe to hand to another thread."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    run_dir: str
    run_id: str
    device: str
    epochs: int
    batches_per_epoch: int
    train_samples: int
    val_samples: int
    first_step: int = 1  # > 1 when resumed: the step count continues
    first_epoch: int = 1
    precision: str = "fp32"
    notes: tuple[str, ...] = ()  # things the user should know (e.g. fp16 ignored on the CPU)
    kind: str = "started"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchEnd:
    step: int  # global, 1-based, continues across epochs and resumes
    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    batches: int  # batches in this epoch
    loss: float
    lr: float
    time: float  # unix time
    elapsed: float  # seconds of training in this run (pauses excluded)
    samples_per_second: float  # over the run so far
    cuda_allocated: int | None = None  # bytes, torch.cuda figures when training on a GPU
    cuda_reserved: int | None = None
    cuda_peak: int | None = None
    kind: str = "batch"


BATCH_FIELDS = tuple(f for f in BatchEnd.__slots__ if f != "kind")


@dataclass(frozen=True, slots=True)
class BatchEnds:
    """Consecutive BatchEnd events of one job, field by field: how they cross the pipe to the GUI. A frame of an MLP
    brings 70 of them; as one record of 12 tuples they are pickled and unpickled about 3x faster than as 70 frozen
    dataclasses (the GUI's reader thread spent 1.4% of a core on them), and the plots take the columns as they are.
    """

    columns: dict[str, tuple]  # BATCH_FIELDS -> one value per batch, in order
    kind: str = "batches"

    @classmethod
    def of(cls, events: list[BatchEnd]) -> BatchEnds:
        return cls({name: tuple(getattr(e, name) for e in events) for name in BATCH_FIELDS})

    def last(self) -> BatchEnd:
        return BatchEnd(**{name: values[-1] for name, values in self.columns.items()})


def pack_batches(events: list) -> list:
    """`events` with each run of BatchEnd events as one BatchEnds (the order of everything kept)."""
    out: list = []
    run: list = []
    for event in events:
        if isinstance(event, BatchEnd):
            run.append(event)
            continue
        if run:
            out.append(BatchEnds.of(run))
            run = []
        out.append(event)
    if run:
        out.append(BatchEnds.of(run))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class EpochEnd:
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float | None  # None for regression
    val_loss: float | None  # None without a validation split
    val_accuracy: float | None
    lr: float
    time: float
    elapsed: float
    improved: bool = False  # a new best checkpoint was written
    train_perplexity: float | None = None  # exp(loss), language models only
    val_perplexity: float | None = None
    kind: str = "epoch"


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluated:
    """The final model on the test split (falls back to val when there is no test split)."""

    split: str
    loss: float
    accuracy: float | None
    samples: int
    kind: str = "evaluation"


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    state: str  # "paused" | "running" | "stopping"
    step: int
    kind: str = "state"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    status: str  # "completed" | "stopped" | "failed"
    epochs_completed: int
    steps: int
    best_val_accuracy: float | None
    samples_per_second: float
    elapsed: float
    run_dir: str
    message: str = ""  # why it stopped / failed, in words
    error: str | None = None  # the traceback when failed
    cause: str = ""  # failed because of: "nan" | "oom" | "input" (user-fixable) | "bug"
    checkpoints: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "finished"


Event = Started | BatchEnd | EpochEnd | Evaluated | StateChanged | Finished


def event_to_dict(event: Event) -> dict:
    return asdict(event)
