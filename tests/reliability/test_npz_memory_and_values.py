"""npz inspection reads headers and labels, never every pixel (an X that inflates to 3 GB is inspected in a
few tens of MB); an X larger than the memory available is refused before it is allocated; bytes labels,
complex arrays and huge finite features each get one line that says what they are and how to fix them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npf
import pytest
from reliability_helpers import assert_cli_error, run_cli


def _inflating_npz(path: Path, shape: tuple[int, ...], descr: str) -> Path:
    """An .npz whose X (all zeros, `shape`, `descr`) is written chunkwise into a deflated zip member: the file
    is a few MB, X inflates to prod(shape) * itemsize bytes. Never holds X in memory."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("X.npy", "w", force_zip64=True) as fh:
            npf.write_array_header_2_0(fh, {"descr": descr, "fortran_order": False, "shape": shape})
            left = int(np.prod(shape)) * np.dtype(descr).itemsize
            chunk = bytes(64 << 20)
            while left:
                fh.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
        labels = io.BytesIO()
        np.save(labels, np.arange(shape[0]) % 10)
        zf.writestr("y.npy", labels.getvalue())
    return path


def _inspect_peak_rss(path: Path) -> tuple[dict, int]:
    """`workbench data inspect PATH --json` in a child process: (its JSON, its peak RSS in bytes). A wrapper
    process runs it, so getrusage(RUSAGE_CHILDREN) sees this one child, not an earlier test's."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'workbench', 'data', 'inspect', sys.argv[1], '--json'],"
        " capture_output=True, text=True)\n"
        "sys.stderr.write(done.stderr)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(done.stdout)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, str(path)], capture_output=True, text=True, timeout=120
    )
    head, _, report = done.stdout.partition("\n")
    code, peak = (int(v) for v in head.split())
    assert code == 0, done.stderr
    return json.loads(report), peak * 1024  # ru_maxrss is in KiB on Linux


@pytest.mark.slow
def test_an_npz_inflating_to_3_gb_is_inspected_under_1_5_gb(tmp_path):
    path = _inflating_npz(tmp_path / "big.npz", (30_000, 1, 316, 316), "|u1")  # 3.0e9 bytes of pixels
    assert path.stat().st_size < 50 << 20
    report, peak = _inspect_peak_rss(path)
    assert report["num_samples"] == 30_000 and report["input_shape"] == [1, 316, 316]
    assert report["num_classes"] == 10 and report["class_names"][:2] == ["0", "1"]
    assert peak < 1_500 << 20, f"peak RSS {peak / 2**20:.0f} MiB"


def test_a_float_x_is_checked_in_chunks_not_held_whole(tmp_path):
    path = _inflating_npz(tmp_path / "f.npz", (1_000, 100_000), "<f4")  # 400 MB of float32 features
    report, peak = _inspect_peak_rss(path)
    assert report["input_shape"] == [100_000] and report["num_samples"] == 1_000
    assert peak < 300 << 20, f"peak RSS {peak / 2**20:.0f} MiB"


def test_a_nan_in_a_fortran_ordered_x_is_named_by_its_index(tmp_path, capsys):
    x = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(4, 3))
    x[2, 1] = np.nan
    np.savez(tmp_path / "d.npz", X=x, y=np.array([0, 1, 0, 1]))
    assert_cli_error(
        ["data", "inspect", tmp_path / "d.npz"], capsys, ["non-finite value nan", "(2, 1)"], [tmp_path]
    )


def test_an_x_larger_than_the_available_memory_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    from workbench.core.data import npz

    np.savez(tmp_path / "d.npz", X=np.zeros((2_000, 64)), y=np.arange(2_000) % 2)  # 1 MiB of float64
    reads: list[str] = []
    real = npz._read_member
    monkeypatch.setattr(npz, "available_memory", lambda: 1 << 20)
    monkeypatch.setattr(
        npz, "_read_member", lambda zf, head, path: reads.append(head.key) or real(zf, head, path)
    )
    line = assert_cli_error(
        ["project", "new", tmp_path / "p.wbproj", "--data", tmp_path / "d.npz"],
        capsys,
        ["2000x64 float64", "needs 1.5 MiB of memory", "only 1.0 MiB is available", "free memory"],
        [tmp_path],
    )
    assert "X" not in reads, line  # refused from the header, before X was read
    code, out, err = run_cli(["data", "inspect", tmp_path / "d.npz"], capsys)  # inspection never loads X
    assert code == 0 and "2,000 samples" in out, err


def test_bytes_labels_say_what_they_are_and_how_to_fix_them(tmp_path, capsys):
    np.savez(tmp_path / "b.npz", X=np.zeros((4, 2)), y=np.array([b"cat", b"dog", b"cat", b"dog"]))
    assert_cli_error(
        ["data", "inspect", tmp_path / "b.npz"],
        capsys,
        ["y in", "bytes strings (dtype |s3)", "y.astype(str)", "integer class indices"],
        [tmp_path],
    )
    np.savez(tmp_path / "s.npz", X=np.zeros((4, 2)), y=np.array(["cat", "dog", "cat", "dog"]))  # str: fine
    code, out, err = run_cli(["data", "inspect", tmp_path / "s.npz", "--json"], capsys)
    assert code == 0 and json.loads(out)["class_names"] == ["cat", "dog"], err


def test_a_complex_x_is_refused_not_silently_made_real(tmp_path, capsys):
    x = np.ones((6, 3)) + 1j * np.arange(18).reshape(6, 3)
    np.savez(tmp_path / "c.npz", X=x, y=np.arange(6) % 2)
    for argv in (
        ["data", "inspect", tmp_path / "c.npz"],
        ["project", "new", tmp_path / "p.wbproj", "--data", tmp_path / "c.npz"],
    ):
        assert_cli_error(
            argv, capsys, ["complex numbers", "imaginary part would be lost", "x.real"], [tmp_path]
        )


def _huge_features(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = np.clip(rng.normal(size=(120, 4)) * 1e38, -3e38, 3e38).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "h.npz", X=x, y=y)
    return tmp_path / "h.npz"


@pytest.mark.slow
def test_huge_finite_features_are_scaled_without_numpy_warnings(tmp_path):
    """1e38 features: normalized in float64 at load, the model trains and learns the sign of feature 0;
    no numpy warning and no "lower the learning rate"."""
    data = _huge_features(tmp_path)
    project = tmp_path / "h.wbproj"
    env_cmd = [sys.executable, "-W", "default", "-m", "workbench"]
    made = subprocess.run(
        [*env_cmd, "project", "new", project, "--data", data], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    done = subprocess.run(
        [*env_cmd, "train", project, "--epochs", "15", "--lr", "0.01"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr + made.stderr and "learning rate" not in done.stdout + done.stderr
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.8, summary


def test_huge_features_with_normalization_off_are_refused_at_load(tmp_path, capsys):
    data = _huge_features(tmp_path)
    assert_cli_error(
        ["project", "new", tmp_path / "p.wbproj", "--data", data, "--option", "normalize=false"],
        capsys,
        ["normalization is off", "turn on normalize", "-1..1"],
        [tmp_path],
    )


def test_a_huge_regression_target_is_refused_before_training(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(40, 3))
    np.savez(tmp_path / "r.npz", X=x, y=x[:, 0] * 1e37 + 0.5)
    assert_cli_error(
        [
            "project",
            "new",
            tmp_path / "p.wbproj",
            "--data",
            tmp_path / "r.npz",
            "--option",
            "task=regression",
        ],
        capsys,
        ["regression target of sample", "overflow the loss", "scale the targets"],
        [tmp_path],
    )
    np.savez(tmp_path / "r.npz", X=x, y=x[:, 0] * 1e3 + 0.5)  # large but fine
    code, out, err = run_cli(["data", "inspect", tmp_path / "r.npz", "--json"], capsys)
    assert code == 0 and json.loads(out)["num_classes"] == 0, err
