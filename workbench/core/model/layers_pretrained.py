"""The `Pretrained` layer: a model made elsewhere (docs/pretrained.md), expanded by the analysis into its real
modules. Spec: {"type": "Pretrained", "format": "huggingface|onnx|module", "source": PATH, "sha256": HEX,
"num_classes": N, "origin": "file.py:ClassName"}.

The analysis builds it once per (source, head, input shape): a Hugging Face model on the meta device (nothing
allocated), an ONNX graph on the CPU; the per-module rows (path, type, output shape, parameters, MACs) and the
parts that could not be mapped (source tensors the model does not use, new tensors such as the head) come with
the layer's report as `details`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.model.pretrained import FORMATS
from workbench.core.model.registry import LayerError, LayerType, Param, register_layer
from workbench.core.units import shape_text

_STATS: dict[tuple, tuple] = {}  # (format, source, mtime, num_classes, shape) -> (stats, details)


def _infer(p: dict, s: tuple) -> dict:
    fmt, source = p["format"], p["source"]
    if not source:
        raise LayerError("Pretrained needs a source: a Hugging Face folder, an .onnx file (set source)")
    path = Path(source).expanduser()
    if fmt == "huggingface":
        if p["num_classes"] < 1:
            raise LayerError("a Hugging Face model gets a new classification head: set num_classes")
        if len(s) not in (1, 3):
            raise LayerError(
                f"a Hugging Face model takes token ids (seq_len) or an image (C, H, W), not {shape_text(s, 'x')}"
            )
        if not (path / "config.json").is_file():
            raise LayerError(f"{path} is not a Hugging Face model folder (no config.json)")
    elif not path.is_file():
        raise LayerError(f"{path} does not exist; import the model again")
    return p


def _tokens(params: dict) -> bool:
    """Whether the layer takes integer token ids (a Hugging Face text model)."""
    return params.get("format", "huggingface") == "huggingface"


def build_pretrained(p: dict, s: tuple, meta: bool = False):
    """The wrapped module (HFClassifier or GraphModel); weights of an ONNX graph come with it."""
    from workbench.core.model import pretrained
    from workbench.core.model.pretrained_modules import GraphModel, HFClassifier, replace_last_linear

    try:
        if p["format"] == "huggingface":
            folder = str(Path(p["source"]).expanduser())
            image = len(s) == 3
            model = pretrained.hf_model_from_config(folder, p["num_classes"], image)
            if not image:
                pretrained.check_tokenizer(folder, int(model.config.vocab_size))
            _mapping, _unused, new = pretrained.hf_weight_mapping(model, folder)
            pad = getattr(model.config, "pad_token_id", None)  # (image models have none)
            return HFClassifier(model, int(pad or 0), image, new, str(model.config.model_type))
        graph = pretrained.onnx_module(str(Path(p["source"]).expanduser()))
        head: list[str] = []
        if p["num_classes"]:
            replaced = replace_last_linear(graph, p["num_classes"])
            if replaced is None:
                raise UserError(
                    f"{p['source']} does not end in a Linear layer, so its head cannot be replaced; set "
                    "num_classes to 0 and add a Linear after it"
                )
            head = replaced
        module = GraphModel(graph, head)
        return module.to("meta") if meta else module
    except UserError as exc:
        raise LayerError(str(exc)) from None


def _load_weights(module, p: dict) -> None:
    from workbench.core.model import pretrained

    source = str(Path(p["source"]).expanduser())
    pretrained.verify_sha256(p["format"], source, p.get("sha256", ""))
    if p["format"] == "huggingface":
        pretrained.hf_load_weights(module.model, source)


def _stats(p: dict, s: tuple) -> tuple:
    return _analyzed(p, s)[0]


def _details(p: dict, s: tuple) -> dict[str, Any]:
    return _analyzed(p, s)[1]


def _analyzed(p: dict, s: tuple) -> tuple:
    path = Path(p["source"]).expanduser()
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    key = (p["format"], str(path), stamp, p["num_classes"], tuple(s))
    if key not in _STATS:
        _STATS[key] = _measure(p, s)
    return _STATS[key]


def _measure(p: dict, s: tuple) -> tuple:
    """((params, out shape, total, trainable, MACs, activations), details) from one forward of a batch of 1."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    hf = p["format"] == "huggingface"
    with torch.device("meta") if hf else torch.device("cpu"):
        module = build_pretrained(p, s).eval()
    device = "meta" if hf else "cpu"
    dtype = torch.long if hf and len(s) == 1 else torch.float32
    x = torch.ones((1, *s), dtype=dtype, device=device)
    shapes: dict[str, list[int]] = {}
    hooks = [m.register_forward_hook(_shape_hook(shapes, name)) for name, m in module.named_modules() if name]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as flops:
            y = module(x)
    except Exception as exc:  # noqa: BLE001 - the model says why this input does not fit
        raise LayerError(
            f"the imported model does not accept a {shape_text(s, 'x')} input: {str(exc).splitlines()[0][:200]}"
        ) from None
    finally:
        for hook in hooks:
            hook.remove()
    root = type(module).__name__
    macs = {
        name[len(root) + 1 :] if name != root else "": sum(counts.values()) // 2
        for name, counts in flops.get_flop_counts().items()
    }
    new = set(module.new_keys)
    rows = []
    for name, m in module.named_modules():
        if not name:
            continue
        params = list(m.named_parameters())
        rows.append(
            {
                "path": name,
                "type": type(m).__name__,
                "depth": name.count(".") + 1,
                "output_shape": shapes.get(name),
                "params": sum(t.numel() for _, t in params),
                "new_params": sum(t.numel() for k, t in params if f"{name}.{k}" in new),
                "macs": macs.get(name, 0),
            }
        )
        if isinstance(m, torch.nn.Linear):  # what a LoRA adapter of rank r adds: r * (in + out)
            rows[-1]["in_features"], rows[-1]["out_features"] = m.in_features, m.out_features
    unused: list[str] = []
    if hf:
        from workbench.core.model import pretrained

        unused = pretrained.hf_weight_mapping(module.model, str(Path(p["source"]).expanduser()))[1]
    total = sum(t.numel() for t in module.parameters())
    out = tuple(y.shape[1:])
    acts = sum(_prod(v) for v in shapes.values())
    stats = (dict(p), out, total, total, macs.get("", 0), acts)
    details = {
        "modules": rows,
        "unmapped": {"source_tensors_unused": unused, "new_tensors": sorted(new)},
        "model_type": module.model_type,
        "lora_default_targets": _lora_defaults(module.model_type),
    }
    return stats, details


def _lora_defaults(model_type: str) -> list[str]:
    """peft's default LoRA target module names for a Hugging Face architecture ([] : every Linear)."""
    if not model_type:
        return []
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as TABLE

    return list(TABLE.get(model_type, []))


def _shape_hook(shapes: dict, name: str):
    def hook(_module, _inputs, out):
        for candidate in (out, getattr(out, "logits", None), getattr(out, "last_hidden_state", None)):
            if hasattr(candidate, "shape") and candidate is not None:
                shapes[name] = list(candidate.shape[1:])
                return
        if isinstance(out, tuple) and out and hasattr(out[0], "shape"):
            shapes[name] = list(out[0].shape[1:])

    return hook


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _code(p: dict, s: tuple) -> str:
    raise UserError(
        "an imported (Pretrained) model cannot be written as standalone PyTorch code; export it to ONNX instead"
    )


register_layer(
    LayerType(
        "Pretrained",
        "Pretrained",
        doc="A model made elsewhere, read offline: a Hugging Face folder (config.json + *.safetensors), an ONNX "
        "file, or a PyTorch module imported once (kept as an ONNX graph). A new head sized to the classes.",
        params=(
            Param("format", "choice", "huggingface", choices=FORMATS, doc="What the source is"),
            Param("source", "str", "", doc="The folder or file the model is read from"),
            Param("sha256", "str", "", doc="sha256 of the weights when imported (checked before training)"),
            Param(
                "num_classes",
                "int",
                0,
                0,
                1_000_000,
                doc="Outputs of the new head (the dataset's classes); 0 keeps the model's own outputs "
                "(ONNX / module)",
            ),
            Param("origin", "str", "", doc="For a module: the file.py:ClassName it was traced from"),
        ),
        build=lambda p, s: build_pretrained(p, s),
        infer=_infer,
        code=_code,
        load_weights=_load_weights,
        extra={"stats": _stats, "details": _details, "tokens": _tokens},
    )
)
