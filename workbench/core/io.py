"""Atomic file writes: a temp file beside the target, fsync, then rename. A crash never leaves half a file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from workbench.core.errors import UserError


def _umask_mode() -> int:
    """0o666 less the process umask: the mode open() gives a new file (mkstemp's temp files are 0600)."""
    try:    # read without changing it: os.umask() sets it process-wide, a race with other threads' files
        with open("/proc/self/status", encoding="ascii") as fh:
            mask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def _follow_umask(fd_or_path) -> None:
    """Give the temp file the permissions a plainly created file would have (a shared runs folder stays
    readable by the group when the umask says so)."""
    with contextlib.suppress(OSError):
        if isinstance(fd_or_path, int):
            os.fchmod(fd_or_path, _umask_mode())
        else:
            os.chmod(fd_or_path, _umask_mode())


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside `path`; on success it replaces `path` in one rename, on error it is removed."""
    path = Path(path)
    binary = "b" in mode
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from exc
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()
            _follow_umask(fh.fileno())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {path}: {exc.strerror or exc}; free some disk space or choose "
                            "another folder") from exc
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb", encoding=None) as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_replace_with(path: str | os.PathLike, write) -> None:
    """For libraries that write to a filename themselves: `write(tmp_path)`, fsync, then rename onto `path`.
    A full disk or an unwritable folder is a UserError; the previous `path` is never touched on failure."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from exc
    try:
        write(tmp)
        _follow_umask(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)            # the data is on disk before the rename makes it visible
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {path}: {exc.strerror or exc}; free some disk space or choose "
                            "another folder") from exc
        raise


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Read a JSON file, turning every way it can fail into a UserError that names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError(f"{what} not found: {path}") from exc
    except IsADirectoryError as exc:
        raise UserError(f"{what} {path} is a folder, not a file") from exc
    except PermissionError as exc:
        raise UserError(f"cannot read {what} {path}: permission denied") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {path} is not a text (UTF-8 JSON) file") from exc
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if not text.strip():
        raise UserError(f"{what} {path} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc


def load_torch_weights(path: str | os.PathLike):
    """A user's .pt/.pth read with `torch.load(weights_only=True)`: tensors and plain containers only, never
    an object that runs code when unpickled. A refused file is a one-line UserError naming what it holds."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise UserError(f"weights file not found: {path}") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError ...
        import re

        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            why = f"it holds a pickled Python object ({found.group(1)}) that would run code when loaded"
        else:
            why = (text.strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(f"{path} cannot be loaded as plain weights: {why}; only tensors are accepted (save a "
                        "state_dict, or use safetensors)") from exc
