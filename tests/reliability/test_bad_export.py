"""Bad-input corpus, export options: `workbench export` answers each with one `error:` line (exit 2); the run
folder is untouched and no model, report or temp folder is left at the destination."""

from __future__ import annotations

import json

import pytest
from reliability_helpers import assert_cli_error, refused_writes


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--format", "onnx", "--opset", "5"], ["opset", "greater than or equal to 7"]),
        (["--format", "onnx", "--opset", "99"], ["opset", "less than or equal to 30"]),
        (["--format", "onnx-int8-static", "--calibration-samples", "0"], ["calibration_samples"]),
        (["--format", "onnx", "--verify-samples", "2"], ["verify_samples"]),
        (["--format", "banana"], ["unknown export format 'banana'", "onnx-int8-static"]),
        (["--format", "onnx", "--calibration-method", "guess"], ["--calibration-method", "invalid choice"]),
    ],
)
def test_bad_export_option(args, fragments, run_dir, tmp_path, capsys):
    out = tmp_path / "out" / "model.onnx"
    assert_cli_error(
        ["export", run_dir, *args, "-o", out], capsys, fragments, [run_dir.parent.parent, tmp_path]
    )
    assert not out.parent.exists()


def test_missing_run_folder(tmp_path, capsys):
    assert_cli_error(
        ["export", tmp_path / "runs" / "nope", "-o", tmp_path / "m.onnx"],
        capsys,
        ["checkpoint not found"],
        [tmp_path],
    )


def test_run_folder_without_checkpoints(run_dir, tmp_path, capsys):
    for path in (run_dir / "checkpoints").iterdir():
        path.unlink()
    assert_cli_error(
        ["export", run_dir, "-o", tmp_path / "m.onnx"],
        capsys,
        ["has no checkpoints/best.safetensors or last.safetensors"],
        [run_dir, tmp_path],
    )


def test_truncated_checkpoint(run_dir, tmp_path, capsys):
    best = run_dir / "checkpoints" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:200])
    assert_cli_error(
        ["export", best, "-o", tmp_path / "m.onnx"],
        capsys,
        ["not a readable safetensors checkpoint"],
        [run_dir, tmp_path],
    )


def test_checkpoint_not_matching_its_spec(run_dir, tmp_path, capsys):
    """Weights of one model with the spec of another (a 20-class head): named tensor and shapes."""
    from safetensors.torch import load_file, save_file

    best = run_dir / "checkpoints" / "best.safetensors"
    from safetensors import safe_open

    with safe_open(str(best), framework="pt") as fh:
        metadata = dict(fh.metadata())
    spec = json.loads(metadata["model_spec"])
    spec["layers"][-1]["out_features"] = 20
    metadata["model_spec"] = json.dumps(spec)
    odd = tmp_path / "odd.safetensors"
    save_file(load_file(str(best)), str(odd), metadata=metadata)
    assert_cli_error(
        ["export", odd, "-o", tmp_path / "m.onnx"],
        capsys,
        ["does not match the model", "shape"],
        [run_dir, tmp_path],
    )


def test_checkpoint_with_a_broken_spec(run_dir, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    odd = tmp_path / "odd.safetensors"
    save_file(
        load_file(str(run_dir / "checkpoints" / "best.safetensors")),
        str(odd),
        metadata={"model_spec": "{not json", "meta": "{}"},
    )
    assert_cli_error(
        ["export", odd, "-o", tmp_path / "m.onnx"], capsys, ["odd.safetensors"], [run_dir, tmp_path]
    )


def test_foreign_safetensors_without_a_spec(tmp_path, capsys):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    assert_cli_error(
        ["export", path, "-o", tmp_path / "m.onnx"],
        capsys,
        ["no model spec", "not written by Workbench"],
        [tmp_path],
    )


def test_unwritable_destination(run_dir, tmp_path, monkeypatch, capsys):
    dest = tmp_path / "locked"
    dest.mkdir()
    with refused_writes(dest, monkeypatch):
        assert_cli_error(
            ["export", run_dir, "--format", "onnx", "-o", dest / "m.onnx"],
            capsys,
            ["cannot write", "choose a writable folder"],
            [run_dir, tmp_path],
        )
    assert list(dest.iterdir()) == []


def test_destination_is_an_existing_file_in_place_of_a_folder(run_dir, tmp_path, capsys):
    blocker = tmp_path / "models"
    blocker.write_text("a file where a folder should be", encoding="utf-8")
    assert_cli_error(
        ["export", run_dir, "-o", blocker / "m.onnx"], capsys, ["cannot write"], [run_dir, tmp_path]
    )
