"""The window shows before torch loads: no module on the GUI's start-up path imports a heavy package at module
level. import-linter cannot tell a module-level import from one inside a function, so this walks the ASTs:
from the start-up modules, it follows every import executed at import time (module and class bodies, not
functions, not `if TYPE_CHECKING:`) through workbench, and fails on a heavy package reached that way."""

from __future__ import annotations

import ast
from pathlib import Path

import workbench

HEAVY = ("torch", "torchvision", "onnx", "onnxruntime", "onnxscript", "pynvml")
PACKAGE_ROOT = Path(workbench.__file__).parent
START = ["workbench.cli", "workbench.app", "workbench.ui.main_window", "workbench.ui.session"] + sorted(
    "workbench." + ".".join(p.relative_to(PACKAGE_ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (PACKAGE_ROOT / "ui" / "panels").rglob("*.py")
    if p.name not in ("__main__.py", "screenshot.py")
)


def _file(module: str) -> Path | None:
    base = PACKAGE_ROOT.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _import_time_nodes(body):
    """Statements run when the module is imported: skips function bodies and `if TYPE_CHECKING:` blocks."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _import_time_nodes(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _import_time_nodes(getattr(node, field, []) or [])


def _imports(module: str) -> list[str]:
    path = _file(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in _import_time_nodes(tree.body):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
            continue
        base = node.module or ""
        if node.level:
            parent = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(parent + ([base] if base else []))
        names.append(base)
        names += [f"{base}.{alias.name}" for alias in node.names if _file(f"{base}.{alias.name}")]
    return names


def heavy_imports_at_start_up(start: list[str]) -> dict[str, str]:
    """{heavy package: the chain of modules that imports it at import time} reached from `start`."""
    seen: dict[str, str] = {}
    found: dict[str, str] = {}
    todo = [(m, m) for m in start]
    while todo:
        module, chain = todo.pop()
        if module in seen:
            continue
        seen[module] = chain
        for name in _imports(module):
            top = name.split(".")[0]
            if top in HEAVY:
                found.setdefault(top, f"{chain} -> {name}")
            elif top == "workbench":
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ too
                    if _file(".".join(parts[:i])):
                        todo.append((".".join(parts[:i]), f"{chain} -> {'.'.join(parts[:i])}"))
    return found


def test_start_up_path_is_found():
    assert len(START) > 10 and all(_file(m) for m in START)


def test_no_heavy_import_on_the_gui_start_up_path():
    assert heavy_imports_at_start_up(START) == {}


def test_the_check_sees_a_heavy_import(tmp_path, monkeypatch):
    """The walk itself: a module-level torch import is caught through a chain, a lazy one is not."""
    pkg = tmp_path / "workbench"
    (pkg / "ui").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "ui" / "__init__.py").write_text("")
    (pkg / "ui" / "a.py").write_text("from . import b\n\ndef f():\n    import onnx\n")
    (pkg / "ui" / "b.py").write_text("try:\n    import torch.nn as nn\nexcept ImportError:\n    pass\n")
    monkeypatch.setitem(globals(), "PACKAGE_ROOT", pkg)
    found = heavy_imports_at_start_up(["workbench.ui.a"])
    assert found == {"torch": "workbench.ui.a -> workbench.ui.b -> torch.nn"}
