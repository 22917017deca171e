"""The trainer process's restart policy, as a user meets it: a torch that cannot be imported is tried at most
MAX_STARTS times, the status bar then says why (the child's own last stderr line) and offers Retry; Start fails at
once with the same line; Retry after the fix gives a working trainer process. The window stays up throughout."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPushButton

from workbench.ui import jobs
from workbench.ui.main_window import MainWindow

BROKEN_TORCH = 'raise RuntimeError("this torch is broken on purpose (test)")\n'


@pytest.mark.slow
def test_a_broken_torch_is_tried_3_times_then_the_window_says_why_and_retry_works(
    qtbot, tmp_path, monkeypatch
):
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(BROKEN_TORCH)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # first on the trainer process's path
    monkeypatch.setattr(jobs, "PROCESSES", jobs.ProcessSupply())  # fresh processes, not the tests' warm one
    monkeypatch.setattr(jobs, "RESTART_BACKOFF_S", (0.0, 0.1, 0.2))
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    host, label = window.session.jobs.host, window.trainer_problem_label
    qtbot.waitUntil(label.isVisible, timeout=90_000)
    assert host.starts == jobs.MAX_STARTS == 3
    assert "torch could not be imported: RuntimeError: this torch is broken on purpose" in label.text()
    assert "Retry" in label.text() and "broken on purpose" in label.toolTip()
    qtbot.wait(1500)
    assert host.starts == 3 and host.pid is None  # given up: no process respawned behind the user's back

    panel = window.panels["trainingDock"]
    panel.findChild(QPushButton, "startTrainingButton").click()
    qtbot.waitUntil(lambda: not panel.running, timeout=5000)
    assert "torch could not be imported" in panel.error_box.message.text() and window.isVisible()

    monkeypatch.delenv("PYTHONPATH")  # the user fixed the install
    label.linkActivated.emit("retry")
    assert not label.isVisible()
    qtbot.waitUntil(lambda: host.ready, timeout=120_000)
    assert host.starts == 4 and host.failure is None
    window.session._set_dirty(False)
    window.shutdown()
