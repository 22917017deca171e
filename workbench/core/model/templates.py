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
    kind: str  # "any" (float input of any shape), "image" (C, H, W), "tokens" (int64 (L,)), "language_model"


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
            "text_bag",
            "Bag of embeddings (fastText)",
            "Token ids -> EmbeddingBag (the mean of the text's token vectors, padding left out) -> Linear; "
            "the fast, strong baseline for text classification (the default for text)",
            "tokens",
        ),
        Template(
            "text_lstm",
            "Embedding + LSTM",
            "Token ids (left-padded with 0) -> Embedding -> LSTM (last step) -> "
            "Linear; the embedding has one row per vocabulary entry",
            "tokens",
        ),
        Template(
            "bert_classifier",
            "BERT-style classifier",
            "Token ids -> Embedding + learned positions -> 2 pre-norm Transformer encoder layers -> mean over "
            "the steps -> Linear (a small BERT trained from scratch)",
            "tokens",
        ),
        Template(
            "gpt_lm",
            "GPT-style language model",
            "Token ids -> Embedding + learned positions -> 3 causal pre-norm Transformer layers -> LayerNorm -> "
            "LMHead: next-token scores at every step (L, vocab)",
            "language_model",
        ),
        Template(
            "vit",
            "Vision Transformer (ViT)",
            "Image patches (with a class token) + learned positions -> 2 pre-norm Transformer encoder layers "
            "-> the class token -> Linear",
            "image",
        ),
    )
}


def templates_for(input_shape, input_dtype: str = "float32", task: str | None = None) -> list[Template]:
    """The templates that fit a dataset's input and task (its meta.task: "classification", "regression" or
    "language_model"; None: every template the input fits). A language model's data gives token ids and
    wants (L, vocab) outputs: only the language-model templates fit it, and only it fits them."""
    if input_dtype == "int64":
        tokens = [t for t in TEMPLATES.values() if t.kind == "tokens"]
        language = [t for t in TEMPLATES.values() if t.kind == "language_model"]
        if task is None:
            return tokens + language
        return language if task == "language_model" else tokens
    image = len(input_shape) == 3
    return [t for t in TEMPLATES.values() if t.kind == "any" or (t.kind == "image" and image)]


def default_template(input_shape, input_dtype: str = "float32", task: str | None = None) -> str:
    """The template a new project starts from (the New project dialog and `workbench project new` without
    --template): LeNet-5 for images up to 64 px, the small ResNet for larger ones, otherwise the first template
    that fits (mlp for tables, text_bag for text, gpt_lm for a language model's text file)."""
    shape = [int(d) for d in input_shape]
    if input_dtype != "int64" and len(shape) == 3:
        return "lenet5" if max(shape[1:]) <= 64 else "small_resnet"
    fits = templates_for(shape, input_dtype, task)
    if not fits:
        raise UserError(
            f"no template fits {input_dtype} input {'x'.join(map(str, shape))}; pass --model SPEC"
        )
    return fits[0].name


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
            "language_model": "integer token ids (int64) from a text file",
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


def _text_bag(shape, outputs, vocab_size=None, **_):
    if len(shape) != 1:
        raise UserError(f"the text template needs a sequence of token ids (L,), not {shape}")
    # fastText's model: the mean of the text's token vectors (padding id 0 left out), then one Linear layer.
    # 20 epochs at the default settings reach TF-IDF + logistic regression (bench/text_models.py)
    return [
        {
            "type": "EmbeddingBag",
            "num_embeddings": int(vocab_size or DEFAULT_VOCAB),
            "embedding_dim": 128,
            "mode": "mean",
            "padding_idx": 0,
        },
        {"type": "Linear", "out_features": outputs},
    ]


def _token_shape(shape, title: str) -> int:
    if len(shape) != 1:
        raise UserError(f"the {title} template needs a sequence of token ids (L,), not {shape}")
    return shape[0]


def _encoder_layers(count: int, width: int, causal: bool = False) -> list[dict]:
    """Pre-norm encoder layers (as GPT-2 and ViT: stable to train from scratch without warm-up tricks)."""
    layer = {
        "type": "TransformerEncoderLayer",
        "nhead": 4,
        "dim_feedforward": 4 * width if causal else 2 * width,
        "dropout": 0.1,
        "activation": "gelu",
        "norm_first": True,
    }
    return [{**layer, "causal": True} if causal else dict(layer) for _ in range(count)]


def _bert_classifier(shape, outputs, vocab_size=None, **_):
    _token_shape(shape, "BERT-style classifier")
    # padding_idx 0: texts are left-padded with id 0 (workbench.core.data.text); the mean includes the padding
    # steps, which the encoder learns to tell apart by their zero token vector and their positions
    return [
        {
            "type": "Embedding",
            "num_embeddings": int(vocab_size or DEFAULT_VOCAB),
            "embedding_dim": 64,
            "padding_idx": 0,
        },
        {"type": "PositionalEmbedding", "kind": "learned"},
        {"type": "Dropout", "p": 0.1},
        *_encoder_layers(2, 64),
        {"type": "LayerNorm"},
        {"type": "SequencePool", "mode": "mean"},
        {"type": "Linear", "out_features": outputs},
    ]


def _gpt_lm(shape, outputs, vocab_size=None, **_):
    """(L,) token ids -> (L, vocab) next-token logits; the vocabulary is vocab_size, else the data's
    num_classes (a language-model source gives its vocabulary size there)."""
    _token_shape(shape, "GPT-style language model")
    vocab = int(vocab_size or outputs)
    return [
        {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": 128},
        {"type": "PositionalEmbedding", "kind": "learned"},
        {"type": "Dropout", "p": 0.1},
        *_encoder_layers(3, 128, causal=True),
        {"type": "LayerNorm"},
        {"type": "LMHead", "vocab_size": vocab},
    ]


def vit_patch_size(height: int, width: int) -> int:
    """The smallest patch side >= 2 that tiles the image into 4 to 64 patches (2 for the 8x8 digits, 4 for
    28x28 or 32x32); else 1 for a small image, else the largest that tiles it."""
    common = [p for p in range(1, min(height, width) + 1) if height % p == 0 and width % p == 0]
    fits = [p for p in common if p >= 2 and 4 <= (height // p) * (width // p) <= 64]
    if fits:
        return fits[0]
    return 1 if height * width <= 256 else common[-1]


def _vit(shape, outputs, **_):
    patch = vit_patch_size(shape[1], shape[2])
    return [
        {"type": "PatchEmbedding", "embed_dim": 64, "patch_size": patch, "cls_token": True},
        {"type": "PositionalEmbedding", "kind": "learned"},
        *_encoder_layers(2, 64),
        {"type": "LayerNorm"},
        {"type": "SequencePool", "mode": "first"},
        {"type": "Linear", "out_features": outputs},
    ]


_BUILDERS = {
    "mlp": _mlp,
    "lenet5": _lenet5,
    "small_vgg": _small_vgg,
    "small_resnet": _small_resnet,
    "backbone": _backbone,
    "text_lstm": _text_lstm,
    "text_bag": _text_bag,
    "bert_classifier": _bert_classifier,
    "gpt_lm": _gpt_lm,
    "vit": _vit,
}
