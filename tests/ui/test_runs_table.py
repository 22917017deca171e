"""The Runs tab as a user drives it (issue 26): 30 runs listed with the settings that differ, sorted by a header
click, filtered by typing, a tag and notes edited; three runs ticked and overlaid over their full lengths in
distinct colours (a spike kept by the envelope, a value read out per run); a damaged run listed without hiding
the others; what differs between two selected runs."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

from workbench.ui.jobs import JobRunner
from workbench.ui.panels.training.curves import CurvesView
from workbench.ui.panels.training.overlays import OverlayLoader
from workbench.ui.panels.training.runs_view import RunsView

LRS = (0.1, 0.03, 0.01, 0.003, 0.001)


def write_run(root, i: int, lr: float, batch: int, steps: int, spike_at: int | None = None):
    """A finished run folder as the training loop writes it: config, every batch and epoch, summary."""
    folder = root / f"20260101-{i:06d}-000000"
    (folder / "checkpoints").mkdir(parents=True)
    t0 = 1.78e9 + 600 * i
    config = {
        "name": f"run-{i:02d}",
        "created": t0,
        "training": {"lr": lr, "batch_size": batch, "epochs": 10, "optimizer": "adam"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    rnd = random.Random(i)
    lines, best = [], 0.0
    per_epoch = steps // 10
    for s in range(1, steps + 1):
        loss = 2.3 * math.exp(-s * lr * 20 / steps) + 0.02 * rnd.random()
        if s == spike_at:
            loss = 50.0
        lines.append(
            {
                "kind": "batch",
                "step": s,
                "epoch": (s - 1) // per_epoch + 1,
                "loss": loss,
                "lr": lr,
                "time": t0 + s,
            }
        )
        if s % per_epoch == 0:
            acc = 1 - loss / 2.5
            best = max(best, acc)
            lines.append(
                {
                    "kind": "epoch",
                    "epoch": s // per_epoch,
                    "step": s,
                    "val_accuracy": acc,
                    "val_loss": loss,
                    "time": t0 + s,
                }
            )
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary = {"status": "completed", "epochs_completed": 10, "best_val_accuracy": best, "steps": steps}
    summary.update(samples_per_second=1000.0 + i, elapsed=float(steps))
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


@pytest.fixture
def runs_root(tmp_path):
    root = tmp_path / "runs"
    for i in range(30):
        write_run(root, i, LRS[i % 5], (32, 64, 128)[i % 3], 200 + 20 * i, spike_at=150 if i == 29 else None)
    return root


@pytest.fixture
def view(qtbot, runs_root):
    view = RunsView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    view.set_root(runs_root)
    qtbot.waitExposed(view)
    return view


def titles(view) -> list[str]:
    return [title for _, title in view.model.columns]


def column(view, title: str) -> list[str]:
    c = titles(view).index(title)
    return [view.model.index(r, c).data() for r in range(view.model.rowCount())]


def click_header(qtbot, view, title: str) -> None:
    header = view.table.horizontalHeader()
    c = titles(view).index(title)
    x = header.sectionViewportPosition(c) + header.sectionSize(c) // 2
    QTest.mouseClick(header.viewport(), Qt.LeftButton, Qt.NoModifier, QPoint(x, header.height() // 2))


def click_cell(view, row: int, title: str, modifier=Qt.NoModifier) -> None:
    rect = view.table.visualRect(view.model.index(row, titles(view).index(title)))
    QTest.mouseClick(view.table.viewport(), Qt.LeftButton, modifier, rect.center())


def tick(view, row: int) -> None:
    """Click the check box of a row's name cell."""
    table = view.table
    option = QStyleOptionViewItem()
    option.rect = table.visualRect(view.model.index(row, 0))
    option.features = QStyleOptionViewItem.HasCheckIndicator | QStyleOptionViewItem.HasDisplay
    box = table.style().subElementRect(QStyle.SE_ItemViewItemCheckIndicator, option, table)
    QTest.mouseClick(table.viewport(), Qt.LeftButton, Qt.NoModifier, box.center())


def test_the_table_lists_every_run_with_the_settings_that_differ(view):
    assert view.model.rowCount() == 30
    assert column(view, "Run")[:2] == ["run-29", "run-28"]  # newest first
    assert {"LR", "Batch"} <= set(titles(view)) and "Optimizer" not in titles(view)  # adam for all: no column
    assert column(view, "LR")[0] == "0.001" and column(view, "Batch")[0] == "128"
    assert {"Best val acc", "Samples/s", "Duration", "Tags"} <= set(titles(view))
    assert view.count_label.text() == "30 runs"


def test_clicking_a_header_sorts_and_clicking_again_reverses(qtbot, view):
    click_header(qtbot, view, "Samples/s")
    values = [float(v.replace(",", "")) for v in column(view, "Samples/s")]
    assert values == sorted(values) and values[0] == 1000
    click_header(qtbot, view, "Samples/s")
    values = [float(v.replace(",", "")) for v in column(view, "Samples/s")]
    assert values == sorted(values, reverse=True) and values[0] == 1029
    click_header(qtbot, view, "LR")
    assert column(view, "LR")[:6] == ["0.001"] * 6


def test_typing_in_the_filter_box_filters(qtbot, view):
    QTest.keyClicks(view.filter_edit, "lr<0.01")
    assert view.model.rowCount() == 12 and set(column(view, "LR")) == {"0.003", "0.001"}
    assert view.count_label.text() == "12 of 30 runs"
    view.filter_edit.clear()
    QTest.keyClicks(view.filter_edit, "run-07")
    assert column(view, "Run") == ["run-07"]
    view.filter_edit.clear()
    assert view.model.rowCount() == 30


def test_a_tag_typed_in_its_cell_is_saved_and_filters(qtbot, view, runs_root):
    click_cell(view, 0, "Tags")
    QTest.keyClick(view.table, Qt.Key_F2)
    editor = view.table.focusWidget()
    QTest.keyClicks(editor, "baseline, sweep")
    QTest.keyClick(editor, Qt.Key_Return)  # (the delegate commits on its next event-loop pass)
    qtbot.waitUntil(lambda: column(view, "Tags")[0] == "baseline, sweep")
    meta = json.loads((runs_root / "20260101-000029-000000" / "meta.json").read_text())
    assert meta["tags"] == ["baseline", "sweep"]
    QTest.keyClicks(view.filter_edit, "baseline")
    assert column(view, "Run") == ["run-29"]


def test_notes_of_the_selected_run_are_saved(qtbot, view, runs_root):
    click_cell(view, 1, "Status")
    assert view.notes_label.text() == "Notes on run-28"
    view.notes_edit.setFocus()
    QTest.keyClicks(view.notes_edit, "diverged at lr 0.1?")
    click_cell(view, 0, "Status")  # selecting another run saves at once
    meta = json.loads((runs_root / "20260101-000028-000000" / "meta.json").read_text())
    assert meta["notes"] == "diverged at lr 0.1?"
    click_cell(view, 1, "Status")
    assert view.notes_edit.toPlainText() == "diverged at lr 0.1?"


def test_what_differs_between_two_selected_runs(qtbot, view):
    click_cell(view, 0, "Status")
    click_cell(view, 1, "Status", Qt.ControlModifier)
    values = view.diff.values()
    assert values["training.lr"] == ["0.001", "0.003"] and values["training.batch_size"] == ["128", "64"]
    assert "2 runs" in view.diff.title.text()


def test_a_damaged_run_is_listed_with_its_reason_and_hides_nothing(qtbot, view, runs_root):
    broken = runs_root / "20260102-000000-000000"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    half = write_run(runs_root, 99, 0.01, 32, 100)
    (half / "metrics.jsonl").unlink()
    view.reload()
    assert view.model.rowCount() == 32
    statuses = column(view, "Status")
    damaged = [s for s in statuses if s.startswith("damaged: ")]
    assert len(damaged) == 2 and any("metrics.jsonl is missing" in s for s in damaged)
    assert statuses.count("completed") == 30


@pytest.fixture
def overlaid(qtbot, view):
    """The Runs view wired to a CurvesView as the Training panel wires them (the loader runs on a thread)."""
    runner = JobRunner()
    curves = CurvesView()
    qtbot.addWidget(curves)
    curves.resize(1000, 600)
    curves.show()
    loader = OverlayLoader(runner)
    view.sig_overlays_changed.connect(loader.request)

    def loaded(overlays):
        curves.set_overlays(overlays)
        view.set_overlay_colors(curves.overlay_layer.colors())

    loader.sig_loaded.connect(loaded)
    yield curves
    runner.shutdown()


def test_ticking_three_runs_overlays_their_whole_curves_in_distinct_colours(qtbot, view, overlaid):
    for row in (0, 5, 12):
        tick(view, row)
    assert view.count_label.text() == "30 runs · 3 overlaid"
    qtbot.waitUntil(lambda: hasattr(overlaid, "overlay_layer") and len(overlaid.overlay_layer.overlays) == 3)
    layer = overlaid.overlay_layer
    names = [o.name for o in layer.overlays]
    assert names == ["run-29", "run-24", "run-17"]
    assert len({o.color for o in layer.overlays}) == 3
    for overlay in layer.overlays:
        steps = 200 + 20 * int(overlay.name[-2:])
        assert overlay.curves.step[-1] == steps  # the whole run, none cut at the shortest
        line_x = overlay.items["line"].xData
        assert line_x[0] == 1 and line_x[-1] == steps
    assert layer.extent()[0] == 780
    qtbot.waitUntil(lambda: overlaid.loss.viewRange()[0][1] >= 780)  # the longest run is in view
    # the spike at step 150 of run-29 survives the envelope, and the best epoch is marked
    envelope = layer.overlays[0].items["envelope"]
    assert np.nanmax(envelope.yData) == 50.0
    _, best = layer.best_val.getData()  # one star per run, at its best validation accuracy
    assert list(best) == [np.nanmax(o.curves.val_accuracy) for o in layer.overlays]
    # zoomed in: decimated again for the visible range, every point there, the spike still drawn
    overlaid.loss.setXRange(100, 200, padding=0)
    qtbot.waitUntil(lambda: envelope.xData[0] >= 99 and envelope.xData[-1] <= 201)
    assert np.nanmax(envelope.yData) == 50.0 and len(envelope.xData) == 103  # 100..200 and one each side
    overlaid.loss.getPlotItem().enableAutoRange()
    qtbot.waitUntil(lambda: envelope.xData[-1] == 780)
    # one read-out line per run at the hovered step
    lines = layer.readout_at(600)
    assert len(lines) == 3 and lines[0].startswith("run-29 ") and lines[0].endswith("@ step 600")
    assert lines[2].startswith("run-17 ") and lines[2].endswith("@ step 540 (last)")  # it ended at 540
    # the table shows each overlay's colour beside the run's name
    swatch = view.model.index(0, 0).data(Qt.DecorationRole)
    assert swatch is not None and swatch.name().lower() == layer.overlays[0].color.lower()
    # unticking one keeps the others' colours
    colors = {o.name: o.color for o in layer.overlays}
    tick(view, 5)
    qtbot.waitUntil(lambda: len(layer.overlays) == 2)
    assert {o.name: o.color for o in layer.overlays} == {n: colors[n] for n in ("run-29", "run-17")}


def write_checkpoint(folder, label: str, step: int, epoch: int) -> None:
    """A safetensors file with no tensors, only the header metadata fork_points reads (step, epoch)."""
    meta = {"meta": json.dumps({"step": step, "epoch": epoch, "epoch_complete": True})}
    header = json.dumps({"__metadata__": meta}).encode()
    (folder / "checkpoints" / f"{label}.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)


def test_fork_asks_for_the_checkpoint_and_the_changed_settings(qtbot, view, runs_root):
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    folder = runs_root / "20260101-000029-000000"
    write_checkpoint(folder, "last", 780, 10)
    write_checkpoint(folder, "epoch-4", 312, 4)
    click_cell(view, 0, "Status")
    forks = []
    view.sig_fork.connect(lambda path, changes: forks.append((path, changes)))

    def drive():
        dialog = QApplication.activeModalWidget()
        assert dialog.objectName() == "forkDialog"
        dialog.checkpoint.setCurrentIndex(1)  # epoch-4
        assert dialog.epochs.minimum() == 5 and dialog.lr.text() == "0.001"  # the run's own lr
        dialog.lr.selectAll()
        QTest.keyClicks(dialog.lr, "abc")
        dialog.buttons.button(QDialogButtonBox.Ok).click()
        assert "not a number" in dialog.message.text() and dialog.isVisible()  # refused, the dialog stays
        dialog.lr.setText("0.0003")
        dialog.finetune.setCurrentText("freeze")
        dialog.buttons.button(QDialogButtonBox.Ok).click()

    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, drive)
    view.buttons["fork"].click()
    assert forks == [
        (folder / "checkpoints" / "epoch-4.safetensors", {"lr": 0.0003, "epochs": 10, "finetune": "freeze"})
    ]


def test_a_forked_run_continues_from_its_parents_step(qtbot, view, overlaid, runs_root):
    """fork.py's fork writes its steps on from the fork step; an older one from 1: both are drawn from there."""
    for n, first_step in ((40, 101), (41, 1)):
        folder = write_run(runs_root, n, 0.01, 32, 200)
        config = json.loads((folder / "config.json").read_text())
        config["forked_from"] = {"run": "20260101-000029-000000", "step": 100, "checkpoint": "epoch-1"}
        (folder / "config.json").write_text(json.dumps(config))
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        shifted = []
        for line in lines:
            obj = json.loads(line)
            obj["step"] += first_step - 1
            shifted.append(json.dumps(obj))
        (folder / "metrics.jsonl").write_text("\n".join(shifted) + "\n")
    view.reload()
    assert "Forked from" in titles(view)
    for name in ("run-40", "run-41"):
        view.set_overlay(view.model.all_rows[[r.name for r in view.model.all_rows].index(name)].path)
    qtbot.waitUntil(lambda: hasattr(overlaid, "overlay_layer") and len(overlaid.overlay_layer.overlays) == 2)
    for overlay in overlaid.overlay_layer.overlays:
        assert overlay.curves.step[0] == 101 and overlay.curves.step[-1] == 300, overlay.name


@pytest.fixture
def panel(qtbot, tmp_path):
    from workbench.core.data import DatasetSettings, load_dataset
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.ui.panels.training import TrainingPanel
    from workbench.ui.session import ProjectSession

    path = tmp_path / "digits.wbproj"
    doc = json.loads(SAMPLE_PROJECT.read_text())
    doc["model"]["layers"] = [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}]
    doc["training"].update({"epochs": 2, "batch_size": 64, "device": "cpu"})
    path.write_text(json.dumps(doc))
    session = ProjectSession()
    widget = TrainingPanel(session)
    qtbot.addWidget(widget)
    session.open(path)
    session.set_data(load_dataset(DatasetSettings()))
    widget.resize(900, 620)
    widget.show()
    yield widget
    widget.shutdown()
    session.jobs.shutdown()


@pytest.mark.slow
def test_a_fork_from_the_runs_tab_trains_with_the_new_lr_and_records_its_parent(qtbot, panel):
    panel.start()
    qtbot.waitUntil(lambda: not panel.running and panel.eval_job is None, timeout=60_000)
    (parent,) = panel.runs.rows()
    panel.tabs.setCurrentWidget(panel.runs)
    panel.runs.select(parent.path)
    assert panel.runs.buttons["fork"].isEnabled()
    panel.runs.set_overlay(parent.path)  # the parent overlaid: it stays beside the fork as it trains
    qtbot.waitUntil(
        lambda: hasattr(panel.curves, "overlay_layer") and len(panel.curves.overlay_layer.overlays) == 1
    )
    assert panel.runs.fork_selected("last", {"lr": 0.01, "epochs": 3})
    assert panel.running
    qtbot.waitUntil(lambda: [o.name for o in panel.curves.overlay_layer.overlays] == [parent.name])
    qtbot.waitUntil(lambda: not panel.running and panel.eval_job is None, timeout=60_000)
    panel.runs.reload()
    fork = next(r for r in panel.runs.rows() if r.path != parent.path)
    config = json.loads((fork.path / "config.json").read_text())
    assert config["training"]["lr"] == 0.01 and config["training"]["epochs"] == 3
    assert panel.session.project.training.lr != 0.01  # the project's own settings are untouched
    steps = parent.results["last_step"]
    assert fork.settings["forked_from"] == f"{parent.id}@{steps}" and fork.status == "completed"
    assert column(panel.runs, "Forked from")[0] == f"{parent.id}@{steps}"
    first = json.loads((fork.path / "metrics.jsonl").read_text().splitlines()[0])
    assert first["step"] == steps + 1  # its curve goes on from the parent's


def test_a_large_runs_folder_is_read_on_a_thread(qtbot, runs_root, monkeypatch):
    monkeypatch.setattr("workbench.ui.panels.training.runs_view.ASYNC_RUNS", 10)
    runner = JobRunner()
    view = RunsView()
    qtbot.addWidget(view)
    view.jobs = runner
    view.set_root(runs_root)
    assert view.model.rowCount() == 0 and view.count_label.text() == "reading the runs…"
    qtbot.waitUntil(lambda: view.model.rowCount() == 30)
    assert view.count_label.text() == "30 runs"
    runner.shutdown()


def test_space_ticks_the_selected_runs(qtbot, view):
    click_cell(view, 2, "Status")
    click_cell(view, 4, "LR", Qt.ShiftModifier)  # rows 2..4
    QTest.keyClick(view.table, Qt.Key_Space)
    assert [view.model.index(r, 0).data(Qt.CheckStateRole) == Qt.Checked for r in range(6)] == [
        False,
        False,
        True,
        True,
        True,
        False,
    ]
    assert view.count_label.text() == "30 runs · 3 overlaid"
    QTest.keyClick(view.table, Qt.Key_Space)  # all ticked: Space unticks them
    assert view.count_label.text() == "30 runs"
