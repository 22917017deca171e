"""`workbench export` on a run folder: the dataset is rebuilt from the checkpoint meta; bad input exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "export"))
from export_helpers import REPORT_KEYS, trained_digits_run


def _workbench(*args, cwd=None):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.slow
def test_export_int8_static_from_a_run_folder_with_json_and_report(tmp_path_factory, tmp_path):
    run = trained_digits_run(tmp_path_factory.mktemp("export-cli"))
    out = tmp_path / "model.onnx"
    result = _workbench(
        "export",
        str(run),
        "--format",
        "onnx-int8-static",
        "-o",
        str(out),
        "--calibration-samples",
        "64",
        "--report",
        str(tmp_path / "r.json"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc.keys() >= REPORT_KEYS
    assert doc["format"] == "onnx-int8-static" and doc["checker_ok"] and doc["top1_agreement"] >= 0.97
    assert doc["samples_from"] == "val split" and doc["accuracy_after"] > 0.8  # dataset rebuilt from the meta
    assert doc["details"]["calibration"]["samples"] == 64
    assert json.loads((tmp_path / "r.json").read_text())["path"] == str(out)
    assert out.is_file() and Path(str(out) + ".report.md").is_file()
    assert "%]" in result.stderr  # progress on stderr


def test_bad_input_is_one_error_line_and_exit_2(tmp_path):
    for args, message in (
        (("export", str(tmp_path / "missing"), "-o", str(tmp_path / "m.onnx")), "not found"),
        (("export", str(tmp_path), "--format", "tflite", "-o", "m"), "unknown export format"),
        (("export", str(tmp_path), "-o", "m", "--opset", "3"), "opset"),
    ):
        result = _workbench(*args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr


@pytest.mark.slow
def test_int8_over_its_accuracy_budget_exits_3_and_leaves_no_file(tmp_path_factory, tmp_path):
    from export_helpers import TWO_CONV_CNN

    run = trained_digits_run(
        tmp_path_factory.mktemp("export-cli-broken"), spec_dict=TWO_CONV_CNN, broken=True
    )
    out = tmp_path / "out"
    args = (
        "export",
        str(run),
        "--format",
        "onnx-int8-static",
        "-o",
        str(out / "m.onnx"),
        "--calibration-samples",
        "64",
        "--verify-samples",
        "200",
        "--max-accuracy-drop",
        "0.5",
        "--max-fp32-nodes",
        "0",
    )
    result = _workbench(*args)
    assert result.returncode == 3, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("verification failed: accuracy budget: the accuracy drop is"), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or list(out.iterdir()) == []  # nothing under -o, no hidden work folder
    assert "## Sensitivity" in result.stdout  # the report still says what happened
    kept = _workbench(*args, "--keep-failed")
    assert kept.returncode == 3 and "(kept:" in kept.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in out.iterdir()) == ["m.onnx", "m.onnx.report.json", "m.onnx.report.md"]
    assert json.loads((out / "m.onnx.report.json").read_text())["verdict"] == "failed"


def test_budget_options_need_int8_static(tmp_path):
    result = _workbench(
        "export",
        str(tmp_path),
        "--format",
        "onnx",
        "-o",
        str(tmp_path / "m.onnx"),
        "--max-accuracy-drop",
        "1",
    )
    assert result.returncode == 2 and result.stderr.startswith("error: --max-accuracy-drop"), result.stderr
    for bad in ("-1", "nan", "inf", "101"):
        result = _workbench(
            "export",
            str(tmp_path),
            "--format",
            "onnx-int8-static",
            "-o",
            str(tmp_path / "m.onnx"),
            "--max-accuracy-drop",
            bad,
        )
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"error: --max-accuracy-drop {float(bad):g} is not a valid budget")
        assert "a number from 0 to 100" in result.stderr and "Traceback" not in result.stderr
