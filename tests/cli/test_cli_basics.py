"""The CLI front: version, one-line errors with exit 2, and the no-display message."""

import os
import subprocess
import sys

import pytest

from workbench import __version__
from workbench.cli import main


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"workbench {__version__}"


@pytest.mark.parametrize("args", [["data", "--no-such-flag"], ["monitor", "--interval", "abc"], ["train"]])
def test_bad_usage_is_one_error_line_exit_2(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_gui_without_display_says_how_to_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-m", "workbench"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 2
    assert (
        "no display" in result.stderr and "xvfb-run" in result.stderr and "workbench train" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_gui_with_missing_project_file(tmp_path):
    result = run_cli(str(tmp_path / "nope.wbproj"), env={"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: project file not found")
