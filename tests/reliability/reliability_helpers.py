"""Helpers for the reliability tests: fingerprints of files on disk, the CLI run in-process, projects and runs.

`disk_state(*roots)` maps every file under the roots (hidden temp files included) to its SHA-256, so a test can
show that a failed command changed nothing and left nothing behind."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

from workbench.core.paths import SAMPLE_PROJECT

MLP = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 32},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": 10},
    ],
}


def disk_state(*roots: str | os.PathLike) -> dict[str, str]:
    """{path: sha256} of every file under each root (a file root is itself); folders as `path/` entries. The
    runs index (runs/.index.sqlite and SQLite's side files) is left out: a cache that opening a project builds
    from the run folders, never the only copy of anything (core/training/run_index.py)."""
    state: dict[str, str] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            state[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        if not root.exists():
            continue
        for dirpath, _dirnames, filenames in os.walk(root):
            state[dirpath + "/"] = "dir"
            for name in filenames:
                if name.startswith(".index.sqlite"):
                    continue
                path = Path(dirpath) / name
                if not path.is_file():  # a FIFO, a device, a dangling link: never opened (it could block)
                    state[str(path)] = "special"
                    continue
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def assert_unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    changed = sorted(p for p in before if p in after and before[p] != after[p])
    lost = sorted(p for p in before if p not in after)
    new = sorted(p for p in after if p not in before)
    assert not (changed or lost or new), f"disk changed: changed {changed}, lost {lost}, new {new}"


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """`workbench ...` in this process (any exception but UserError escapes and fails the test)."""
    from workbench.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_cli_error(argv: list[str], capsys, fragments, roots) -> str:
    """Exit 2, exactly one `error:` line on stderr (no traceback), each fragment in it, nothing on disk
    under `roots` changed, lost or added. Returns the error line."""
    before = disk_state(*roots)
    code, out, err = run_cli(argv, capsys)
    after = disk_state(*roots)
    assert code == 2, f"exit {code}, stderr: {err!r}"
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    # progress lines (export's "[ 5%] ...") may come first; the error is one line, the last one
    assert len(errors) == 1 and lines[-1] == errors[0], err
    for fragment in [fragments] if isinstance(fragments, str) else fragments:
        assert fragment.lower() in errors[0].lower(), f"{fragment!r} not in {errors[0]!r}"
    assert_unchanged(before, after)
    return errors[0]


def write_project(path: Path, **changes) -> Path:
    """The sample project (digits, small CNN) at `path`, with top-level sections updated from `changes`."""
    doc = json.loads(SAMPLE_PROJECT.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key].update(value)
        else:
            doc[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@contextlib.contextmanager
def refused_writes(folder: Path, monkeypatch, code: int = errno.EACCES):
    """Writing a new file in `folder` fails with `code` (EACCES: a read-only folder; ENOSPC: a full disk).
    The folder is also made read-only on disk; the patch makes that hold for root too, who ignores modes."""
    folder = Path(folder).resolve()
    real_open = os.open

    def guarded_open(path, flags, *args, **kwargs):
        target = Path(os.fsdecode(path)) if not isinstance(path, int) else None
        if target is not None and flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
            parent = (target if target.is_absolute() else Path.cwd() / target).parent.resolve()
            if parent == folder or folder in parent.parents:
                raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    real_mkdir = os.mkdir

    def guarded_mkdir(path, *args, **kwargs):
        target = Path(os.fsdecode(path))
        parent = (target if target.is_absolute() else Path.cwd() / target).parent.resolve()
        if parent == folder or folder in parent.parents:
            raise OSError(code, os.strerror(code), str(path))
        return real_mkdir(path, *args, **kwargs)

    mode = folder.stat().st_mode
    folder.chmod(0o555)
    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    try:
        yield folder
    finally:
        monkeypatch.setattr(os, "open", real_open)
        monkeypatch.setattr(os, "mkdir", real_mkdir)
        folder.chmod(mode)
