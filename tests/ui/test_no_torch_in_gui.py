"""torch never in the GUI process (docs/contract.md): every menu action, the augmentation preview, a short run
with its evaluation and the builder's analysis of a torch-backed layer leave `torch` out of sys.modules. Run in a
fresh process (this test process has torch loaded by other tests)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox, QWizard
from workbench.app import finish
from workbench.core.model.spec import ModelSpec
from workbench.core.paths import sample_project
from workbench.ui.main_window import MainWindow

app = QApplication([])
about = []
QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.No)
for name in ("warning", "critical", "information"):
    setattr(QMessageBox, name, staticmethod(lambda *a, **k: QMessageBox.Ok))
QMessageBox.about = staticmethod(lambda parent, title, text: about.append(text))
QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: ("", ""))
QFileDialog.getSaveFileName = staticmethod(lambda *a, **k: ("", ""))
QFileDialog.getExistingDirectory = staticmethod(lambda *a, **k: "")
QDialog.exec = lambda self: 0  # File > New's data dialog: cancelled

def wait(condition, seconds, what):
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise SystemExit(f"timed out: {what}")
        app.processEvents()
        time.sleep(0.01)

def close_dialogs():
    for widget in app.topLevelWidgets():
        if isinstance(widget, (QDialog, QWizard)) and widget.isVisible():
            widget.reject()

window = MainWindow()
window.resize(1280, 800)
window.show()
window.open_project(str(sample_project()), confirmed=True)
session = window.session
session.project.training.epochs = 1
wait(lambda: session.data is not None, 60, "data")
wait(lambda: session.jobs.host.ready, 60, "trainer ready")
used = []
for menu in [a.menu() for a in window.menuBar().actions() if a.menu() is not None]:
    menu.aboutToShow.emit()  # Open Recent fills itself
    for action in menu.actions():
        if action.isSeparator() or action.menu() is not None or action.text() == "&Quit":
            continue
        if action.isEnabled():
            action.trigger()
            used.append(action.text().replace("&", ""))
            for _ in range(20):
                app.processEvents()
                time.sleep(0.01)
            close_dialogs()
        if action.isCheckable() and not action.isChecked():
            action.trigger()  # a dock hidden by its View action: shown again
panel = window.panels["trainingDock"]
wait(lambda: not panel.running, 60, "the run started from Run > Train to stop")

dataset = window.panels["datasetDock"]
dataset.split_form.augment.editors["augment_rotation"][1].setValue(30.0)
wait(lambda: dataset.augment_check.isChecked(), 10, "augmentation on")
plain = [img.bits().tobytes() for img, _ in dataset.grid._items]
wait(lambda: [img.bits().tobytes() for img, _ in dataset.grid._items] != plain, 60, "augmented thumbnails")

builder = window.panels["builderDock"]
analysed = []
builder.sig_analyzed.connect(analysed.append)
session.update_model(ModelSpec(input_shape=[1, 8, 8], layers=[{"type": "LSTM", "hidden_size": 8}]))
wait(lambda: bool(analysed), 60, "the builder's analysis")

session.project.model = ModelSpec.model_validate(session.project.model.model_dump())
panel.start_button.click()
wait(lambda: panel.running, 10, "start")
wait(lambda: not panel.running and panel.eval_job is None and panel.evaluation.result is not None, 120, "run + eval")
heavy = sorted(m for m in ("torch", "torchvision", "transformers", "onnx", "onnxruntime") if m in sys.modules)
print("used", "|".join(used), flush=True)
print("about", "torch" in (about[0] if about else ""), flush=True)
print("heavy", ",".join(heavy) or "none", flush=True)
session._set_dirty(False)
window.close()
sys.exit(finish(0))
"""


@pytest.mark.slow
def test_menus_augmentation_preview_and_a_run_leave_torch_out_of_the_gui_process(tmp_path):
    script = tmp_path / "no_torch.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    used = lines["used"].split("|")
    assert {
        "New project",
        "Open...",
        "Save As...",
        "Reset layout",
        "Train",
        "Export...",
        "Plugins...",
        "About Workbench",
    } <= set(used), used
    assert lines["about"] == "True"  # About named torch's version (from the trainer process)
    assert lines["heavy"] == "none"
