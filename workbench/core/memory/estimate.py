"""The peak memory of one training step, traced: torch's MemTracker over a step run under FakeTensorMode.

What is traced is what the trainer runs: the model built from the spec (with activation checkpointing when
asked), the project's optimizer (`setup.make_optimizer`), the loss, `step.forward_backward` (micro-batches when
gradients are accumulated) and `optimizer.step()`. Fake tensors carry shapes and dtypes but no data, so nothing
is allocated. As torchtitan did, the step measured is the second one: the optimizer's state is created first
(by a step on zero gradients, outside the tracker), then one step is traced from `zero_grad` to `step`.

Methods, in order, and the one used is said (`MemoryEstimate.method`):
- "traced": the fake-tensor trace.
- "extrapolated": fake tensors fail on some data-dependent ops (`.item()`, boolean masks in some Hugging Face
  attention code); then the same step runs on real CPU tensors at half and a quarter of the batch and the
  peak is extended linearly to the batch size.
- "analytic": when both fail: weights, gradients, optimizer states and the analysis's activation count.

A CUDA estimate on a machine without CUDA is traced on the CPU with the CUDA allocator's 512-byte rounding,
CPU autocast for fp16/bf16 and the optimizers' foreach path (torch's default on CUDA); on a machine with a GPU
it is traced on a fake CUDA device. Results are cached by (spec, the settings that change memory, device).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.core.errors import UserError

CATEGORIES = {  # MemTracker's reference types -> our names
    "Parameter": "parameters",
    "Buffer": "buffers",
    "Gradient": "gradients",
    "Activation": "activations",
    "Temp": "temporaries",
    "Optstate": "optimizer_states",
    "Other": "inputs",  # the batch (inputs and targets) created before the step
}
MEMORY_FIELDS = (  # the TrainingConfig fields that change the estimate (getattr: others may add fields)
    "batch_size",
    "optimizer",
    "momentum",
    "nesterov",
    "weight_decay",
    "precision",
    "loss",
    "grad_accumulation_steps",
    "activation_checkpointing",
    "finetune",
    "frozen",
    "lora_rank",
    "lora_targets",
)
CUDA_MIN_ALLOCATION = (
    512  # the caching allocator rounds every CUDA block up to 512 bytes (MemTracker models it)
)
_CACHE: OrderedDict[tuple, MemoryEstimate] = OrderedDict()
_CACHE_MAX = 128


@dataclass(frozen=True)
class LayerMemory:
    """One top-level layer of the spec during the traced step."""

    index: int
    type: str
    parameter_bytes: int  # its weights and buffers
    activation_bytes: int  # what its forward left alive for backward (its output included)
    peak_bytes: int  # the step's total while this layer ran (forward or backward)


@dataclass(frozen=True)
class MemoryEstimate:
    peak_bytes: int
    categories: dict[str, int]  # at the peak: parameters, buffers, gradients, activations, temporaries, ...
    layers: tuple[LayerMemory, ...]
    method: str  # "traced" | "extrapolated" | "analytic"
    device: str  # "cpu" | "cuda"
    batch_size: int
    precision: str  # what training runs: fp16 / bf16 become fp32 on the CPU, as the trainer decides
    grad_accumulation_steps: int = 1
    activation_checkpointing: bool = False
    trainable_params: int = 0
    total_params: int = 0
    seconds: float = 0.0  # how long the trace took
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["layers"] = [asdict(layer) for layer in self.layers]
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MemoryEstimate:
        doc = dict(doc)
        doc["layers"] = tuple(LayerMemory(**layer) for layer in doc.get("layers", ()))
        doc["notes"] = tuple(doc.get("notes", ()))
        return cls(**doc)


def memory_settings(config: Any, batch_size: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The settings of a TrainingConfig that change memory, as a plain dict (the cache key's part)."""
    found = {name: getattr(config, name, None) for name in MEMORY_FIELDS}
    if batch_size is not None:
        found["batch_size"] = batch_size
    found.update(overrides)
    return found


def estimate_memory(
    spec: Any,
    config: Any,
    device: str = "cpu",
    task: str = "classification",
    batch_size: int | None = None,
    input_dtype: str | None = None,
) -> MemoryEstimate:
    """The peak bytes of a training step of `spec` with the TrainingConfig `config` on `device` ("cpu",
    "cuda" or "cuda:i"). A model that cannot be built raises UserError."""
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    settings = memory_settings(config, batch_size)
    key = (
        json.dumps(spec.model_dump(), sort_keys=True, default=str),
        json.dumps(settings, sort_keys=True, default=str),
        kind,
        task,
        input_dtype,
    )
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    result = _estimate(spec, config, settings, kind, task, input_dtype)
    _CACHE[key] = result
    while len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return result


def _estimate(spec, config, settings, kind, task, input_dtype) -> MemoryEstimate:
    from workbench.core.model.analysis import analyze

    analysis = analyze(spec)
    if not analysis.ok:
        raise UserError(f"the model cannot be built: {analysis.error}")
    plan = _Plan.make(spec, config, settings, kind, task, input_dtype, analysis)
    started = time.perf_counter()
    notes = list(plan.notes)
    try:
        peak, categories, layers, params, _ = _trace(plan, fake=True, batch=plan.batch_size)
        method = "traced"
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - fake tensors fail on data-dependent ops: fall back, say so
        notes.append(f"fake tensors failed ({type(exc).__name__}: {_first_line(exc)})")
        try:
            peak, categories, layers, params = _extrapolate(plan)
            method = "extrapolated"
        except UserError:
            raise
        except Exception as exc2:  # noqa: BLE001 - the last resort is the count
            notes.append(f"real-tensor trace failed ({type(exc2).__name__}: {_first_line(exc2)})")
            peak, categories, layers, params = _analytic(plan, analysis)
            method = "analytic"
    return MemoryEstimate(
        peak_bytes=int(peak),
        categories=categories,
        layers=tuple(layers),
        method=method,
        device=kind,
        batch_size=plan.batch_size,
        precision=plan.precision,
        grad_accumulation_steps=plan.accumulation,
        activation_checkpointing=plan.checkpointing,
        trainable_params=params[0],
        total_params=params[1],
        seconds=round(time.perf_counter() - started, 4),
        notes=tuple(notes),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else ""


@dataclass
class _Plan:
    spec: Any
    config: Any
    kind: str
    task: str
    token_input: bool
    batch_size: int
    accumulation: int
    checkpointing: bool
    precision: str
    output_shape: tuple[int, ...]
    layer_types: list[str]
    notes: list[str]

    @classmethod
    def make(cls, spec, config, settings, kind, task, input_dtype, analysis) -> _Plan:
        from workbench.core.model.registry import get_layer_type

        batch = int(settings["batch_size"])
        if batch < 1:
            raise UserError(f"batch size must be 1 or more, not {batch}")
        notes = []
        precision = settings.get("precision") or "fp32"
        if kind == "cpu" and precision != "fp32":
            notes.append(
                f"{precision} mixed precision needs a CUDA GPU; the CPU trains (and is estimated) in fp32"
            )
            precision = "fp32"
        first = get_layer_type(spec.layers[0].type)
        token = input_dtype == "int64" if input_dtype else bool(getattr(first, "token_input", False))
        return cls(
            spec=spec,
            config=config,
            kind=kind,
            task=task,
            token_input=token,
            batch_size=batch,
            accumulation=max(1, int(settings.get("grad_accumulation_steps") or 1)),
            checkpointing=bool(settings.get("activation_checkpointing")),
            precision=precision,
            output_shape=tuple(analysis.output_shape or ()),
            layer_types=[layer.type for layer in spec.layers],
            notes=notes,
        )


# -- the trace ------------------------------------------------------------------------------------------------
def _trace(plan: _Plan, fake: bool, batch: int, micro_batches: int | None = None):
    """(peak, categories, layers, (trainable, total), forward/backward peak) of one step at `batch` samples per
    micro-batch; the last is the peak before optimizer.step() (forward, loss and backward)."""
    import torch
    from torch.distributed._tools import mem_tracker

    from workbench.core.training import step as training_step

    emulate_cuda = plan.kind == "cuda" and not (fake and torch.cuda.is_available())
    device = torch.device("cuda" if plan.kind == "cuda" and not emulate_cuda else "cpu")
    accumulated = plan.accumulation
    traced_micro = micro_batches or min(accumulated, 2)  # from the 2nd micro-batch on, each looks the same

    mode: Any = contextlib.nullcontext()
    if fake:
        from torch._subclasses.fake_tensor import FakeTensorMode

        mode = FakeTensorMode()
    saved_info = mem_tracker._WeakRefInfo
    if emulate_cuda:
        mem_tracker._WeakRefInfo = _rounded_info_class()  # type: ignore[misc]  # restored in finally
    try:
        model = _build(plan, fake, device, mode)
        with mode:
            params = list(model.parameters())
            trainable = sum(p.numel() for p in params if p.requires_grad)
            total = sum(p.numel() for p in params)
            optimizer = _optimizer(plan, model, foreach=plan.kind == "cuda")
            x, y = _batch(plan, batch * accumulated, device, fake)
            loss_of = _loss_function(plan)
            autocast = _autocast(plan, device)
            _create_optimizer_state(model, optimizer)
            tracker = _TopLevelTracker(list(model.children()))
            tracker.track_external(model, optimizer, x, y)
            with tracker:
                optimizer.zero_grad(set_to_none=True)
                n = batch * traced_micro
                training_step.forward_backward(
                    model, x[:n], y[:n], loss_of, steps=traced_micro, autocast=autocast
                )
                before_step = tracker.get_tracker_snapshot("peak")
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            peak_snapshot = tracker.get_tracker_snapshot("peak")
            layers = _layer_rows(tracker, model, plan)
    finally:
        mem_tracker._WeakRefInfo = saved_info  # type: ignore[misc]
    snap: dict[Any, int] = next(iter(peak_snapshot.values()), {})
    categories = {name: int(snap.get(_ref(ref), 0)) for ref, name in CATEGORIES.items()}
    peak = int(snap.get("Total", sum(categories.values())))
    before: dict[Any, int] = next(iter(before_step.values()), {})
    forward_backward = int(before.get("Total", 0))
    return peak, categories, layers, (trainable, total), forward_backward


def _ref(name: str):
    from torch.distributed._tools.mem_tracker import _MemRefType

    return _MemRefType(name)


def _build(plan: _Plan, fake: bool, device, mode):
    import torch

    from workbench.core.model.build import build_model
    from workbench.core.training.activation_checkpointing import with_activation_checkpointing

    if fake:
        with torch.device("meta"):
            model = _finetuned(build_model(plan.spec, load_weights=False), plan)
        with mode:
            _materialize(model, device)
    else:
        model = _finetuned(build_model(plan.spec, load_weights=False), plan).to(device)
    if plan.checkpointing:
        model = with_activation_checkpointing(model)
    model.train()
    return model


def _finetuned(model, plan: _Plan):
    """Freeze masks and LoRA adapters as training applies them (training/finetune.py): frozen weights get no
    gradient and no optimizer state."""
    from workbench.core.training.config import TrainingConfig

    if isinstance(plan.config, TrainingConfig):
        from workbench.core.training.finetune import apply_finetune

        apply_finetune(model, plan.spec, plan.config)
    return model


def _materialize(model, device) -> None:
    """Meta parameters and buffers -> (fake) tensors on `device`; shared ones stay shared (to_empty cannot swap
    a meta tensor for a fake one)."""
    import torch
    from torch import nn

    memo: dict[int, Any] = {}
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is not None:
                if id(p) not in memo:
                    memo[id(p)] = nn.Parameter(
                        torch.empty(p.shape, dtype=p.dtype, device=device), requires_grad=p.requires_grad
                    )
                module._parameters[name] = memo[id(p)]
        for name, b in list(module._buffers.items()):
            if b is not None:
                if id(b) not in memo:
                    memo[id(b)] = torch.zeros(b.shape, dtype=b.dtype, device=device)
                module._buffers[name] = memo[id(b)]


def _optimizer(plan: _Plan, model, foreach: bool):
    from workbench.core.training.config import TrainingConfig
    from workbench.core.training.setup import make_optimizer

    config = plan.config if isinstance(plan.config, TrainingConfig) else TrainingConfig()
    optimizer = make_optimizer(config, [p for p in model.parameters() if p.requires_grad])
    if foreach:  # torch's default for CUDA tensors; an emulated CUDA trace runs on CPU tensors
        for group in optimizer.param_groups:
            group["foreach"] = True
    return optimizer


def _create_optimizer_state(model, optimizer) -> None:
    """The state the first step creates (Adam's moments, SGD's momentum), by a step on zero gradients. That step
    takes the foreach path whatever the traced one takes (the same state, a tenth of the fake operations)."""
    import torch

    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    paths = [group.get("foreach") for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["foreach"] = True
    optimizer.step()
    for group, path in zip(optimizer.param_groups, paths, strict=True):
        group["foreach"] = path
    optimizer.zero_grad(set_to_none=True)


def _batch(plan: _Plan, n: int, device, fake: bool):
    import torch

    shape = (n, *plan.spec.input_shape)
    if plan.token_input:
        x = torch.zeros(shape, dtype=torch.long, device=device)
    else:
        x = torch.zeros(shape, device=device) if fake else torch.randn(shape, device=device)
    out = plan.output_shape
    mse = plan.task == "regression" or getattr(plan.config, "loss", "cross_entropy") == "mse"
    if mse:
        y = (
            torch.zeros((n, *out), device=device)
            if plan.task == "regression"
            else torch.zeros(n, dtype=torch.long, device=device)
        )
    elif len(out) >= 2:  # per-position logits (language model): (n, L) targets
        y = torch.zeros((n, *out[:-1]), dtype=torch.long, device=device)
    else:
        y = torch.zeros(n, dtype=torch.long, device=device)
    return x, y


def _loss_function(plan: _Plan):
    import torch.nn.functional as F

    mse = plan.task == "regression" or getattr(plan.config, "loss", "cross_entropy") == "mse"
    classification = plan.task != "regression"

    def loss_of(out, y):
        if mse:
            if classification:
                y = F.one_hot(y, out.shape[-1]).to(out.dtype)
            return F.mse_loss(out.float(), y.float())
        if out.ndim > 2:
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        return F.cross_entropy(out, y)

    return loss_of


def _autocast(plan: _Plan, device):
    import torch

    if plan.precision not in ("fp16", "bf16"):
        return contextlib.nullcontext
    dtype = torch.bfloat16 if plan.precision == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def _layer_rows(tracker, model, plan: _Plan) -> list[LayerMemory]:
    from torch.distributed._tools.mem_tracker import _ModState

    act = _ref("Activation")
    rows = []
    for index, child in enumerate(model.children()):
        stats = tracker.memory_tracking.get(child)
        if stats is None:
            continue
        pre = stats.snapshots.get(_ModState.PRE_FW, [{}])[0]
        post = stats.snapshots.get(_ModState.POST_FW, [{}])[0]
        kept = sum(post[d].get(act, 0) - pre.get(d, {}).get(act, 0) for d in post)
        rows.append(
            LayerMemory(
                index=index,
                type=plan.layer_types[index] if index < len(plan.layer_types) else type(child).__name__,
                parameter_bytes=int(stats.parameter_mem + stats.buffer_mem),
                activation_bytes=max(0, int(kept)),
                peak_bytes=int(max(stats.local_peak.values(), default=0)),
            )
        )
    return rows


def _tracker_class():
    from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker, _MemRefType

    class TopLevelTracker(MemTracker):
        """MemTracker that keeps per-module peaks for the model's top-level layers only (the stock one walks
        every module on every operation: 3.7 of 6 s for a 12-layer encoder), and that accepts frozen
        parameters (the stock one registers a gradient hook on every parameter, which torch refuses on a
        tensor without requires_grad)."""

        def __init__(self, watched) -> None:
            super().__init__()
            self._watched_modules = watched
            self._watched_stats: list = []
            self._watched_count = -1

        def _track_module_params_and_buffers(self, module, install_grad_hooks: bool = True):
            found = super()._track_module_params_and_buffers(module, install_grad_hooks=False)
            if install_grad_hooks:
                for param in module.parameters():
                    if param.requires_grad and self._param_to_grad_hook_handles.get(param, None) is None:
                        self._param_to_grad_hook_handles[param] = (
                            param.register_hook(self._track_gradient),
                            param.register_post_accumulate_grad_hook(lambda p: self._track_gradient(p.grad)),
                        )
            return found

        def _track_gradient(self, grad) -> None:
            self._update_and_maybe_create_winfos(grad, _MemRefType.GRAD)

        def _update_peak_stats(self, peak_state) -> None:
            curr = self._curr_mem_snap
            if self._watched_count != len(self.memory_tracking):
                self._watched_count = len(self.memory_tracking)
                self._watched_stats = [
                    s for m in self._watched_modules if (s := self.memory_tracking.get(m)) is not None
                ]
            parents = self._mod_tracker.parents
            for stats in self._watched_stats:
                if stats.mod_fqn in parents and peak_state in stats.snapshots:
                    for dev, dev_snap in curr.items():
                        if stats.local_peak.get(dev, 0) < dev_snap[_TOTAL_KEY]:
                            stats.local_peak[dev] = dev_snap[_TOTAL_KEY]
            for dev, dev_snap in curr.items():
                if self._peak_mem.get(dev, 0) < dev_snap[_TOTAL_KEY]:
                    self._peak_mem[dev] = dev_snap[_TOTAL_KEY]
                    self._peak_mem_snap[dev] = dict(dev_snap)

    return TopLevelTracker


def _TopLevelTracker(watched):  # noqa: N802 - builds the class on first use (torch is imported lazily)
    global _TRACKER
    if _TRACKER is None:
        _TRACKER = _tracker_class()
    return _TRACKER(watched)


_TRACKER: Any = None


def _rounded_info_class():
    """MemTracker's storage record with the CUDA allocator's rounding, for a CUDA trace on CPU tensors."""
    global _ROUNDED
    if _ROUNDED is None:
        from torch.distributed._tools.mem_tracker import _WeakRefInfo

        class CudaRoundedInfo(_WeakRefInfo):
            def _calculate_mem_consumed(self) -> int:
                mem = self.size * self.element_size
                return math.ceil(mem / CUDA_MIN_ALLOCATION) * CUDA_MIN_ALLOCATION

        _ROUNDED = CudaRoundedInfo
    return _ROUNDED


_ROUNDED: Any = None


# -- fallbacks ------------------------------------------------------------------------------------------------
def _extrapolate(plan: _Plan):
    """Real CPU tensors at half and a quarter of the batch (real memory: about half the estimate). The peak is the
    larger of two phases: forward, loss and backward, affine in the batch (extended linearly), and the optimizer
    step, which only the batch's inputs make grow; the categories are extended linearly (exact at batch 2 or less)."""
    b = plan.batch_size
    b2 = min(
        b, max(2, b // 2)
    )  # near the batch: small batches may peak elsewhere (weights' gradients, the step)
    b1 = max(1, b2 // 2)
    small = _trace(plan, fake=False, batch=b1)
    large = _trace(plan, fake=False, batch=b2)

    def extend(a: int, c: int) -> int:
        return int(c + (c - a) * (b - b2) / (b2 - b1)) if b2 > b1 else int(c)

    categories = {k: extend(small[1][k], large[1][k]) for k in small[1]}
    model_phase = extend(small[4], large[4])
    optimizer_phase = large[0] + categories["inputs"] - large[1]["inputs"] if large[0] > large[4] else 0
    layers = [
        LayerMemory(
            r1.index,
            r1.type,
            r1.parameter_bytes,
            extend(r1.activation_bytes, r2.activation_bytes),
            extend(r1.peak_bytes, r2.peak_bytes),
        )
        for r1, r2 in zip(small[2], large[2], strict=False)
    ]
    return max(model_phase, optimizer_phase), categories, layers, small[3]


def _analytic(plan: _Plan, analysis):
    """Weights, gradients of the trainable ones, optimizer states, and every layer's output kept once."""
    states = {"sgd": 1 if getattr(plan.config, "momentum", 0) else 0, "rmsprop": 1}.get(
        getattr(plan.config, "optimizer", "adam"), 2
    )
    elem = 4 if plan.precision == "fp32" else 2
    total, trainable = analysis.total_params, analysis.trainable_params
    values = sum(r.activations for r in analysis.layers)
    categories = dict.fromkeys(CATEGORIES.values(), 0)
    categories["parameters"] = 4 * total
    categories["gradients"] = 4 * trainable
    categories["optimizer_states"] = 4 * trainable * states
    categories["activations"] = plan.batch_size * values * elem
    inputs = math.prod(plan.spec.input_shape) * (8 if plan.token_input else 4)
    categories["inputs"] = plan.batch_size * plan.accumulation * inputs
    return sum(categories.values()), categories, [], (trainable, total)
