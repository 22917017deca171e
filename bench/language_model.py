"""The language model on a real text file, with default settings: data preparation, training (perplexity per
epoch and seconds), and generation speed. Results in bench/results/language_model.json.

    .venv/bin/python bench/language_model.py [--epochs 10] [--corpus /usr/share/common-licenses/GPL-3]

The corpus is the GNU GPL v3 text that every Debian / Ubuntu system has (docs/language_model.md says why). The
machine's load average is recorded with the figures: on a shared machine, times are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "language_model.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="/usr/share/common-licenses/GPL-3")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    import torch

    from workbench.core.data import DatasetSettings, load_dataset
    from workbench.core.model.analysis import analyze
    from workbench.core.model.templates import make_template
    from workbench.core.project import Project
    from workbench.core.training.config import TrainingConfig
    from workbench.core.training.generation import generate_from_run
    from workbench.core.training.loop import train

    load_before = os.getloadavg()
    result: dict = {
        "corpus": args.corpus,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
        },
        "load_average_before": load_before,
        "data": {},
    }
    for tokenizer in ("chars", "bpe"):
        settings = DatasetSettings(kind="textfile", source=args.corpus, options={"tokenizer": tokenizer})
        t0 = time.perf_counter()
        data = load_dataset(settings)
        result["data"][tokenizer] = {
            "seconds": round(time.perf_counter() - t0, 3),
            "vocab_size": data.meta.num_classes,
            "tokens": data.meta.extra["tokens"],
            "windows": {s: len(data.split(s)) for s in ("train", "val", "test")},
        }
    settings = DatasetSettings(kind="textfile", source=args.corpus)
    data = load_dataset(settings)
    vocab = data.meta.num_classes
    project = Project(
        dataset=settings,
        model=make_template("gpt_lm", list(data.meta.input_shape), vocab, "int64", vocab_size=vocab),
        training=TrainingConfig(epochs=args.epochs, device="cpu"),  # the defaults otherwise
    )
    epochs, t0 = [], time.perf_counter()
    finished = None
    for event in train(project, data, runs_root=Path("/tmp") / "wb-bench-lm"):
        if event.kind == "epoch":
            epochs.append(
                {
                    "epoch": event.epoch,
                    "seconds": round(time.perf_counter() - t0, 2),
                    "train_perplexity": round(event.train_perplexity, 3),
                    "val_perplexity": round(event.val_perplexity, 3),
                }
            )
            print(epochs[-1], flush=True)
        finished = event
    summary = json.loads((Path(finished.run_dir) / "summary.json").read_text())
    result["training"] = {
        "settings": "gpt_lm template, block 64, batch 64, Adam 1e-3 (the defaults), CPU",
        "parameters": analyze(project.model).total_params,
        "chance_perplexity": vocab,
        "chance_loss": round(math.log(vocab), 4),
        "epochs": epochs,
        "test_perplexity": round(summary["test_perplexity"], 3),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    t0 = time.perf_counter()
    sample = generate_from_run(finished.run_dir, "This License", max_new_tokens=200, seed=0, device="cpu")
    seconds = time.perf_counter() - t0
    result["generation"] = {
        "tokens": len(sample.tokens),
        "seconds_with_loading": round(seconds, 3),
        "tokens_per_second": round(len(sample.tokens) / seconds, 1),
        "sample": sample.prompt + sample.text,
    }
    result["load_average_after"] = os.getloadavg()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "data"}, indent=2))


if __name__ == "__main__":
    main()
