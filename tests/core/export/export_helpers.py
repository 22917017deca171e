"""A small CNN trained briefly on digits, saved as a run folder (checkpoint + config.json), once per session.
Shared by the core, CLI and GUI export tests (they put this folder on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

DIGITS_CNN = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 10},
    ],
}

# the report's keys that docs/contract.md promises (`workbench export --report`)
REPORT_KEYS = {
    "format",
    "path",
    "size_bytes",
    "checker_ok",
    "max_abs_diff",
    "top1_agreement",
    "accuracy_before",
    "accuracy_after",
    "latency_ms",
}

_CACHE: dict[str, object] = {}


def digits_data():
    if "data" not in _CACHE:
        from workbench.core.data import DatasetSettings, load_dataset

        _CACHE["data"] = load_dataset(DatasetSettings())
    return _CACHE["data"]


# two convolutions in a row: the first one's channel 0 can be scaled up and the second one's input column 0
# scaled down by the same factor, which leaves the fp32 function unchanged and breaks int8 (see break_model)
TWO_CONV_CNN = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 10},
    ],
}
OUTLIER = 1000.0


def break_model(model) -> None:
    """Give the second convolution an outlier weight scale (its input column 0 is 1000x smaller than the rest),
    compensated by a 1000x larger channel 0 out of the first: the same fp32 outputs, a broken int8 model."""
    import torch

    with torch.no_grad():
        model[0].weight[0] *= OUTLIER
        model[0].bias[0] *= OUTLIER
        model[2].weight[:, 0] /= OUTLIER


def trained_digits_run(
    root: Path, epochs: int = 8, spec_dict: dict | None = None, broken: bool = False
) -> Path:
    """runs/<id>/ with checkpoints/best.safetensors (meta as the trainer writes it) and config.json.
    `spec_dict` / `broken`: another architecture, trained the same way, optionally broken for int8."""
    key = "run" if spec_dict is None and not broken else f"{'broken' if broken else 'other'}-{id(spec_dict)}"
    if key in _CACHE:
        return _CACHE[key]
    import torch

    from workbench.core.data import DatasetSettings
    from workbench.core.model.build import build_model
    from workbench.core.model.spec import ModelSpec
    from workbench.core.training.checkpoints import save_checkpoint

    data = digits_data()
    spec = ModelSpec.model_validate(spec_dict or DIGITS_CNN)
    torch.manual_seed(0)
    model = build_model(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one thread is faster and immune to a busy machine
    try:
        for _ in range(epochs):
            order = torch.randperm(len(data.train), generator=generator)
            for start in range(0, len(order), 32):
                index = order[start : start + 32]
                loss = torch.nn.functional.cross_entropy(model(data.train.x[index]), data.train.y[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    if broken:
        break_model(model)
    run = root / "project" / "runs" / ("20250101-000000" if key == "run" else f"20250101-00000{len(_CACHE)}")
    settings = DatasetSettings()
    meta = {
        "run_id": run.name,
        "epoch": epochs,
        "step": epochs * 40,
        "dataset_settings": settings.model_dump(mode="json"),
        "dataset": {"kind": "digits", "input_shape": [1, 8, 8], "num_classes": 10, "input_dtype": "float32"},
    }
    save_checkpoint(run / "checkpoints" / "best.safetensors", model, spec, meta)
    (run / "config.json").write_text(
        json.dumps({"dataset": settings.model_dump(mode="json"), "model": spec.to_dict()}), encoding="utf-8"
    )
    _CACHE[key] = run
    return run
