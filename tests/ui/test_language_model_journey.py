"""A language model in the window, as a user builds it: File > New project -> a text file (the GPL v3) ->
the default template is gpt_lm -> train -> the curves show perplexity -> the Evaluation tab's sample box
generates text from a typed prompt (seeded: the same seed, the same text). Screenshot at 1280x800 to
$WORKBENCH_SCREENSHOTS (docs/screenshots with `make screenshots`) or a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import journeys
import pytest
from journeys import (
    answer_modal,
    click,
    data_loaded,
    export_best_checkpoint,
    menu_action,
    run_columns,
    set_epochs,
    train,
    training_panel,
    type_into,
)
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QPushButton, QTableWidget, QTabWidget
from realdata import GPL3

from workbench.ui.main_window import MainWindow

WAIT_MS = 120_000


def test_the_metric_plot_shows_perplexity_for_a_language_model_run(qtbot):
    from workbench.core.training.runs import RunMetrics
    from workbench.ui.panels.training.curves import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    lm = RunMetrics()
    lm.steps, lm.batch_epoch, lm.loss, lm.lr, lm.time = [1, 2], [1, 2], [3.0, 2.0], [1e-3] * 2, [0.0, 1.0]
    lm.epochs = [
        {
            "epoch": e,
            "step": e,
            "train_loss": loss,
            "val_loss": loss,
            "train_accuracy": None,
            "val_accuracy": None,
            "train_perplexity": 2.718**loss,
            "val_perplexity": 2.718**loss,
            "time": e,
        }
        for e, loss in ((1, 3.0), (2, 2.0))
    ]
    view.show_run(lm)
    assert (
        view.metric_kind == "perplexity"
        and view.findChild(type(view.accuracy), "metricPlot") is view.accuracy
    )
    assert "Perplexity" in view.accuracy.getPlotItem().titleLabel.text
    assert list(view.accuracy.series["val_accuracy"].y.view) == pytest.approx([2.718**3, 2.718**2])
    view.clear()  # the next run starts as a classifier's accuracy again
    assert view.metric_kind == "accuracy" and "Accuracy" in view.accuracy.getPlotItem().titleLabel.text


NO_CORPUS = pytest.mark.skipif(
    not GPL3.is_file(), reason=f"{GPL3} (Debian's base-files) is not on this system"
)


@pytest.mark.slow
@NO_CORPUS
def test_text_file_to_generated_text(qtbot, tmp_path, monkeypatch):
    journey(qtbot, tmp_path, monkeypatch, shots=None)


@pytest.mark.screenshots
@NO_CORPUS
def test_language_model_screenshots(qtbot, tmp_path, monkeypatch):
    """`make screenshots`: the same journey trained for 20 epochs (batch 16), so the sample reads like words."""
    journey(qtbot, tmp_path, monkeypatch, shots=os.environ.get("WORKBENCH_SCREENSHOTS") or str(tmp_path))


def journey(qtbot, tmp_path, monkeypatch, shots: str | None) -> None:
    window = MainWindow()
    window.settings.clear()
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    offered = []

    def drive(dialog):
        form = dialog.source_form
        form.kind.setCurrentIndex(form.kind.findData("textfile"))
        type_into(form.path.edit, str(GPL3))
        click(form.load_button)
        create = dialog.buttons.button(QDialogButtonBox.Ok)
        qtbot.waitUntil(create.isEnabled, timeout=WAIT_MS)
        offered.extend(dialog.template.itemData(i) for i in range(dialog.template.count()))
        offered.append(dialog.template.currentData())
        click(create)

    answer_modal(qtbot, menu_action(window, "File", "New project").trigger, drive)
    assert offered[-1] == "gpt_lm" and "gpt_lm" in offered[:-1]  # the default, and offered
    qtbot.waitUntil(lambda: data_loaded(window), timeout=WAIT_MS)
    session = window.session
    assert session.project.dataset.kind == "textfile" and session.data.meta.task == "language_model"
    dataset = window.panels["datasetDock"]
    qtbot.waitUntil(
        lambda: "language model" in dataset.findChild(QLabel, "datasetSummary").text(), timeout=WAIT_MS
    )
    rows = dataset.findChild(QTableWidget, "datasetRows")
    assert rows.item(0, 1).text().replace("↵", "\n") in GPL3.read_text(encoding="utf-8")  # a window, as text
    assert dataset.histogram.getAxis("bottom").labelText.startswith("the 30 most frequent tokens")
    # how a text file is split, said where the split is set
    assert "contiguous ranges" in dataset.split_form.note.text()
    set_epochs(window, 20 if shots else 1, 16 if shots else None)
    if shots:
        session.project.training.lr = 3e-3
        monkeypatch.setattr(journeys, "WAIT_MS", 600_000)
    panel = training_panel(window)
    row = train(qtbot, window)
    assert float(row[run_columns(window).index("Best val ppl")]) > 1  # the lowest validation perplexity
    assert panel.curves.metric_kind == "perplexity"
    assert "Perplexity" in panel.curves.accuracy.getPlotItem().titleLabel.text
    assert (
        len(panel.curves.accuracy.series["val_accuracy"]) == session.project.training.epochs
    )  # val perplexity
    view = panel.evaluation
    qtbot.waitUntil(lambda: view.pages.currentWidget() is view.sample_box, timeout=WAIT_MS)
    tabs = panel.findChild(QTabWidget, "trainingTabs")
    tabs.setCurrentIndex(tabs.indexOf(view))
    box = view.sample_box
    type_into(box.prompt_edit, "This License")
    box.length_spin.lineEdit().selectAll()
    QTest.keyClicks(box.length_spin.lineEdit(), "150")
    QTest.keyClick(box.length_spin, Qt.Key_Tab)
    assert box.length_spin.value() == 150
    generate = panel.findChild(QPushButton, "generateButton")

    def generated() -> str:
        assert generate.text() == "Stop"  # while it generates
        qtbot.waitUntil(
            lambda: generate.text() == "Generate" and "tokens," in box.status.text(), timeout=WAIT_MS
        )
        return box.text()

    click(generate)
    first = generated()
    assert first.startswith("This License") and len(first) == len("This License") + 150
    box.status.setText("")
    click(generate)
    assert generated() == first  # the same seed gives the same text
    box.status.setText("")
    box.seed_spin.setValue(5)
    click(generate)
    assert generated() != first
    out = Path(shots or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    qtbot.wait(100)
    window.grab().save(str(out / "language_model_sample_1280x800.png"))
    # a long generation streams its text and stops on Stop, keeping what it wrote
    box.length_spin.setValue(10_000)
    click(generate)
    qtbot.waitUntil(lambda: "Generating… " in box.status.text() and len(box.text()) > 20, timeout=WAIT_MS)
    click(generate)  # now reading Stop
    assert generate.text() == "Generate" and box.status.text().startswith("Stopped")
    kept = box.text()
    qtbot.wait(500)
    assert box.text() == kept and len(kept) < len("This License") + 10_000  # nothing more arrives
    tabs.setCurrentIndex(tabs.indexOf(panel.curves))
    qtbot.wait(200)
    window.grab().save(str(out / "language_model_curves_1280x800.png"))
    # the export wizard verifies the model per token (accuracy of the next token at every position)
    export_best_checkpoint(qtbot, window, tmp_path / "lm.onnx")
    window.close()


NO_TORCH_SCRIPT = r"""
import sys, time
from PySide6.QtWidgets import QApplication
from workbench.app import finish
from workbench.ui.main_window import MainWindow

app = QApplication([])

def wait(condition, seconds, what):
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise SystemExit(f"timed out: {what}")
        app.processEvents()
        time.sleep(0.01)

window = MainWindow()
window.resize(1280, 800)
window.show()
window.open_project(sys.argv[1], confirmed=True)
session = window.session
wait(lambda: session.data is not None, 120, "data")
panel = window.panels["trainingDock"]
panel.start_button.click()
wait(lambda: panel.running, 30, "start")
box = panel.evaluation.sample_box
wait(lambda: not panel.running and panel.evaluation.pages.currentWidget() is box, 300, "run + sample box")
box.prompt_edit.setText("GNU")
box.generate_button.click()
wait(lambda: box.generate_button.text() == "Generate" and "tokens," in box.status.text(), 120, "generated text")
heavy = sorted(m for m in ("torch", "transformers", "onnx", "onnxruntime") if m in sys.modules)
print("text", repr(box.text()[:40]), flush=True)
print("heavy", ",".join(heavy) or "none", flush=True)
session._set_dirty(False)
window.close()
sys.exit(finish(0))
"""


@pytest.mark.slow
@NO_CORPUS
def test_a_language_model_run_and_its_samples_leave_torch_out_of_the_gui_process(tmp_path):
    """The text file's data (its windows and token histogram), the perplexity curves and the sample box in a
    fresh GUI process: torch stays in the trainer process."""
    import subprocess
    import sys

    from workbench.core.data.inspect import settings_for
    from workbench.core.model.templates import make_template
    from workbench.core.project import Project, save_project
    from workbench.core.training.config import TrainingConfig

    settings = settings_for(
        str(GPL3), "textfile", options={"block_size": 32, "tokenizer": "bpe", "vocab_size": 300}
    )
    project = Project(
        name="lm",
        dataset=settings,
        model=make_template("gpt_lm", [32], 300, "int64", vocab_size=300),
        training=TrainingConfig(epochs=1, device="cpu"),
    )
    save_project(project, tmp_path / "lm.wbproj")
    script = tmp_path / "no_torch_lm.py"
    script.write_text(NO_TORCH_SCRIPT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "lm.wbproj")],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert lines["text"].startswith("'GNU") and lines["heavy"] == "none"
