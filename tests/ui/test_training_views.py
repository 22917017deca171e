"""The Training panel's views as issue 15 found them: axes without "x0.001", overlay colours apart and never cut
at the shorter run, the Runs table's settings columns and Resume only where it can work, the Evaluation tab
empty and on a table's samples, and the class histogram's legend off the bars."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget

from workbench.core.training.evaluation import Evaluation
from workbench.core.training.run_curves import parse_curves
from workbench.core.training.runs import RunMetrics
from workbench.ui.panels.training.curves import BLUE, GREY, ORANGE, CurvesView
from workbench.ui.panels.training.evaluation_view import EvaluationView
from workbench.ui.panels.training.overlays import PALETTE
from workbench.ui.panels.training.runs_view import RunsView


def metrics(steps: int, per_epoch: int = 10, scale: float = 1.0) -> RunMetrics:
    m = RunMetrics()
    for i in range(1, steps + 1):
        m.steps.append(i)
        m.batch_epoch.append((i - 1) // per_epoch + 1)
        m.loss.append(scale * (0.9 - 0.3 * i / steps))
        m.lr.append(1e-3)
        m.time.append(i * 0.1)
    m.epochs = [
        {
            "epoch": e,
            "step": e * per_epoch,
            "train_loss": 1.0 / e,
            "val_loss": 1.0 / e,
            "train_accuracy": 0.5,
            "val_accuracy": 0.5 + e / 100,
            "time": e,
        }
        for e in range(1, steps // per_epoch + 1)
    ]
    return m


def overlay(name: str, m: RunMetrics):
    """(name, RunCurves) of a run with metrics `m`, as the overlay loader reads it from metrics.jsonl."""
    lines = [
        {"kind": "batch", "step": s, "epoch": e, "loss": y, "lr": lr, "time": t}
        for s, e, y, lr, t in zip(m.steps, m.batch_epoch, m.loss, m.lr, m.time, strict=True)
    ] + [{"kind": "epoch", **row} for row in m.epochs]
    return name, parse_curves(name, "\n".join(json.dumps(line) for line in lines))


@pytest.fixture
def curves(qtbot):
    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_small_losses_are_labelled_as_they_are(curves, qtbot):
    curves.show_run(metrics(100, scale=1e-3))  # losses 0.0006 .. 0.0009
    qtbot.wait(50)
    axis = curves.loss.getPlotItem().getAxis("left")
    assert "x0.001" not in axis.labelString() and axis.autoSIPrefixScale == 1.0
    assert all(plot.getPlotItem().getAxis("left").autoSIPrefixScale == 1.0 for plot in curves.all_plots)


def _distance(a: str, b: str) -> float:
    ca, cb = QColor(a), QColor(b)
    return math.dist((ca.red(), ca.green(), ca.blue()), (cb.red(), cb.green(), cb.blue()))


def test_overlay_colours_are_far_apart_and_from_the_current_run():
    first = PALETTE[:4]
    assert min(_distance(a, b) for i, a in enumerate(first) for b in first[i + 1 :]) > 95
    assert min(_distance(a, b) for a in PALETTE for b in (BLUE, ORANGE, GREY)) > 65


def test_a_longer_overlay_is_not_cut_at_the_current_runs_length(curves, qtbot):
    curves.show_run(metrics(100))
    curves.set_extent(100, 10)  # a finished live run keeps its extent
    curves.set_overlays([overlay("long", metrics(300)), overlay("short", metrics(50))])
    qtbot.wait(50)
    assert curves.loss.viewRange()[0][1] >= 300
    curves.x_combo.setCurrentText("epoch")
    qtbot.wait(50)
    assert curves.loss.viewRange()[0][1] >= 30
    curves.set_overlays([])
    curves.x_combo.setCurrentText("step")
    qtbot.wait(50)
    assert curves.loss.viewRange()[0][1] < 150


def _run(root, name, status, lr, batch, epochs, done):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps({"created": 1_700_000_000, "training": {"lr": lr, "batch_size": batch, "epochs": epochs}})
    )
    (folder / "summary.json").write_text(
        json.dumps({"status": status, "epochs_completed": done, "best_val_accuracy": 0.9})
    )
    (folder / "metrics.jsonl").write_text(
        json.dumps({"kind": "epoch", "epoch": done, "val_accuracy": 0.9}) + "\n"
    )


def test_runs_table_shows_settings_and_resume_only_where_it_can_continue(qtbot, tmp_path):
    _run(tmp_path, "20250101-000000-000001", "completed", 0.003, 32, 5, 5)
    _run(tmp_path, "20250101-000000-000002", "stopped", 0.01, 128, 20, 3)
    view = RunsView()
    qtbot.addWidget(view)
    view.set_root(lambda: tmp_path)  # a root that can move (Save As) is asked on every reload
    model = view.model
    titles = [title for _, title in model.columns]
    assert {"LR", "Batch"} <= set(titles)  # the settings that differ
    rows = {
        model.index(i, 0).data(): [model.index(i, c).data() for c in range(model.columnCount())]
        for i in range(model.rowCount())
    }
    stopped = rows["20250101-000000-000002"]
    assert stopped[titles.index("LR")] == "0.01" and stopped[titles.index("Batch")] == "128"
    assert stopped[titles.index("Epochs")] == "3/20"  # done / planned
    resume = view.buttons["resume"]
    for i in range(model.rowCount()):
        view.table.selectRow(i)
        status = model.index(i, titles.index("Status")).data()
        assert resume.isEnabled() == (status == "stopped"), status
    assert "completed" in resume.toolTip() or resume.isEnabled()


def test_empty_evaluation_has_no_scaled_axes(qtbot):
    view = EvaluationView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    qtbot.wait(50)
    item = view.matrix.getPlotItem()
    for axis in ("left", "bottom"):
        assert (
            "x0.001" not in item.getAxis(axis).labelString() and item.getAxis(axis).autoSIPrefixScale == 1.0
        )
    (x0, x1), (y0, y1) = item.vb.viewRange()
    assert x0 >= -1 and x1 <= 2 and y0 >= -1 and y1 <= 2


class _Table:
    """A tabular bundle's sample_text, as DataBundle gives it."""

    def sample_text(self, split, i):
        return f"mean_radius={10 + i}, mean_texture={20 + i}"


def test_misclassified_table_rows_show_their_values(qtbot):
    view = EvaluationView()
    qtbot.addWidget(view)
    result = Evaluation(
        split="val",
        class_names=["benign", "malignant"],
        y_true=[0, 1, 0],
        y_pred=[1, 1, 0],
        confidence=[0.8, 0.9, 0.7],
        confusion=[[1, 1], [0, 1]],
        precision=[1.0, 0.5],
        recall=[0.5, 1.0],
        f1=[0.67, 0.67],
        support=[2, 1],
        accuracy=2 / 3,
        loss=0.5,
    )
    view.set_result(result, _Table())
    assert view.gallery.viewMode() == QListWidget.ListMode
    text = view.gallery.item(0).text()
    assert text.startswith("benign→malignant  (80%)") and "\nmean_radius=10" in text


def test_class_histogram_legend_is_above_the_bars(qtbot):
    from workbench.ui.panels.dataset.histogram import ClassHistogram

    hist = ClassHistogram()
    qtbot.addWidget(hist)
    hist.resize(400, 150)
    hist.show()
    hist.show_classes(
        ["a", "b", "c"],
        {"train": np.array([50, 60, 70]), "val": np.array([10, 10, 10]), "test": np.array([10, 10, 10])},
    )
    assert "test (30)" in hist.legend_html and "train (180)" in hist.legend_html
    assert not [i for i in hist.getPlotItem().vb.addedItems if type(i).__name__ == "LegendItem"]
    assert hist.getPlotItem().legend is None or not hist.getPlotItem().legend.items


def test_clearing_drops_the_old_runs_axes(curves, qtbot):
    """Another project opened (or a new run): the axes start again, not at the old run's 0..100 steps."""
    curves.show_run(metrics(100))
    curves.set_extent(100, 10)
    qtbot.wait(50)
    assert curves.loss.viewRange()[0][1] >= 100
    curves.clear()
    qtbot.wait(50)
    for plot in curves.plots:
        (x0, x1), (y0, y1) = plot.viewRange()
        assert x1 <= 2 and y1 <= 2, plot.getPlotItem().titleLabel.text


def test_evaluation_clears_when_another_project_opens(qtbot):
    view = EvaluationView()
    qtbot.addWidget(view)
    view.show()
    result = Evaluation(
        split="val",
        class_names=["benign", "malignant"],
        y_true=[0, 1],
        y_pred=[1, 1],
        confidence=[0.8, 0.9],
        confusion=[[0, 1], [0, 1]],
        precision=[0.0, 0.5],
        recall=[0.0, 1.0],
        f1=[0.0, 0.67],
        support=[1, 1],
        accuracy=0.5,
        loss=0.5,
    )
    view.set_result(result, _Table())
    assert view.table.rowCount() == 2 and view.matrix.texts
    view.clear()
    qtbot.wait(20)
    assert view.result is None and view.table.rowCount() == 0 and not view.matrix.texts
    assert view.gallery.count() == 0 and "Select a run" in view.status.text()
    ticks = view.matrix.getPlotItem().getAxis("left")._tickLevels
    assert not ticks or not any(level for level in ticks)
