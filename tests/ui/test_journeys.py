"""Bring your own data, end to end, in the real window (offscreen), on real data none of us wrote: scikit-learn's
digits as a PNG folder, its breast-cancer table as CSV, Python's standard-library docstrings as a text CSV.
File > New project -> Inspect -> template -> Create -> train (2 epochs) -> evaluate -> export the best checkpoint.
Every step goes through the window's menus, buttons and typed text (journeys.py)."""

from __future__ import annotations

import json

import pytest
from journeys import (
    data_loaded,
    evaluate_newest_run,
    export_best_checkpoint,
    new_project_from_data,
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


def test_image_folder_journey(qtbot, window, tmp_path):
    root = write_digits_folder(tmp_path / "digits", per_class=20, classes=(0, 1, 2, 3))
    row, status, report = _journey(qtbot, window, tmp_path, "imagefolder", root, template="lenet5", classes=4)
    assert report["checker_ok"] and report["format"].startswith("onnx")
    assert window.session.project.model.input_shape == [1, 8, 8]


def test_csv_tabular_journey(qtbot, window, tmp_path):
    """The blocker: a CSV's 1-D features made 'Create project' stay disabled (max() of an empty shape)."""
    path = write_sklearn_csv(tmp_path / "breast_cancer.csv", "breast_cancer")
    row, status, report = _journey(qtbot, window, tmp_path, "csv", path, target="target", template="mlp",
                                   classes=2)
    assert window.session.project.model.input_shape == [30]
    assert report["checker_ok"]


def test_csv_text_journey(qtbot, window, tmp_path):
    path = write_docstrings_csv(tmp_path / "docs.csv", ("json", "http", "email"), per_class=60)
    row, status, report = _journey(qtbot, window, tmp_path, "csv", path, target="module", template="text_lstm",
                                   classes=3)
    meta = window.session.data.meta
    embedding = window.session.project.model.layers[0].params
    assert embedding["num_embeddings"] == meta.extra["vocab_size"]            # sized from the vocabulary
    assert window.session.project.model.input_shape == [meta.extra["seq_len"]] != [64]
    assert report["checker_ok"]
    assert training_panel(window).runs.root_path() == window.session.runs_dir
