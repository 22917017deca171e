"""The layer registry: the public door through which built-in and plugin layers enter the builder.

A `LayerType` describes one spec `type` (usually a `torch.nn` class name): its palette category, a typed
parameter schema (names, kinds, defaults, ranges, choices, tooltips, which are inferred from the input
shape), how to build it, and optional fast rules for shapes, parameter counts and MACs. Without the rules
the analysis falls back to building the layer on the meta device. Built-ins register through
`register_layer` exactly as a plugin would (see `workbench.core.model.layers`).

Shapes here never include the batch dimension. Nothing in this module imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.core.registry import Registry

REQUIRED = object()  # Param.default for parameters the user must give
PARAM_KINDS = ("int", "float", "bool", "choice", "ints", "shape", "str")
CATEGORIES = (
    "Core",
    "Convolution",
    "Pooling",
    "Normalization",
    "Regularization",
    "Activation",
    "Sequence",
    "Attention",
    "Reshape",
    "Composite",
    "Pretrained",
)

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Param:
    """One constructor argument as the property editor and the validator see it.

    kind: "int" | "float" | "bool" | "choice" | "ints" (an int, or a list of `size` ints such as a 2-D kernel) |
    "shape" (a list of positive ints) | "str". `inferred` params may be omitted: they come from the input shape.
    `ctor` False means the value shapes the layer but is not passed to the torch constructor as is.
    """

    name: str
    kind: str
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    doc: str = ""
    inferred: bool = False
    optional: bool = False  # None is an allowed value (e.g. a pooling stride that defaults to the kernel)
    size: int = 1  # for "ints": how many values a list form holds
    ctor: bool = True

    @property
    def required(self) -> bool:
        return self.default is REQUIRED and not self.inferred

    def check(self, value: Any) -> Any:
        """The validated value (ints as int, pairs as lists), or ValueError saying what is wrong."""
        if value is None:
            if self.optional or self.inferred:
                return None
            raise ValueError("must be set")
        if self.kind == "int":
            return self._check_range(_as_int(value))
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"must be a number, not {value!r}")
            return self._check_range(float(value))
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, not {value!r}")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"must be one of {', '.join(map(str, self.choices))}, not {value!r}")
            return value
        if self.kind == "ints":
            if isinstance(value, list | tuple):
                if len(value) != self.size:
                    raise ValueError(f"must be one number or a list of {self.size}, not {list(value)!r}")
                return [self._check_range(_as_int(v)) for v in value]
            return self._check_range(_as_int(value))
        if self.kind == "shape":
            if not isinstance(value, list | tuple) or not value:
                raise ValueError(f"must be a list of sizes such as [32, 4, 4], not {value!r}")
            vals = [_as_int(v) for v in value]
            if any(v < 1 for v in vals):
                raise ValueError(f"sizes must be 1 or more, not {list(value)!r}")
            return vals
        if self.kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"must be text, not {value!r}")
            return value
        raise ValueError(f"unknown parameter kind {self.kind}")

    def _check_range(self, v):
        if self.minimum is not None and v < self.minimum:
            raise ValueError(f"must be at least {_fmt(self.minimum)}, not {_fmt(v)}")
        if self.maximum is not None and v > self.maximum:
            raise ValueError(f"must be at most {_fmt(self.maximum)}, not {_fmt(v)}")
        return v


MAX_WHOLE = 2**63 - 1  # the largest size or count torch can hold (int64)


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a whole number, not {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"must be a whole number, not {value!r}")
    if abs(value) > MAX_WHOLE:
        from workbench.core.units import huge_text

        raise ValueError(f"must be at most 2**63-1 (torch's largest size), not {huge_text(int(value))}")
    return int(value)


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@dataclass(frozen=True)
class Fix:
    """A one-click repair the GUI can apply (`workbench.core.model.analysis.apply_fix`): "insert" `layer` before
    `path`, "replace" the layer at `path` by `layer`, or "set" the keys of `layer` on it (None removes a key).
    Rules raise it with path (); the analysis fills in the layer's real path."""

    label: str
    op: str  # "insert" | "replace" | "set"
    path: tuple[int, ...]
    layer: dict[str, Any] | list[dict[str, Any]]  # "insert" may insert several layers

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "op": self.op, "path": list(self.path), "layer": self.layer}


class LayerError(Exception):
    """A layer does not fit its input or its parameters are wrong; `fix` repairs it when one is known."""

    def __init__(self, message: str, fix: Fix | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class LayerType:
    """Everything the builder needs to know about one layer `type`.

    build(p, in_shape) -> nn.Module, from the resolved parameters (defaults and inferred values filled in).
    infer(p, in_shape) -> p: fill the inferred params and check the input fits (raise LayerError with a Fix).
    shape / count_params / macs: optional fast rules; without them the analysis builds on the meta device.
    code(p, in_shape) -> a Python expression for the generated file; default `nn.<name>(<ctor kwargs>)`.
    code_helpers: names in workbench.core.model.modules (or "package.module:name", for plugins) whose source
    the generated file must include.
    load_weights(module, p): called after a real (non-meta) build, e.g. to load a local weights file.
    """

    name: str
    category: str
    params: tuple[Param, ...] = ()
    doc: str = ""
    build: Callable[[dict, Shape], Any] | None = None
    infer: Callable[[dict, Shape], dict] | None = None
    shape: Callable[[dict, Shape], Shape] | None = None
    count_params: Callable[[dict, Shape], int] | None = None
    macs: Callable[[dict, Shape, Shape], int] | None = None
    code: Callable[[dict, Shape], str] | None = None
    code_helpers: tuple[str, ...] = ()
    code_imports: tuple[str, ...] = ()
    load_weights: Callable[[Any, dict], None] | None = None
    composite: bool = False  # has a `layers` body (Residual)
    token_input: bool = False  # takes int64 token ids (Embedding): must come first
    extra: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def ctor_kwargs(self, p: dict) -> dict:
        return {q.name: _tuple(p[q.name]) for q in self.params if q.ctor and q.name in p}

    def resolve(self, raw: dict, in_shape: Shape, extra: dict | None = None) -> dict:
        """Check the raw spec params against the schema, fill defaults, then infer from `in_shape`.
        `extra` carries what the engine adds for composites (body_shape) before `infer` runs."""
        known = {q.name for q in self.params}
        for key in raw:
            if key not in known:
                hint = f" (it has {', '.join(sorted(known))})" if known else " (it takes no parameters)"
                raise LayerError(f"unknown parameter '{key}' for {self.name}{hint}; remove it")
        p: dict[str, Any] = {}
        for q in self.params:
            if q.name in raw:
                try:
                    p[q.name] = q.check(raw[q.name])
                except ValueError as exc:
                    raise LayerError(f"{q.name} {exc}") from None
            elif q.required:
                raise LayerError(f"{self.name} needs {q.name} ({q.doc or q.kind}); set it in the properties")
            elif not q.inferred:
                p[q.name] = list(q.default) if isinstance(q.default, list) else q.default
        p.update(extra or {})
        return self.infer(p, in_shape) if self.infer else p


def _tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _load_builtin_layers() -> None:
    import workbench.core.model.layers  # noqa: F401 - registers the built-ins


def _did_you_mean(name: str, known: list[str]) -> str:
    close = [n for n in known if n.lower() == str(name).lower()]
    return f"; did you mean {close[0]}?" if close else "; pick a layer from the palette"


LAYERS: Registry[LayerType] = Registry("layer type", lambda t: t.name, _load_builtin_layers, _did_you_mean)
add_missing_hint = LAYERS.add_missing_hint
unregister_layer = LAYERS.unregister
get_layer_type = LAYERS.lookup


def register_layer(layer_type: LayerType, replace: bool = False, only_here: bool = False) -> LayerType:
    """Add a layer type to the palette, the spec validator, the builder and the code exporter."""
    if not isinstance(layer_type, LayerType):
        raise TypeError("register_layer takes a LayerType")
    if not layer_type.name.isidentifier():
        raise ValueError(f"layer type name {layer_type.name!r} must be a Python identifier")
    if layer_type.build is None:
        raise ValueError(f"layer type {layer_type.name} has no build function")
    bad = [q.name for q in layer_type.params if q.kind not in PARAM_KINDS]
    if bad:
        raise ValueError(f"layer type {layer_type.name}: unknown parameter kind for {bad}")
    return LAYERS.register(layer_type, replace, only_here)


def layer_types() -> dict[str, LayerType]:
    """All registered layer types, by name (built-ins first, in palette order)."""
    return {t.name: t for t in LAYERS.items()}
