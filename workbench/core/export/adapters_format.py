"""Export format `adapters`: what a fine-tuning run trained, alone (LoRA adapters and the new head, as the run's
checkpoint holds them) as safetensors, with the base model's reference (path + sha256) and the fine-tuning
settings in the metadata. Verified like every format: the adapters are put back on the base weights (read from
their source, sha256 checked), merged, and compared with the exported run's model. `safetensors` writes the merged
weights instead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.export import (  # noqa: F401 - the built-in formats register first: adapters is listed last
    onnx_formats,
    tensorrt_format,
    torch_formats,
)
from workbench.core.export.registry import Exporter, register_exporter

FORMAT = "workbench-adapters"


def _finetune(job) -> dict[str, Any]:
    meta = job.source.meta or {}
    finetune = meta.get("finetune") or {}
    if not finetune.get("partial_checkpoints") or job.source.path is None:
        raise UserError(
            "adapters exports what a fine-tuning run trained (LoRA, or freeze), and this source trained every "
            "weight; export it as safetensors (the whole model) instead"
        )
    return finetune


def write_adapters(job) -> Iterator[Any]:
    from safetensors.torch import save_file

    from workbench.core.training.checkpoints import load_checkpoint

    finetune = _finetune(job)
    yield job.progress("export", 0.1, "Writing the trained tensors (adapters and head)...")
    checkpoint = load_checkpoint(job.source.path)
    state = {k: v.contiguous() for k, v in checkpoint.state_dict.items()}
    metadata = {
        "format": FORMAT,
        "finetune": json.dumps(finetune),
        "training": json.dumps(checkpoint.meta.get("training") or {}),
        "model_spec": checkpoint.spec.model_dump_json(exclude_none=True),
    }
    save_file(state, str(job.work_path), metadata=metadata)
    job.facts["exporter"] = "safetensors (adapters)"
    job.notes.append(
        f"{len(state)} tensors ({sum(v.numel() for v in state.values()):,} values) on top of "
        + ", ".join(b["source"] for b in finetune.get("base", []))
    )
    yield job.progress("export", 0.6, f"Wrote {len(state)} tensors")


def load_adapters(path: Path, job):
    """The base model from its source, the adapters loaded and merged: a predictor for verification."""
    import numpy as np
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    from workbench.core.model.spec import ModelSpec
    from workbench.core.training.finetune import rebuild

    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata() or {}
    spec = ModelSpec.model_validate_json(metadata["model_spec"])
    meta = {"training": json.loads(metadata.get("training") or "{}")}
    model = rebuild(spec, load_file(str(path)), meta, path).eval()

    def predict(batch):
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(batch)))
        return (out[0] if isinstance(out, tuple | list) else out).float().numpy()

    return predict


def check_adapters(path: Path) -> list[str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
    except Exception as exc:  # noqa: BLE001
        return [f"safetensors: {exc}"]
    return [] if metadata.get("format") == FORMAT else ["the file has no adapters metadata"]


register_exporter(
    Exporter(
        name="adapters",
        label="Adapters only (safetensors)",
        suffix=".safetensors",
        write=write_adapters,
        load=load_adapters,
        check=check_adapters,
        runtime="PyTorch (+ the base model)",
        description="What a LoRA / freeze fine-tuning run trained (adapters and head), with the base model's path "
        "and sha256; small, applied on top of the base weights.",
    )
)
