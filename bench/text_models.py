"""Text classification accuracy: Workbench's text templates against TF-IDF + logistic regression.

    .venv/bin/python bench/text_models.py [--epochs 20] [--seeds 0 1 2] [--models text_bag text_lstm ...] [--threads N]

Corpus: bench/text_corpus.py (1,600 Debian package synopses, 4 sections: games, graphics, sound, science; made
from apt's package lists on this machine; its sha256 is recorded). Data settings: the CSV source's defaults
(tokenizer words, vocabulary 10,000, automatic sequence length; split 70/15/15 with seed 0), so 1,120 train,
240 validation and 240 test texts. Each template is sized by `make_template` and trained by the core loop in
this process (what `workbench train` runs) with the default training settings (Adam, lr 1e-3, batch 64) for
`--epochs` epochs on the CPU; `val_accuracy` is the last epoch's, `best_val_accuracy` the best epoch's, and
`seconds` the run's wall time. Every training seed in `--seeds` is run (the default project uses seed 0); the
table gives the mean and the spread. The baselines are scikit-learn's TfidfVectorizer + LogisticRegression fitted
on the same train split and scored on the same validation split: its defaults (unigrams, C=1) and a tuned
variant (sublinear tf, unigrams + bigrams, C=10). Writes bench/results/text_models.json with the load average
(other work on the machine slows the times, not the accuracies). torch's default thread count unless `--threads N`
(recorded as torch_threads): on a 2-core machine loaded by other processes, 2 threads ran these small models 25-50
times slower than 1 (OpenMP threads waiting on each other), so loaded-machine figures are taken with --threads 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from text_corpus import PER_SECTION, SECTIONS, write_corpus  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "text_models.json"
MODELS = ("text_bag", "text_lstm", "bert_classifier")


def settings_for(csv_path: Path):
    from workbench.core.data.settings import DatasetSettings

    return DatasetSettings(kind="csv", source=str(csv_path), target="section")


def train_template(name: str, settings, data, epochs: int, seed: int, runs: Path) -> dict:
    from workbench.core.model.analysis import analyze
    from workbench.core.model.templates import make_template
    from workbench.core.project import Project
    from workbench.core.training.config import TrainingConfig
    from workbench.core.training.events import EpochEnd
    from workbench.core.training.loop import train

    m = data.meta
    spec = make_template(name, m.input_shape, m.num_classes, m.input_dtype, vocab_size=m.extra["vocab_size"])
    project = Project(
        dataset=settings, model=spec, training=TrainingConfig(epochs=epochs, seed=seed, device="cpu")
    )
    start = time.perf_counter()
    curve = [e.val_accuracy for e in train(project, data, runs_root=runs) if isinstance(e, EpochEnd)]
    seconds = time.perf_counter() - start
    return {
        "val_accuracy": curve[-1],
        "best_val_accuracy": max(curve),
        "val_accuracy_by_epoch": [round(a, 4) for a in curve],
        "seconds": round(seconds, 2),
        "params": analyze(spec).total_params,
    }


def tfidf_baselines(data) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = data.texts
    train = [texts[i] for i in data.train.indices]
    val = [texts[i] for i in data.val.indices]
    y_train, y_val = data.train.y.numpy(), data.val.y.numpy()
    variants = {
        "tfidf_logreg": (TfidfVectorizer(), LogisticRegression(max_iter=5000)),
        "tfidf_logreg_bigrams_c10": (
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)),
            LogisticRegression(C=10, max_iter=5000),
        ),
    }
    out = {}
    for name, (vectorizer, classifier) in variants.items():
        start = time.perf_counter()
        classifier.fit(vectorizer.fit_transform(train), y_train)
        accuracy = float(classifier.score(vectorizer.transform(val), y_val))
        out[name] = {"val_accuracy": round(accuracy, 4), "seconds": round(time.perf_counter() - start, 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--tokenizer", default="words", help="the CSV source's tokenizer option")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from workbench.core.data import load_dataset

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "debian_sections.csv"
        digest = write_corpus(csv_path)
        settings = settings_for(csv_path)
        if args.tokenizer != "words":
            settings.options["tokenizer"] = args.tokenizer
        data = load_dataset(settings)
        models: dict[str, dict] = {}
        for name in args.models:
            runs = [
                train_template(name, settings, data, args.epochs, s, Path(tmp) / "runs") for s in args.seeds
            ]
            accs = [r["val_accuracy"] for r in runs]
            models[name] = {
                "val_accuracy_mean": round(statistics.mean(accs), 4),
                "val_accuracy_min": round(min(accs), 4),
                "val_accuracy_max": round(max(accs), 4),
                "best_val_accuracy_mean": round(statistics.mean(r["best_val_accuracy"] for r in runs), 4),
                "seconds_mean": round(statistics.mean(r["seconds"] for r in runs), 2),
                "params": runs[0]["params"],
                "runs": dict(zip(map(str, args.seeds), runs, strict=True)),
            }
            print(
                f"{name:16s} val {models[name]['val_accuracy_mean']:.3f} ({min(accs):.3f}-{max(accs):.3f}) "
                f"{models[name]['seconds_mean']:.1f} s per run",
                flush=True,
            )
        baselines = tfidf_baselines(data)
        for name, result in baselines.items():
            print(f"{name:16s} val {result['val_accuracy']:.3f}", flush=True)
        m = data.meta
        report = {
            "corpus": {
                "source": "apt-cache dumpavail (Debian bookworm main package list), one-line synopses",
                "sections": list(SECTIONS),
                "texts": PER_SECTION * len(SECTIONS),
                "sha256": digest,
                "split": {"train": len(data.train), "val": len(data.val), "test": len(data.test), "seed": 0},
                "tokenizer": m.extra["tokenizer"],
                "vocab_size": m.extra["vocab_size"],
                "seq_len": m.extra["seq_len"],
            },
            "training": {
                "epochs": args.epochs,
                "seeds": args.seeds,
                "optimizer": "adam",
                "lr": 1e-3,
                "batch": 64,
            },
            "models": models,
            "baselines": baselines,
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "loadavg_before": [round(x, 2) for x in load_before],
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                "note": "other work ran on the machine: times are slower than on an idle one, accuracies are not",
            },
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
