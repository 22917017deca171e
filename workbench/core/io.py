"""Atomic file writes: a temp file beside the target, fsync, then rename. A crash never leaves half a file."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from workbench.core.errors import UserError


def _umask_mode() -> int:
    """0o666 less the process umask: the mode open() gives a new file (mkstemp's temp files are 0600)."""
    try:  # read without changing it: os.umask() sets it process-wide, a race with other threads' files
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


MAX_JSON_BYTES = 64 << 20  # a project, spec or run file larger than this is not one of ours
MAX_JSON_DEPTH = 100  # nesting of arrays / objects in such a file
MAX_JSON_ITEMS = 1_000_000  # values in it


def check_regular_file(path: str | os.PathLike, what: str = "file") -> os.stat_result:
    """Stat `path` (through links) and refuse anything that is not a regular file: a FIFO, a device or a socket
    would block or never end when read. Every failure is a one-line UserError naming the file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except PermissionError:
        raise UserError(f"cannot read {what} {path}: permission denied; check its permissions") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(
            f"{what} {path} is not a regular file (it is a {_file_type(st.st_mode)}); give a regular file"
        )
    return st


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "FIFO / named pipe"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def open_regular_file(path: str | os.PathLike, what: str = "file", max_bytes: int | None = None) -> BinaryIO:
    """Open a regular file for reading in binary mode. Opened with O_NONBLOCK and checked again with fstat, so a
    FIFO put in its place after the check cannot block; `max_bytes` refuses a larger file, naming the limit."""
    st = check_regular_file(path, what)
    if max_bytes is not None and st.st_size > max_bytes:
        raise UserError(f"{what} {path} is {st.st_size:,} bytes, more than the limit of {max_bytes:,} bytes")

    def opener(name, flags):
        return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))

    try:
        fh = open(path, "rb", opener=opener)  # noqa: SIM115 - the caller closes it
    except PermissionError:
        raise UserError(f"cannot read {what} {path}: permission denied; check its permissions") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise UserError(f"{what} {path} is not a regular file; give a regular file")
    return fh


def read_regular_bytes(path: str | os.PathLike, what: str = "file", max_bytes: int | None = None) -> bytes:
    """All bytes of a regular file (see `open_regular_file`); read errors are one-line UserErrors."""
    with open_regular_file(path, what, max_bytes) as fh:
        try:
            data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        except OSError as exc:
            raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if max_bytes is not None and len(data) > max_bytes:  # it grew after the check
        raise UserError(f"{what} {path} is larger than the limit of {max_bytes:,} bytes")
    return data


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a == b


def resolve_path(path: Path, what: str = "path") -> Path:
    """`path.resolve()`, with a symlink loop, a name too long or a folder that cannot be searched as one
    UserError (pathlib raises RuntimeError or OSError for those)."""
    try:
        return path.resolve()
    except RuntimeError:  # Python < 3.13: "Symlink loop from ..."
        raise UserError(
            f"cannot use the {what} {path}: it is a symbolic link that loops back on itself"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot use the {what} {path}: {describe_os_error(exc)}") from None


def describe_os_error(exc: OSError) -> str:
    """An OSError as a reason a user can act on (no errno numbers, no repeated path)."""
    reasons = {
        errno.ELOOP: "it is a symbolic link that loops back on itself (or too many links deep)",
        errno.ENAMETOOLONG: "the name is too long for the file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "the disk is full",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EISDIR: "it is a folder",
        errno.ENOENT: "it does not exist",
    }
    return reasons.get(exc.errno or 0) or exc.strerror or str(exc) or type(exc).__name__


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, a folder that cannot be searched: nothing there we could overwrite
        return False


def refuse_output_over_inputs(
    outputs: Iterable[str | os.PathLike | None], inputs: Iterable[str | os.PathLike | None]
) -> None:
    """A command must never write over what it reads. Refuses (one-line UserError) an output that is, or
    resolves through links (or a hard link) to, one of `inputs`, that lies inside a run's checkpoints folder,
    or that is the same file as another output of the command. `None` entries are ignored."""
    outs = [Path(o).expanduser() for o in outputs if o is not None]
    ins = [Path(i).expanduser() for i in inputs if i is not None]
    resolved_ins = [(i, resolve_path(i, "input")) for i in ins]
    seen: list[tuple[Path, Path]] = []
    for out in outs:
        real = resolve_path(out, "output")
        run = _run_of_checkpoints(real)
        if run is not None:
            raise UserError(
                f"refusing to write {out}: it is inside the checkpoints folder of run {run}, which "
                "only training writes; choose another output path"
            )
        for given, target in resolved_ins:
            if real == target or (_exists(real) and _same_file(real, target)):
                raise UserError(
                    f"refusing to write {out}: it is {given}, an input of this command, which would "
                    "be overwritten; choose another output path"
                )
        for other, other_real in seen:
            if real == other_real or (_exists(real) and _same_file(real, other_real)):
                raise UserError(
                    f"refusing to write {out}: it is also the output {other} of this command; "
                    "give each output its own path"
                )
        seen.append((out, real))


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
    with _renamed_onto(tmp, path), os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
        yield fh
        fh.flush()
        _follow_umask(fh.fileno())
        os.fsync(fh.fileno())


@contextlib.contextmanager
def _renamed_onto(tmp: str, path: Path) -> Iterator[None]:
    """When the block succeeds, `tmp` replaces `path` in one rename; on any error `tmp` is removed and `path` is
    never touched (an OSError becomes a UserError that says what to do)."""
    try:
        yield
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(
                f"cannot write {path}: {exc.strerror or exc}; free some disk space or choose another folder"
            ) from exc
        raise


WRITE_ERRNOS = (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM, errno.EIO)


def os_error_in(exc: BaseException | None) -> OSError | None:
    """The OSError of a failed write (a full disk, a read-only folder...) anywhere in an exception's chain:
    libraries wrap it in their own errors."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def nearly_full(folder: str | os.PathLike, margin: int = 1 << 20) -> bool:
    """Less than `margin` bytes free on the disk holding `folder`: a library that failed there most likely ran out
    of space, whatever it said (some write a truncated file without an error and fail reading it back)."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    with atomic_open(path, "wb", encoding=None) as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_replace_with(path: str | os.PathLike, write) -> None:
    """For libraries that write to a filename themselves: `write(tmp_path)`, fsync, then rename onto `path`.
    A full disk or an unwritable folder is a UserError; the previous `path` is never touched on failure."""
    atomic_replace_all([(path, write)])


def atomic_replace_all(files) -> None:
    """Several files as one unit, `[(path, write), ...]`: every `write(tmp_path)` is done and fsynced first, and
    only then are the temp files renamed onto their paths, back to back. On any error every temp file is removed
    and no path is touched; only a crash in the microseconds between two renames leaves a mix."""
    with contextlib.ExitStack() as renames:  # (they run when every file is written, the last one first)
        for path, write in files:
            path = Path(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                os.close(fd)
            except OSError as exc:
                raise UserError(
                    f"cannot write {path}: {exc.strerror or exc}; choose a writable folder"
                ) from exc
            renames.enter_context(_renamed_onto(tmp, path))
            write(tmp)
            _follow_umask(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)  # the data is on disk before the rename makes it visible
            finally:
                os.close(fd)


def _run_of_checkpoints(path: Path) -> Path | None:
    """The run folder when `path` lies in (or is) a run's `checkpoints/` folder (one with config.json beside)."""
    for folder in (path, *path.parents):
        if folder.name == "checkpoints" and (folder.parent / "config.json").is_file():
            return folder.parent
    return None


def run_inputs(path: str | os.PathLike | None) -> list[Path]:
    """What a command reading a run (or a checkpoint in one) must never write over: the run's own files and
    the project files beside its `runs/` folder. Empty for a checkpoint outside any run."""
    if path is None:
        return []
    path = Path(path).expanduser().resolve()
    run = _run_of_checkpoints(path) or (path if (path / "config.json").is_file() else None)
    if run is None:
        return []
    found = [p for p in run.iterdir() if p.is_file()]
    if run.parent.name == "runs":
        found += sorted(run.parent.parent.glob("*.wbproj"))
    return found


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Read a JSON file, turning every way it can fail into a UserError that names the file."""
    path = Path(path)
    data = read_regular_bytes(path, what, MAX_JSON_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {path} is not a text (UTF-8 JSON) file") from exc
    if not text.strip():
        raise UserError(f"{what} {path} is empty")
    return parse_json_text(text, f"{what} {path}")


def parse_json_text(text: str, source: str) -> Any:
    """json.loads with limits: nesting deeper than MAX_JSON_DEPTH, more than MAX_JSON_ITEMS values or an integer
    too long to convert are a UserError naming `source`, never a RecursionError or a ValueError."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except RecursionError:
        raise UserError(f"{source} is nested too deeply (limit {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise UserError(
            f"{source} holds a value that cannot be read: {str(exc).split(';')[0][:120]}"
        ) from None
    check_json_limits(doc, source)
    return doc


def check_json_limits(doc: Any, source: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH or holding more than MAX_JSON_ITEMS values (iterative)."""
    stack = [(doc, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_JSON_ITEMS:
            raise UserError(f"{source} holds more than {MAX_JSON_ITEMS:,} values (the limit)")
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise UserError(
                    f"{source} is nested too deeply (more than {MAX_JSON_DEPTH} levels, the limit)"
                )
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))


def load_torch_weights(path: str | os.PathLike):
    """A user's .pt/.pth read with `torch.load(weights_only=True)`: tensors and plain containers only, never
    an object that runs code when unpickled. A refused file is a one-line UserError naming what it holds."""
    import torch

    path = Path(path)
    with open_regular_file(path, "weights file") as fh:
        magic = fh.read(4)
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):  # torch.save: a zip, or a legacy pickle
        raise UserError(
            f"{path} is not a PyTorch weights file (neither a torch.save zip nor a pickle); give a "
            ".safetensors file or a state_dict saved with torch.save"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise UserError(f"weights file not found: {path}") from exc
    except Exception as exc:
        import re

        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
        found = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", text, re.IGNORECASE)
        if found:
            why = (
                f"it holds a pickled Python object ({found.group(1)}), which the safe loader refuses (loading "
                "such objects would run code)"
            )
        elif "weights only load failed" in text.lower() or "weights_only" in text:
            # torch's own message tells how to load it unsafely, over many lines; a cut of it reads as
            # advice to do so. Our own sentence instead:
            why = "it holds pickled Python objects besides tensors (loading them would run code)"
        else:
            why = _one_sentence(text) or type(exc).__name__
        raise UserError(
            f"{path} cannot be loaded as plain weights: {why}; only tensors are accepted (save a "
            "state_dict, or use safetensors)"
        ) from exc


def _one_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of a library's message, whole (never cut mid-word without saying so)."""
    first = (text.strip().splitlines() or [""])[0].strip()
    end = first.find(". ")
    first = first[: end + 1] if 0 <= end < limit else first
    return first if len(first) <= limit else first[: first.rfind(" ", 0, limit - 1)] + " (...)"


def check_state_dict(state: Any, source: str | os.PathLike) -> dict[str, Any]:
    """`state` if it is a state dict (names -> tensors), else one UserError naming the first entry that is
    not a tensor (a list, a nested dict, a number) and how to save a proper one."""
    import torch

    if not isinstance(state, dict):
        raise UserError(
            f"{source} holds a {type(state).__name__}, not a state dict of tensors; save model.state_dict()"
        )
    for key, value in state.items():
        if not isinstance(key, str):
            raise UserError(
                f"{source}: the key {key!r} is not text; a state dict's keys are tensor names "
                "(save model.state_dict())"
            )
        if not isinstance(value, torch.Tensor):
            name = type(value).__name__
            kind = (
                "None"
                if value is None
                else "a nested dict"
                if isinstance(value, dict)
                else f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"
            )
            raise UserError(
                f"{source}: '{key}' is {kind}, not a tensor; a state dict maps names to tensors only "
                "(save model.state_dict(), not a checkpoint holding other things)"
            )
    return state
