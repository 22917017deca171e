"""The Dataset panel on real data: background loading, preview, histogram, split edits, live augmentation,
inline errors, cancel and shutdown."""

import time

import numpy as np
import pytest

from workbench.core.data import DatasetSettings, OptionSpec, RawData, SourceType, register_source
from workbench.core.data.synthetic import digits_uint8, write_digits_csv, write_image_folder
from workbench.core.errors import Cancelled
from workbench.core.paths import SAMPLE_PROJECT
from workbench.ui.panels.dataset import DatasetPanel
from workbench.ui.session import ProjectSession

LOAD_MS = 60_000


def _slow_source(settings, progress=None, cancel=None):
    """A source that takes its time and honours cancel: a deterministic stand-in for a big folder."""
    for i in range(200):
        if cancel and cancel():
            raise Cancelled("cancelled")
        if progress:
            progress(i, 200, f"slow {i}")
        time.sleep(0.02)
    y = np.arange(40) % 2
    return RawData(
        modality="image", x=np.zeros((40, 1, 4, 4), np.uint8), y=y, class_names=["a", "b"], scale=255.0
    )


register_source(
    SourceType(
        kind="test-slow",
        label="Slow (test)",
        load=_slow_source,
        path_mode="none",
        options=(OptionSpec("augment_flip", "flip", False),),
    ),
    replace=True,
    only_here=True,  # registered in this test process only: it loads on a thread here
)


@pytest.fixture
def panel(qtbot):
    session = ProjectSession()
    panel = DatasetPanel(session)
    qtbot.addWidget(panel)
    panel.resize(520, 650)
    panel.show()
    yield panel
    panel.shutdown()


def loaded(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.loading and panel.bundle is not None, timeout=LOAD_MS)
    return panel.bundle


def test_project_loads_digits_in_background(qtbot, panel):
    session = panel.session
    with qtbot.waitSignal(session.sig_data_loaded, timeout=LOAD_MS) as blocker:
        session.open(SAMPLE_PROJECT)
        assert panel.loading and panel.progress_row.isVisibleTo(panel)  # the GUI returned at once
    bundle = blocker.args[0]
    qtbot.waitUntil(lambda: not panel.loading)
    assert session.data is bundle and bundle.meta.input_shape == (1, 8, 8)
    assert "1,797" in panel.summary.text() and "10 classes" in panel.summary.text()
    qtbot.waitUntil(lambda: panel.grid.count == min(panel.grid.capacity(), len(bundle.train)) > 3)
    bars = [i for i in panel.histogram.getPlotItem().items if type(i).__name__ == "BarGraphItem"]
    assert len(bars) == 3  # train / val / test stacked
    assert not panel.progress_row.isVisibleTo(panel) and not panel.error.isVisibleTo(panel)


def test_split_edit_updates_project_and_reloads(qtbot, panel):
    panel.session.open(SAMPLE_PROJECT)
    first = loaded(qtbot, panel)
    panel.split_form.val.setValue(20)
    panel.split_form.seed.setValue(7)
    qtbot.waitUntil(lambda: panel.session.project.dataset.split.seed == 7, timeout=5000)
    assert panel.session.project.dataset.split.val == pytest.approx(0.2)
    qtbot.waitUntil(lambda: panel.bundle is not first and not panel.loading, timeout=LOAD_MS)
    assert len(panel.bundle.val) == pytest.approx(0.2 * 1797, abs=10)
    assert panel.session.dirty


def test_augmentation_is_previewed_live_without_reload(qtbot, panel):
    panel.session.open(SAMPLE_PROJECT)
    bundle = loaded(qtbot, panel)
    assert not panel.augment_check.isEnabled()  # nothing to show yet
    panel.split_form.augment.editors["augment_rotation"][1].setValue(30.0)
    qtbot.waitUntil(lambda: panel.bundle.augment is not None, timeout=5000)
    assert panel.bundle is bundle and not panel.loading  # no reload for augmentation
    assert panel.session.project.dataset.options["augment_rotation"] == 30.0
    assert panel.augment_check.isChecked()

    def shown():
        return [img.bits().tobytes() for img, _ in panel.grid._items]

    panel.augment_check.setChecked(False)
    plain = shown()
    panel.augment_check.setChecked(True)  # computed in the trainer process, shown when it comes
    qtbot.waitUntil(lambda: shown() != plain, timeout=LOAD_MS)
    augmented = shown()
    assert len(plain) == len(augmented) > 0 and all(len(p) == 8 * 8 for p in plain + augmented)


def test_bad_source_shows_inline_error_and_clears_data(qtbot, panel, tmp_path):
    panel.session.open(SAMPLE_PROJECT)
    loaded(qtbot, panel)
    (tmp_path / "empty").mkdir()
    with qtbot.waitSignal(panel.session.sig_data_loaded, timeout=LOAD_MS) as blocker:
        panel.session.update_dataset(DatasetSettings(kind="imagefolder", source=str(tmp_path / "empty")))
    assert blocker.args[0] is None and panel.bundle is None
    assert panel.error.isVisibleTo(panel) and "no class subfolders" in panel.error.text()
    assert "Fix the data source" in panel.grid._empty


def test_image_folder_from_the_source_form_lists_skipped(qtbot, panel, tmp_path):
    images, labels = digits_uint8()
    root = write_image_folder(tmp_path / "imgs", images, labels, classes=(0, 1, 2), per_class=10)
    (root / "digit0" / "junk.txt").write_text("x")
    panel.source_form.kind.setCurrentIndex(panel.source_form.kind.findData("imagefolder"))
    assert panel.source_form.path.isVisibleTo(panel)
    panel.source_form.path.edit.setText(str(root))
    panel.source_form.load_button.click()
    assert panel.session.project.dataset.kind == "imagefolder"
    bundle = loaded(qtbot, panel)
    assert bundle.meta.class_names == ["digit0", "digit1", "digit2"]
    assert panel.tabs.tabText(3) == "Skipped (1)"
    assert panel.skipped_table.item(0, 0).text() == "digit0/junk.txt"


def test_csv_shows_a_table_of_rows(qtbot, panel, tmp_path):
    path = write_digits_csv(tmp_path / "d.csv", n=150)
    panel.session.update_dataset(DatasetSettings(kind="csv", source=str(path), target="label"))
    bundle = loaded(qtbot, panel)
    assert bundle.meta.input_shape == (64,)
    assert panel.samples.currentWidget() is panel.rows_table
    assert panel.rows_table.rowCount() == 150 and panel.rows_table.columnCount() == 65
    assert panel.source_form.target.currentText() == "label"


def test_cancel_keeps_gui_responsive_and_stops_the_thread(qtbot, panel):
    panel.session.update_dataset(DatasetSettings(kind="test-slow", source="digits"))
    assert panel.loading
    qtbot.waitUntil(lambda: panel.progress.maximum() == 200 and panel.progress.value() > 3, timeout=10_000)
    assert "slow" in panel.progress.format()  # progress arrives while we wait
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.loading, timeout=5000)
    assert panel.bundle is None and panel.session.data is None


def test_new_settings_while_loading_supersede_the_running_job(qtbot, panel):
    panel.session.update_dataset(DatasetSettings(kind="test-slow", source="digits"))
    qtbot.waitUntil(lambda: panel.progress.value() > 1, timeout=10_000)
    panel.session.update_dataset(DatasetSettings())  # digits: cancels the slow job
    bundle = loaded(qtbot, panel)
    assert bundle.meta.kind == "digits" and panel.session.data is bundle


def test_shutdown_while_loading_waits_for_the_thread(qtbot, panel):
    panel.session.update_dataset(DatasetSettings(kind="test-slow", source="digits"))
    assert panel.loading
    panel.shutdown()
    assert not panel.loading


def test_new_project_from_data_dialog(qtbot, tmp_path):
    from workbench.ui.panels.dataset.new_project import NewFromDataDialog

    images, labels = digits_uint8()
    root = write_image_folder(
        tmp_path / "pets", images, labels, classes=(0, 1, 2, 3), per_class=15, size=(28, 28)
    )
    dialog = NewFromDataDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData("imagefolder"))
    form.path.edit.setText(str(root))
    dialog.split_form.val.setValue(20)
    form.load_button.click()
    qtbot.waitUntil(lambda: dialog.bundle is not None and dialog._thread is None, timeout=LOAD_MS)
    assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    assert dialog.name.text() == "pets" and dialog.grid.count > 0
    assert dialog.template.currentData() == "lenet5"
    project = dialog.project()
    assert project.dataset.kind == "imagefolder" and project.dataset.split.val == pytest.approx(0.2)
    assert list(project.model.input_shape) == [1, 28, 28]
    assert project.model.layers[-1].out_features == 4
    dialog.accept()
