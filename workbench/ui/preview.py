"""Open one panel alone on the sample project: `python -m workbench.ui.panels.<name>`."""

from __future__ import annotations

import sys


def preview(panel_cls, project_path: str | None = None, size=(1100, 750)) -> int:
    from PySide6.QtWidgets import QApplication

    from workbench.core.paths import sample_project
    from workbench.ui.session import ProjectSession

    app = QApplication.instance() or QApplication(sys.argv)
    session = ProjectSession()
    panel = panel_cls(session)
    session.open(project_path or (sys.argv[1] if len(sys.argv) > 1 else sample_project()))
    panel.resize(*size)
    panel.setWindowTitle(f"Workbench: {panel_cls.__name__}")
    panel.show()
    code = app.exec()
    if hasattr(panel, "shutdown"):
        panel.shutdown()
    return code
