"""The New project dialog on a real CSV: it fits the screen (Create never below the edge) after Options and an
Inspect, switching the source type drops the old path, and the Dataset panel's Skipped tab says when nothing was
skipped."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox
from realdata import write_sklearn_csv

from workbench.ui.panels.dataset.new_project import NewFromDataDialog

LOAD_MS = 60_000


def test_dialog_fits_the_screen_after_options_and_a_csv_inspect(qtbot, tmp_path):
    path = write_sklearn_csv(tmp_path / "wine.csv", "wine")
    dialog = NewFromDataDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    free = (dialog.screen() or QGuiApplication.primaryScreen()).availableGeometry()
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData("csv"))
    form.path.edit.setText(str(path))
    QTest.mouseClick(form.options_toggle, Qt.LeftButton)
    assert form.options.isVisible()
    QTest.mouseClick(form.load_button, Qt.LeftButton)
    create = dialog.buttons.button(QDialogButtonBox.Ok)
    qtbot.waitUntil(create.isEnabled, timeout=LOAD_MS)  # 1-D features: the blocker of issue 15
    qtbot.wait(50)
    assert dialog.frameGeometry().height() <= free.height()
    bottom = create.mapToGlobal(QPoint(0, create.height()))
    assert free.top() <= bottom.y() <= free.bottom() + 1, (bottom, free)
    assert dialog.template.currentData() == "mlp"
    project = dialog.project()
    assert project.model.input_shape == [13] and project.model.layers[-1].params["out_features"] == 3
    dialog.reject()


def test_switching_the_source_type_drops_the_old_path(qtbot, tmp_path):
    dialog = NewFromDataDialog()
    qtbot.addWidget(dialog)
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData("imagefolder"))
    form.path.edit.setText(str(tmp_path))
    form.kind.setCurrentIndex(form.kind.findData("csv"))
    assert form.path.edit.text() == ""
    dialog.reject()


def test_skipped_tab_says_nothing_was_skipped(qtbot):
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.ui.panels.dataset import DatasetPanel
    from workbench.ui.session import ProjectSession

    session = ProjectSession()
    panel = DatasetPanel(session)
    qtbot.addWidget(panel)
    assert (
        panel.skipped_table.rowCount() == 1 and "Nothing loaded yet" in panel.skipped_table.item(0, 0).text()
    )
    session.open(SAMPLE_PROJECT)
    qtbot.waitUntil(lambda: panel.bundle is not None and not panel.loading, timeout=LOAD_MS)
    assert panel.skipped_table.item(0, 0).text() == "Nothing was skipped"
    panel.shutdown()
    session.jobs.shutdown()  # the data loaded in the trainer process: no thread left behind


def test_npz_with_flat_features_makes_a_project(qtbot, tmp_path):
    """The blocker's other half: an .npz of 1-D features (X (n, 64), y) offers the MLP and creates the project."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = tmp_path / "digits.npz"
    np.savez(path, X=digits.data[:300].astype(np.float32), y=digits.target[:300])
    dialog = NewFromDataDialog()
    qtbot.addWidget(dialog)
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData("npz"))
    form.path.edit.setText(str(path))
    QTest.mouseClick(form.load_button, Qt.LeftButton)
    create = dialog.buttons.button(QDialogButtonBox.Ok)
    qtbot.waitUntil(create.isEnabled, timeout=LOAD_MS)
    project = dialog.project()
    assert project.model.input_shape == [64] and project.model.layers[-1].params["out_features"] == 10
    dialog.reject()
