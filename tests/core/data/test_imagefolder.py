"""Image folders written from the digits: counts, shapes, class names, skipped files and the messages."""

import os

import numpy as np
import pytest
from PIL import Image

from workbench.core.data import DatasetSettings, detect_kind, load_dataset, read_source
from workbench.core.data.synthetic import write_image_folder
from workbench.core.errors import UserError


def settings(path, **options):
    return DatasetSettings(kind="imagefolder", source=str(path), options=options)


def test_reads_classes_counts_and_pixels(image_folder, digits_arrays):
    bundle = load_dataset(settings(image_folder))
    assert bundle.meta.class_names == ["digit0", "digit1", "digit2"]
    assert bundle.meta.input_shape == (1, 8, 8) and bundle.meta.num_classes == 3
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 60
    assert bundle.skipped == []
    # the picture behind a val sample is the PNG it came from
    path = bundle.paths[bundle.source_index("val", 0)]
    assert np.array_equal(bundle.sample_image("val", 0), np.asarray(Image.open(path)))
    assert detect_kind(str(image_folder)) == "imagefolder"


def test_rgb_formats_and_resize(tmp_path, digits_arrays):
    root = tmp_path / "rgb"
    for fmt in ("png", "jpg", "bmp", "gif", "webp"):
        write_image_folder(root / fmt, *digits_arrays, classes=(3, 4), per_class=4, fmt=fmt, mode="RGB")
    for fmt in ("png", "jpg", "bmp", "gif", "webp"):
        raw = read_source(settings(root / fmt))
        assert raw.x.shape == (8, 3, 8, 8), fmt
    bundle = load_dataset(settings(root / "png", resize="16x12", color="grayscale"))
    assert bundle.meta.input_shape == (1, 16, 12)
    assert bundle.sample_image("train", 0).shape == (16, 12)
    rgb = load_dataset(settings(root / "png", color="rgb"))
    assert rgb.meta.input_shape == (3, 8, 8) and rgb.sample_image("train", 0).shape == (8, 8, 3)
    assert len(rgb.meta.mean) == 3


def test_corrupt_and_non_image_files_are_skipped_and_listed(image_folder):
    (image_folder / "digit0" / "notes.txt").write_text("not an image")
    (image_folder / "digit1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    good = (image_folder / "digit2" / "000.png").read_bytes()
    (image_folder / "digit2" / "truncated.png").write_bytes(good[: len(good) // 2])
    (image_folder / "stray.png").write_bytes(good)
    bundle = load_dataset(settings(image_folder))
    reasons = {os.path.basename(s["path"]): s["reason"] for s in bundle.skipped}
    assert set(reasons) == {"notes.txt", "broken.png", "truncated.png", "stray.png"}
    assert "not an image file" in reasons["notes.txt"]
    assert reasons["broken.png"].startswith("cannot decode image")
    assert reasons["truncated.png"].startswith("cannot decode image")
    assert "class subfolder" in reasons["stray.png"]
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 60


def test_mixed_sizes_ask_for_a_resize(image_folder, digits_arrays):
    write_image_folder(image_folder, *digits_arrays, classes=(5,), per_class=3, size=(12, 12))
    with pytest.raises(UserError, match=r"different sizes \(8x8: 60, 12x12: 3.*set Resize to .*8x8"):
        load_dataset(settings(image_folder))
    bundle = load_dataset(settings(image_folder, resize=8))
    assert bundle.meta.num_classes == 4 and bundle.meta.input_shape == (1, 8, 8)


def test_empty_single_class_and_missing_folders(tmp_path, digits_arrays):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no class subfolders"):
        load_dataset(settings(tmp_path / "empty"))
    write_image_folder(tmp_path / "one", *digits_arrays, classes=(7,), per_class=5)
    with pytest.raises(UserError, match="only one class found \\('digit7'\\)"):
        load_dataset(settings(tmp_path / "one"))
    with pytest.raises(UserError, match="folder not found"):
        load_dataset(settings(tmp_path / "nope"))
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "a" / "x.txt").write_text("x")
    with pytest.raises(UserError, match="has no images"):
        load_dataset(settings(tmp_path / "noimg"))


def test_unreadable_folder_and_file_are_clear(image_folder, monkeypatch):
    real_scandir = os.scandir

    def denied(path):  # chmod does not stop root, so the OS answer is simulated
        if str(path) == str(image_folder):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(UserError, match="cannot read folder .*permission denied"):
        load_dataset(settings(image_folder))
    monkeypatch.setattr(os, "scandir", real_scandir)
    real_open = Image.open
    locked = str(image_folder / "digit1" / "004.png")

    def open_denied(fp, *a, **k):
        if str(getattr(fp, "name", fp)) == locked:  # a path, or the file object opened from it
            raise PermissionError(13, "Permission denied", locked)
        return real_open(fp, *a, **k)

    monkeypatch.setattr(Image, "open", open_denied)
    bundle = load_dataset(settings(image_folder))
    assert bundle.skipped == [{"path": locked, "reason": "permission denied"}]


def test_separate_validation_folder(tmp_path, digits_arrays):
    images, labels = digits_arrays
    write_image_folder(tmp_path / "train", images, labels, per_class=20)
    write_image_folder(tmp_path / "val", images[::-1], labels[::-1], classes=(0, 2), per_class=5)
    s = DatasetSettings(kind="imagefolder", source=str(tmp_path / "train"), val_source=str(tmp_path / "val"))
    bundle = load_dataset(s)
    assert len(bundle.val) == 10 and all("/val/" in bundle.paths[i] for i in bundle.val.indices)
    assert sorted(set(bundle.val.y.tolist())) == [0, 2]
    assert len(bundle.train) + len(bundle.test) == 60 and len(bundle.test) > 0
    write_image_folder(tmp_path / "val", images, labels, classes=(9,), per_class=2)
    with pytest.raises(UserError, match="classes the training folder lacks: digit9"):
        load_dataset(s)


def test_streaming_matches_in_memory(image_folder):
    mem = load_dataset(settings(image_folder))
    disk = load_dataset(settings(image_folder, in_memory="no"))
    assert not disk.train.in_memory and disk.meta.extra["streaming"]
    assert disk.train.indices == mem.train.indices
    x0, y0 = disk.train.dataset[3]
    assert int(y0) == int(mem.train.y[3])
    assert float((x0 - mem.train.x[3]).abs().max()) < 1e-5
    assert np.array_equal(disk.sample_image("train", 3), mem.sample_image("train", 3))
