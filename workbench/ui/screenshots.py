"""Render the main window and each panel to PNG so GUI changes can be looked at.

    python -m workbench.ui.screenshots docs/screenshots [--size 1600x1000] [--train SECONDS]

Works offscreen (QT_QPA_PLATFORM=offscreen) and in a real window (under Xvfb: `xvfb-run -a -s
"-screen 0 1600x1000x24" python -m workbench.ui.screenshots docs/screenshots`), where it also grabs the screen.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _wait(app, seconds: float, until=None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--size", default="1600x1000")
    parser.add_argument("--train", type=float, default=0.0, help="train the sample this many seconds first")
    parser.add_argument("--project", default=None)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    from PySide6.QtWidgets import QApplication

    from workbench.core.paths import sample_project
    from workbench.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.settings.clear()
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    window.reset_layout()
    window.open_project(args.project or sample_project(), confirmed=True)
    jobs = window.session.jobs
    _wait(
        app,
        60,
        until=lambda: (
            window.session.data is not None
            and jobs.host.process is not None
            and jobs.host.process.ready
            and jobs.current("prepare") is None
        ),
    )
    _wait(app, 2)
    if args.train > 0:
        window.session.project.training.epochs = 300  # still running when the shots are taken
        window.session.actions["train"].trigger()
        _wait(app, args.train)
    args.outdir.mkdir(parents=True, exist_ok=True)
    suffix = "" if (width, height) == (1600, 1000) else f"-{width}x{height}"
    window.grab().save(str(args.outdir / f"main-window{suffix}.png"))
    if QApplication.platformName() == "xcb":
        app.primaryScreen().grabWindow(0).save(str(args.outdir / f"screen{suffix}.png"))
    for name, dock in window.docks.items():
        dock.show()
        dock.raise_()
        _wait(app, 0.3)
        dock.widget().grab().save(str(args.outdir / f"{name.removesuffix('Dock')}-docked{suffix}.png"))
    if args.train > 0:
        window.session.actions["stop"].trigger()
        _wait(app, 3)
    window.session._set_dirty(False)
    window.close()
    window.shutdown()
    print(f"wrote screenshots to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
