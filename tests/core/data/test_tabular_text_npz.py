"""CSV (tabular and text) and npz sources on files written in tmp_path."""

import numpy as np
import pytest
import torch

from workbench.core.data import DatasetSettings, detect_kind, load_dataset
from workbench.core.data.synthetic import write_csv, write_digits_csv
from workbench.core.data.text import Tokenizer
from workbench.core.errors import UserError


def csv_settings(path, target=None, **options):
    return DatasetSettings(kind="csv", source=str(path), target=target, options=options)


def test_digits_csv_classification(tmp_path):
    path = write_digits_csv(tmp_path / "digits.csv", n=300)
    bundle = load_dataset(csv_settings(path, "label"))
    assert detect_kind(str(path)) == "csv"
    assert bundle.meta.input_shape == (64,) and bundle.meta.num_classes == 10
    assert bundle.meta.class_names == [str(i) for i in range(10)]
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 300
    assert bundle.train.x.dtype == torch.float32 and bundle.meta.extra["features"][0] == "p0"
    assert bundle.sample_image("train", 0) is None
    assert bundle.sample_text("train", 0).startswith("p0=")


def test_categorical_onehot_or_refused_and_missing_policy(tmp_path):
    rows = [
        [1.5, "red", 3, "yes"],
        [2.0, "blue", "", "no"],
        ["NA", "red", 5, "yes"],
        [4.0, "green", 6, "no"],
        [5.0, "blue", 7, "yes"],
        [6.0, "", 8, "no"],
        [7.0, "red", 9, "yes"],
        [8.0, "blue", 10, "no"],
    ]
    path = write_csv(tmp_path / "t.csv", ["size", "color", "count", "buy"], rows)
    dropped = load_dataset(csv_settings(path, "buy"))
    miss = dropped.meta.extra["missing"]
    assert miss["policy"] == "drop" and miss["rows_dropped"] == 3
    assert dropped.meta.extra["features"] == ["size", "color=blue", "color=green", "color=red", "count"]
    assert dropped.meta.class_names == ["no", "yes"] and dropped.meta.input_shape == (5,)
    imputed = load_dataset(csv_settings(path, "buy", missing="impute"))
    assert imputed.meta.extra["missing"]["values_imputed"] == {"size": 1, "color": 1, "count": 1}
    assert sum(len(imputed.split(s)) for s in ("train", "val", "test")) == 8
    assert not any(torch.isnan(imputed.split(s).x).any() for s in ("train", "val", "test"))
    with pytest.raises(UserError, match="column 'color' is not numeric .*one-hot"):
        load_dataset(csv_settings(path, "buy", categorical="refuse"))


def test_regression_target(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    rows = [[f"{a:.3f}", f"{b:.3f}", f"{2 * a - b + 0.5:.4f}"] for a, b in x]
    bundle = load_dataset(csv_settings(write_csv(tmp_path / "r.csv", ["a", "b", "price"], rows), "price"))
    assert bundle.meta.task == "regression" and bundle.meta.num_classes == 0 and bundle.meta.class_names == []
    assert bundle.train.y.dtype == torch.float32


def test_csv_bad_input_messages(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UserError, match="is empty"):
        load_dataset(csv_settings(empty))
    ragged = write_csv(tmp_path / "rag.csv", ["a", "b", "y"], [[1, 2, 0], [3, 4, 1], [5, 6, 7, 1], [1, 1, 0]])
    with pytest.raises(UserError, match="line 4 has 4 fields but the header has 3"):
        load_dataset(csv_settings(ragged))
    good = write_csv(tmp_path / "g.csv", ["a", "b", "y"], [[i, i * 2, i % 2] for i in range(30)])
    with pytest.raises(UserError, match="column 'label' not found; the columns are: a, b, y"):
        load_dataset(csv_settings(good, "label"))
    typo = write_csv(
        tmp_path / "typo.csv", ["a", "b", "y"], [[i, "oops" if i == 7 else i, i % 2] for i in range(30)]
    )
    with pytest.raises(UserError, match="column 'b' is numeric but line 9 has 'oops'"):
        load_dataset(csv_settings(typo))


def test_delimiter_and_encoding_are_sniffed(tmp_path):
    rows = [[f"caf\u00e9{i % 3}", i, i % 2] for i in range(30)]
    path = write_csv(tmp_path / "semi.csv", ["name", "n", "cls"], rows, delimiter=";", encoding="cp1252")
    bundle = load_dataset(csv_settings(path, "cls"))
    assert bundle.meta.extra["delimiter"] == ";" and bundle.meta.extra["encoding"] == "cp1252"
    assert "name=caf\u00e91" in bundle.meta.extra["features"]
    tabs = write_csv(
        tmp_path / "tabs.tsv",
        ["n", "cls"],
        [[i, i % 2] for i in range(20)],
        delimiter="\t",
        encoding="utf-16",
    )
    assert load_dataset(csv_settings(tabs, "cls")).meta.extra["delimiter"] == "\t"


def test_text_column_tokenized_with_vocab_from_train(tmp_path):
    pos = [
        "a great and lovely film",
        "loved it, great acting",
        "wonderful fun great story",
        "great great fun",
    ]
    neg = ["a dull and boring film", "hated it, awful acting", "boring story, awful pace", "dull dull awful"]
    rows = [[f'"{t} {i}"', "pos"] for i, t in enumerate(pos * 5)] + [
        [f'"{t} {i}"', "neg"] for i, t in enumerate(neg * 5)
    ]
    path = write_csv(tmp_path / "reviews.csv", ["review", "sentiment"], rows)
    bundle = load_dataset(csv_settings(path, "sentiment", seq_len=8, vocab_size=30))
    assert bundle.meta.extra["text_column"] == "review"  # detected: one free-text column
    assert bundle.meta.input_dtype == "int64" and bundle.meta.input_shape == (8,)
    assert bundle.train.x.dtype == torch.int64 and bundle.train.x.shape[1] == 8
    vocab = bundle.meta.extra["vocab"]
    assert vocab[:2] == ["<pad>", "<unk>"] and "great" in vocab and len(vocab) == 30
    assert int(bundle.train.x.max()) < 30
    assert bundle.sample_text("val", 0).startswith(
        ("a ", "loved", "wonderful", "great", "hated", "boring", "dull")
    )


def test_tokenizer_rules():
    tok = Tokenizer("words", vocab_size=5, seq_len=4).fit(["b a a", "c a b", "b d"])
    assert tok.vocab == ["<pad>", "<unk>", "a", "b", "c"]  # by frequency, ties alphabetical
    assert tok.encode(["A b zz", "a a a a a"]).tolist() == [[0, 2, 3, 1], [2, 2, 2, 2]]  # padded on the left
    chars = Tokenizer("chars", vocab_size=10, seq_len=3).fit(["ab"])
    assert chars.encode(["BA"]).tolist() == [[0, 3, 2]] or chars.encode(["BA"]).tolist() == [[0, 2, 3]]


def test_npz_arrays_and_errors(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez(tmp_path / "flat.npz", X=d.data[:200], y=d.target[:200])
    flat = load_dataset(DatasetSettings(kind="npz", source=str(tmp_path / "flat.npz")))
    assert flat.meta.input_shape == (64,) and flat.meta.num_classes == 10
    imgs = (d.images[:200] / 16 * 255).astype(np.uint8)
    np.savez(
        tmp_path / "img.npz", X=imgs, y=d.target[:200], class_names=np.array([f"c{i}" for i in range(10)])
    )
    img = load_dataset(DatasetSettings(kind="npz", source=str(tmp_path / "img.npz")))
    assert img.meta.input_shape == (1, 8, 8) and img.meta.class_names[3] == "c3"
    assert img.sample_image("train", 0).shape == (8, 8)
    assert detect_kind(str(tmp_path / "img.npz")) == "npz"
    np.savez(tmp_path / "nox.npz", features=d.data[:10], y=d.target[:10])
    with pytest.raises(UserError, match="has no array X .*it has: features, y"):
        load_dataset(DatasetSettings(kind="npz", source=str(tmp_path / "nox.npz")))
    np.savez(tmp_path / "len.npz", X=d.data[:10], y=d.target[:9])
    with pytest.raises(UserError, match="X has 10 samples but y has 9 labels"):
        load_dataset(DatasetSettings(kind="npz", source=str(tmp_path / "len.npz")))
    np.savez(tmp_path / "range.npz", X=d.data[:20], y=d.target[:20], class_names=np.array(["a", "b"]))
    with pytest.raises(UserError, match="label 9 but class_names lists only 2 classes"):
        load_dataset(DatasetSettings(kind="npz", source=str(tmp_path / "range.npz")))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable .npz"):
        load_dataset(DatasetSettings(kind="npz", source=str(tmp_path / "bad.npz")))
