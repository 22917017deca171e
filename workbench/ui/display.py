"""Say clearly when there is no display (or Qt's xcb libraries are missing) instead of Qt's abort."""

from __future__ import annotations

import ctypes.util
import os
import sys

XCB_PACKAGES = (
    "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-image0 "
    "libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1"
)
# The libraries Qt's xcb plugin loads that a minimal Linux machine lacks.
XCB_LIBS = (
    "xcb-cursor",
    "xcb-icccm",
    "xcb-keysyms",
    "xkbcommon-x11",
    "xcb-image",
    "xcb-render-util",
    "xcb-shape",
    "xcb-xinerama",
    "xcb-randr",
    "xcb-xfixes",
    "xcb-xkb",
)


def display_problem() -> str | None:
    """None when a window can open; otherwise what is wrong and how to fix it."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None  # offscreen, wayland, vnc, ...: the user chose
    if os.environ.get("WAYLAND_DISPLAY") and not platform:
        return None
    if not os.environ.get("DISPLAY"):
        return (
            "no display found (DISPLAY is not set). Run Workbench on a desktop, under a virtual display "
            "(`xvfb-run -a workbench`), or headless from the command line (`workbench train PROJECT`, "
            "see `workbench --help`)"
        )
    missing = [lib for lib in XCB_LIBS if ctypes.util.find_library(lib) is None]
    if missing:
        return (
            f"Qt's xcb libraries are missing ({', '.join('lib' + m for m in missing)}). Install them: "
            f"sudo apt-get install -y {XCB_PACKAGES}"
        )
    return None
