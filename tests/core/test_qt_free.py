"""workbench.core must stay Qt-free and light: import every core module in a fresh interpreter."""

import json
import subprocess
import sys

SCRIPT = """
import importlib, json, pkgutil, sys
import workbench.core as core
failed = {}
for m in pkgutil.walk_packages(core.__path__, "workbench.core."):
    try:
        importlib.import_module(m.name)
    except Exception as exc:
        failed[m.name] = repr(exc)
print(json.dumps({"failed": failed, "modules": sorted(sys.modules)}))
"""


def test_core_imports_no_qt():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    loaded = set(report["modules"])
    assert "workbench.core.project" in loaded  # the walk really imported core
    for qt in ("PySide6", "pyqtgraph", "shiboken6"):
        assert qt not in loaded, f"workbench.core imports {qt}"
