"""EmbeddingBag: torch's nn.EmbeddingBag results over padded token ids, fastText's start, ONNX parity, and the
default text template built on it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from workbench.core.model.analysis import analyze
from workbench.core.model.build import build_model
from workbench.core.model.spec import ModelSpec
from workbench.core.model.templates import make_template, templates_for

IDS = torch.tensor(
    [[0, 0, 0, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7], [0, 9, 9, 9, 0, 2, 0]]
)


def _bag_spec(**params) -> ModelSpec:
    layer = {"type": "EmbeddingBag", "num_embeddings": 10, "embedding_dim": 4, **params}
    return ModelSpec(input_shape=[7], layers=[layer])


@pytest.mark.parametrize("mode", ["mean", "sum", "max"])
@pytest.mark.parametrize("padding_idx", [0, None])
def test_same_results_and_parameters_as_torch_embedding_bag(mode, padding_idx):
    spec = _bag_spec(mode=mode, padding_idx=padding_idx)
    ours = build_model(spec)[0]
    ref = nn.EmbeddingBag(10, 4, mode=mode, padding_idx=padding_idx)
    ref.load_state_dict(ours.state_dict())  # the same state-dict keys as torch's module
    with torch.no_grad():
        assert torch.allclose(ours(IDS), ref(IDS), atol=1e-6)
    assert analyze(spec).total_params == sum(p.numel() for p in ref.parameters()) == 40
    assert analyze(spec).output_shape == (4,)


def test_starts_like_fasttext_and_keeps_the_padding_vector_zero():
    bag = build_model(_bag_spec(num_embeddings=1000, embedding_dim=50))[0]
    weight = bag.weight.detach()
    assert weight[0].abs().max() == 0  # padding_idx 0
    assert 0.015 < weight[1:].abs().max() <= 1 / 50  # uniform in +-1/dim, not N(0, 1)
    loss = bag(torch.tensor([[0, 0, 5, 7]])).sum()
    loss.backward()
    assert bag.weight.grad[0].abs().max() == 0 and bag.weight.grad[5].abs().max() > 0


def test_a_bad_padding_idx_is_refused_with_a_fix():
    result = analyze(_bag_spec(padding_idx=10))
    assert not result.ok and "padding_idx 10 must be 0..9" in result.error
    fix = result.layers[0].fix
    assert fix is not None and fix.op == "set" and fix.layer == {"padding_idx": 0}


def test_default_text_template_is_the_bag_and_the_lstm_stays_an_option():
    names = [t.name for t in templates_for([12], "int64", "classification")]
    assert names[0] == "text_bag" and "text_lstm" in names and "bert_classifier" in names
    spec = make_template("text_bag", [12], 4, "int64", vocab_size=321)
    assert spec.layers[0].type == "EmbeddingBag" and spec.layers[0].params["num_embeddings"] == 321
    assert analyze(spec).output_shape == (4,)


@pytest.mark.slow
def test_onnx_export_verifies_against_pytorch(tmp_path):
    from workbench.core.export.pipeline import export
    from workbench.core.export.settings import ExportSettings
    from workbench.core.export.source import source_from_spec

    source = source_from_spec(make_template("text_bag", [12], 4, "int64", vocab_size=50))
    source.meta["dataset"] = {"input_dtype": "int64"}
    report = export(source, ExportSettings(format="onnx", verify_samples=32), tmp_path / "bag.onnx")
    assert report.checker_ok and report.dynamic_batch, report.to_markdown()
    assert report.max_abs_diff <= 1e-5 and report.top1_agreement == 1.0


def test_text_bag_learns_real_text_in_a_few_epochs_at_the_default_rate(tmp_path):
    """The default text template, built from its spec, with Adam 1e-3 and batch 64 (the default training
    settings) for 10 epochs on 4 standard-library packages (800 docstrings): far above chance (25%). The same
    network started as torch's Embedding (N(0, 1)) learns slower; fastText's start is the point of the layer."""
    import sys
    from pathlib import Path

    from workbench.core.data import DatasetSettings, load_dataset

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from realdata import write_docstrings_csv

    path = write_docstrings_csv(tmp_path / "docs.csv", ("asyncio", "email", "logging", "xml"), per_class=200)
    data = load_dataset(DatasetSettings(kind="csv", source=str(path), target="module"))
    m = data.meta

    def val_accuracy(start_like_torch: bool) -> float:
        torch.manual_seed(0)
        spec = make_template(
            "text_bag", m.input_shape, m.num_classes, "int64", vocab_size=m.extra["vocab_size"]
        )
        model = build_model(spec)
        if start_like_torch:
            nn.init.normal_(model[0].weight)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(10):
            order = torch.randperm(len(data.train), generator=generator)
            for i in range(0, len(order), 64):
                batch = order[i : i + 64]
                loss = nn.functional.cross_entropy(model(data.train.x[batch]), data.train.y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            return (model(data.val.x).argmax(1) == data.val.y).float().mean().item()

    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # tiny batches: one thread is the fastest, and a loaded machine does not slow it 20x
    try:
        fasttext_start, torch_start = val_accuracy(False), val_accuracy(True)
    finally:
        torch.set_num_threads(threads)
    assert fasttext_start >= 0.7 and fasttext_start > torch_start + 0.1, (
        fasttext_start,
        torch_start,
    )  # 83%, 63%
