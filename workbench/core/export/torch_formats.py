"""TorchScript (traced, runs without Python model code) and the weights alone as safetensors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.export.onnx_formats import quiet
from workbench.core.export.registry import Exporter, register_exporter


def write_torchscript(job) -> Iterator[Any]:
    import torch

    yield job.progress("export", 0.05, "Tracing the model (torch.jit.trace)...")
    with quiet(), torch.no_grad():
        try:
            traced = torch.jit.trace(job.model, (job.example,), check_trace=False)
            traced = torch.jit.freeze(traced.eval()) if not _has_rnn(job.model) else traced
        except Exception as exc:
            raise UserError(f"TorchScript cannot trace this model: {str(exc).splitlines()[0][:300]}") from exc
        buffer = io.BytesIO()  # torch.jit.save onto a full disk aborts the process (a C++ terminate):
        torch.jit.save(
            traced, buffer
        )  # serialize in memory, then write from Python, where ENOSPC is an error
    job.work_path.write_bytes(buffer.getbuffer())  # (the work folder is private; run_export commits it)
    job.facts["exporter"] = "torch.jit.trace"
    yield job.progress("export", 0.6, "Traced")


def _has_rnn(model) -> bool:
    import torch

    return any(isinstance(m, torch.nn.RNNBase) for m in model.modules())


def load_torchscript(path: Path, job=None):
    import numpy as np
    import torch

    with quiet():
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def predict(batch):
        with torch.no_grad():
            out = module(torch.from_numpy(np.ascontiguousarray(batch)))
        out = out[0] if isinstance(out, tuple | list) else out
        return out.float().numpy()

    return predict


def check_torchscript(path: Path) -> list[str]:
    try:
        load_torchscript(path)
    except Exception as exc:  # noqa: BLE001
        return [f"torch.jit.load: {exc}"]
    return []


def write_safetensors(job) -> Iterator[Any]:
    from safetensors.torch import save_file

    yield job.progress("export", 0.1, "Writing the weights (safetensors)...")
    state = {k: v.detach().cpu().contiguous() for k, v in job.model.state_dict().items()}
    metadata = {"format": "workbench-weights"}
    if job.spec is not None:
        metadata["model_spec"] = job.spec.model_dump_json(exclude_none=True)
    save_file(state, str(job.work_path), metadata=metadata)
    job.facts["exporter"] = "safetensors"
    yield job.progress("export", 0.6, f"Wrote {len(state)} tensors")


def load_safetensors(path: Path, job):
    """Weights only: verification loads them into a fresh copy of the model and runs it in PyTorch."""
    import copy

    import numpy as np
    import torch
    from safetensors.torch import load_file

    from workbench.core.training.checkpoints import load_state_strict

    model = copy.deepcopy(job.model)
    load_state_strict(model, load_file(str(path)), path)
    model.eval()

    def predict(batch):
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(batch)))
        return (out[0] if isinstance(out, tuple | list) else out).float().numpy()

    return predict


def check_safetensors(path: Path) -> list[str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            list(fh.keys())
    except Exception as exc:  # noqa: BLE001
        return [f"safetensors: {exc}"]
    return []


register_exporter(
    Exporter(
        name="torchscript",
        label="TorchScript",
        suffix=".pt",
        write=write_torchscript,
        load=load_torchscript,
        check=check_torchscript,
        runtime="PyTorch (torch.jit)",
        description="A traced TorchScript module: load with torch.jit.load, no model code needed.",
    )
)
register_exporter(
    Exporter(
        name="safetensors",
        label="Weights only (safetensors)",
        suffix=".safetensors",
        write=write_safetensors,
        load=load_safetensors,
        check=check_safetensors,
        runtime="PyTorch",
        description="The weights alone (and the model spec in the metadata), for PyTorch code.",
    )
)
