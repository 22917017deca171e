"""Where a project's files are, and whether they are still what we think: the project file's identity on disk
(changed by another window or program since it was opened or saved?), folders that follow a move or rename
(a run keeps writing into its folder wherever it went), the untitled projects' folders waiting for recovery,
and copying or moving runs to another project folder. Qt-free: the GUI and the trainer both use it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import UserError

UNTITLED_DOCUMENT = "project.wbproj.autosave"  # an untitled project's document, inside its own folder


# -- the project file's identity
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileStamp:
    """What a file was when we read or wrote it: a later save compares before it overwrites."""

    device: int
    inode: int
    mtime_ns: int
    size: int
    sha256: str


def file_stamp(path: str | os.PathLike) -> FileStamp | None:
    """The file's stamp now, or None when it is not there (moved, deleted)."""
    try:
        st = os.stat(path)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    return FileStamp(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, digest)


def changed_on_disk(path: str | os.PathLike, stamp: FileStamp | None) -> bool:
    """True when `path` holds other content than when `stamp` was taken (a touch alone is no change)."""
    if stamp is None:
        return False
    now = file_stamp(path)
    if now is None:
        return False  # gone: `moved_or_deleted` says so
    if (now.mtime_ns, now.size) == (stamp.mtime_ns, stamp.size):
        return False
    return now.sha256 != stamp.sha256


# -- folders that follow a move
# ----------------------------------------------------------------------------------------
class FolderVanished(UserError):
    """The followed folder was deleted (or moved where it cannot be found)."""


class FollowedFolder:
    """A folder held open by a descriptor: `current()` is where it is now, after a move or rename (Linux
    /proc, macOS F_GETPATH); elsewhere, the path as given while it exists. `FolderVanished` once deleted."""

    def __init__(self, path: str | os.PathLike):
        self.original = Path(path).resolve()
        self._fd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self._fd = os.open(self.original, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))

    def current(self) -> Path:
        where = self._resolve()
        if where is None or not where.is_dir():
            raise FolderVanished(
                f"the folder {self.original} was deleted or moved out of reach; nothing more is written there"
            )
        return where

    def moved(self) -> Path | None:
        """The new path when the folder moved, None when it is still where it was (or vanished)."""
        with contextlib.suppress(FolderVanished):
            where = self.current()
            return where if where != self.original else None
        return None

    def _resolve(self) -> Path | None:
        if self._fd is None:
            return self.original if self.original.is_dir() else None
        try:
            if sys.platform == "darwin":  # pragma: no cover - not on the test machines
                import fcntl

                raw = fcntl.fcntl(self._fd, 50, b"\0" * 1024)  # F_GETPATH
                return Path(raw.split(b"\0", 1)[0].decode())
            target = os.readlink(f"/proc/self/fd/{self._fd}")
        except OSError:
            return self.original if self.original.is_dir() else None
        if target.endswith(" (deleted)"):
            return None
        return Path(target)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.close()


# -- untitled projects waiting for recovery
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class UntitledProject:
    folder: Path
    name: str
    runs: int
    modified: float  # the newest run's time (seconds since the epoch)


def untitled_projects(
    root: str | os.PathLike, exclude: str | os.PathLike | None = None
) -> list[UntitledProject]:
    """The folders under `root` (the user data folder's untitled/) that hold runs, newest first."""
    found = []
    skip = Path(exclude).resolve() if exclude else None
    for folder in sorted(Path(root).glob("*")) if Path(root).is_dir() else []:
        runs = folder / "runs"
        if not runs.is_dir() or (skip is not None and folder.resolve() == skip):
            continue
        run_folders = [p for p in runs.iterdir() if p.is_dir()]
        if not run_folders:
            continue
        modified = max(p.stat().st_mtime for p in run_folders)
        found.append(UntitledProject(folder, _untitled_name(folder), len(run_folders), modified))
    return sorted(found, key=lambda u: u.modified, reverse=True)


def _untitled_name(folder: Path) -> str:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return str(
            json.loads((folder / UNTITLED_DOCUMENT).read_text(encoding="utf-8")).get("name") or "Untitled"
        )
    return "Untitled"


def count_runs(runs_root: str | os.PathLike) -> int:
    root = Path(runs_root)
    return sum(1 for p in root.iterdir() if p.is_dir()) if root.is_dir() else 0


# -- runs to another project folder
# ------------------------------------------------------------------------------------
def transfer_runs(source: str | os.PathLike, target: str | os.PathLike, move: bool) -> list[Path]:
    """Copy (or move) every finished run folder of `source` into `target`; a name taken there gets a suffix. A
    run still being written stays (returned: moved later). Lineage references are relative to the runs folder
    (training.fork.relative_ref), so they hold in the new place."""
    from workbench.core.training.runs import list_runs

    source, target = Path(source), Path(target)
    left: list[Path] = []
    if source.resolve() == target.resolve():
        return left
    for run in list_runs(source):
        if run.summary is None and run._writer_alive():
            left.append(run.path)
            continue
        target.mkdir(parents=True, exist_ok=True)
        dest, n = target / run.id, 1
        while dest.exists():
            n += 1
            dest = target / f"{run.id}-{n}"
        try:
            if move:
                shutil.move(str(run.path), str(dest))
            else:  # into a hidden folder first, renamed into place whole: a failed copy leaves no half run
                partial = target / f".{dest.name}.copying"
                shutil.rmtree(partial, ignore_errors=True)
                try:
                    shutil.copytree(run.path, partial, ignore=shutil.ignore_patterns(".lock"))
                    os.replace(partial, dest)
                finally:
                    shutil.rmtree(partial, ignore_errors=True)
        except OSError as exc:
            raise UserError(
                f"could not {'move' if move else 'copy'} run {run.id} to {target}: {exc.strerror or exc}"
            ) from exc
    if move and not left:  # the runs index left there lists runs that moved: a cache, dropped (never a copy)
        from workbench.core.training.run_index import RunIndex

        RunIndex(source).clear()
    return left
