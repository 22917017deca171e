"""Models made elsewhere, read offline and safely: a Hugging Face folder, an ONNX file, or a PyTorch module
(`file.py:ClassName`, imported once by explicit action and kept as an ONNX graph).

Every source is checked before anything large is allocated: a folder never runs code (`trust_remote_code=False`,
an `auto_map` is refused), pickled weights (`pytorch_model.bin`) are refused, a config whose size is absurd is
refused from the config alone, an ONNX op without a converter is named. Bad input raises UserError (one line
naming the file). Heavy libraries (torch, transformers, onnx, onnx2torch) are imported inside functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError

FORMATS = ("huggingface", "onnx", "module")
MAX_PARAMS = 20_000_000_000  # a source whose config says more is refused before anything is built
ONNX_MAX_OPSET = 17  # onnx2torch converts up to this opset; newer files are converted down first
WEIGHT_SUFFIX = ".safetensors"


# -- sources ------------------------------------------------------------------------------------------------
def detect_format(source: str) -> str:
    """huggingface (a folder with config.json), onnx (a .onnx file) or module (`file.py:ClassName`)."""
    if ".py:" in source:
        return "module"
    path = Path(source).expanduser()
    if path.is_dir():
        return "huggingface"
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if not path.exists():
        raise UserError(
            f"pretrained source {source} does not exist; give a Hugging Face folder, a .onnx file "
            "or file.py:ClassName"
        )
    raise UserError(
        f"pretrained source {source} is neither a Hugging Face folder (config.json + *.safetensors), an .onnx "
        "file nor file.py:ClassName"
    )


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_files(fmt: str, source: str) -> list[Path]:
    """The files that hold the weights (what sha256 covers)."""
    if fmt == "huggingface":
        return sorted(Path(source).expanduser().glob(f"*{WEIGHT_SUFFIX}"))
    return [Path(source).expanduser()]


def source_sha256(fmt: str, source: str) -> str:
    """sha256 of the weights file, or of the sorted per-file digests for a folder of several shards."""
    files = weight_files(fmt, source)
    if len(files) == 1:
        return file_sha256(files[0])
    joined = "".join(f"{f.name}:{file_sha256(f)}\n" for f in files)
    return hashlib.sha256(joined.encode()).hexdigest()


def verify_sha256(fmt: str, source: str, expected: str) -> None:
    """The imported weights are still there and unchanged (a fine-tuning run's checkpoints build on them)."""
    if not weight_files(fmt, source) or not all(f.is_file() for f in weight_files(fmt, source)):
        raise UserError(
            f"the imported model's weights are not at {source} any more; put the model back there (or import it "
            "again and retrain)"
        )
    if expected and source_sha256(fmt, source) != expected:
        raise UserError(
            f"the weights in {source} changed since the model was imported (sha256 differs); import it again or "
            "put the original files back"
        )


# -- Hugging Face folders ---------------------------------------------------------------------------------
def read_hf_config(folder: str | os.PathLike) -> dict[str, Any]:
    """config.json checked as plain JSON (no code runs): weights present and not pickled, no auto_map, a
    known architecture, a size that fits. Returns the config dict."""
    config = check_hf_files(folder)
    config_file = Path(folder).expanduser() / "config.json"
    model_type = config.get("model_type")
    known = _transformers_config_names()
    if not model_type or model_type not in known:
        raise UserError(
            f"{config_file}: model_type {model_type!r} is not an architecture this transformers "
            f"({_transformers_version()}) knows; update transformers or use another model"
        )
    return config


def check_hf_files(folder: str | os.PathLike) -> dict[str, Any]:
    """The checks that need no library (the GUI process runs them): config.json is JSON without auto_map,
    the weights are safetensors, the size from the config fits. Returns the config dict."""
    from workbench.core.io import read_json

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(f"Hugging Face folder {folder} does not exist")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise UserError(
            f"{folder} has no config.json; a Hugging Face model folder holds config.json and "
            "*.safetensors (save_pretrained writes both)"
        )
    config = read_json(config_file, "model config")
    if not isinstance(config, dict):
        raise UserError(f"{config_file} is not a JSON object")
    if config.get("auto_map"):
        raise UserError(
            f"{config_file} has an auto_map: the model needs its own Python code, and Workbench never runs code "
            "from a model folder (trust_remote_code stays off); use a model transformers knows"
        )
    if not list(folder.glob(f"*{WEIGHT_SUFFIX}")):
        pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
        if pickled:
            raise UserError(
                f"{folder / pickled[0]} is a pickled weights file, which can run code when loaded; convert it to "
                "safetensors (model.save_pretrained(folder, safe_serialization=True)) and import again"
            )
        raise UserError(f"{folder} has no weights (*.safetensors); save the model with save_pretrained")
    estimate = estimate_params_from_config(config)
    if estimate > MAX_PARAMS:
        raise UserError(
            f"{config_file} describes a model of about {estimate:.3g} parameters, more than Workbench imports "
            f"({MAX_PARAMS:.0e}); check hidden_size, num_hidden_layers and vocab_size"
        )
    _check_memory(estimate, config_file)
    return config


def estimate_params_from_config(config: dict[str, Any]) -> int:
    """A transformer's size from its config alone: embeddings + per layer 4 h^2 (attention) + 2 h i (MLP)."""

    def first(*keys, default=0):
        for key in keys:
            value = config.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
        return default

    hidden = first("hidden_size", "d_model", "n_embd", "dim")
    layers = first("num_hidden_layers", "n_layer", "num_layers", "n_layers")
    inner = first("intermediate_size", "n_inner", "ffn_dim", "hidden_dim", default=4 * hidden)
    vocab = first("vocab_size")
    positions = first("max_position_embeddings", "n_positions")
    return vocab * hidden + positions * hidden + layers * (4 * hidden * hidden + 2 * hidden * inner)


def _check_memory(params: int, source: Path) -> None:
    import psutil

    need, free = params * 4, psutil.virtual_memory().available
    if need > free:
        raise UserError(
            f"{source} describes a model that needs about {need / 1e9:.1f} GB for its fp32 weights, more than the "
            f"{free / 1e9:.1f} GB of free memory"
        )


def _transformers_config_names() -> set[str]:
    (mapping,) = _transformers_names("CONFIG_MAPPING")
    return set(mapping.keys())


def _transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


_IMPORT_LOCK = threading.Lock()


def _transformers_names(*names: str) -> list[Any]:
    """Names from transformers, resolved under one lock: its lazy module is not safe to resolve from two threads
    at once (the trainer process runs the builder's analysis, data loading and the memory plan side by side,
    and a half-resolved module raised "cannot import name 'AutoConfig'")."""
    with _IMPORT_LOCK:
        _offline()
        import transformers

        return [getattr(transformers, name) for name in names]


def _offline() -> None:
    """No hub calls from this process: set before transformers is imported, patched after (it reads them once)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import sys

    if "huggingface_hub" in sys.modules:
        import huggingface_hub.constants as constants

        constants.HF_HUB_OFFLINE = True


def hf_model_from_config(folder: str, num_classes: int, image_input: bool):
    """The architecture of `folder` with a fresh head of `num_classes`, weights not loaded (random, or meta)."""
    auto_config, auto_image, auto_text = _transformers_names(
        "AutoConfig", "AutoModelForImageClassification", "AutoModelForSequenceClassification"
    )

    read_hf_config(folder)
    try:
        config = auto_config.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{Path(folder) / 'config.json'}: {str(exc).splitlines()[0]}") from None
    config.num_labels = num_classes
    auto = auto_image if image_input else auto_text
    try:
        return auto.from_config(config, trust_remote_code=False)
    except ValueError as exc:
        kind = "image" if image_input else "text"
        raise UserError(
            f"{Path(folder) / 'config.json'}: {config.model_type} has no {kind} classification model in "
            f"transformers ({str(exc).splitlines()[0][:120]})"
        ) from None


def hf_weight_mapping(model, folder: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(model key -> file key, the file's tensors the model does not use, the model's tensors not in the file),
    from the safetensors headers alone (nothing loaded): transformers' own renames for the architecture
    (`get_model_conversion_mapping`, e.g. ViT's attention.query -> q_proj) and the base-model prefix (`bert.`)
    applied by name and shape. Tensors transformers fuses or splits on load count as unused here; the real load
    (`hf_load_weights`) is transformers' own."""
    from safetensors import safe_open

    file_keys: dict[str, tuple] = {}
    for file in weight_files("huggingface", folder):
        with safe_open(str(file), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 - safe_open is not a dict
                file_keys[key] = tuple(fh.get_slice(key).get_shape())
    renamed = {_renamed(model, key): key for key in file_keys}
    own = model.state_dict()
    prefix = getattr(model, "base_model_prefix", "") + "."
    mapping: dict[str, str] = {}
    for key, tensor in own.items():
        for candidate in (key, key[len(prefix) :] if key.startswith(prefix) else None, prefix + key):
            source = renamed.get(candidate) if candidate else None
            if source is not None and file_keys[source] == tuple(tensor.shape):
                mapping[key] = source
                break
    used = set(mapping.values())
    unused = sorted(k for k in file_keys if k not in used)
    new = sorted(k for k in own if k not in mapping)
    return mapping, unused, new


def _renamed(model, key: str) -> str:
    """A checkpoint key as transformers renames it on load for this architecture (unchanged when it cannot)."""
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping

        transforms = _CONVERSIONS.setdefault(type(model).__name__, get_model_conversion_mapping(model))
        for transform in transforms:
            key = transform.rename_source_key(key)[0]
    except Exception:  # noqa: BLE001 - an older or newer transformers without this API: names as saved
        return key
    return key


_CONVERSIONS: dict[str, Any] = {}


def hf_load_weights(model, folder: str) -> None:
    """Load the folder's weights into `model` with transformers' own loader (`from_pretrained`: safetensors only,
    local files only, no remote code, its key conversions), fp32. Only the new head may be missing from the file:
    a base tensor that is missing means the weights do not belong to the config, and is refused."""
    (auto,) = _transformers_names(
        "AutoModelForImageClassification"
        if "ImageClassification" in type(model).__name__
        else "AutoModelForSequenceClassification"
    )
    (hf_logging,) = _transformers_names("logging")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its load report and progress bar: what matters is checked below
    hf_logging.disable_progress_bar()
    try:
        loaded, info = auto.from_pretrained(
            folder,
            config=model.config,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
            output_loading_info=True,
            ignore_mismatched_sizes=True,
            dtype="float32",
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise UserError(f"cannot load the weights in {folder}: {str(exc).splitlines()[0][:200]}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    prefix = getattr(loaded, "base_model_prefix", "") + "."
    missing = [k for k in info.get("missing_keys", []) if k.startswith(prefix)]
    if missing:
        raise UserError(
            f"the weights in {folder} do not fit its config.json: tensor {missing[0]} is missing "
            f"({len(missing)} in all); is the folder's config the model's own?"
        )
    fresh = set(info.get("missing_keys", [])) | {k for k, *_ in info.get("mismatched_keys", [])}
    # the new head keeps `model`'s own initialization (seeded, made before any loader thread ran)
    model.load_state_dict({k: v for k, v in loaded.state_dict().items() if k not in fresh}, strict=False)


def check_tokenizer(folder: str, vocab_size: int) -> None:
    """A tokenizer whose ids reach past the embedding table is refused, naming its file."""
    folder_path = Path(folder)
    file = folder_path / "tokenizer.json"
    if file.is_file():
        from tokenizers import Tokenizer

        size = Tokenizer.from_file(str(file)).get_vocab_size(with_added_tokens=True)
    elif (folder_path / "vocab.txt").is_file():
        file = folder_path / "vocab.txt"
        size = sum(1 for _ in file.open(encoding="utf-8"))
    else:
        return
    if size > vocab_size:
        raise UserError(
            f"{file} has {size} tokens but the model's vocab_size is {vocab_size}: the tokenizer does not belong "
            "to this model; put the model's own tokenizer in the folder"
        )


# -- ONNX files ---------------------------------------------------------------------------------------------
def load_onnx(path: str):
    """The ONNX model, converted down to opset 17 when newer; an op without a converter is named."""
    import onnx

    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"ONNX file {file} does not exist")
    try:
        model = onnx.load(str(file))
    except Exception as exc:  # noqa: BLE001 - protobuf / onnx say why the file is not a model
        raise UserError(f"{file} is not an ONNX model ({str(exc).splitlines()[0][:120]})") from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), ONNX_MAX_OPSET)
    if opset > ONNX_MAX_OPSET:
        from onnx import version_converter

        with contextlib.suppress(Exception):  # the op check below names what cannot be converted
            model = version_converter.convert_version(model, ONNX_MAX_OPSET)
    _simplify(model)
    _check_onnx_ops(model, file)
    return model


def _simplify(model) -> None:
    """Two rewrites that keep the graph's meaning and let onnx2torch build torch modules: Identity nodes are
    bypassed (the TorchScript exporter routes BatchNorm weights through them, which made them constants), and
    Reshape's allowzero=1 is dropped where the shape holds no 0 (the two then mean the same)."""
    from onnx import numpy_helper

    graph = model.graph
    outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    kept = []
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        if node.op_type == "Identity" and node.output[0] not in outputs and node.input:
            rename[node.output[0]] = node.input[0]
            continue
        kept.append(node)
    if len(kept) != len(graph.node):
        del graph.node[:]
        graph.node.extend(kept)
    shapes = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.data_type == 7}  # int64
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in shapes:
            continue
        if 0 in shapes[node.input[1]]:
            continue
        for attr in list(node.attribute):
            if attr.name == "allowzero":
                node.attribute.remove(attr)


def _check_onnx_ops(model, file: Path) -> None:
    from onnx2torch.node_converters.registry import get_converter

    versions = {o.domain or "": o.version for o in model.opset_import}
    for node in model.graph.node:
        domain = node.domain or ""
        try:
            get_converter(node.op_type, versions.get(domain, ONNX_MAX_OPSET), domain)
        except NotImplementedError:
            raise UserError(
                f"{file}: the ONNX op {node.op_type} (opset {versions.get(domain)}) has no converter to PyTorch "
                f"(node {node.name or '?'}); export the model without it or with opset {ONNX_MAX_OPSET} or lower"
            ) from None


def onnx_module(path: str):
    """A torch GraphModule of the ONNX graph (onnx2torch); its weight initializers become parameters."""
    import torch
    from onnx2torch import convert

    module = convert(load_onnx(path))
    holder = getattr(module, "initializers", None)
    if holder is not None:
        for name, buffer in list(holder.named_buffers(recurse=False)):
            if buffer.is_floating_point() and buffer.ndim >= 1:
                delattr(holder, name)
                holder.register_parameter(name, torch.nn.Parameter(buffer.clone()))
    return module


# -- PyTorch modules (imported once, kept as an ONNX graph) -------------------------------------------------
def import_module_file(target: str, input_shape: list[int], out_dir: str | os.PathLike) -> Path:
    """Run `file.py`, instantiate ClassName(), trace it (torch.onnx.export's TorchScript tracer, BatchNorm kept)
    and write its graph and weights as `<out_dir>/<ClassName>.onnx`. This runs the user's code: call it only on
    an explicit user action. The project then keeps only that ONNX file (protobuf: operators and tensors)."""
    import importlib.util

    import torch

    file_text, _, class_name = target.rpartition(":")
    file = Path(file_text).expanduser()
    if not file.is_file() or file.suffix != ".py":
        raise UserError(f"module file {file} does not exist; give file.py:ClassName")
    if not class_name.isidentifier():
        raise UserError(f"{target}: {class_name!r} is not a class name; give file.py:ClassName")
    try:
        spec = importlib.util.spec_from_file_location(f"workbench_import_{file.stem}", file)
        assert spec is not None and spec.loader is not None
        code = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(code)
        cls = getattr(code, class_name, None)
        if cls is None:
            raise UserError(f"{file} has no {class_name}")
        module = cls()
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's module raised: one line naming it
        raise UserError(f"{file}: {class_name}() raised {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(module, torch.nn.Module):
        raise UserError(f"{file}: {class_name}() is a {type(module).__name__}, not a torch.nn.Module")
    example = torch.zeros((1, *input_shape))
    out = Path(out_dir) / f"{class_name}.onnx"
    import shutil
    import tempfile

    from workbench.core.io import atomic_replace_with

    with tempfile.TemporaryDirectory(prefix="workbench-import-") as scratch:
        traced = Path(scratch) / out.name
        try:
            with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated, and the one that
                warnings.simplefilter("ignore")  # keeps BatchNorm as is (see docs/pretrained.md)
                torch.onnx.export(
                    module.eval(),
                    (example,),
                    str(traced),
                    dynamo=False,
                    opset_version=ONNX_MAX_OPSET,
                    do_constant_folding=False,  # keeps BatchNorm layers (folding changes the parameter count)
                    input_names=["input"],
                    output_names=["output"],
                    dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                )
        except Exception as exc:  # noqa: BLE001
            raise UserError(
                f"{file}: {class_name} cannot be traced on a {'x'.join(map(str, input_shape))} input "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
            ) from None
        load_onnx(str(traced))  # every op converts back, before anything is written
        atomic_replace_with(out, lambda tmp: shutil.copyfile(traced, tmp))
    return out


__all__ = [
    "FORMATS",
    "detect_format",
    "file_sha256",
    "hf_load_weights",
    "hf_model_from_config",
    "import_module_file",
    "onnx_module",
    "read_hf_config",
    "source_sha256",
    "verify_sha256",
]
