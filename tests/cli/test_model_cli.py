"""`workbench model check` / `model code` / `model templates` (docs/contract.md section 3)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import torch

from workbench.cli import main
from workbench.core.model.build import build_model
from workbench.core.model.spec import load_spec
from workbench.core.paths import SAMPLE_PROJECT

BROKEN = {
    "format_version": 1,
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Conv2d", "out_channels": 4, "kernel_size": 3},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": 10},
    ],
}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_a_project_as_json(capsys):
    code, out, err = run(capsys, "model", "check", str(SAMPLE_PROJECT), "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["ok"] is True and doc["output_shape"] == [10]
    model = build_model(load_spec(SAMPLE_PROJECT))
    assert doc["total_params"] == doc["trainable_params"] == sum(p.numel() for p in model.parameters())
    assert [layer["index"] for layer in doc["layers"]] == list(range(9))
    assert {"index", "type", "output_shape", "params", "macs", "error"} <= set(doc["layers"][0])
    assert doc["layers"][0]["output_shape"] == [16, 8, 8]


def test_input_shape_override(capsys):
    code, out, _ = run(capsys, "model", "check", str(SAMPLE_PROJECT), "--input-shape", "1,16,16", "--json")
    assert code == 0 and json.loads(out)["layers"][5]["output_shape"] == [32 * 8 * 8]


def test_bad_spec_exits_2_with_json_and_the_failing_layer(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(BROKEN))
    code, out, err = run(capsys, "model", "check", str(path), "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["layers"][2]["error"] and "Flatten" in doc["layers"][2]["error"]
    assert doc["layers"][0]["error"] is None and doc["layers"][0]["output_shape"] == [4, 6, 6]
    assert err.startswith("error: layer 2 (Linear)") and err.count("\n") == 1


def test_unreadable_spec_exits_2(tmp_path, capsys):
    path = tmp_path / "future.json"
    path.write_text('{"format_version": 99, "layers": []}')
    code, out, err = run(capsys, "model", "check", str(path), "--json")
    assert code == 2 and json.loads(out)["ok"] is False and "newer" in err
    code, _, err = run(capsys, "model", "check", str(tmp_path / "missing.json"))
    assert code == 2 and err.startswith("error:") and "not found" in err
    code, _, err = run(capsys, "model", "check", str(SAMPLE_PROJECT), "--input-shape", "a,b")
    assert code == 2 and "--input-shape" in err


def test_table_output(capsys):
    code, out, _ = run(capsys, "model", "check", str(SAMPLE_PROJECT), "--batch-size", "32")
    assert code == 0 and "Conv2d" in out and "38,282 parameters" in out and "workbench model memory" in out


def test_code_writes_a_module_that_reproduces_the_model(tmp_path, capsys):
    target = tmp_path / "digits_model.py"
    code, out, _ = run(
        capsys, "model", "code", str(SAMPLE_PROJECT), "-o", str(target), "--class-name", "DigitsNet"
    )
    assert code == 0 and target.exists()
    spec = importlib.util.spec_from_file_location("digits_model", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reference = build_model(load_spec(SAMPLE_PROJECT)).eval()
    exported = module.DigitsNet().eval()
    exported.load_state_dict(reference.state_dict())
    x = torch.randn(5, 1, 8, 8)
    assert torch.equal(exported(x), reference(x))


def test_code_refuses_a_broken_spec(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(BROKEN))
    code, _, err = run(capsys, "model", "code", str(path), "-o", str(tmp_path / "m.py"))
    assert code == 2 and "layer 2 (Linear)" in err and not (tmp_path / "m.py").exists()


def test_templates(tmp_path, capsys):
    code, out, _ = run(capsys, "model", "templates")
    assert code == 0 and "lenet5" in out
    target = tmp_path / "lenet.json"
    code, _, _ = run(
        capsys,
        "model",
        "templates",
        "lenet5",
        "--input-shape",
        "1,28,28",
        "--num-classes",
        "5",
        "-o",
        str(target),
    )
    assert code == 0 and build_model(load_spec(target))(torch.zeros(1, 1, 28, 28)).shape == (1, 5)


def test_transformer_templates_and_their_errors_on_the_command_line(tmp_path, capsys):
    code, out, _ = run(capsys, "model", "templates")
    assert code == 0 and all(name in out for name in ("bert_classifier", "gpt_lm", "vit"))
    target = tmp_path / "gpt.json"
    argv = ("model", "templates", "gpt_lm", "--input-shape", "16", "--num-classes", "40", "-o", str(target))
    assert run(capsys, *argv)[0] == 0
    code, out, _ = run(capsys, "model", "check", str(target), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["output_shape"] == [16, 40]
    assert [layer["type"] for layer in doc["layers"]].count("TransformerEncoderLayer") == 3
    spec = json.loads(target.read_text())
    spec["layers"][3]["nhead"] = 5  # 128 features do not split into 5 heads
    target.write_text(json.dumps(spec))
    code, out, err = run(capsys, "model", "check", str(target), "--json")
    assert code == 2 and "use nhead 4 or 8" in err
    assert json.loads(out)["layers"][3]["fix"]["layer"] == {"nhead": 4}


def test_entry_point_exit_status(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(BROKEN))
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "model", "check", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and json.loads(proc.stdout)["ok"] is False
    assert "Traceback" not in proc.stderr
