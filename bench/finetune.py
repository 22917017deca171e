"""Fine-tuning an imported model: full vs LoRA vs frozen, and the import time of each source kind.

Model: a BERT-style encoder with 4 layers and 256 hidden units (4 heads, intermediate 1024) and a WordPiece
tokenizer (2,000 tokens) trained by `tokenizers` on the standard library's docstrings, saved with save_pretrained
(tests/core/pretrained_models.py; nothing downloaded). Data: those docstrings labelled by package (8 packages, up to
100 texts each, tests/realdata.py), its own tokenizer, 64 tokens per text. Training: Workbench's default settings
(Adam, lr 1e-3, batch 64) but 2 epochs, LoRA rank 8 on query/value; each method in a fresh process, so its peak
memory (max RSS; CUDA peak allocated on a GPU) is its own. samples/s and time per epoch are the trainer's own
figures (validation and checkpoints included in the epoch time).

Import: the wall time from the source to an analyzed spec and a built model with its weights, in a fresh process
(library imports included): a Hugging Face folder (the BERT above), an ONNX file (torchvision's resnet18 exported
by torch.onnx) and a PyTorch module (resnet18 as `nets.py:ResNet18`, traced once).

The machine may be shared: the load average is recorded with the results. Writes bench/results/finetune.json.

    .venv/bin/python bench/finetune.py [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).parent / "results" / "finetune.json"
FAMILIES = ("asyncio", "email", "tkinter", "xml", "logging", "unittest", "multiprocessing", "http")
METHODS = ("full", "lora", "freeze")


def prepare(work: Path) -> tuple[Path, Path]:
    from tests.core.pretrained_models import save_tiny_bert
    from tests.realdata import stdlib_docstrings, write_docstrings_csv

    texts = [t for t, _ in stdlib_docstrings(per_class=300)]
    bert = save_tiny_bert(work / "bert-4x256", texts, layers=4, hidden=256, vocab_size=2000)
    csv = write_docstrings_csv(work / "docs.csv", FAMILIES, per_class=100)
    return bert, csv


def train_one(method: str, bert: str, csv: str, epochs: int, work: str) -> dict:
    import torch

    from workbench.core.data import load_dataset
    from workbench.core.data.inspect import settings_for
    from workbench.core.model.pretrained_spec import pretrained_spec, tokenizer_option
    from workbench.core.project import Project
    from workbench.core.training.config import TrainingConfig
    from workbench.core.training.loop import train

    settings = settings_for(csv, None, None, {**tokenizer_option(bert, "csv"), "seq_len": 64})
    data = load_dataset(settings)
    spec, _, _ = pretrained_spec(data.meta, bert, work)
    cfg = TrainingConfig(epochs=epochs, finetune=method)
    project = Project(name=method, dataset=settings, model=spec, training=cfg)
    epoch_times, last = [], time.perf_counter()
    finished = None
    for event in train(project, data, runs_root=Path(work) / "runs"):
        name = type(event).__name__
        if name == "EpochEnd":
            now = time.perf_counter()
            epoch_times.append(now - last)
            last = now
        elif name == "Finished":
            finished = event
    assert finished is not None and finished.status == "completed", finished
    config = json.loads((Path(finished.run_dir) / "config.json").read_text())
    cuda = torch.cuda.is_available()
    return {
        "method": method,
        "samples_per_second": round(finished.samples_per_second, 1),
        "seconds_per_epoch": [round(t, 2) for t in epoch_times],
        "trainable_params": config["finetune"]["trainable_params"],
        "total_params": config["finetune"]["total_params"],
        "trainable_share": round(config["finetune"]["trainable_share"], 5),
        "best_val_accuracy": finished.best_val_accuracy,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cuda_peak_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "device": config["device"],
        "train_samples": len(data.train),
        "checkpoint_bytes": (Path(finished.run_dir) / "checkpoints" / "last.safetensors").stat().st_size,
    }


def import_one(kind: str, source: str, shape: list[int], work: str) -> dict:
    started = time.perf_counter()
    from workbench.core.model.analysis import analyze
    from workbench.core.model.build import build_model
    from workbench.core.model.pretrained import import_module_file, source_sha256
    from workbench.core.model.spec import ModelSpec

    fmt = kind
    if kind == "module":
        source = str(import_module_file(source, shape, Path(work) / "pretrained"))
    classes = 8 if kind == "huggingface" else 10
    layer = {"type": "Pretrained", "format": fmt, "source": source, "num_classes": classes}
    layer["sha256"] = source_sha256(fmt, source)
    spec = ModelSpec(input_shape=shape, layers=[layer])
    result = analyze(spec, input_dtype="int64" if kind == "huggingface" else "float32")
    assert result.ok, result.error
    analyzed = time.perf_counter() - started
    model = build_model(spec)
    return {
        "kind": kind,
        "seconds_to_analysis": round(analyzed, 2),
        "seconds_to_built_model": round(time.perf_counter() - started, 2),
        "total_params": result.total_params,
        "built_params": sum(p.numel() for p in model.parameters()),
        "modules_listed": len(result.layers[0].details["modules"]) if result.layers[0].details else 0,
    }


def _child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if out.returncode != 0:
        raise SystemExit(f"{args}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        what, *rest = args.child
        result = (
            train_one(*rest[:3], int(rest[3]), rest[4])
            if what == "train"
            else import_one(*rest[:2], json.loads(rest[2]), rest[3])
        )
        print(json.dumps(result))
        return
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bert, csv = prepare(work)
        import torch
        import torchvision

        nets = work / "nets.py"
        nets.write_text(
            "import torchvision\n\n\nclass ResNet18(torchvision.models.ResNet):\n    def __init__(self):\n"
            "        super().__init__(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])\n"
        )
        onnx_file = work / "resnet18.onnx"
        torch.onnx.export(
            torchvision.models.resnet18(weights=None).eval(),
            (torch.zeros(1, 3, 64, 64),),
            str(onnx_file),
            dynamo=False,
            opset_version=17,
            do_constant_folding=False,
        )
        runs = [_child(["train", m, str(bert), str(csv), str(args.epochs), str(work / m)]) for m in METHODS]
        imports = [
            _child(["import", "huggingface", str(bert), "[64]", str(work / "i1")]),
            _child(["import", "onnx", str(onnx_file), "[3, 64, 64]", str(work / "i2")]),
            _child(["import", "module", f"{nets}:ResNet18", "[3, 64, 64]", str(work / "i3")]),
        ]
    result = {
        "model": "BERT-style, 4 layers, hidden 256, 4 heads, intermediate 1024, vocab 2000, seq_len 64",
        "settings": f"Adam lr 1e-3, batch 64, {args.epochs} epochs, LoRA rank 8 alpha 16 on query/value",
        "finetune": runs,
        "import": imports,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "note": "measured on a machine shared with other jobs (see the load averages); rerun on a quiet one",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
