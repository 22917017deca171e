"""Squeeze-and-Excitation (Hu et al., 2018): a channel-attention block for convolutional networks.

An example plugin that uses only the public API (`workbench.plugins`). The layer has a parameter schema
(`channels` inferred from the input, `reduction`), fast rules for its output shape, parameters and MACs (so
the builder analyzes it without building it), and code generation so `workbench model code` writes it into a
standalone file. torch is imported only when the layer is built (`module.py`), never at start-up.
"""

from __future__ import annotations

from workbench.plugins import Fix, LayerError, LayerType, Param, Plugin

PLUGIN = Plugin(
    name="Squeeze-and-Excitation",
    version="1.0.0",
    description="SqueezeExcite: reweights the channels of a feature map by a gate learned from their global "
    "averages (Hu et al., 2018). Place it after a convolution.",
    author="Workbench examples",
)


def _hidden(p: dict) -> int:
    return max(1, p["channels"] // p["reduction"])


def _infer(p: dict, in_shape: tuple[int, ...]) -> dict:
    if len(in_shape) != 3:
        shape = "x".join(map(str, in_shape))
        raise LayerError(
            f"SqueezeExcite needs a CxHxW feature map but receives {shape}; place it after a "
            "convolution, before Flatten"
        )
    channels = in_shape[0]
    if p.get("channels") not in (None, channels):
        raise LayerError(
            f"SqueezeExcite channels is {p['channels']} but the input has {channels}; "
            f"set channels to {channels}",
            Fix(f"Set channels to {channels}", "set", (), {"channels": channels}),
        )
    return {**p, "channels": channels}


def _count_params(p: dict, in_shape) -> int:
    c, h = p["channels"], _hidden(p)
    return c * h + h + h * c + c


def _macs(p: dict, in_shape, out_shape) -> int:
    c, h = p["channels"], _hidden(p)
    spatial = in_shape[1] * in_shape[2]
    return 2 * c * h + c * spatial  # the two small Linear layers, then the per-channel scaling


def _build(p: dict, in_shape):
    from .module import SqueezeExcite

    return SqueezeExcite(p["channels"], p["reduction"])


def _code(p: dict, in_shape) -> str:
    return f"SqueezeExcite({p['channels']}, reduction={p['reduction']})"


SQUEEZE_EXCITE = LayerType(
    "SqueezeExcite",
    "Attention",
    params=(
        Param(
            "channels",
            "int",
            minimum=1,
            inferred=True,
            doc="Feature-map channels; inferred from the input when left empty",
        ),
        Param(
            "reduction",
            "int",
            4,
            1,
            1024,
            doc="Bottleneck ratio: the gate's hidden size is channels / reduction (at least 1)",
        ),
    ),
    doc="Squeeze-and-Excitation: global average per channel -> Linear -> ReLU -> Linear -> sigmoid gate, "
    "which scales each channel of the input. Keeps the shape.",
    build=_build,
    infer=_infer,
    shape=lambda p, s: tuple(s),
    count_params=_count_params,
    macs=_macs,
    code=_code,
    code_helpers=(f"{__name__}.module:SqueezeExcite",),
)


def register(api) -> None:
    api.add_layer(SQUEEZE_EXCITE)
