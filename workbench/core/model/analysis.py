"""Live analysis of a spec without real weights: per layer the output shape, parameters and MACs, the error at
the failing layer with a one-click fix, and totals (parameters, size, activations; the training
memory is traced by workbench/core/memory).

Layers with shape / parameter / MAC rules (all built-ins but TorchvisionModel) are analyzed in plain Python;
the others are built once on torch's meta device (no memory, no weights), their result cached by parameters
and input shape. `apply_fix` performs a suggested fix on a spec.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from typing import Any

from workbench.core.errors import UserError
from workbench.core.model.registry import Fix, LayerError, LayerType, get_layer_type
from workbench.core.model.spec import LayerSpec, ModelSpec
from workbench.core.units import shape_text

ENGINE_KEYS = ("body", "body_shape", "body_code", "body_present")
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass
class LayerReport:
    path: tuple[int, ...]
    type: str
    params: dict[str, Any] = field(default_factory=dict)  # resolved: defaults and inferred values filled in
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    num_params: int = 0  # including a composite's body
    trainable_params: int = 0
    macs: int = 0
    activations: int = 0  # values this layer (and its body) produces per sample
    error: str | None = None
    fix: Fix | None = None
    warning: str | None = None
    warning_fix: Fix | None = None
    children: list[LayerReport] = field(default_factory=list)
    details: dict[str, Any] | None = (
        None  # an imported model's modules and unmapped parts (layers_pretrained)
    )

    @property
    def index(self) -> int:
        return self.path[-1]

    @property
    def label(self) -> str:
        return ".".join(map(str, self.path))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "index": self.index,
            "type": self.type,
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "params": self.num_params,
            "macs": self.macs,
            "error": self.error,
        }
        if self.warning:
            out["warning"] = self.warning
        if self.fix:
            out["fix"] = self.fix.to_dict()
        if self.children:
            out["layers"] = [c.to_dict() for c in self.children]
        if self.details:
            out.update(self.details)
        return out


@dataclass
class Analysis:
    input_shape: tuple[int, ...]
    layers: list[LayerReport]
    output_shape: tuple[int, ...] | None
    error: str | None = None  # the first error, "layer 3 (Linear): ..."
    error_path: tuple[int, ...] | None = None
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0
    batch_size: int = 1
    param_bytes: int = 0
    activation_bytes: int = 0  # every layer's output for the batch (the training peak: core/memory)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def size_mb(self) -> float:
        return self.param_bytes / 1e6

    def walk(self):
        """Every report, depth first (a composite before its body)."""
        stack = list(reversed(self.layers))
        while stack:
            report = stack.pop()
            yield report
            stack.extend(reversed(report.children))

    def find(self, path) -> LayerReport | None:
        return next((r for r in self.walk() if r.path == tuple(path)), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "size_mb": round(self.size_mb, 4),
            "batch_size": self.batch_size,
            "activation_bytes": self.activation_bytes,
            "warnings": self.warnings,
            "layers": [r.to_dict() for r in self.layers],
        }


_CACHE: dict[tuple, tuple] = {}
_CACHE_MAX = 4096


def analyze(
    spec: ModelSpec,
    batch_size: int = 1,
    num_classes: int | None = None,
    input_dtype: str = "float32",
    precision: str = "fp32",
) -> Analysis:
    """Shapes, parameters, MACs, memory and the first error of `spec`, for a batch of `batch_size`."""
    in_shape = tuple(spec.input_shape)
    if not spec.layers:
        return Analysis(
            in_shape,
            [],
            None,
            error="the network has no layers; add one from the palette or pick a template",
            batch_size=batch_size,
        )
    state = _Walk(token_input=input_dtype == "int64")
    reports, out_shape = state.walk(spec.layers, in_shape, ())
    result = Analysis(in_shape, reports, out_shape, state.error, state.error_path, batch_size=batch_size)
    result.total_params = sum(r.num_params for r in reports)
    result.trainable_params = sum(r.trainable_params for r in reports)
    result.total_macs = sum(r.macs for r in reports)
    elem = DTYPE_BYTES.get(precision, 4)
    result.param_bytes = result.total_params * 4
    values = sum(r.activations for r in reports) + _prod(in_shape)
    result.activation_bytes = batch_size * values * elem
    if result.ok and num_classes:
        _check_head(result, num_classes)
    return result


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


class _Walk:
    def __init__(self, token_input: bool):
        self.token_input = token_input
        self.error: str | None = None
        self.error_path: tuple[int, ...] | None = None

    def walk(self, layers: list[LayerSpec], in_shape, prefix: tuple[int, ...]):
        reports, shape = [], in_shape
        for i, layer in enumerate(layers):
            report = LayerReport(prefix + (i,), layer.type, input_shape=shape)
            reports.append(report)
            if self.error is not None or shape is None:
                shape = None
                continue
            try:
                shape = self._layer(report, layer, shape)
            except LayerError as exc:
                report.error = exc.message
                report.fix = replace(exc.fix, path=report.path + exc.fix.path) if exc.fix else None
                shape = None
                if self.error is None:
                    self.error = f"layer {report.label} ({layer.type}): {exc.message}"
                    self.error_path = report.path
        return reports, shape

    def _layer(self, report: LayerReport, layer: LayerSpec, shape):
        try:
            lt = get_layer_type(layer.type)
        except UserError as exc:
            raise LayerError(str(exc)) from None
        first = report.path == (0,)
        tokens = lt.token_input or bool(lt.extra.get("tokens", lambda p: False)(layer.params))
        if tokens and not first:
            raise LayerError(f"{lt.name} takes integer token ids, so it must be the network's first layer")
        if first and self.token_input and not tokens:
            raise LayerError(
                "the dataset gives integer token ids; start the network with an Embedding",
                Fix("Insert Embedding first", "insert", (), {"type": "Embedding"}),
            )
        if lt.composite:
            return self._composite(report, layer, lt, shape)
        if layer.layers is not None:
            raise LayerError(f"{lt.name} has no body; remove its 'layers'")
        key = (lt.name, json.dumps(layer.params, sort_keys=True, default=str), tuple(shape), first)
        cached = _CACHE.get(key)
        if cached is None:
            p = lt.resolve(layer.params, tuple(shape))
            cached = _stats(lt, p, tuple(shape))
            if len(_CACHE) > _CACHE_MAX:
                _CACHE.clear()
            _CACHE[key] = cached
        (
            report.params,
            report.output_shape,
            report.num_params,
            report.trainable_params,
            report.macs,
            report.activations,
        ) = copy.deepcopy(cached[0]), *cached[1:]
        if "details" in lt.extra:
            report.details = lt.extra["details"](report.params, tuple(shape))
        return report.output_shape

    def _composite(self, report, layer, lt: LayerType, shape):
        children, body_shape = self.walk(layer.layers or [], shape, report.path)
        report.children = children
        if any(c.error for c in children):
            bad = next(c for c in children if c.error)
            report.error = f"layer {bad.label} inside it: {bad.error}"
            return None
        extra = {"body_shape": body_shape if children else tuple(shape), "body_present": bool(children)}
        p = lt.resolve(layer.params, tuple(shape), extra)
        own = _stats(lt, p, tuple(shape))
        report.params = own[0]
        report.output_shape = own[1]
        report.num_params = own[2] + sum(c.num_params for c in children)
        report.trainable_params = own[3] + sum(c.trainable_params for c in children)
        report.macs = own[4] + sum(c.macs for c in children)
        report.activations = own[5] + sum(c.activations for c in children)
        return report.output_shape


def _stats(lt: LayerType, p: dict, shape: tuple) -> tuple:
    """(resolved params, output shape, params, trainable, MACs, activation values) from rules or the meta device."""
    if "stats" in lt.extra:  # a layer that measures itself (an imported model: layers_pretrained)
        stats = lt.extra["stats"](p, shape)
        _check_output(lt, shape, stats[1])
        return (_public(stats[0]), *stats[1:])
    if lt.shape and lt.count_params and (lt.macs or lt.count_params(p, shape) == 0):
        out = tuple(lt.shape(p, shape))
        _check_output(lt, shape, out)
        n = lt.count_params(p, shape)
        macs = lt.macs(p, shape, out) if lt.macs else 0
        return _public(p), out, n, n, macs, _prod(out)
    out, n, trainable, macs, acts = _meta_stats(lt, p, shape)
    _check_output(lt, shape, out)
    return _public(p), out, n, trainable, macs, acts


def _public(p: dict) -> dict:
    return {k: v for k, v in p.items() if k not in ENGINE_KEYS}


def _check_output(lt, shape, out) -> None:
    if any(d < 1 for d in out):
        raise LayerError(
            f"{lt.name} turns its {shape_text(shape, 'x')} input into an empty {shape_text(out, 'x')} output; "
            "reduce the kernel or stride, add padding, or downsample less before it"
        )


def _meta_stats(lt: LayerType, p: dict, shape: tuple):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from workbench.core.model.build import instantiate_on_meta

    try:
        with torch.device("meta"):
            module = instantiate_on_meta(lt, p, shape).eval()
            dtype = torch.long if lt.token_input else torch.float32
            x = torch.empty((2, *shape), dtype=dtype)
            leaf_values = [0]

            def count(_m, _i, out):
                if isinstance(out, torch.Tensor):
                    leaf_values[0] += out[0].numel()

            hooks = [m.register_forward_hook(count) for m in module.modules() if not list(m.children())]
            norms = _NormAndAddCounter(module)
            with FlopCounterMode(display=False) as flops, norms:
                y = module(x)
            for h in hooks:
                h.remove()
            norms.remove()
    except (LayerError, UserError):
        raise
    except Exception as exc:  # noqa: BLE001 - torch says why the layer does not fit this input
        raise LayerError(
            f"{lt.name} does not accept a {shape_text(shape, 'x')} input: {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(y, torch.Tensor):
        raise LayerError(f"{lt.name} returns a {type(y).__name__}, not a tensor")
    n = sum(t.numel() for t in module.parameters())
    trainable = sum(t.numel() for t in module.parameters() if t.requires_grad)
    macs = flops.get_total_flops() // 2 // 2 + norms.per_sample(2)
    return tuple(y.shape[1:]), n, trainable, macs, max(leaf_values[0], y[0].numel())


def _norm_and_add_counter():
    """The one MAC convention, for built-in layers and any module alike (torchvision backbones, plugins):
    multiply-accumulates of convolutions / linear / matmuls (torch's FlopCounterMode, which omits the rest),
    plus one per element for normalization (BatchNorm, LayerNorm, GroupNorm, InstanceNorm) and for an addition
    of two same-shaped tensors (a residual add), as the Residual and normalization rules count them.
    Activations, pooling, dropout and element-wise products (squeeze-excitation gates) count 0."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    norm_types = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)
    adds = {torch.ops.aten.add.Tensor, torch.ops.aten.add_.Tensor}

    class Counter(TorchDispatchMode):
        def __init__(self, module):
            super().__init__()
            self.total = 0
            self.hooks = [
                m.register_forward_pre_hook(self._norm) for m in module.modules() if isinstance(m, norm_types)
            ]

        def _norm(self, _module, args):
            if args and isinstance(args[0], torch.Tensor):
                self.total += args[0].numel()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if (
                func in adds
                and len(args) >= 2
                and all(isinstance(a, torch.Tensor) for a in args[:2])
                and args[0].shape == args[1].shape == out.shape
            ):
                self.total += out.numel()
            return out

        def per_sample(self, batch: int) -> int:
            return self.total // batch

        def remove(self) -> None:
            for hook in self.hooks:
                hook.remove()

    return Counter


def _NormAndAddCounter(module):  # noqa: N802 - a class built on first use (torch imported lazily)
    global _COUNTER
    if _COUNTER is None:
        _COUNTER = _norm_and_add_counter()
    return _COUNTER(module)


_COUNTER = None


def _check_head(result: Analysis, num_classes: int) -> None:
    """Flag a network whose output is not one score per class, on the layer that sets the size."""
    out = result.output_shape
    if out is not None and len(out) == 1 and out[0] == num_classes:
        return
    last = result.layers[-1]
    if last.type == "LMHead" and out is not None and len(out) == 2:
        # a language model: next-token scores over the vocabulary (the data's num_classes) at every position
        if out[1] != num_classes:
            last.warning = (
                f"LMHead gives {out[1]} scores per step but the vocabulary has {num_classes} tokens; "
                f"set vocab_size to {num_classes}"
            )
            last.warning_fix = Fix(
                f"Set vocab_size to {num_classes}", "set", last.path, {"vocab_size": num_classes}
            )
            result.warnings.append(f"layer {last.label}: {last.warning}")
        return
    if out is None or len(out) != 1:
        last.warning = (
            f"the network ends in a {shape_text(out or (), 'x')} tensor, not {num_classes} class scores; "
            f"add Flatten and Linear({num_classes})"
        )
        last.warning_fix = Fix(
            f"Append Flatten + Linear({num_classes})",
            "insert",
            (len(result.layers),),
            [{"type": "Flatten"}, {"type": "Linear", "out_features": num_classes}],
        )
        result.warnings.append(f"layer {last.label}: {last.warning}")
        return
    for report in reversed(result.layers):
        key = next((k for k in ("out_features", "num_classes") if k in report.params), None)
        if key:
            report.warning = (
                f"the network gives {out[0]} outputs but the dataset has {num_classes} classes; "
                f"set {key} to {num_classes}"
            )
            report.warning_fix = Fix(f"Set {key} to {num_classes}", "set", report.path, {key: num_classes})
            result.warnings.append(f"layer {report.label}: {report.warning}")
            return
    last.warning = f"the network gives {out[0]} outputs but the dataset has {num_classes} classes"
    last.warning_fix = Fix(
        f"Append Linear({num_classes})",
        "insert",
        (len(result.layers),),
        {"type": "Linear", "out_features": num_classes},
    )
    result.warnings.append(f"layer {last.label}: {last.warning}")


def apply_fix(spec: ModelSpec, fix: Fix) -> ModelSpec:
    """A new spec with `fix` applied (the old one is left untouched, so the edit can be undone)."""
    doc = spec.to_dict()
    *parents, last = fix.path
    layers = doc["layers"]
    for i in parents:
        layers = layers[i].setdefault("layers", [])
    if fix.op == "insert":
        new = fix.layer if isinstance(fix.layer, list) else [fix.layer]
        layers[last:last] = copy.deepcopy(new)
    elif fix.op == "replace":
        layers[last] = copy.deepcopy(fix.layer)
    elif fix.op == "set":
        assert isinstance(fix.layer, dict), fix  # "set" carries the keys to set on one layer
        for key, value in fix.layer.items():
            if value is None:
                layers[last].pop(key, None)
            else:
                layers[last][key] = copy.deepcopy(value)
    else:
        raise ValueError(f"unknown fix op {fix.op}")
    return ModelSpec.model_validate(doc)
