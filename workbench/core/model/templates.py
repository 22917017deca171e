"""Starting networks sized to a dataset: input shape, classes and (for text) vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.errors import UserError
from workbench.core.model.layers_composite import BACKBONES
from workbench.core.model.spec import ModelSpec


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    doc: str
    kind: str  # "any" (float input of any shape), "image" (C, H, W), "tokens" (int64 (L,))


TEMPLATES = {
    t.name: t
    for t in (
        Template("mlp", "MLP", "Flatten + two hidden Linear layers; fits any numeric input", "any"),
        Template(
            "lenet5",
            "LeNet-5",
            "The classic two-convolution network (LeCun 1998), padded for small images",
            "image",
        ),
        Template(
            "small_vgg",
            "Small VGG",
            "Up to three blocks of 3x3 Conv-BatchNorm-ReLU pairs and max pooling",
            "image",
        ),
        Template(
            "small_resnet",
            "Small ResNet",
            "A stem and residual blocks with projections, global pooling",
            "image",
        ),
        Template(
            "backbone",
            "Torchvision backbone",
            "resnet18 (or another torchvision architecture) with a new "
            "head; architecture only, no downloaded weights",
            "image",
        ),
        Template(
            "text_lstm",
            "Embedding + LSTM",
            "Token ids (left-padded with 0) -> Embedding -> LSTM (last step) -> "
            "Linear; the embedding has one row per vocabulary entry",
            "tokens",
        ),
    )
}


def templates_for(input_shape, input_dtype: str = "float32") -> list[Template]:
    """The templates that fit a dataset's input."""
    if input_dtype == "int64":
        return [TEMPLATES["text_lstm"]]
    image = len(input_shape) == 3
    return [t for t in TEMPLATES.values() if t.kind == "any" or (t.kind == "image" and image)]


def make_template(
    name: str,
    input_shape,
    num_classes: int,
    input_dtype: str = "float32",
    vocab_size: int | None = None,
    backbone: str = "resnet18",
) -> ModelSpec:
    """A spec for template `name` adapted to the input shape (no batch) and number of classes
    (0 for regression: one output)."""
    if name not in TEMPLATES:
        raise UserError(f"unknown template '{name}'; choose one of {', '.join(TEMPLATES)}")
    template = TEMPLATES[name]
    shape = [int(d) for d in input_shape]
    if not shape or any(d < 1 for d in shape):
        raise UserError(f"input shape {shape} must be positive sizes without the batch dimension")
    if template not in templates_for(shape, input_dtype):
        need = {
            "image": "an image input (C, H, W)",
            "tokens": "integer token ids (int64)",
            "any": "numeric (float) input",
        }[template.kind]
        raise UserError(
            f"the {template.title} template needs {need}; this dataset gives {input_dtype} "
            f"{'x'.join(map(str, shape))}; pick another template"
        )
    outputs = max(1, int(num_classes))
    layers = _BUILDERS[name](shape, outputs, vocab_size=vocab_size, backbone=backbone)
    return ModelSpec(input_shape=shape, layers=layers)


def _mlp(shape, outputs, **_):
    flat = [{"type": "Flatten"}] if len(shape) > 1 else []
    return flat + [
        {"type": "Linear", "out_features": 128},
        {"type": "ReLU"},
        {"type": "Dropout", "p": 0.2},
        {"type": "Linear", "out_features": 64},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": outputs},
    ]


def _lenet5(shape, outputs, **_):
    side = min(shape[1:])
    layers = [{"type": "Conv2d", "out_channels": 6, "kernel_size": 5, "padding": 2}, {"type": "ReLU"}]
    if side >= 4:
        layers.append({"type": "MaxPool2d", "kernel_size": 2})
        side //= 2
    pad = 0 if side >= 10 else 2
    layers += [{"type": "Conv2d", "out_channels": 16, "kernel_size": 5, "padding": pad}, {"type": "ReLU"}]
    side = side - 4 + 2 * pad
    if side >= 4:
        layers.append({"type": "MaxPool2d", "kernel_size": 2})
    return layers + [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 120},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": 84},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": outputs},
    ]


def _small_vgg(shape, outputs, **_):
    side, layers = min(shape[1:]), []
    for width in (32, 64, 128):
        for _ in range(2):
            layers += [
                {"type": "Conv2d", "out_channels": width, "kernel_size": 3, "padding": 1},
                {"type": "BatchNorm2d"},
                {"type": "ReLU"},
            ]
        if side < 2:
            break
        layers.append({"type": "MaxPool2d", "kernel_size": 2})
        side //= 2
        if side < 4:
            break
    return layers + [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 256},
        {"type": "ReLU"},
        {"type": "Dropout", "p": 0.5},
        {"type": "Linear", "out_features": outputs},
    ]


def _block(width: int, stride: int) -> dict:
    return {
        "type": "Residual",
        "layers": [
            {
                "type": "Conv2d",
                "out_channels": width,
                "kernel_size": 3,
                "stride": stride,
                "padding": 1,
                "bias": False,
            },
            {"type": "BatchNorm2d"},
            {"type": "ReLU"},
            {"type": "Conv2d", "out_channels": width, "kernel_size": 3, "padding": 1, "bias": False},
            {"type": "BatchNorm2d"},
        ],
    }


def _small_resnet(shape, outputs, **_):
    side = min(shape[1:])
    layers = [
        {"type": "Conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1, "bias": False},
        {"type": "BatchNorm2d"},
        {"type": "ReLU"},
        _block(32, 1),
        {"type": "ReLU"},
    ]
    for width in (64, 128):
        if side % 2 or side < 4:
            break
        layers += [_block(width, 2), {"type": "ReLU"}]
        side //= 2
    return layers + [
        {"type": "AdaptiveAvgPool2d", "output_size": 1},
        {"type": "Flatten"},
        {"type": "Linear", "out_features": outputs},
    ]


def _backbone(shape, outputs, backbone="resnet18", **_):
    if backbone not in BACKBONES:
        raise UserError(f"unknown backbone '{backbone}'; choose one of {', '.join(BACKBONES)}")
    return [{"type": "TorchvisionModel", "name": backbone, "num_classes": outputs}]


DEFAULT_VOCAB = 10000  # the text source's default vocabulary size (workbench.core.data.text)


def _text_lstm(shape, outputs, vocab_size=None, **_):
    if len(shape) != 1:
        raise UserError(f"the text template needs a sequence of token ids (L,), not {shape}")
    # padding_idx 0: the texts are left-padded with id 0 (workbench.core.data.text), so the LSTM's last step
    # is
    # the text's last real token and the padding's vector stays zero
    return [
        {
            "type": "Embedding",
            "num_embeddings": int(vocab_size or DEFAULT_VOCAB),
            "embedding_dim": 64,
            "padding_idx": 0,
        },
        {"type": "LSTM", "hidden_size": 128, "output": "last"},
        {"type": "Dropout", "p": 0.3},
        {"type": "Linear", "out_features": outputs},
    ]


_BUILDERS = {
    "mlp": _mlp,
    "lenet5": _lenet5,
    "small_vgg": _small_vgg,
    "small_resnet": _small_resnet,
    "backbone": _backbone,
    "text_lstm": _text_lstm,
}
