"""The traced memory estimate (workbench.core.memory) against MemTracker over a REAL training step, and how long a
trace takes.

For each model and batch size (Adam, fp32, CPU, default settings):
  estimate    estimate_memory(): MemTracker under FakeTensorMode, second step (nothing allocated)
  measured    MemTracker over two real training steps on real CPU tensors, the second measured (the reference the
              tests use; PyTorch's own tests hold this tracker within 10% of the CUDA allocator's active bytes)
  error %     (estimate - measured) / measured
  trace s     the estimate's own time (first call for that batch: cache empty)
Then the trace time of a 12-layer BERT-base-sized encoder (hidden 768, 12 heads, ff 3072, vocabulary 30522,
128 tokens) at batch 32, on the CPU and for CUDA (emulated on the CPU when there is no GPU), cold and cached.

Writes bench/results/memory.json with os.getloadavg() (the machine may be shared: compare the load).
Usage: python bench/memory.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results") / "memory.json"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core" / "memory"))


def bert_base():
    from workbench.core.model.spec import ModelSpec

    block = {"type": "TransformerEncoderLayer", "nhead": 12, "dim_feedforward": 3072, "activation": "gelu"}
    layers = [
        {"type": "Embedding", "num_embeddings": 30522, "embedding_dim": 768},
        {"type": "PositionalEmbedding", "max_len": 128, "kind": "learned"},
        *([block] * 12),
        {"type": "SequencePool"},
        {"type": "Linear", "out_features": 2},
    ]
    return ModelSpec(input_shape=[128], layers=layers)


def main() -> None:
    import torch
    from test_estimate import CNN, MLP, RESNET18, TRANSFORMER, measured_peak

    from workbench.core.memory import estimate as estimate_module
    from workbench.core.memory import estimate_memory
    from workbench.core.training.config import TrainingConfig

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    estimate_memory(MLP, TrainingConfig(batch_size=3))  # imports and first-use set-up out of the figures
    rows = []
    cases = [
        ("sample CNN (digits)", CNN, (64, 256)),
        ("MLP", MLP, (16, 128)),
        ("Transformer encoder (2 layers)", TRANSFORMER, (4, 16)),
        ("ResNet-18 (3x32x32)", RESNET18, (2, 8)),
    ]
    for name, spec, batches in cases:
        for optimizer in ("adam", "sgd"):
            for batch in batches:
                config = TrainingConfig(batch_size=batch, optimizer=optimizer)
                estimate_module._CACHE.clear()
                started = time.perf_counter()
                estimate = estimate_memory(spec, config)
                seconds = time.perf_counter() - started
                measured = measured_peak(spec, config)
                error = 100 * (estimate.peak_bytes - measured) / measured
                rows.append(
                    {
                        "model": name,
                        "optimizer": optimizer,
                        "batch": batch,
                        "estimate_bytes": estimate.peak_bytes,
                        "measured_bytes": measured,
                        "error_percent": round(error, 2),
                        "trace_s": round(seconds, 3),
                        "method": estimate.method,
                    }
                )
                print(
                    f"{name:32} {optimizer:5} b={batch:<4} estimate {estimate.peak_bytes / 2**20:9.2f} MiB  "
                    f"measured {measured / 2**20:9.2f} MiB  error {error:+6.2f}%  trace {seconds:6.3f} s"
                )
    bert = {}
    for device in ("cpu", "cuda"):
        estimate_module._CACHE.clear()
        config = TrainingConfig(batch_size=32)
        started = time.perf_counter()
        result = estimate_memory(bert_base(), config, device=device)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        estimate_memory(bert_base(), config, device=device)
        cached = time.perf_counter() - started
        bert[device] = {
            "peak_bytes": result.peak_bytes,
            "trace_s": round(cold, 3),
            "cached_ms": round(1000 * cached, 3),
            "params": result.total_params,
            "method": result.method,
        }
        print(
            f"BERT-base-sized encoder, batch 32, {device}: peak {result.peak_bytes / 2**30:.2f} GiB, "
            f"trace {cold:.2f} s, cached {1000 * cached:.2f} ms ({result.total_params:,} parameters)"
        )
    doc = {
        "what": "traced estimate vs MemTracker on real tensors (CPU, second step); trace times",
        "rows": rows,
        "max_abs_error_percent": max(abs(r["error_percent"]) for r in rows),
        "bert_base_batch32": bert,
        "target_bert_trace_s": 0.2,
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": 1,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "note": "measured while other jobs shared the machine when loadavg is high; rerun on an idle machine",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
