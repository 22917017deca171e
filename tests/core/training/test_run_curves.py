"""The overlays' reader: a run's metrics.jsonl as numpy arrays, a cut or corrupt line skipped, read again only
when the file changed."""

from __future__ import annotations

import json

import numpy as np

from workbench.core.training.run_curves import PARSE_LINES, cached_curves, epoch_fractions, load_curves


def _write(folder, steps: int, tail: str = "") -> None:
    lines = []
    for s in range(1, steps + 1):
        lines.append(
            {
                "kind": "batch",
                "step": s,
                "epoch": (s - 1) // 10 + 1,
                "loss": 1.0 / s,
                "lr": 0.1,
                "time": 100.0 + s,
            }
        )
        if s % 10 == 0:
            lines.append(
                {"kind": "epoch", "epoch": s // 10, "step": s, "val_accuracy": s / steps, "time": 100.0 + s}
            )
    folder.mkdir(exist_ok=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines) + tail)


def test_every_point_is_read_and_a_cut_or_corrupt_line_is_skipped(tmp_path):
    run = tmp_path / "run"
    _write(run, 1000, tail='{"kind": "batch", "step": 1001, "lo')  # killed mid-line
    text = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    text[PARSE_LINES + 3] = "not json\n"  # a corrupt line inside a chunk: only it is lost
    (run / "metrics.jsonl").write_text("".join(text))
    curves = load_curves(run)
    assert (
        len(curves.step) + 1 + len(curves.val_step) == 1100
    )  # 1000 batches + 100 epochs, less the corrupt one
    assert curves.step[0] == 1 and curves.step[-1] == 1000 and np.all(np.diff(curves.step) > 0)
    assert curves.time[0] == 0 and curves.val_accuracy[-1] == 1.0 and curves.metric == "accuracy"


def test_fractional_epochs():
    assert list(epoch_fractions(np.array([1, 1, 1, 1, 2, 2]))) == [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]


def test_the_cache_is_used_until_the_file_changes(tmp_path):
    run = tmp_path / "run"
    _write(run, 50)
    first = load_curves(run)
    assert cached_curves(run) is first and load_curves(run) is first
    _write(run, 60)  # the run went on
    assert cached_curves(run) is None
    again = load_curves(run)
    assert again.step[-1] == 60 and again.shifted(100).step[0] == 101
