"""`workbench model memory PROJECT` (docs/contract.md section 3): the traced peak, the fit, the largest batch."""

from __future__ import annotations

import json

import pytest

from workbench.cli import main
from workbench.core.hardware.fit import needed_bytes
from workbench.core.paths import SAMPLE_PROJECT

KEYS = {
    "peak_bytes",
    "categories",
    "layers",
    "method",
    "device",
    "device_name",
    "available_bytes",
    "needed_bytes",
    "headroom_bytes",
    "fits",
    "max_batch_size",
    "batch_size",
    "precision",
    "grad_accumulation_steps",
    "activation_checkpointing",
    "notes",
}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_peak_the_categories_the_layers_and_the_fit(capsys):
    code, out, err = run(capsys, "model", "memory", str(SAMPLE_PROJECT), "--batch-size", "256", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc.keys() >= KEYS
    assert doc["device"] == "cpu" and doc["method"] == "traced" and doc["batch_size"] == 256
    assert 3.5e6 < doc["peak_bytes"] < 4.5e6  # MemTracker measured 4.08 MB over a real step (issue 25)
    assert sum(doc["categories"].values()) == doc["peak_bytes"]
    assert [row["type"] for row in doc["layers"]][:3] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert doc["needed_bytes"] == needed_bytes(doc["peak_bytes"], "cpu")
    assert doc["fits"] is True and doc["max_batch_size"] > 256


def test_options_change_the_estimate(capsys):
    def peak(*extra):
        code, out, _ = run(
            capsys, "model", "memory", str(SAMPLE_PROJECT), "--batch-size", "256", "--json", *extra
        )
        assert code == 0
        return json.loads(out)

    base = peak()
    checkpointed = peak("--activation-checkpointing")
    assert (
        checkpointed["activation_checkpointing"] is True and checkpointed["peak_bytes"] < base["peak_bytes"]
    )
    accumulated = peak("--batch-size", "64", "--grad-accumulation-steps", "4")
    assert accumulated["grad_accumulation_steps"] == 4 and accumulated["peak_bytes"] < base["peak_bytes"]


def test_text_report(capsys):
    code, out, _ = run(capsys, "model", "memory", str(SAMPLE_PROJECT))
    assert code == 0
    assert out.startswith("training step (batch 64, fp32) on cpu (CPU): peak ")
    assert "Conv2d" in out and "allocator margin" in out and ": fits" in out
    assert "largest batch size that fits:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device", "cuda:7"], "cuda:7 is not available"),
        (["--batch-size", "0"], "--batch-size must be 1 or more"),
        (["--amp", "fp16", "--device", "cpu"], "--amp fp16 needs a CUDA GPU"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "model", "memory", str(SAMPLE_PROJECT), *argv)
    assert code == 2 and out == ""
    assert err.startswith("error:") and message in err and len(err.strip().splitlines()) == 1
