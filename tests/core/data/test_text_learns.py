"""Text that learns with the defaults: the sequence length comes from the data, padding goes on the left (the
LSTM's last step is a real token), and `text_lstm` beats chance by far within 10 epochs on a real corpus
(the docstrings of Python's standard library, labelled by package: docs/data.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.core.data import DatasetSettings, load_dataset
from workbench.core.data.text import Tokenizer, auto_seq_len

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from realdata import write_docstrings_csv


def test_sequence_length_is_the_95th_percentile_of_token_counts():
    counts = list(range(1, 101))  # 1..100 tokens
    assert auto_seq_len(counts) == 96
    texts = [" ".join(["w"] * n) for n in counts]
    tok = Tokenizer("words").fit(texts)  # seq_len 0 (the default) = automatic
    assert tok.seq_len == 96
    assert auto_seq_len([3] * 50) == 3 and auto_seq_len([]) == 1 and auto_seq_len([10_000]) == 512


def test_short_texts_are_padded_on_the_left_so_the_last_step_is_a_word(tmp_path):
    path = write_docstrings_csv(tmp_path / "docs.csv", ("json", "http"), per_class=40)
    bundle = load_dataset(
        DatasetSettings(kind="csv", source=str(path), target="module", options={"text_column": "text"})
    )
    x = bundle.train.x.numpy()
    lengths = (x != 0).sum(1)
    assert bundle.meta.input_shape == (bundle.meta.extra["seq_len"],)
    assert np.percentile(lengths, 50) < x.shape[1] <= lengths.max()  # sized from the data, not 64
    assert (x[:, -1] != 0).all()  # every text ends at the last step
    short = lengths < x.shape[1]
    assert short.any() and (x[short, 0] == 0).all()  # padding is in front


def test_cli_makes_the_text_template_for_token_input(tmp_path, capsys):
    out = tmp_path / "text.json"
    code = main(
        [
            "model",
            "templates",
            "text_lstm",
            "--input-shape",
            "40",
            "--num-classes",
            "3",
            "--vocab-size",
            "500",
            "-o",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    spec = json.loads(out.read_text())
    assert spec["input_shape"] == [40]
    embedding = spec["layers"][0]
    assert embedding["type"] == "Embedding" and embedding["num_embeddings"] == 500
    assert embedding["padding_idx"] == 0 and spec["layers"][-1]["out_features"] == 3
    assert main(["model", "check", str(out)]) == 0


@pytest.mark.slow
def test_text_lstm_with_default_settings_learns_a_real_corpus(tmp_path):
    """8 standard-library packages (2,192 docstrings here; the largest class is 32%): the default template and
    training settings (Adam 1e-3, batch 64) for 10 epochs reach at least 50% on the test split."""
    import torch

    from workbench.core.model.templates import make_template
    from workbench.core.project import Project
    from workbench.core.training.config import TrainingConfig
    from workbench.core.training.loop import train

    path = write_docstrings_csv(tmp_path / "docs.csv")
    settings = DatasetSettings(kind="csv", source=str(path), target="module", options={"text_column": "text"})
    data = load_dataset(settings)
    m = data.meta
    majority = np.bincount(data.test.y.numpy()).max() / len(data.test)
    spec = make_template(
        "text_lstm", m.input_shape, m.num_classes, m.input_dtype, vocab_size=m.extra["vocab_size"]
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        events = list(
            train(
                Project(dataset=settings, model=spec, training=TrainingConfig(epochs=10, device="cpu")),
                data,
                runs_root=tmp_path / "runs",
            )
        )
    finally:
        torch.set_num_threads(threads)
    summary = json.loads((Path(events[-1].run_dir) / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert majority < 0.4
    assert summary["test_accuracy"] >= 0.5, summary
