"""The standalone training script on a CSV text column (the standard library's docstrings): it tokenizes exactly
as Workbench does for each tokenizer (the same ids, vocabulary or BPE tokenizer, sequence length), and a script run
trains the default text template and keeps the tokenizer in its checkpoint, which Workbench accepts."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.core.data import DatasetSettings, load_dataset
from workbench.core.model.templates import make_template
from workbench.core.project import Project
from workbench.core.scriptgen import READER, export_training_script

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from realdata import write_docstrings_csv


def _text_project(path: Path, **options) -> Project:
    settings = DatasetSettings(kind="csv", source=str(path), target="module", options=options)
    m = load_dataset(settings).meta
    spec = make_template(
        "text_bag", m.input_shape, m.num_classes, m.input_dtype, vocab_size=m.extra["vocab_size"]
    )
    return Project(name="docs", dataset=settings, model=spec, training={"epochs": 2})


@pytest.mark.parametrize(
    "options",
    [{}, {"tokenizer": "chars", "vocab_size": 40}, {"tokenizer": "bpe", "vocab_size": 600, "seq_len": 12}],
)
def test_script_tokenizes_text_like_workbench(tmp_path, options):
    path = write_docstrings_csv(tmp_path / "docs.csv", ("json", "http", "logging"), per_class=40)
    project = _text_project(path, **options)
    ns = runpy.run_path(str(export_training_script(project, tmp_path / "train.py")))
    assert ns["DATA"]["text_column"] == "text"  # detected here, written down for the script
    ours = ns["load_data"](ns["DATA"], ns[READER["csv"]])
    theirs = load_dataset(project.dataset)
    for name in ("train", "val", "test"):
        x, y = ours[name]
        assert x.dtype == torch.int64 and torch.equal(x, theirs.split(name).x), name
        assert torch.equal(y, theirs.split(name).y), name
    meta, extra = ours["meta"], theirs.meta.extra
    assert meta["input_dtype"] == "int64" and meta["input_shape"] == list(theirs.meta.input_shape)
    assert meta["class_names"] == theirs.meta.class_names
    for key in ("tokenizer", "vocab_size", "seq_len", "vocab", "tokenizer_json"):
        assert meta["extra"].get(key) == extra.get(key), key


@pytest.mark.slow
def test_script_run_trains_text_and_keeps_the_tokenizer(tmp_path):
    from workbench.core.data.text import tokenizer_mismatch
    from workbench.core.training.checkpoints import load_checkpoint

    path = write_docstrings_csv(tmp_path / "docs.csv", ("asyncio", "email", "logging", "xml"), per_class=100)
    project = _text_project(path, tokenizer="bpe")
    export_training_script(project, tmp_path / "train.py")
    proc = subprocess.run(
        [sys.executable, "train.py", "--epochs", "8", "--device", "cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "train-output" / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.5, summary  # 4 classes: chance is 0.25
    checkpoint = load_checkpoint(tmp_path / "train-output" / "best.safetensors")
    assert (
        tokenizer_mismatch(checkpoint.meta["dataset"]["extra"], load_dataset(project.dataset).meta.extra)
        is None
    )
