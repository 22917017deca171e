"""The one place that builds the QApplication. The window is shown first; right after, the trainer process
starts (workbench.ui.jobs) and imports torch there, so the first Train click does not wait for it and the GUI
process never stalls on torch's import."""

from __future__ import annotations

import os
import sys
import time


def _trace(event: str) -> None:
    """`WORKBENCH_STARTUP_TRACE=1` prints start-up milestones as wall-clock times (bench/startup.py)."""
    if os.environ.get("WORKBENCH_STARTUP_TRACE"):
        print(f"startup {event} {time.time():.4f}", flush=True)


def main(project: str | None = None) -> int:
    from workbench.ui.display import display_problem

    if project and not os.path.isfile(project):
        sys.stderr.write(f"error: project file not found: {project}\n")
        return 2
    problem = display_problem()
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        return 2

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.core.paths import sample_project
    from workbench.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Workbench")
    from PySide6.QtGui import QIcon

    from workbench.core.paths import APP_ICON

    app.setWindowIcon(QIcon(str(APP_ICON)))
    app.setOrganizationName("Workbench")
    _load_plugins()
    window = MainWindow(defer_panels=True)
    window.install_exception_hook()  # a failing slot: a dialog and the error log, the app goes on
    path = project or window.last_project() or str(sample_project())
    window.show()
    _trace("window_shown")
    app.processEvents()  # paint the frame before the panels (pyqtgraph, ...) are built
    window.build_panels()
    _trace("panels_built")
    window.open_project(path, confirmed=True)  # a bad file shows a dialog and leaves a new project open
    from workbench.ui.project_guard import InterruptHandler, can_ask

    interrupts = InterruptHandler(window.on_interrupt, window)  # Ctrl-C: Quit, never a traceback from a slot
    app.aboutToQuit.connect(interrupts.uninstall)
    if can_ask():  # untitled projects with runs from earlier sessions (nobody to ask offscreen)
        QTimer.singleShot(0, window.offer_untitled_recovery)
    window.session.jobs.host.sig_process_started.connect(lambda _pid: _trace("trainer_ready"))
    QTimer.singleShot(0, lambda: _trace("event_loop"))
    if os.environ.get("WORKBENCH_EXIT_AFTER"):  # for benchmarks and smoke tests
        QTimer.singleShot(int(float(os.environ["WORKBENCH_EXIT_AFTER"]) * 1000), window.close)
    return finish(app.exec())


def finish(code: int) -> int:
    """After the event loop: a job thread stuck in a step (kept alive by JobRunner.shutdown) would make Qt
    abort with "QThread: Destroyed while thread is still running" when Python frees it; leave at once."""
    from workbench.ui.jobs import abandoned_threads_running

    if abandoned_threads_running():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _load_plugins() -> None:
    """Built-in and enabled plugins, before the window so the palette, sources and plugin docks are complete.
    Plugins import torch lazily (docs/plugins.md), so this costs milliseconds; a failing plugin is recorded
    (Help > Plugins, the log) and never stops start-up."""
    import logging

    from workbench.plugins.manager import load_plugins

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("workbench.plugins").setLevel(logging.INFO)  # with tracebacks of failing plugins
    load_plugins()
    _trace("plugins_loaded")
