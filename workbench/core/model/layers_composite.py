"""Built-in composites: Residual (a body added to its input, with a projection when the body changes the shape)
and TorchvisionModel (a torchvision architecture, never downloaded weights, with a new head).

Composite layer types receive their body from the engine: `p["body"]` (the built nn.Sequential, for build),
`p["body_shape"]` (the body's output shape, for infer / shape) and `p["body_code"]` (the body's expressions,
for code generation)."""

from __future__ import annotations

from pathlib import Path

from workbench.core.errors import UserError
from workbench.core.model.layers import prod
from workbench.core.model.registry import LayerError, LayerType, Param, register_layer
from workbench.core.units import shape_text


def projection(in_shape, out_shape) -> tuple[str, dict] | None:
    """How the skip path is matched to the body's output: None (identity), or (layer type, kwargs)."""
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    if in_shape == out_shape:
        return None
    if len(in_shape) == 3 and len(out_shape) == 3:
        (_, h, w), (_, h2, w2) = in_shape, out_shape
        if h % h2 == 0 and w % w2 == 0 and h // h2 == w // w2:
            return "Conv2d", {
                "in_channels": in_shape[0],
                "out_channels": out_shape[0],
                "kernel_size": 1,
                "stride": h // h2,
            }
    elif len(in_shape) == len(out_shape) and in_shape[:-1] == out_shape[:-1]:
        return "Linear", {"in_features": in_shape[-1], "out_features": out_shape[-1]}
    return "", {}  # no projection fits


def _residual_infer(p, s):
    if not p.get("body_present", True):
        raise LayerError("Residual has an empty body; add layers inside it (select it and use Add)")
    proj = projection(s, p["body_shape"])
    if proj and not proj[0]:
        raise LayerError(
            f"Residual body turns {shape_text(s, 'x')} into {shape_text(p['body_shape'], 'x')}; a projection "
            "can match channels with an integer stride or features, not this; keep the rank and "
            "an even downsampling inside the body"
        )
    return p


def _residual_params(p, s):
    proj = projection(s, p["body_shape"])
    if not proj:
        return 0
    kind, kw = proj
    if kind == "Conv2d":
        return kw["in_channels"] * kw["out_channels"] + kw["out_channels"]
    return kw["in_features"] * kw["out_features"] + kw["out_features"]


def _residual_macs(p, s, o):
    proj = projection(s, p["body_shape"])
    if not proj:
        return prod(o)  # the addition
    kind, kw = proj
    per = kw["in_channels"] if kind == "Conv2d" else kw["in_features"]
    return prod(o) * per + prod(o)


def _residual_build(p, s):
    from torch import nn

    from workbench.core.model.modules import Residual

    proj = projection(s, p["body_shape"])
    return Residual(p["body"], getattr(nn, proj[0])(**proj[1]) if proj else None)


def _residual_code(p, s):
    proj = projection(s, p["body_shape"])
    proj_code = "None"
    if proj:
        proj_code = f"nn.{proj[0]}({', '.join(f'{k}={v!r}' for k, v in proj[1].items())})"
    body = "".join(f"\n    {line.replace(chr(10), chr(10) + '    ')}," for line in p["body_code"])
    return f"Residual(nn.Sequential({body}\n), {proj_code})"


register_layer(
    LayerType(
        "Residual",
        "Composite",
        composite=True,
        doc="Adds the body's output to its input (a skip connection); a 1x1 convolution or Linear projection "
        "matches the shapes when the body changes them.",
        build=_residual_build,
        infer=_residual_infer,
        shape=lambda p, s: tuple(p["body_shape"]),
        count_params=_residual_params,
        macs=_residual_macs,
        code=_residual_code,
        code_helpers=("Residual",),
    )
)


BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_b1",
)
SMALL_INPUT = 64  # below this side length "auto" uses a stride-1 stem that keeps the resolution


def _tv_infer(p, s):
    if len(s) != 3:
        raise LayerError(
            f"TorchvisionModel needs an image input (C, H, W) but receives {shape_text(s, 'x')}; use it "
            "as the first layer on an image dataset"
        )
    p["small_stem"] = p["stem"] == "small" or (p["stem"] == "auto" and min(s[1:]) < SMALL_INPUT)
    return p


def _tv_build(p, s):
    from workbench.core.model.modules import torchvision_model

    return torchvision_model(p["name"], p["num_classes"], s[0], p["small_stem"])


def _tv_code(p, s):
    return f"torchvision_model({p['name']!r}, {p['num_classes']}, in_channels={s[0]}, small_stem={p['small_stem']})"


def _tv_load_weights(module, p) -> None:
    """Load a local weights file (safetensors, or a tensors-only torch file); tensors whose shape differs
    (the new head, an adapted first convolution) keep their fresh initialization."""
    path = p.get("weights_path")
    if not path:
        return
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(
            f"TorchvisionModel weights_path {file} does not exist; choose a local weights file or "
            "clear the field"
        )
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(file))
        except Exception as exc:
            raise UserError(
                f"cannot read weights {file} ({exc}); use a safetensors or plain state-dict file"
            ) from exc
    else:
        from workbench.core.io import load_torch_weights

        state = load_torch_weights(file)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    from workbench.core.io import check_state_dict

    state = check_state_dict(state, f"weights {file}")
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not usable:
        raise UserError(f"weights {file} share no tensor with {p['name']}; is it a {p['name']} state dict?")
    module.load_state_dict(usable, strict=False)


register_layer(
    LayerType(
        "TorchvisionModel",
        "Pretrained",
        doc="A torchvision architecture (weights are never downloaded) with a new head sized to the classes; the first "
        "convolution adapts to the input channels; small images get a stride-1 stem.",
        params=(
            Param("name", "choice", "resnet18", choices=BACKBONES, doc="Architecture"),
            Param(
                "num_classes", "int", 10, 1, 1_000_000, doc="Outputs of the new head (the dataset's classes)"
            ),
            Param(
                "stem",
                "choice",
                "auto",
                choices=("auto", "imagenet", "small"),
                doc=f"small: stride-1 stem for small images; auto: small below {SMALL_INPUT} px",
            ),
            Param(
                "weights_path",
                "str",
                "",
                doc="Optional local weights (.safetensors or a state-dict .pt); "
                "tensors of another shape (the head) stay freshly initialized",
            ),
        ),
        build=_tv_build,
        infer=_tv_infer,
        code=_tv_code,
        code_helpers=("torchvision_model",),
        load_weights=_tv_load_weights,
    )
)
