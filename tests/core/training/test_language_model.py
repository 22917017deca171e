"""A causal language model on a real text file (the GPL v3): the textfile source's contiguous splits and
tokenizers, the next-token loss and perplexity in the run files, and seeded generation from the run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.realdata import GPL3
from workbench.core.data import DatasetSettings, load_dataset
from workbench.core.data.textfile import lm_tokenizer
from workbench.core.errors import UserError
from workbench.core.model.spec import ModelSpec
from workbench.core.project import Project
from workbench.core.training.config import TrainingConfig

pytestmark = pytest.mark.skipif(
    not GPL3.is_file(), reason=f"{GPL3} (Debian's base-files) is not on this system"
)
BLOCK = 32


def lm_spec(vocab: int, block: int = BLOCK) -> ModelSpec:
    """A small causal language model (L,) ids -> (L, vocab) logits: the gpt_lm template."""
    from workbench.core.model.templates import make_template

    return make_template("gpt_lm", [block], vocab, "int64", vocab_size=vocab)


def settings(**options) -> DatasetSettings:
    return DatasetSettings(kind="textfile", source=str(GPL3), options={"block_size": BLOCK, **options})


@pytest.fixture(scope="module")
def chars():
    return load_dataset(settings())


@pytest.fixture(scope="module")
def trained(chars, tmp_path_factory):
    from workbench.core.training.loop import train

    project = Project(
        dataset=settings(),
        model=lm_spec(chars.meta.num_classes),
        training=TrainingConfig(epochs=2, batch_size=32, lr=3e-3, device="cpu", seed=0),
    )
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # (module-scoped: conftest's per-test pin does not cover it yet)
    try:
        return list(train(project, chars, runs_root=tmp_path_factory.mktemp("lm") / "runs"))
    finally:
        torch.set_num_threads(threads)


def test_contiguous_splits_next_token_targets_and_train_only_vocabulary(chars, tmp_path):
    text = GPL3.read_text(encoding="utf-8")
    meta = chars.meta
    assert meta.task == "language_model" and meta.input_dtype == "int64" and meta.input_shape == (BLOCK,)
    (a, b), (c, d), (e, f) = meta.extra["char_ranges"]
    assert a == 0 and b == c and d == e and f == len(text)  # train, then val, then test: no overlap
    tok = lm_tokenizer(meta.extra)
    assert meta.num_classes == tok.vocab_size == len(set(text[a:b])) + 1  # + <unk>
    for name, (start, end) in zip(("train", "val", "test"), meta.extra["char_ranges"], strict=True):
        split = chars.split(name)
        assert len(split) == (end - start - 1) // BLOCK
        assert tok.decode(split.x[0].tolist()) == text[start : start + BLOCK]
        assert tok.decode(split.x[-1].tolist()) in text[start:end]
        assert (split.y[:, :-1] == split.x[:, 1:]).all()  # targets: the inputs shifted by one token
    # a character seen only after the train range becomes <unk> (id 0)
    path = tmp_path / "tail.txt"
    path.write_text("abcab" * 40 + "Z" * 60, encoding="utf-8")
    small = load_dataset(
        DatasetSettings(
            kind="textfile",
            source=str(path),
            options={"block_size": 8},
            split={"train": 0.7, "val": 0.3, "test": 0.0},
        )
    )
    assert "Z" not in small.meta.extra["vocab"]
    assert (small.val.x[-1] == 0).all()


def test_bpe_is_trained_on_the_train_range_and_kept_in_the_meta():
    data = load_dataset(settings(tokenizer="bpe", vocab_size=600))
    tok = lm_tokenizer(data.meta.extra)
    assert tok.mode == "bpe" and data.meta.num_classes == tok.vocab_size == 600
    text = GPL3.read_text(encoding="utf-8")
    sentence = text[200:400]
    assert tok.decode(tok.encode(sentence)) == sentence  # byte-level: every text round-trips
    assert len(tok.encode(sentence)) < len(sentence) / 2  # merges learned from the prose
    # refit on the train range alone: the same vocabulary (nothing of val/test leaked into it)
    from workbench.core.data.textfile import fit_tokenizer

    start, end = data.meta.extra["char_ranges"][0]
    assert fit_tokenizer("bpe", text[start:end], 600).encode(text) == tok.encode(text)


def test_bad_text_files_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        load_dataset(DatasetSettings(kind="textfile", source=str(empty)))
    short = tmp_path / "short.txt"
    short.write_text("tiny text", encoding="utf-8")
    with pytest.raises(UserError, match="lower block_size"):
        load_dataset(DatasetSettings(kind="textfile", source=str(short)))
    with pytest.raises(UserError, match="tokenizer"):
        load_dataset(settings(tokenizer="words"))
    binary = tmp_path / "binary"
    binary.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(UserError, match="binary"):
        load_dataset(DatasetSettings(kind="textfile", source=str(binary)))


def test_a_utf16_text_gives_the_same_windows(chars, tmp_path):
    wide = tmp_path / "gpl-utf16.txt"
    wide.write_text(GPL3.read_text(encoding="utf-8"), encoding="utf-16")  # with its byte-order mark
    data = load_dataset(DatasetSettings(kind="textfile", source=str(wide), options={"block_size": BLOCK}))
    assert data.meta.extra["encoding"] == "utf-16" and (data.train.x == chars.train.x).all()


def test_the_model_learns_the_text_and_perplexity_is_logged(trained, chars):
    finished = trained[-1]
    assert finished.status == "completed", finished.message
    vocab = chars.meta.num_classes
    epochs = [e for e in trained if e.kind == "epoch"]
    last = epochs[-1]
    # chance is log(vocab) (uniform over the characters); the model must be far below it
    assert last.val_loss < 0.65 * math.log(vocab), (last.val_loss, math.log(vocab))
    assert last.val_perplexity == pytest.approx(math.exp(last.val_loss))
    assert last.val_perplexity < vocab / 4
    assert last.train_accuracy is None and last.val_accuracy is None
    run = Path(finished.run_dir)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    batch = next(x for x in lines if x["kind"] == "batch")
    assert batch["perplexity"] == pytest.approx(math.exp(batch["loss"]))
    epoch = [x for x in lines if x["kind"] == "epoch"][-1]
    assert epoch["val_perplexity"] == pytest.approx(math.exp(epoch["val_loss"]))
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["test_perplexity"] == pytest.approx(math.exp(summary["test_loss"]))


def test_generation_is_seeded_and_decodes_to_text(trained):
    from workbench.core.training.generation import generate_from_run

    run = trained[-1].run_dir
    one = generate_from_run(run, "This License", max_new_tokens=60, temperature=0.8, seed=7)
    again = generate_from_run(run, "This License", max_new_tokens=60, temperature=0.8, seed=7)
    other = generate_from_run(run, "This License", max_new_tokens=60, temperature=0.8, seed=8)
    assert one.text == again.text and one.text != other.text
    assert len(one.text) == 60 and one.prompt == "This License" and "\ufffd" not in one.text
    words = one.text.split()
    assert sum(w.strip('.,;()"') in GPL3.read_text() for w in words) >= len(words) / 3  # real words
    greedy = generate_from_run(run, "the ", max_new_tokens=BLOCK * 2, temperature=0, seed=1)
    assert greedy.text == generate_from_run(run, "the ", max_new_tokens=BLOCK * 2, temperature=0, seed=2).text
    top1 = generate_from_run(run, "the ", max_new_tokens=BLOCK * 2, temperature=1.0, top_k=1, seed=3)
    assert top1.text == greedy.text  # top-1 sampling is greedy
    with pytest.raises(UserError, match="temperature"):
        generate_from_run(run, "x", temperature=-1)


def test_generate_cli(trained, capsys, digits_run):
    from workbench.cli import main

    run = trained[-1].run_dir
    assert main(["generate", run, "--prompt", "GNU", "--max-tokens", "20", "--seed", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["prompt"] == "GNU" and len(doc["text"]) == 20 and doc["seed"] == 1
    assert main(["generate", run, "--prompt", "GNU", "--max-tokens", "20", "--seed", "1"]) == 0
    assert capsys.readouterr().out == "GNU" + doc["text"] + "\n"
    assert main(["generate", str(digits_run), "--prompt", "x"]) == 2
    assert "not a language model" in capsys.readouterr().err


@pytest.fixture
def digits_run(tmp_path, digits):
    from tests.core.training.training_helpers import make_project, run_all

    return run_all(make_project(epochs=1), digits, tmp_path)[-1].run_dir


def test_a_model_without_per_position_logits_is_refused(chars, tmp_path):
    from workbench.core.model.templates import make_template
    from workbench.core.training.loop import train

    spec = make_template("text_lstm", [BLOCK], 0, "int64", vocab_size=chars.meta.num_classes)
    project = Project(dataset=settings(), model=spec, training=TrainingConfig(epochs=1, device="cpu"))
    finished = list(train(project, chars, runs_root=tmp_path))[-1]
    assert finished.status == "failed" and finished.cause == "input"
    assert "LMHead" in finished.message
    small_head = lm_spec(chars.meta.num_classes).to_dict()
    small_head["layers"][-1]["vocab_size"] = 50  # fewer scores than the vocabulary has tokens
    project = Project(
        dataset=settings(),
        model=ModelSpec.model_validate(small_head),
        training=TrainingConfig(epochs=1, device="cpu"),
    )
    finished = list(train(project, chars, runs_root=tmp_path))[-1]
    assert finished.status == "failed" and finished.cause == "input"
    assert f"vocab_size (and the Embedding's num_embeddings) to {chars.meta.num_classes}" in finished.message
    with pytest.raises(UserError, match="cross_entropy"):
        project = Project(
            dataset=settings(), model=spec, training=TrainingConfig(epochs=1, device="cpu", loss="mse")
        )
        list(train(project, chars, runs_root=tmp_path))


@pytest.mark.slow
def test_onnx_export_of_a_language_model_reports_token_accuracy(trained, tmp_path):
    from workbench.cli import main

    run = trained[-1].run_dir
    report = tmp_path / "report.json"
    assert (
        main(["export", run, "--format", "onnx", "-o", str(tmp_path / "lm.onnx"), "--report", str(report)])
        == 0
    )
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["checker_ok"] and doc["top1_agreement"] == 1.0
    # token accuracy over every position of the validation windows, far above 1 / vocab
    assert doc["accuracy_before"] == doc["accuracy_after"] > 0.25
    assert any("per token" in note for note in doc["notes"])  # the report says what its accuracy means


def test_the_builder_accepts_per_position_vocabulary_scores_and_flags_a_wrong_vocabulary():
    from workbench.core.model.analysis import analyze

    spec = lm_spec(73, 64)
    assert analyze(spec, num_classes=73).warnings == []  # (64, 73): no "add Flatten + Linear"
    result = analyze(spec, num_classes=80)
    head = result.layers[-1]
    assert "vocab_size to 80" in head.warning and head.warning_fix.layer == {"vocab_size": 80}


@pytest.mark.slow
@pytest.mark.parametrize("tokenizer", ["chars", "bpe"])
def test_the_generated_training_script_makes_the_same_windows_and_trains(tokenizer, tmp_path):
    import runpy
    import subprocess
    import sys

    import torch

    from workbench.core.scriptgen import export_training_script
    from workbench.core.training.generation import generate_from_run

    data_settings = settings(tokenizer=tokenizer, vocab_size=400)
    data = load_dataset(data_settings)
    project = Project(
        dataset=data_settings,
        model=lm_spec(data.meta.num_classes),
        training=TrainingConfig(epochs=1, batch_size=64, lr=3e-3, device="cpu"),
    )
    script = export_training_script(project, tmp_path / "train.py")
    lint = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            "F,E9,I",
            str(script),
        ],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout  # no undefined names: the text functions are all there
    ns = runpy.run_path(str(script))
    made = ns["load_data"](ns["DATA"], ns["read_textfile"])
    for name in ("train", "val", "test"):
        assert torch.equal(made[name][0], data.split(name).x) and torch.equal(
            made[name][1], data.split(name).y
        )
    assert lm_tokenizer(made["meta"]["extra"]).encode(GPL3.read_text()[:500]) == lm_tokenizer(
        data.meta.extra
    ).encode(GPL3.read_text()[:500])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = ns["main"](
            ns["DATA"],
            ns["TRAINING"],
            ns["Model"],
            ns["read_textfile"],
            json.dumps(ns["MODEL_SPEC"]),
            argv=["--out", str(tmp_path / "out"), "--device", "cpu"],
        )
    finally:
        torch.set_num_threads(threads)
    assert summary["val_loss"] < math.log(data.meta.num_classes)
    # the script's checkpoint is a language model Workbench can sample from
    sample = generate_from_run(tmp_path / "out" / "last.safetensors", "GNU", max_new_tokens=10, seed=0)
    assert len(sample.tokens) == 10


def test_cli_inspects_a_text_file_and_makes_a_gpt_project_by_default(chars, tmp_path, capsys):
    from workbench.cli import main
    from workbench.core.project import load_project

    assert main(["data", "inspect", str(GPL3), "--option", f"block_size={BLOCK}", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "textfile"  # detected: a text file without a CSV suffix
    assert doc["num_samples"] == sum(len(chars.split(s)) for s in ("train", "val", "test"))
    assert doc["num_classes"] == chars.meta.num_classes and doc["input_shape"] == [BLOCK]
    path = tmp_path / "lm.wbproj"
    assert main(["project", "new", str(path), "--data", str(GPL3), "--kind", "textfile"]) == 0
    assert "language model" in capsys.readouterr().out
    layers = load_project(path).model.layers
    assert layers[-1].type == "LMHead"  # the gpt_lm template, the text file's default


def test_the_generate_job_streams_the_text_and_stops_when_cancelled(trained, monkeypatch):
    import threading
    from types import SimpleNamespace

    from workbench.core.errors import Cancelled
    from workbench.core.training import generation

    run = trained[-1].run_dir
    control = SimpleNamespace(cancelled=threading.Event())
    options = {"max_new_tokens": 120, "temperature": 0.8, "seed": 4}
    real = generation.generate_steps
    monkeypatch.setattr(
        generation, "generate_steps", lambda *a, **k: real(*a, **k, every_s=0.0)
    )  # every token
    samples = list(generation.generate_job(control, run, "GNU", **options))
    assert [s.complete for s in samples] == [False] * 119 + [True]
    assert [len(s.tokens) for s in samples] == list(range(1, 121))
    assert samples[-1] == generation.generate_from_run(run, "GNU", **options)
    steps = generation.generate_job(control, run, "GNU", **options)
    next(steps)
    control.cancelled.set()  # a newer request cancels this one between tokens
    with pytest.raises(Cancelled):
        list(steps)
