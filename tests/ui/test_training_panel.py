"""The Training panel on the real digits: start, watch the plot fill, pause, resume, stop; runs, evaluation,
errors, settings binding, closing. No QThread is left running (the shared conftest checks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton

from workbench.core.paths import SAMPLE_PROJECT
from workbench.core.training.runs import list_runs
from workbench.ui.panels.training import TrainingPanel
from workbench.ui.session import ProjectSession
from workbench.ui.widgets.live_plot import LivePlot, debiased_ema

MLP = [
    {"type": "Flatten"},
    {"type": "Linear", "out_features": 32},
    {"type": "ReLU"},
    {"type": "Linear", "out_features": 10},
]


@pytest.fixture(scope="module")
def digits():
    from workbench.core.data import DatasetSettings, load_dataset

    return load_dataset(DatasetSettings())


@pytest.fixture
def panel(qtbot, tmp_path, digits):
    path = tmp_path / "digits.wbproj"
    doc = json.loads(SAMPLE_PROJECT.read_text())
    doc["model"]["layers"] = MLP
    doc["training"].update({"epochs": 3, "batch_size": 32, "device": "cpu"})
    path.write_text(json.dumps(doc))
    session = ProjectSession()
    widget = TrainingPanel(session)
    qtbot.addWidget(widget)
    session.open(path)
    session.set_data(digits)
    widget.resize(900, 620)
    widget.show()
    yield widget
    widget.shutdown()
    session.jobs.shutdown()


def _wait_idle(qtbot, panel, timeout=60_000):
    qtbot.waitUntil(lambda: not panel.running, timeout=timeout)


def test_start_right_after_launch_says_pytorch_is_starting(qtbot, panel):
    """Start pressed while the trainer process still imports torch (a second after launch): the panel says so,
    not "Loading data…" for 3 s, and moves on when the process is ready."""
    host = panel.session.jobs.host
    host.ensure_started()
    qtbot.waitUntil(lambda: host.ready, timeout=60_000)
    host.process.ready = False  # as right after launch (the shared test process is warm already)
    panel.start_button.click()
    assert panel.state_label.text() == "Starting PyTorch…"
    assert "Starting PyTorch" in panel.curves.loss.empty_text.toPlainText()
    host.process.ready = True
    host.sig_process_started.emit(host.pid)  # what the process says once torch is in
    assert panel.state_label.text() == "Starting…"  # the data is loaded: the run itself starts
    _wait_idle(qtbot, panel)
    assert panel.last_finished.status == "completed"


def test_start_fills_the_plot_pause_resume_stop(qtbot, panel):
    start = panel.findChild(QPushButton, "startTrainingButton")
    pause = panel.findChild(QPushButton, "pauseTrainingButton")
    stop = panel.findChild(QPushButton, "stopTrainingButton")
    loss_plot = panel.findChild(LivePlot, "lossPlot")
    assert loss_plot is panel.curves.loss and not pause.isEnabled() and not stop.isEnabled()
    panel.session.project.training.epochs = 200  # long enough to steer
    start.click()
    assert not start.isEnabled() and not panel.settings.widget().isEnabled()  # settings locked
    loss = loss_plot.series["loss"]
    qtbot.waitUntil(lambda: len(loss) >= 10, timeout=30_000)
    qtbot.waitUntil(lambda: loss.curve.yData is not None and len(loss.curve.yData) >= 10, timeout=10_000)
    assert np.all(np.isfinite(loss.curve.yData))  # points reached the drawn curve itself
    pause.click()
    qtbot.waitUntil(lambda: panel.state == "paused", timeout=10_000)
    assert pause.text() == "Resume"
    held = len(loss)
    qtbot.wait(300)
    assert len(loss) == held  # nothing trains while paused
    pause.click()
    qtbot.waitUntil(lambda: len(loss) > held + 5, timeout=10_000)
    steps = loss.xs["step"].view
    assert list(steps) == list(range(1, len(steps) + 1))  # the step count continued
    stop.click()
    _wait_idle(qtbot, panel)
    assert panel.last_finished.status == "stopped"
    assert start.isEnabled() and panel.settings.widget().isEnabled()
    run = list_runs(panel.session.runs_dir)[0]
    assert run.status == "stopped" and run.checkpoint("last") is not None
    assert len(run.metrics().steps) == panel.last_finished.steps  # every batch is in the metrics file
    assert "stopped" in panel.stats_label.text().lower()
    qtbot.waitUntil(lambda: panel.eval_job is None and panel.evaluation.result is not None, timeout=30_000)
    result = panel.evaluation.result
    assert sum(map(sum, result.confusion)) == len(panel.session.data.val)


def test_a_full_run_evaluation_and_run_list(qtbot, panel):
    panel.session.actions["train"].trigger()  # the toolbar's Train
    _wait_idle(qtbot, panel)
    finished = panel.last_finished
    assert finished.status == "completed" and finished.epochs_completed == 3
    assert len(panel.curves.accuracy.series["val_accuracy"]) == 3
    assert panel.runs.model.rowCount() == 1
    qtbot.waitUntil(lambda: panel.evaluation.result is not None and panel.eval_job is None, timeout=30_000)
    view = panel.evaluation
    t, p = next((t, p) for t in range(10) for p in range(10) if t != p and view.result.confusion[t][p])
    view.show_cell(t, p)
    assert view.gallery.count() == view.result.confusion[t][p]
    assert not view.gallery.item(0).icon().isNull()  # the sample is drawn
    view.show_cell(3, 3)
    assert view.gallery.count() == view.result.confusion[3][3]
    assert view.table.rowCount() == 10
    # a second run, then overlay the first on it
    panel.start()
    _wait_idle(qtbot, panel)
    qtbot.waitUntil(lambda: panel.eval_job is None, timeout=30_000)
    runs = panel.runs.runs()
    assert len(runs) == 2
    panel.runs.set_overlay(runs[1].path, True)
    qtbot.waitUntil(
        lambda: bool(getattr(panel.curves, "overlay_layer", None) and panel.curves.overlay_layer.overlays)
    )
    (overlay,) = panel.curves.overlay_layer.overlays
    assert list(overlay.curves.step) == runs[1].metrics().steps  # every step of the other run
    # select, rename, delete
    panel.runs.select(runs[1].path)
    assert panel.session.selected_run == runs[1].path
    panel.runs.rename_selected("baseline")
    assert any(r.name == "baseline" for r in panel.runs.runs())
    changed = []
    panel.session.sig_runs_changed.connect(lambda: changed.append(1))
    panel.runs.select(runs[1].path)
    panel.runs.delete_selected(confirm=False)
    assert len(panel.runs.runs()) == 1 and changed


def test_resume_from_a_run_continues_its_curve(qtbot, panel):
    panel.start()
    _wait_idle(qtbot, panel)
    qtbot.waitUntil(lambda: panel.eval_job is None, timeout=30_000)
    first = panel.last_finished
    panel.session.project.training.epochs = 4
    panel.start(resume_from=first.run_dir)
    _wait_idle(qtbot, panel)
    qtbot.waitUntil(lambda: panel.eval_job is None, timeout=30_000)
    assert panel.started.first_step == first.steps + 1
    steps = panel.curves.loss.series["loss"].xs["step"].view
    assert list(steps) == list(range(1, panel.last_finished.steps + 1))


def test_a_failure_leaves_the_gui_alive_with_details(qtbot, panel):
    panel.session.project.training.lr = 5.0
    panel.session.project.training.optimizer = "sgd"
    panel.session.project.model.layers = [
        layer for layer in panel.session.project.model.layers if layer.type != "ReLU"
    ]
    panel.start()
    _wait_idle(qtbot, panel)
    assert panel.last_finished.status == "failed"
    assert panel.error_box.isVisible() and "lower the learning rate" in panel.error_box.message.text()
    assert list_runs(panel.session.runs_dir)[0].status == "failed"
    assert panel.start_button.isEnabled()


def test_a_bug_in_the_trainer_shows_the_traceback(qtbot, panel):
    panel.session.project.training.epochs = -3  # slips past the form: the trainer process refuses it
    panel.start()
    _wait_idle(qtbot, panel)
    assert panel.error_box.isVisible() and "ValidationError" in panel.error_box.message.text()
    assert "Traceback" in panel.error_box.details.toPlainText()
    assert panel.state == "idle"


def test_bad_device_is_a_message_not_a_traceback(qtbot, panel):
    panel.session.set_device("cuda:7")
    panel.start()
    _wait_idle(qtbot, panel)
    assert "cuda:7" in panel.error_box.message.text()
    assert not panel.error_box.toggle.isVisible()


def test_settings_form_edits_the_project(qtbot, panel):
    form = panel.settings
    form.w["epochs"].setValue(7)
    form.w["optimizer"].setCurrentIndex(form.w["optimizer"].findData("sgd"))
    assert panel.session.project.training.epochs == 7 and panel.session.project.training.optimizer == "sgd"
    assert panel.session.dirty
    assert form.w["momentum"].isEnabled()
    config = panel.session.project.training.model_copy(update={"batch_size": 128})
    panel.session.update_training(config)
    assert form.w["batch_size"].value() == 128


@pytest.mark.slow
def test_closing_while_training_asks_then_stops_within_2s(qtbot, panel, monkeypatch):
    import time

    panel.session.project.training.epochs = 500
    panel.start()
    qtbot.waitUntil(lambda: len(panel.curves.loss.series["loss"]) > 3, timeout=30_000)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.No)
    assert panel.confirm_close() is False
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    assert panel.confirm_close() is True
    t = time.perf_counter()
    panel.shutdown()
    panel.session.jobs.shutdown()
    assert time.perf_counter() - t < 2.0
    run = list_runs(panel.session.runs_dir)[0]
    assert run.status == "stopped" and run.checkpoint("last") is not None


def test_smoothing_never_rewrites_stored_points(qtbot):
    plot = LivePlot("t")
    qtbot.addWidget(plot)
    plot.add_series("loss", "loss", "k")
    plot.add_series("smooth", "smoothed", "b", smooth_of="loss")
    values = np.random.default_rng(0).random(500)
    for i, v in enumerate(values):
        plot.append("loss", i + 1, i / 100, i * 0.1, float(v))
    incremental = plot.series["smooth"].y.view.copy()
    assert np.allclose(incremental, debiased_ema(values, 0.6))
    assert incremental[0] == pytest.approx(values[0])  # debiased: no pull toward zero
    plot.set_smoothing(0.95)
    assert np.array_equal(plot.series["loss"].y.view, values)
    assert np.allclose(plot.series["smooth"].y.view, debiased_ema(values, 0.95))
    plot.append("loss", 501, 5.0, 50.0, 0.5)  # continues from the recomputed state
    assert np.allclose(plot.series["smooth"].y.view, debiased_ema(np.append(values, 0.5), 0.95))


def test_plot_export_and_readout(qtbot, tmp_path):
    plot = LivePlot("t")
    qtbot.addWidget(plot)
    plot.add_series("loss", "loss", "k")
    for i in range(10):
        plot.append("loss", i + 1, i / 10, float(i), 1.0 / (i + 1))
    plot.refresh()
    assert plot.export_csv(tmp_path / "loss.csv") == 10
    lines = (tmp_path / "loss.csv").read_text().splitlines()
    assert lines[0] == "series,step,epoch,time,value" and lines[3].startswith("loss,3,")
    plot.export_png(tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert "loss: 0.25" in plot.readout_at(4.2)
    plot.set_x_mode("time")
    assert "time (s) 2" in plot.readout_at(2.0)
    curve = plot.series["loss"].curve  # few points: drawn as they are (the plot decimates past 2 per pixel)
    assert list(curve.yData) == [1.0 / (i + 1) for i in range(10)]


@pytest.mark.screenshots
def test_screenshots(qtbot, panel, tmp_path):
    """A run in progress (with real CPU/RAM snapshots in the system plot), the evaluation view, the run list.
    Not part of `make test`: `make screenshots` runs it with WORKBENCH_SCREENSHOTS=docs/screenshots, which
    writes docs/screenshots/training*.png (a tmp folder otherwise)."""
    import os
    from pathlib import Path

    from PySide6.QtCore import QTimer

    from workbench.core.hardware.sampler import HardwareSampler

    out = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    sampler = HardwareSampler()
    sampler.sample()
    publish = QTimer()
    publish.timeout.connect(lambda: panel.session.publish_hardware(sampler.sample()))
    publish.start(100)
    panel.resize(740, 520)
    panel.session.project.training.epochs = 300  # still running when the picture is taken
    panel.start()
    qtbot.waitUntil(lambda: panel.epoch_bar.value() >= 6 or not panel.running, timeout=60_000)

    def every_plot_drawn():  # the small plots take turns every other frame: wait until each has a curve
        return all(
            any(s.curve.yData is not None and len(s.curve.yData) > 1 for s in plot.series.values())
            for plot in panel.curves.all_plots
        )

    qtbot.waitUntil(every_plot_drawn, timeout=30_000)
    assert panel.running
    panel.grab().save(str(out / "training.png"))
    publish.stop()
    panel.stop()
    assert len(panel.curves.system.series.get("CPU", [])) > 0
    _wait_idle(qtbot, panel)
    qtbot.waitUntil(lambda: panel.evaluation.result is not None and panel.eval_job is None, timeout=30_000)
    panel.tabs.setCurrentWidget(panel.evaluation)
    view = panel.evaluation
    wrong = view.result.misclassified()
    if wrong:
        i = wrong[0]
        view.show_cell(view.result.y_true[i], view.result.y_pred[i])
    qtbot.wait(100)
    panel.grab().save(str(out / "training_evaluation.png"))
    panel.tabs.setCurrentWidget(panel.runs)
    qtbot.wait(50)
    panel.grab().save(str(out / "training_runs.png"))
    assert (out / "training.png").stat().st_size > 5000


def test_preview_module_imports():
    import importlib

    assert importlib.import_module("workbench.ui.panels.training.__main__")


@pytest.fixture(autouse=True)
def _copy_guard(tmp_path):
    yield
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)


def test_script_button_writes_a_standalone_script(qtbot, tmp_path):
    from workbench.core.paths import sample_project
    from workbench.ui.panels.training import TrainingPanel
    from workbench.ui.session import ProjectSession

    session = ProjectSession()
    panel = TrainingPanel(session)
    qtbot.addWidget(panel)
    session.open(sample_project())
    written = panel.export_script(str(tmp_path / "train.py"))
    text = written.read_text()
    assert "import torch" in text
    assert "import workbench" not in text and "from workbench" not in text
    compile(text, "train.py", "exec")
    panel.shutdown()


@pytest.mark.slow
def test_the_trainer_process_killed_mid_run_leaves_the_window_alive_and_the_run_resumable(qtbot, panel):
    import os
    import signal

    panel.session.project.training.epochs = 200
    panel.start()
    qtbot.waitUntil(lambda: len(panel.curves.epoch_loss.series["train_loss"]) >= 1, timeout=60_000)
    last = panel.run_path / "checkpoints" / "last.safetensors"  # written in the background after the epoch
    qtbot.waitUntil(last.is_file, timeout=30_000)
    host = panel.session.jobs.host
    killed = host.pid
    os.kill(killed, signal.SIGKILL)
    _wait_idle(qtbot, panel)
    message = panel.error_box.message.text()
    assert (
        panel.error_box.isVisible()
        and "trainer process ended with signal 9" in message
        and "at step" in message
    )
    assert panel.start_button.isEnabled() and panel.state == "idle"
    run = list_runs(panel.session.runs_dir)[0]
    assert run.status == "interrupted" and run.checkpoint("last") is not None
    qtbot.waitUntil(lambda: host.pid not in (None, killed), timeout=10_000)  # a fresh trainer process
    from workbench.core.training.checkpoints import load_checkpoint

    panel.session.project.training.epochs = load_checkpoint(run.checkpoint("last")).meta["epoch"] + 2
    panel.tabs.setCurrentWidget(panel.runs)
    panel.runs.select(run.path)
    panel.runs.buttons["resume"].click()
    _wait_idle(qtbot, panel)
    assert panel.started is not None, panel.error_box.message.text()  # resumed, not refused
    assert panel.started.first_step > 1 and panel.last_finished.status == "completed"
    qtbot.waitUntil(lambda: panel.eval_job is None, timeout=30_000)


CLOSE_WHILE_STUCK = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from workbench.app import finish
from workbench.ui.jobs import ThreadJob
from workbench.ui.main_window import MainWindow

from workbench.core.jobs import JobDef, register_job
# closed as a job that writes files is ("writes"): asked to exit, killed when it does not
register_job("sleep", JobDef("trainer_test_jobs:sleep_job", writes=sys.argv[1:] == ["writes"]))
app = QApplication([])
window = MainWindow()
window.show()
jobs = window.session.jobs
jobs.start(ThreadJob("stuck", lambda: (time.sleep(5) or i for i in range(3))))   # ignores stop requests
jobs.start(jobs.job("sleep", "sleep", seconds=5, steps=3))                        # so does this one
closed = []

def close():
    print("trainer", jobs.host.pid, flush=True)
    closed.append(time.monotonic())
    window.close()

QTimer.singleShot(3000, close)
code = app.exec()
print(f"closed in {time.monotonic() - closed[0]:.2f} s", flush=True)
sys.exit(finish(code))
"""


@pytest.mark.slow
@pytest.mark.parametrize("job_writes", [False, True])
def test_closing_while_jobs_are_stuck_in_a_5s_step_exits_0_within_3s(tmp_path, job_writes):
    import os
    import re
    import subprocess
    import sys
    import time

    import psutil

    script = tmp_path / "close_while_stuck.py"
    script.write_text(CLOSE_WHILE_STUCK)
    result = subprocess.run(
        [sys.executable, str(script), *(["writes"] if job_writes else [])],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert result.returncode == 0, result.stderr
    assert "Destroyed while thread" not in result.stderr
    closed_in = float(re.search(r"closed in ([\d.]+) s", result.stdout).group(1))
    assert closed_in < 3.0
    trainer = int(re.search(r"trainer (\d+)", result.stdout).group(1))
    time.sleep(0.5)
    assert not psutil.pid_exists(trainer) or psutil.Process(trainer).status() == psutil.STATUS_ZOMBIE


GUI_ONLY = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from workbench.app import finish
from workbench.core.paths import sample_project
from workbench.ui.main_window import MainWindow

app = QApplication([])
window = MainWindow()
window.show()
window.open_project(str(sample_project()), confirmed=True)
window.session.project.training.epochs = 2
panel = window.panels["trainingDock"]

def wait(condition, seconds):
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    assert condition()

wait(lambda: window.session.data is not None, 60)
panel.start_button.click()
wait(lambda: panel.running, 10)
wait(lambda: not panel.running and panel.eval_job is None and panel.evaluation.result is not None, 120)
heavy = sorted(m for m in ("torch", "torchvision", "onnx", "onnxruntime", "scipy", "sklearn")
               if m in sys.modules)
print("status", panel.last_finished.status, "heavy", ",".join(heavy) or "none", flush=True)
window.close()
sys.exit(finish(0))
"""


@pytest.mark.slow
def test_the_gui_process_never_imports_torch_while_a_project_loads_trains_and_evaluates(tmp_path):
    """torch (and scipy, sklearn, onnx) load in the trainer process only: their imports stalled the GUI thread
    for up to a second."""
    import os
    import subprocess
    import sys

    script = tmp_path / "gui_only.py"
    script.write_text(GUI_ONLY)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WORKBENCH_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "status completed heavy none" in result.stdout, result.stdout + result.stderr[-2000:]


def test_the_failure_banner_goes_once_the_model_is_edited(qtbot, panel):
    panel.session.set_device("cuda:7")  # a run that fails: no such device
    panel.start()
    _wait_idle(qtbot, panel)
    assert panel.error_box.isVisible()
    spec = panel.session.project.model
    panel.session.update_model(spec.model_copy(update={"layers": spec.layers[:-1]}))
    assert not panel.error_box.isVisible()
