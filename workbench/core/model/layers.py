"""Built-in layers, registered through `register_layer` exactly as a plugin would. Shape, parameter and MAC
rules are plain Python (no torch): the analysis only builds a layer on the meta device when it has none.
Sequence layers and composites live in `layers_sequence.py` and `layers_composite.py`."""

from __future__ import annotations

import math

from workbench.core.model.registry import Fix, LayerError, LayerType, Param, register_layer
from workbench.core.units import shape_text

CHANNELS = "inferred from the input's channel dimension when left empty"


def prod(shape) -> int:
    return math.prod(shape) if shape else 1


def pair(v, n: int) -> list[int]:
    return list(v) if isinstance(v, list | tuple) else [v] * n


def torch_build(name: str):
    def build(p, in_shape, _lt=[]):  # noqa: B006 - cache the LayerType lookup
        from torch import nn

        from workbench.core.model.registry import get_layer_type

        if not _lt:
            _lt.append(get_layer_type(name))
        return getattr(nn, name)(**_lt[0].ctor_kwargs(p))

    return build


def need_rank(name: str, in_shape, ranks: tuple[int, ...], what: str, fix: Fix | None = None) -> None:
    if len(in_shape) not in ranks:
        raise LayerError(f"{name} needs {what} but receives {shape_text(in_shape, 'x')}", fix)


def check_inferred(p: dict, key: str, actual: int, name: str, spec_p: dict | None = None) -> dict:
    """Fill an inferred size, or check a given one against the input; a mismatch offers 'set it'."""
    given = p.get(key)
    if given is not None and given != actual:
        raise LayerError(
            f"{name} {key} is {given} but the input has {actual}; set {key} to {actual}",
            Fix(f"Set {key} to {actual}", "set", (), {key: actual}),
        )
    p[key] = actual
    return p


def unflatten_fix(in_shape, channels: int | None = None) -> Fix | None:
    """For a flat input reaching a 2-D layer: Unflatten to a square 1xSxS (or CxSxS) image when possible."""
    n = in_shape[0]
    for c in ([channels] if channels else []) + [1]:
        side = math.isqrt(n // c) if n % c == 0 else 0
        if side and c * side * side == n:
            return Fix(
                f"Insert Unflatten to {c}x{side}x{side} before it",
                "insert",
                (),
                {"type": "Unflatten", "dim": 1, "unflattened_size": [c, side, side]},
            )
    return None


# -- Core ----------------------------------------------------------------------------------------------------
def _linear_infer(p, s):
    if len(s) >= 3 or (
        len(s) == 2 and p.get("in_features") not in (None, s[-1]) and p["in_features"] == prod(s)
    ):
        want = f"expects {p['in_features']} inputs" if p.get("in_features") else "needs a flat input"
        raise LayerError(
            f"Linear {want} but receives a {shape_text(s, 'x')} tensor ({prod(s)} values per sample); "
            "insert Flatten before it",
            Fix("Insert Flatten before it", "insert", (), {"type": "Flatten"}),
        )
    return check_inferred(p, "in_features", s[-1], "Linear")


register_layer(
    LayerType(
        "Linear",
        "Core",
        doc="Fully connected layer: y = xW^T + b over the last dimension.",
        params=(
            Param("in_features", "int", minimum=1, inferred=True, doc=f"Input size; {CHANNELS}"),
            Param(
                "out_features", "int", 10, 1, 1_000_000, doc="Output size (the number of classes for a head)"
            ),
            Param("bias", "bool", True, doc="Learn an additive bias"),
        ),
        build=torch_build("Linear"),
        infer=_linear_infer,
        shape=lambda p, s: (*s[:-1], p["out_features"]),
        count_params=lambda p, s: (
            p["in_features"] * p["out_features"] + (p["out_features"] if p["bias"] else 0)
        ),
        macs=lambda p, s, o: prod(o) * p["in_features"],
    )
)

register_layer(
    LayerType(
        "Identity",
        "Core",
        doc="Passes its input through unchanged (a placeholder).",
        build=torch_build("Identity"),
        shape=lambda p, s: s,
        count_params=lambda p, s: 0,
    )
)


# -- Convolution & pooling -----------------------------------------------------------------------------------
def conv_out(size: int, k: int, s: int, pad: int, d: int = 1) -> int:
    return (size + 2 * pad - d * (k - 1) - 1) // s + 1


def _spatial_check(name, p, in_shape, dims: int, kernel_key="kernel_size", dilation=True):
    k = pair(p[kernel_key], dims)
    pad = pair(p.get("padding", 0), dims)
    d = pair(p.get("dilation", 1), dims) if dilation else [1] * dims
    spatial = in_shape[1:]
    for i in range(dims):
        span = d[i] * (k[i] - 1) + 1
        if span > spatial[i] + 2 * pad[i]:
            biggest = max(1, (spatial[i] + 2 * pad[i] - 1) // d[i] + 1)
            raise LayerError(
                f"{name} {kernel_key} {k[i]} is larger than its {shape_text(spatial, 'x')} input "
                f"(padding {pad[i]}); use kernel_size {biggest} or less, add padding, or pool less "
                "before it",
                Fix(f"Set {kernel_key} to {biggest}", "set", (), {kernel_key: biggest}),
            )


def _conv_infer(dims: int, name: str, transposed: bool = False):
    rank_fix = None

    def infer(p, s):
        what = "a channels x length input (C, L)" if dims == 1 else "an image input (C, H, W)"
        fix = unflatten_fix(s) if dims == 2 and len(s) == 1 else rank_fix
        need_rank(name, s, (dims + 1,), what, fix)
        p = check_inferred(p, "in_channels", s[0], name)
        g = p.get("groups", 1)
        if p["in_channels"] % g or p["out_channels"] % g:
            raise LayerError(
                f"{name} groups {g} must divide in_channels {p['in_channels']} and "
                f"out_channels {p['out_channels']}"
            )
        if not transposed:
            _spatial_check(name, p, s, dims)
        return p

    return infer


def _conv_shape(dims: int):
    def shape(p, s):
        k, st, pad, d = (pair(p[key], dims) for key in ("kernel_size", "stride", "padding", "dilation"))
        return (p["out_channels"], *(conv_out(s[1 + i], k[i], st[i], pad[i], d[i]) for i in range(dims)))

    return shape


def _conv_params(dims: int):
    def count(p, s):
        k = prod(pair(p["kernel_size"], dims))
        return p["out_channels"] * (p["in_channels"] // p["groups"]) * k + (
            p["out_channels"] if p["bias"] else 0
        )

    return count


def _conv_macs(dims: int):
    return lambda p, s, o: prod(o) * (p["in_channels"] // p["groups"]) * prod(pair(p["kernel_size"], dims))


def _conv_params_schema(dims: int, transposed: bool = False):
    out: tuple[Param, ...] = (
        Param("in_channels", "int", minimum=1, inferred=True, doc=f"Input channels; {CHANNELS}"),
        Param("out_channels", "int", 16, 1, 65_536, doc="Number of filters (output channels)"),
        Param(
            "kernel_size", "ints", 3, 1, 1024, size=dims, doc="Filter size (one number or one per dimension)"
        ),
        Param("stride", "ints", 1, 1, 1024, size=dims, doc="Step between filter positions"),
        Param("padding", "ints", 0, 0, 1024, size=dims, doc="Zeros added on each side of the input"),
    )
    if transposed:
        out += (
            Param(
                "output_padding",
                "ints",
                0,
                0,
                1024,
                size=dims,
                doc="Extra size added to one side of the output (less than stride)",
            ),
        )
    return out + (
        Param("dilation", "ints", 1, 1, 1024, size=dims, doc="Spacing between filter elements"),
        Param("groups", "int", 1, 1, 65_536, doc="Blocked connections; must divide both channel counts"),
        Param("bias", "bool", True, doc="Learn an additive bias per output channel"),
    )


for _dims in (1, 2):
    _name = f"Conv{_dims}d"
    register_layer(
        LayerType(
            _name,
            "Convolution",
            doc=f"{_dims}-D convolution over a (C, {'L' if _dims == 1 else 'H, W'}) input.",
            params=_conv_params_schema(_dims),
            build=torch_build(_name),
            infer=_conv_infer(_dims, _name),
            shape=_conv_shape(_dims),
            count_params=_conv_params(_dims),
            macs=_conv_macs(_dims),
        )
    )


def _convt_shape(p, s):
    k, st, pad, op, d = (
        pair(p[key], 2) for key in ("kernel_size", "stride", "padding", "output_padding", "dilation")
    )
    return (
        p["out_channels"],
        *((s[1 + i] - 1) * st[i] - 2 * pad[i] + d[i] * (k[i] - 1) + op[i] + 1 for i in range(2)),
    )


def _convt_infer(p, s):
    p = _conv_infer(2, "ConvTranspose2d", transposed=True)(p, s)
    st, op = pair(p["stride"], 2), pair(p["output_padding"], 2)
    if any(op[i] >= st[i] for i in range(2)):
        raise LayerError(
            f"ConvTranspose2d output_padding {p['output_padding']} must be smaller than stride {p['stride']}"
        )
    if any(d < 1 for d in _convt_shape(p, s)[1:]):
        raise LayerError(
            f"ConvTranspose2d padding {p['padding']} is too large for its {shape_text(s, 'x')} input"
        )
    return p


register_layer(
    LayerType(
        "ConvTranspose2d",
        "Convolution",
        doc="Transposed 2-D convolution (learned upsampling).",
        params=_conv_params_schema(2, transposed=True),
        build=torch_build("ConvTranspose2d"),
        infer=_convt_infer,
        shape=_convt_shape,
        count_params=lambda p, s: (
            p["in_channels"] * (p["out_channels"] // p["groups"]) * prod(pair(p["kernel_size"], 2))
            + (p["out_channels"] if p["bias"] else 0)
        ),
        macs=lambda p, s, o: prod(s) * (p["out_channels"] // p["groups"]) * prod(pair(p["kernel_size"], 2)),
    )
)


def _pool_infer(dims: int, name: str):
    def infer(p, s):
        need_rank(
            name,
            s,
            (dims + 1,),
            "a channels x length input (C, L)" if dims == 1 else "an image (C, H, W)",
            unflatten_fix(s) if dims == 2 and len(s) == 1 else None,
        )
        k, pad = pair(p["kernel_size"], dims), pair(p["padding"], dims)
        if any(pad[i] * 2 > k[i] for i in range(dims)):
            raise LayerError(
                f"{name} padding {p['padding']} must be at most half of kernel_size {p['kernel_size']}"
            )
        _spatial_check(name, p, s, dims, dilation=name.startswith("Max"))
        return p

    return infer


def _pool_shape(dims: int):
    def shape(p, s):
        k, pad = pair(p["kernel_size"], dims), pair(p["padding"], dims)
        st = pair(p["stride"] if p["stride"] is not None else p["kernel_size"], dims)
        d = pair(p.get("dilation", 1), dims)
        return (s[0], *(conv_out(s[1 + i], k[i], st[i], pad[i], d[i]) for i in range(dims)))

    return shape


def _pool_schema(dims: int, dilation: bool):
    out = (
        Param("kernel_size", "ints", 2, 1, 1024, size=dims, doc="Window size"),
        Param(
            "stride",
            "ints",
            None,
            1,
            1024,
            size=dims,
            optional=True,
            doc="Step between windows (empty: the kernel size)",
        ),
        Param("padding", "ints", 0, 0, 512, size=dims, doc="Implicit padding (at most half the kernel)"),
    )
    return out + (
        (Param("dilation", "ints", 1, 1, 1024, size=dims, doc="Spacing between window elements"),)
        if dilation
        else ()
    )


for _name, _dims, _dil in (("MaxPool1d", 1, True), ("MaxPool2d", 2, True), ("AvgPool2d", 2, False)):
    register_layer(
        LayerType(
            _name,
            "Pooling",
            doc=f"{'Max' if _name.startswith('Max') else 'Average'} over {_dims}-D windows.",
            params=_pool_schema(_dims, _dil),
            build=torch_build(_name),
            infer=_pool_infer(_dims, _name),
            shape=_pool_shape(_dims),
            count_params=lambda p, s: 0,
            macs=lambda p, s, o: 0,
        )
    )


def _adaptive_infer(p, s):
    need_rank("AdaptiveAvgPool2d", s, (3,), "an image (C, H, W)", unflatten_fix(s) if len(s) == 1 else None)
    return p


register_layer(
    LayerType(
        "AdaptiveAvgPool2d",
        "Pooling",
        doc="Average pooling to a fixed output size (1 = global average pooling).",
        params=(Param("output_size", "ints", 1, 1, 4096, size=2, doc="Output height and width"),),
        build=torch_build("AdaptiveAvgPool2d"),
        infer=_adaptive_infer,
        shape=lambda p, s: (s[0], *pair(p["output_size"], 2)),
        count_params=lambda p, s: 0,
        macs=lambda p, s, o: 0,
    )
)


# -- Normalization & regularization --------------------------------------------------------------------------
def _bn_infer(dims: int):
    name = f"BatchNorm{dims}d"
    other = {1: "BatchNorm2d", 2: "BatchNorm1d"}[dims]

    def infer(p, s):
        ranks = (1, 2) if dims == 1 else (3,)
        fits_other = (len(s) == 3) if dims == 1 else (len(s) in (1, 2))
        fix = Fix(f"Use {other} instead", "replace", (), {"type": other}) if fits_other else None
        need_rank(
            name,
            s,
            ranks,
            "features (N) or channels x length (C, L)" if dims == 1 else "an image (C, H, W)",
            fix,
        )
        return check_inferred(p, "num_features", s[0], name)

    return infer


for _dims in (1, 2):
    register_layer(
        LayerType(
            f"BatchNorm{_dims}d",
            "Normalization",
            doc="Normalizes each channel over the batch; learns scale and shift.",
            params=(
                Param("num_features", "int", minimum=1, inferred=True, doc=f"Channels; {CHANNELS}"),
                Param("eps", "float", 1e-5, 0, 1, doc="Added to the variance for stability"),
                Param("momentum", "float", 0.1, 0, 1, doc="Running statistics update rate"),
                Param("affine", "bool", True, doc="Learn scale and shift"),
            ),
            build=torch_build(f"BatchNorm{_dims}d"),
            infer=_bn_infer(_dims),
            shape=lambda p, s: s,
            count_params=lambda p, s: 2 * p["num_features"] if p["affine"] else 0,
            macs=lambda p, s, o: prod(s),
        )
    )


def _ln_infer(p, s):
    given = p.get("normalized_shape")
    if given is not None and list(s[len(s) - len(given) :]) != list(given):
        raise LayerError(
            f"LayerNorm normalized_shape {given} must match the end of its input {shape_text(s, 'x')}",
            Fix("Infer normalized_shape from the input", "set", (), {"normalized_shape": None}),
        )
    p["normalized_shape"] = list(given) if given is not None else [s[-1]]
    return p


register_layer(
    LayerType(
        "LayerNorm",
        "Normalization",
        doc="Normalizes over the last dimension(s) of each sample.",
        params=(
            Param(
                "normalized_shape",
                "shape",
                inferred=True,
                doc="Trailing dims to normalize; the last by default",
            ),
            Param("eps", "float", 1e-5, 0, 1, doc="Added to the variance for stability"),
            Param("elementwise_affine", "bool", True, doc="Learn per-element scale and shift"),
        ),
        build=torch_build("LayerNorm"),
        infer=_ln_infer,
        shape=lambda p, s: s,
        count_params=lambda p, s: 2 * prod(p["normalized_shape"]) if p["elementwise_affine"] else 0,
        macs=lambda p, s, o: prod(s),
    )
)


def _gn_infer(p, s):
    need_rank("GroupNorm", s, (1, 2, 3), "channels first (C, ...)")
    p = check_inferred(p, "num_channels", s[0], "GroupNorm")
    if p["num_channels"] % p["num_groups"]:
        best = max(g for g in range(1, p["num_groups"] + 1) if p["num_channels"] % g == 0)
        raise LayerError(
            f"GroupNorm num_groups {p['num_groups']} must divide the {p['num_channels']} channels; "
            f"use {best}",
            Fix(f"Set num_groups to {best}", "set", (), {"num_groups": best}),
        )
    return p


register_layer(
    LayerType(
        "GroupNorm",
        "Normalization",
        doc="Normalizes groups of channels per sample (batch-size independent).",
        params=(
            Param("num_groups", "int", 8, 1, 65_536, doc="Groups the channels are split into"),
            Param("num_channels", "int", minimum=1, inferred=True, doc=f"Channels; {CHANNELS}"),
            Param("eps", "float", 1e-5, 0, 1, doc="Added to the variance for stability"),
            Param("affine", "bool", True, doc="Learn per-channel scale and shift"),
        ),
        build=torch_build("GroupNorm"),
        infer=_gn_infer,
        shape=lambda p, s: s,
        count_params=lambda p, s: 2 * p["num_channels"] if p["affine"] else 0,
        macs=lambda p, s, o: prod(s),
    )
)

_P = Param(
    "p", "float", 0.5, 0, 1, doc="Probability of zeroing an element (a channel for Dropout2d) in training"
)
register_layer(
    LayerType(
        "Dropout",
        "Regularization",
        (_P,),
        "Randomly zeroes elements while training.",
        build=torch_build("Dropout"),
        shape=lambda p, s: s,
        count_params=lambda p, s: 0,
    )
)


def _dropout2d_infer(p, s):
    need_rank(
        "Dropout2d",
        s,
        (3,),
        "an image (C, H, W)",
        Fix("Use Dropout instead", "replace", (), {"type": "Dropout", "p": p["p"]}),
    )
    return p


register_layer(
    LayerType(
        "Dropout2d",
        "Regularization",
        (_P,),
        "Randomly zeroes whole channels while training.",
        build=torch_build("Dropout2d"),
        infer=_dropout2d_infer,
        shape=lambda p, s: s,
        count_params=lambda p, s: 0,
    )
)


# -- Activations ---------------------------------------------------------------------------------------------
def _dim_infer(name):
    def infer(p, s):
        if not -(len(s) + 1) <= p["dim"] <= len(s):
            raise LayerError(
                f"{name} dim {p['dim']} is out of range for a {shape_text(s, 'x')} input (plus the batch); "
                "use -1 for the last dimension",
                Fix("Set dim to -1", "set", (), {"dim": -1}),
            )
        return p

    return infer


_ACTIVATIONS = (
    ("ReLU", (), "max(0, x)"),
    (
        "LeakyReLU",
        (Param("negative_slope", "float", 0.01, 0, 10, doc="Slope for negative inputs"),),
        "x for x > 0, else negative_slope * x",
    ),
    (
        "GELU",
        (
            Param(
                "approximate", "choice", "none", choices=("none", "tanh"), doc="tanh approximation or exact"
            ),
        ),
        "Gaussian error linear unit (transformers)",
    ),
    ("SiLU", (), "x * sigmoid(x) (swish)"),
    (
        "ELU",
        (Param("alpha", "float", 1.0, 0, 100, doc="Saturation value for negative inputs"),),
        "Exponential linear unit",
    ),
    ("Sigmoid", (), "1 / (1 + exp(-x)), squashes to (0, 1)"),
    ("Tanh", (), "Hyperbolic tangent, squashes to (-1, 1)"),
    (
        "Softmax",
        (Param("dim", "int", -1, -8, 8, doc="Dimension that sums to 1 (-1: the last)"),),
        "Probabilities over a dimension (not needed before cross-entropy loss)",
    ),
    (
        "LogSoftmax",
        (Param("dim", "int", -1, -8, 8, doc="Dimension to normalize (-1: the last)"),),
        "Log of softmax (pair with NLL loss)",
    ),
)
for _name, _params, _doc in _ACTIVATIONS:
    register_layer(
        LayerType(
            _name,
            "Activation",
            _params,
            _doc,
            build=torch_build(_name),
            infer=_dim_infer(_name) if _params and _params[0].name == "dim" else None,
            shape=lambda p, s: s,
            count_params=lambda p, s: 0,
            macs=lambda p, s, o: 0,
        )
    )


# -- Reshape -------------------------------------------------------------------------------------------------
def _flatten_shape(p, s):
    full = (1, *s)
    start, end = (d % len(full) for d in (p["start_dim"], p["end_dim"]))
    return (*full[1:start], prod(full[start : end + 1]), *full[end + 1 :]) if start > 0 else s


def _flatten_infer(p, s):
    n = len(s) + 1
    for key in ("start_dim", "end_dim"):
        if not -n <= p[key] < n:
            raise LayerError(
                f"Flatten {key} {p[key]} is out of range for a {shape_text(s, 'x')} input (plus the batch)"
            )
    start, end = p["start_dim"] % n, p["end_dim"] % n
    if start == 0 or start > end:
        raise LayerError(
            "Flatten start_dim must be 1 or more (keep the batch dimension) and not after end_dim",
            Fix("Flatten from dim 1", "set", (), {"start_dim": 1, "end_dim": -1}),
        )
    return p


register_layer(
    LayerType(
        "Flatten",
        "Reshape",
        doc="Flattens dims start_dim..end_dim into one (C, H, W -> C*H*W).",
        params=(
            Param("start_dim", "int", 1, -8, 8, doc="First dimension to flatten (0 is the batch)"),
            Param("end_dim", "int", -1, -8, 8, doc="Last dimension to flatten (-1: the last)"),
        ),
        build=torch_build("Flatten"),
        infer=_flatten_infer,
        shape=_flatten_shape,
        count_params=lambda p, s: 0,
    )
)


def _unflatten_infer(p, s):
    n = len(s) + 1
    if not 1 <= p["dim"] % n < n or p["dim"] % n == 0:
        raise LayerError(f"Unflatten dim {p['dim']} must name a non-batch dimension of {shape_text(s, 'x')}")
    size = s[p["dim"] % n - 1]
    if prod(p["unflattened_size"]) != size:
        raise LayerError(
            f"Unflatten unflattened_size {shape_text(p['unflattened_size'], 'x')} holds "
            f"{prod(p['unflattened_size'])} values but dimension {p['dim']} has {size}"
        )
    return p


def _unflatten_shape(p, s):
    i = p["dim"] % (len(s) + 1) - 1
    return (*s[:i], *p["unflattened_size"], *s[i + 1 :])


register_layer(
    LayerType(
        "Unflatten",
        "Reshape",
        doc="Splits one dimension into several (C*H*W -> C, H, W).",
        params=(
            Param("dim", "int", 1, -8, 8, doc="Dimension to split (0 is the batch)"),
            Param(
                "unflattened_size", "shape", [1, 8, 8], doc="The sizes it becomes; their product must match"
            ),
        ),
        build=torch_build("Unflatten"),
        infer=_unflatten_infer,
        shape=_unflatten_shape,
        count_params=lambda p, s: 0,
    )
)

import workbench.core.model.layers_attention  # noqa: E402 - MultiheadAttention, Transformer layers, ...
import workbench.core.model.layers_composite  # noqa: E402 - Residual, TorchvisionModel
import workbench.core.model.layers_pretrained  # noqa: E402 - Pretrained (imported models)
import workbench.core.model.layers_sequence  # noqa: E402,F401 - Embedding, LSTM, GRU
