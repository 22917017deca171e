"""Bring your own data, end to end, in the real window (offscreen), on real data none of us wrote: scikit-learn's
digits as a PNG folder, its breast-cancer table as CSV, Python's standard-library docstrings as a text CSV.
File > New project -> Inspect -> template -> Create -> train (2 epochs) -> evaluate -> export the best checkpoint.
Every step goes through the window's menus, buttons and typed text (journeys.py)."""

from __future__ import annotations

import json

import pytest
from journeys import (
    click,
    data_loaded,
    evaluate_newest_run,
    export_best_checkpoint,
    export_runs,
    new_project_from_data,
    open_export_wizard,
    open_project,
    run_rows,
    save_as,
    set_epochs,
    train,
    training_panel,
)
from realdata import write_digits_folder, write_docstrings_csv, write_sklearn_csv

from workbench.ui.main_window import MainWindow

WAIT_MS = 60_000


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    win.settings.clear()
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.session._set_dirty(False)
    win.shutdown()


def _journey(qtbot, window, tmp_path, kind, source, target=None, template=None, classes=None):
    new_project_from_data(qtbot, window, kind, source, target=target, template=template)
    qtbot.waitUntil(lambda: data_loaded(window), timeout=WAIT_MS)
    assert window.session.path is None and window.windowTitle().startswith(window.session.display_name)
    if classes is not None:
        assert window.session.data.meta.num_classes == classes
        assert window.session.project.model.layers[-1].params["out_features"] == classes
    set_epochs(window, 2)
    row = train(qtbot, window)
    assert row[2] == "2/2"
    status = evaluate_newest_run(qtbot, window)
    assert "accuracy" in status
    onnx = export_best_checkpoint(qtbot, window, tmp_path / "out" / "model.onnx")
    report = json.loads((onnx.parent / "model.onnx.report.json").read_text())
    return row, status, report


@pytest.mark.slow
def test_image_folder_journey(qtbot, window, tmp_path):
    root = write_digits_folder(tmp_path / "digits", per_class=20, classes=(0, 1, 2, 3))
    row, status, report = _journey(qtbot, window, tmp_path, "imagefolder", root, template="lenet5", classes=4)
    assert report["checker_ok"] and report["format"].startswith("onnx")
    assert window.session.project.model.input_shape == [1, 8, 8]


def test_csv_tabular_journey(qtbot, window, tmp_path):
    """The blocker: a CSV's 1-D features made 'Create project' stay disabled (max() of an empty shape)."""
    path = write_sklearn_csv(tmp_path / "breast_cancer.csv", "breast_cancer")
    row, status, report = _journey(
        qtbot, window, tmp_path, "csv", path, target="target", template="mlp", classes=2
    )
    assert window.session.project.model.input_shape == [30]
    assert report["checker_ok"]


@pytest.mark.slow
def test_csv_text_journey(qtbot, window, tmp_path):
    path = write_docstrings_csv(tmp_path / "docs.csv", ("json", "http", "email"), per_class=60)
    row, status, report = _journey(
        qtbot, window, tmp_path, "csv", path, target="module", template="text_lstm", classes=3
    )
    meta = window.session.data.meta
    embedding = window.session.project.model.layers[0].params
    assert embedding["num_embeddings"] == meta.extra["vocab_size"]  # sized from the vocabulary
    assert window.session.project.model.input_shape == [meta.extra["seq_len"]] != [64]
    assert report["checker_ok"]
    assert training_panel(window).runs.root_path() == window.session.runs_dir


# -- projects and runs that are never lost
# -------------------------------------------------------------------------
def _new_digits_project(qtbot, window, epochs=1):
    new_project_from_data(qtbot, window, "digits", None, template="mlp")
    qtbot.waitUntil(lambda: data_loaded(window), timeout=WAIT_MS)
    set_epochs(window, epochs)


@pytest.mark.slow
def test_untitled_runs_move_with_the_project_and_come_back_after_quit(qtbot, window, tmp_path, monkeypatch):
    _new_digits_project(qtbot, window)
    untitled_root = window.session.runs_dir
    assert untitled_root.parent.parent.name == "untitled"  # its own folder in the user data folder
    first = train(qtbot, window)
    second = train(qtbot, window)
    assert len(run_rows(window)) == 2
    wizard = open_export_wizard(qtbot, window)  # before any Save: exportable already
    assert len(export_runs(wizard)) == 2
    wizard.reject()
    target = tmp_path / "mine" / "digits.wbproj"
    target.parent.mkdir()
    save_as(qtbot, window, monkeypatch, target)  # the first Save asks where
    assert window.session.path == target and not window.windowTitle().startswith("*")
    runs = tmp_path / "mine" / "runs"
    assert len([p for p in runs.iterdir() if p.is_dir()]) == 2 and not untitled_root.exists()
    assert [r[0] for r in run_rows(window)] == [second[0], first[0]]
    window.close()  # quit
    assert not window.isVisible()

    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    try:
        open_project(again, monkeypatch, target)
        assert again.session.path == target
        assert [r[0] for r in run_rows(again)] == [second[0], first[0]]
        qtbot.waitUntil(lambda: data_loaded(again), timeout=WAIT_MS)
        onnx = export_best_checkpoint(qtbot, again, tmp_path / "out" / "digits.onnx")
        assert onnx.is_file()
    finally:
        again.shutdown()


def test_save_as_copies_the_runs_and_keeps_the_name(qtbot, window, tmp_path, monkeypatch):
    _new_digits_project(qtbot, window)
    first = tmp_path / "a" / "first.wbproj"
    first.parent.mkdir()
    save_as(qtbot, window, monkeypatch, first)
    run = train(qtbot, window)[0]
    assert [r[0] for r in run_rows(window)] == [run]
    second = tmp_path / "b" / "second.wbproj"
    second.parent.mkdir()
    name = window.session.display_name
    save_as(qtbot, window, monkeypatch, second)  # "Copy runs" (the default) answered
    assert str(second) in window.windowTitle() and window.session.display_name == name  # the project's name
    assert window.project_label.text().startswith(f"<b>{name}</b>")
    assert [r[0] for r in run_rows(window)] == [run]  # the copy beside the new file, listed at once
    row = train(qtbot, window)
    assert [r[0] for r in run_rows(window)] == [row[0], run]
    assert (
        len([p for p in (tmp_path / "b" / "runs").iterdir() if p.is_dir()]) == 2
        and len([p for p in (tmp_path / "a" / "runs").iterdir() if p.is_dir()])
        == 1  # the old project keeps its own
    )


@pytest.mark.slow
def test_opening_another_project_mid_run_asks(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

    from workbench.core.paths import sample_project
    from workbench.ui import project_guard

    _new_digits_project(qtbot, window, epochs=500)
    start = training_panel(window).findChild(QPushButton, "startTrainingButton")
    click(start)
    qtbot.waitUntil(lambda: bool(run_rows(window)) and run_rows(window)[0][1] == "running", timeout=WAIT_MS)
    asked = []
    answer = [QMessageBox.Cancel]

    def question(parent, title, text, *args, **kwargs):
        asked.append((title, text))
        return QMessageBox.Discard if title == "Unsaved changes" else answer[0]

    monkeypatch.setattr(QMessageBox, "question", question)
    saved_as = tmp_path / "kept" / "kept.wbproj"
    saved_as.parent.mkdir()

    def ask(
        parent, title, text, buttons, default, name
    ):  # the untitled project has a run: Save, as a user would
        asked.append((title, text))
        return "Save" if name == "saveChangesBox" else default

    monkeypatch.setattr(project_guard, "ask", ask)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(saved_as), ""))
    before = window.session.project
    open_project(window, monkeypatch, sample_project())
    assert asked and asked[0][0] == "Training is running" and "Stop it" in asked[0][1]
    assert window.session.project is before and training_panel(window).running  # cancelled: nothing changed
    answer[0] = QMessageBox.Yes
    open_project(window, monkeypatch, sample_project())  # stops the run, asks to save, then opens
    qtbot.waitUntil(lambda: window.session.path == sample_project().resolve(), timeout=WAIT_MS)
    assert any(title == "Unsaved changes" and "1 run" in text for title, text in asked)
    assert not training_panel(window).running and start.isEnabled()
    from workbench.core.training.runs import list_runs

    stopped = list_runs(saved_as.parent / "runs")
    assert (
        len(stopped) == 1 and stopped[0].status == "stopped"
    )  # its checkpoint saved, beside the saved project
    assert stopped[0].checkpoint("last") is not None
    assert all(r[0] != stopped[0].id for r in run_rows(window))  # not streaming into the new project
