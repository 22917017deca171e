"""TensorBoard event files: written by every run, read back with TensorBoard's own reader (EventAccumulator), as
many scalars as metrics.jsonl has values, the hparams present; export for older runs rewrites, never duplicates."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # a dev dependency
from training_helpers import make_project, run_all

from workbench.core.training.tensorboard import TB_DIR, crc32c, export_run


def _read(run_dir: Path):
    files = sorted((run_dir / TB_DIR).glob("events.out.tfevents.*"))
    assert len(files) == 1, files
    acc = EventAccumulator(str(run_dir / TB_DIR), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _jsonl_values(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for raw in (run_dir / "metrics.jsonl").read_text().splitlines():
        line = json.loads(raw)
        for key, value in line.items():
            if (
                key in ("kind", "step", "epoch", "time")
                or not isinstance(value, int | float)
                or value is None
            ):
                continue
            out.setdefault(f"{line['kind']}/{key}", []).append((line["step"], value))
    return out


def _check_matches(run_dir: Path) -> None:
    acc = _read(run_dir)
    expected = _jsonl_values(run_dir)
    assert set(acc.Tags()["scalars"]) == set(expected)
    for tag, values in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert len(got) == len(values), tag
        assert [s for s, _ in got] == [s for s, _ in values], tag
        assert all(
            math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
            for (_, a), (_, b) in zip(got, values, strict=True)
        )


def _hparams(run_dir: Path) -> dict:
    from tensorboard.plugins.hparams import metadata

    acc = _read(run_dir)
    content = acc.PluginTagToContent("hparams")
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    return {"hparams": values, "group": start.group_name, "end_status": end.status}


def test_crc32c_known_value():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_a_run_writes_event_files_tensorboard_reads_back(digits, tmp_path):
    events = run_all(make_project(epochs=2, lr=2e-3, batch_size=64), digits, tmp_path)
    run = Path(events[-1].run_dir)
    _check_matches(run)
    acc = _read(run)
    assert len(acc.Scalars("batch/loss")) == 2 * events[0].batches_per_epoch
    assert {"epoch/train_loss", "epoch/val_loss", "epoch/val_accuracy", "epoch/train_accuracy"} <= set(
        acc.Tags()["scalars"]
    )
    info = _hparams(run)
    assert info["hparams"]["lr"] == pytest.approx(2e-3) and info["hparams"]["batch_size"] == 64
    assert info["hparams"]["optimizer"] == "adam" and info["group"] == run.name
    assert info["end_status"] == 1  # STATUS_SUCCESS


def test_export_rewrites_an_older_run_and_never_duplicates(digits, tmp_path):
    events = run_all(make_project(epochs=1), digits, tmp_path)
    run = Path(events[-1].run_dir)
    written = _read(run).Scalars("batch/loss")
    shutil.rmtree(run / TB_DIR)  # a run from before event files
    (run / TB_DIR).mkdir()
    (run / TB_DIR / ".export.1.tmp").write_bytes(b"half")  # an export that was killed
    first = export_run(run)
    second = export_run(run)
    assert first.parent == second.parent == run / TB_DIR
    _check_matches(run)  # one file, the same count: rewritten, not appended
    assert [(e.step, e.value) for e in _read(run).Scalars("batch/loss")] == [
        (e.step, e.value) for e in written
    ]
    assert not [p for p in (run / TB_DIR).iterdir() if "tfevents" not in p.name]  # no temp file left


def test_cli_export_tb_for_a_project_and_bad_input(digits, tmp_path, capsys):
    from workbench.cli import main

    (tmp_path / "p.wbproj").write_text("{}")  # runs_folder() only needs the file beside runs/
    runs = [Path(run_all(make_project(epochs=1), digits, tmp_path)[-1].run_dir) for _ in range(2)]
    for run in runs:
        shutil.rmtree(run / TB_DIR)
    assert main(["runs", "export-tb", str(tmp_path / "p.wbproj")]) == 0
    assert main(["runs", "export-tb", str(runs[0])]) == 0
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 3 and "2 of 2 run(s) written" in out.err
    for run in runs:
        _check_matches(run)
    assert main(["runs", "export-tb", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
