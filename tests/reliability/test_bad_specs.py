"""Bad-input corpus, model specs: `workbench model check` and `workbench project new --model` answer a broken
spec with one `error:` line naming the layer or field (exit 2); nothing is written, the spec file is untouched."""

from __future__ import annotations

import json

import pytest
from reliability_helpers import assert_cli_error

FLAT = [{"type": "Flatten"}]
SPECS = {
    "unknown layer type": (
        {"input_shape": [1, 8, 8], "layers": [{"type": "Frobnicate"}]},
        ["layer 0", "unknown layer type 'Frobnicate'"],
    ),
    "python internals as a type": (
        {"input_shape": [1, 8, 8], "layers": [{"type": "__class__"}]},
        ["unknown layer type '__class__'"],
    ),
    "a non-layer torch.nn name": (
        {"input_shape": [1, 8, 8], "layers": [{"type": "Module"}]},
        ["unknown layer type 'Module'"],
    ),
    "wrong value type": (
        {"input_shape": [1, 8, 8], "layers": FLAT + [{"type": "Linear", "out_features": "ten"}]},
        ["layer 1 (Linear)", "out_features must be a whole number", "'ten'"],
    ),
    "out_features 0": (
        {"input_shape": [1, 8, 8], "layers": FLAT + [{"type": "Linear", "out_features": 0}]},
        ["layer 1 (Linear)", "out_features must be at least 1"],
    ),
    "absurd out_features": (
        {"input_shape": [1, 8, 8], "layers": FLAT + [{"type": "Linear", "out_features": 1e30}]},
        ["out_features must be at most"],
    ),
    "code in a parameter": (
        {
            "input_shape": [1, 8, 8],
            "layers": FLAT
            + [{"type": "Linear", "out_features": 10, "bias": "__import__('os').system('touch PWNED')"}],
        },
        ["bias must be true or false"],
    ),
    "kernel larger than input": (
        {"input_shape": [1, 8, 8], "layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 20}]},
        ["kernel_size 20 is larger than its 8x8 input"],
    ),
    "empty network": ({"input_shape": [1, 8, 8], "layers": []}, ["no layers"]),
    "future format_version": (
        {"format_version": 99, "input_shape": [1, 8, 8], "layers": FLAT},
        ["format_version 99", "update Workbench"],
    ),
    "negative input shape": ({"input_shape": [1, -8, 8], "layers": FLAT}, ["input_shape", "positive"]),
    "wrong container types": (
        {"input_shape": "1x8x8", "layers": {"type": "Flatten"}},
        ["input_shape", "layers", "valid list"],
    ),
    "unknown top-level key": (
        {"input_shape": [1, 8, 8], "layers": FLAT, "optimizer": "eval('1')"},
        ["optimizer", "extra inputs"],
    ),
    "layer without type": ({"input_shape": [1, 8, 8], "layers": [{"out_features": 3}]}, ["layers.0.type"]),
    "unknown torchvision model": (
        {
            "input_shape": [3, 32, 32],
            "layers": [{"type": "TorchvisionModel", "name": "os.system", "num_classes": 10}],
        },
        ["name must be one of"],
    ),
    "Linear on an image": (
        {
            "input_shape": [1, 8, 8],
            "layers": [{"type": "Residual", "layers": [{"type": "Linear", "out_features": 3}]}],
        },
        ["layer 0.0 (Linear)", "insert Flatten"],
    ),
}
RAW = {
    "not JSON": (b"this is not json", ["not valid JSON", "line 1"]),
    "a JSON list": (b"[1, 2, 3]", ["must be a JSON object", "not list"]),
    "a JSON string": (b'"layers"', ["must be a JSON object", "not str"]),
    "empty file": (b"", ["is empty"]),
    "binary garbage": (bytes(range(256)), ["not a text (UTF-8 JSON) file"]),
    "truncated": (b'{"input_shape": [1, 8, 8], "layers": [{"type": "Fla', ["not valid JSON"]),
}


def _spec_file(tmp_path, name):
    path = tmp_path / "specs" / "model spec.json"
    path.parent.mkdir(parents=True)
    if name in SPECS:
        path.write_text(json.dumps(SPECS[name][0]), encoding="utf-8")
        return path, SPECS[name][1]
    path.write_bytes(RAW[name][0])
    return path, RAW[name][1]


@pytest.mark.parametrize("name", list(SPECS) + list(RAW))
def test_model_check_rejects_bad_spec(name, tmp_path, capsys):
    path, fragments = _spec_file(tmp_path, name)
    assert_cli_error(["model", "check", path], capsys, fragments, [tmp_path])
    assert not (tmp_path / "specs" / "PWNED").exists()


@pytest.mark.parametrize(
    "name",
    [
        "unknown layer type",
        "out_features 0",
        "future format_version",
        "a JSON list",
        "kernel larger than input",
    ],
)
def test_project_new_with_bad_spec_writes_nothing(name, tmp_path, capsys):
    path, fragments = _spec_file(tmp_path, name)
    project = tmp_path / "p.wbproj"
    assert_cli_error(
        ["project", "new", project, "--data", "digits", "--model", path], capsys, fragments[:1], [tmp_path]
    )
    assert not project.exists()


def test_model_code_into_a_missing_spec_or_bad_spec(tmp_path, capsys):
    out = tmp_path / "model.py"
    assert_cli_error(["model", "code", tmp_path / "nope.json", "-o", out], capsys, ["not found"], [tmp_path])
    path, _ = _spec_file(tmp_path, "unknown layer type")
    assert_cli_error(["model", "code", path, "-o", out], capsys, ["Frobnicate"], [tmp_path])
    assert not out.exists()


def test_model_check_json_reports_the_failing_layer(tmp_path, capsys):
    from reliability_helpers import run_cli

    path, _ = _spec_file(tmp_path, "out_features 0")
    code, out, err = run_cli(["model", "check", path, "--json"], capsys)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    report = json.loads(out)
    assert report["ok"] is False
    assert [layer["index"] for layer in report["layers"] if layer["error"]] == [1]
