"""The CSV text source's tokenizers (words, chars, bpe) on a real corpus (the standard library's docstrings):
kept with the project, fitted on the train split only, the same in every process, kept with the run as
tokenizer.json; and the default text template learns with the default settings."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.core.data import DatasetSettings, load_dataset
from workbench.core.data.text import WORD, Tokenizer, text_tokenizer, train_bpe
from workbench.core.errors import UserError
from workbench.core.project import Project, load_project, save_project

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from realdata import write_docstrings_csv

FAMILIES = ("json", "http", "email", "logging")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_docstrings_csv(tmp_path_factory.mktemp("text") / "docs.csv", FAMILIES, per_class=60)


def _settings(path: Path, **options) -> DatasetSettings:
    return DatasetSettings(
        kind="csv", source=str(path), target="module", options={"text_column": "text", **options}
    )


@pytest.mark.parametrize("mode, vocab_size", [("words", 500), ("chars", 60), ("bpe", 800)])
def test_each_tokenizer_round_trips_through_the_project_file(corpus, tmp_path, mode, vocab_size):
    path = save_project(
        Project(dataset=_settings(corpus, tokenizer=mode, vocab_size=vocab_size)), tmp_path / "p.wbproj"
    )
    assert json.loads(path.read_text())["dataset"]["options"]["tokenizer"] == mode
    settings = load_project(path).dataset
    assert settings.options["tokenizer"] == mode and settings.options["vocab_size"] == vocab_size
    first, again = load_dataset(settings), load_dataset(settings)
    extra = first.meta.extra
    assert extra["tokenizer"] == mode and extra["vocab_size"] <= vocab_size
    assert int(first.train.x.max()) < extra["vocab_size"] and first.meta.input_shape == (extra["seq_len"],)
    assert np.array_equal(first.train.x.numpy(), again.train.x.numpy())
    rebuilt = text_tokenizer(json.loads(json.dumps(extra)))  # as a run's config.json keeps it
    texts = [first.texts[i] for i in first.val.indices[:20]]
    assert np.array_equal(rebuilt.encode(texts), first.val.x.numpy()[:20])
    if mode == "bpe":
        assert "vocab" not in extra and json.loads(extra["tokenizer_json"])["model"]["type"] == "BPE"
        text = first.texts[first.train.indices[0]]
        assert rebuilt.decode(rebuilt.encode([text])[0]) == " ".join(text.lower().split())


@pytest.mark.parametrize("mode", ["words", "bpe"])
def test_the_vocabulary_comes_from_the_train_split_only(corpus, mode):
    """With room for every train word, a word that only validation texts contain is not in the vocabulary
    (fitting on every text would have put it there). For bpe the words are its own pre-tokenizer's ("Ġword"),
    and only those that are no part of a train word count (a merge may make a train word's prefix)."""
    from tokenizers.pre_tokenizers import ByteLevel

    data = load_dataset(_settings(corpus, tokenizer=mode, vocab_size=20_000))
    if mode == "words":
        split = lambda text: WORD.findall(text.lower())  # noqa: E731
    else:
        pre = ByteLevel(add_prefix_space=True)
        split = lambda text: [w for w, _ in pre.pre_tokenize_str(text.lower())]  # noqa: E731

    def words(name):
        return {w for i in data.split(name).indices for w in split(data.texts[i])}

    train = words("train")
    only_val = {
        w for w in words("val") - train - words("test") if len(w) >= 6 and not any(w in t for t in train)
    }
    assert len(only_val) >= 20
    if mode == "words":
        vocab = set(data.meta.extra["vocab"])
    else:
        vocab = set(json.loads(data.meta.extra["tokenizer_json"])["model"]["vocab"])
    assert len(train - vocab) <= len(train) // 100  # (nearly) every train word is one token
    assert not only_val & vocab


def test_bpe_training_gives_the_same_tokenizer_in_another_process(corpus):
    """tokenizers' WordPiece trainer is not deterministic across processes (its ids and even its vocabulary
    change); the BPE one is, so training, evaluation and export, each loading the data, tokenize alike."""
    import csv

    with corpus.open(encoding="utf-8") as fh:
        texts = [row[0] for row in csv.reader(fh)][1:]
    here = hashlib.sha256(train_bpe(texts, 1500).encode()).hexdigest()
    code = (
        "import csv, hashlib, sys; from workbench.core.data.text import train_bpe; "
        "texts = [r[0] for r in csv.reader(open(sys.argv[1], encoding='utf-8'))][1:]; "
        "print(hashlib.sha256(train_bpe(texts, 1500).encode()).hexdigest())"
    )
    there = subprocess.run(
        [sys.executable, "-c", code, str(corpus)], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert here == there


def test_bad_tokenizer_settings_say_what_to_do(corpus):
    with pytest.raises(UserError, match="too small for the bpe tokenizer: it needs at least 260"):
        load_dataset(_settings(corpus, tokenizer="bpe", vocab_size=100))
    with pytest.raises(
        UserError, match="tokenizer = 'wordpiece' is not allowed; choose one of: 'words', 'chars', 'bpe'"
    ):
        load_dataset(_settings(corpus, tokenizer="wordpiece"))
    with pytest.raises(UserError, match="unknown; use words, chars, bpe"):
        Tokenizer("sentencepiece")


@pytest.mark.slow
def test_default_text_template_learns_and_the_run_keeps_the_tokenizer(tmp_path):
    """text_bag (the default for text) with the default training settings on 4 standard-library packages (800
    docstrings), subword tokens: far above chance (25%) after 10 epochs; the run folder's tokenizer.json encodes
    like the data."""
    import torch
    from tokenizers import Tokenizer as HFTokenizer

    from workbench.core.model.templates import default_template, make_template
    from workbench.core.training.config import TrainingConfig
    from workbench.core.training.loop import train

    path = write_docstrings_csv(tmp_path / "docs.csv", ("asyncio", "email", "logging", "xml"), per_class=200)
    settings = _settings(path, tokenizer="bpe")
    data = load_dataset(settings)
    m = data.meta
    assert default_template(m.input_shape, m.input_dtype, m.task) == "text_bag"
    spec = make_template(
        "text_bag", m.input_shape, m.num_classes, m.input_dtype, vocab_size=m.extra["vocab_size"]
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
    run = Path(events[-1].run_dir)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["test_accuracy"] >= 0.6, summary  # chance: 0.25
    saved = HFTokenizer.from_file(str(run / "tokenizer.json"))
    i = data.val.indices[0]
    ids = saved.encode(data.texts[i]).ids[: m.extra["seq_len"]]
    row = data.val.x[0].numpy()
    assert row[len(row) - len(ids) :].tolist() == ids and not row[: len(row) - len(ids)].any()

    from workbench.core.training.evaluation import evaluate_run

    assert evaluate_run(run, data, "val", "cpu").accuracy >= 0.6  # the same settings: the same tokenizer
    words = load_dataset(_settings(path, tokenizer="words", seq_len=m.extra["seq_len"]))
    with pytest.raises(UserError, match="was trained on bpe tokens, the loaded data uses words tokens"):
        evaluate_run(run, words, "val", "cpu")


def test_a_changed_vocabulary_is_named():
    from workbench.core.data.text import tokenizer_mismatch

    trained = {"tokenizer": "words", "vocab": ["<pad>", "<unk>", "a"], "vocab_size": 3}
    assert tokenizer_mismatch(trained, dict(trained)) is None
    assert tokenizer_mismatch(trained, {"modality": "tabular"}) is None  # not text: nothing to compare
    changed = tokenizer_mismatch(trained, {**trained, "vocab": ["<pad>", "<unk>", "b"]})
    assert "another words vocabulary" in changed and "the split or vocab_size changed" in changed


def test_a_model_sized_for_a_smaller_vocabulary_is_refused_before_the_run(corpus, tmp_path):
    """The tokenizer changed after the model was sized (words -> bpe): one line with both sizes, no run folder."""
    from workbench.core.model.templates import make_template
    from workbench.core.training.loop import train

    settings = _settings(corpus, tokenizer="bpe", vocab_size=800)
    data = load_dataset(settings)
    spec = make_template("text_bag", data.meta.input_shape, data.meta.num_classes, "int64", vocab_size=300)
    with pytest.raises(
        UserError, match=r"gives \d+ token ids but the model's EmbeddingBag has num_embeddings 300"
    ):
        list(train(Project(dataset=settings, model=spec), data, runs_root=tmp_path / "runs"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
