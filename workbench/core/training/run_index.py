"""A fast list of a project's runs: `RunIndex(runs_root).rows()` (the Runs tab, `workbench runs list`).

    from workbench.core.training.run_index import RunIndex, run_row
    from workbench.core.training.run_table import (RunRow, differing_settings, config_diff, sort_rows,
                                                   sort_keys, row_matches, set_tags, set_notes)

    rows = RunIndex(project_runs_folder).rows()   # list[RunRow], oldest first (run ids sort by time)
    run_row(run_folder)                           # one RunRow read from its folder, without the index

The index is a SQLite file, `runs/.index.sqlite`, holding each run's row (RunRow.to_dict()) under its id, with
a freshness stamp: (mtime_ns, size) of the run's config.json, summary.json, metrics.jsonl and meta.json. On
`rows()` each run folder is stat'ed; a run whose stamp matches is read from the index, any other is read from its
folder (run_table.read_row) and stored again; ids no longer on disk are dropped. It is never the only copy of
anything: delete it and it is rebuilt from the run folders. A corrupt file, or one of another SCHEMA_VERSION, is
rebuilt whole. A read-only runs folder keeps its index in the user cache folder instead (or in memory). Several
processes (the GUI and the CLI) may use it at once: SQLite's WAL journal and a busy timeout; a write that still
cannot get the lock is skipped (the rows are returned; the next call stores them).

Status is decided at read time for a run without summary.json: 'running' while the process in its .lock lives,
else 'resumed' when another run continued it (meta.json `resumed_by`), else 'interrupted' (or 'damaged' when it
has no metrics.jsonl either).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from pathlib import Path

from workbench.core.training.run_table import META_FILE, UNFINISHED, RunRow, read_row

SCHEMA_VERSION = 3  # bump when a row is computed differently: every index is then rebuilt
INDEX_FILE = ".index.sqlite"
STAMPED = ("config.json", "summary.json", "metrics.jsonl", META_FILE)
BUSY_TIMEOUT_S = 5.0


def _stamp(run_path: str | os.PathLike) -> str:
    parts = []
    base = os.fspath(run_path)
    for name in STAMPED:
        try:
            st = os.stat(os.path.join(base, name))
            parts.append(f"{st.st_mtime_ns}:{st.st_size}")
        except FileNotFoundError:
            parts.append("-")
        except OSError as exc:
            parts.append(f"!{exc.errno}")
    return "|".join(parts)


def _resolve(row: RunRow, stamp: str, clean: bool = True) -> RunRow:
    """A run without summary: running while its writer lives, interrupted when it left metrics behind (then,
    with `clean`, the temp files a killed checkpoint write left there are removed once stale)."""
    if row.status != UNFINISHED:
        return row
    from dataclasses import replace

    from workbench.core.training.runs import writer_alive

    if writer_alive(row.path):
        return replace(row, status="running")
    if clean:
        from workbench.core.training.checkpoints import clean_stale_temp_files

        clean_stale_temp_files(row.path)  # a killed checkpoint write's temp files, untouched for a minute
    if row.resumed_by:
        return replace(row, status="resumed")
    if stamp.split("|")[2] == "-":
        return replace(
            row, status="damaged", damage="metrics.jsonl is missing and no process is writing the run"
        )
    return replace(row, status="interrupted")


def run_row(run_path: str | os.PathLike) -> RunRow:
    """One run's row read from its folder (no index); status resolved like RunIndex.rows()."""
    path = Path(run_path)
    return _resolve(read_row(path), _stamp(path))


def _cache_dir() -> Path:
    home = os.environ.get("WORKBENCH_HOME")
    if home:
        return Path(home) / "cache" / "run-index"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "workbench" / "run-index"


def _run_names(root: Path) -> list[str]:
    """The names of the folders under the runs root (hidden ones left out), sorted: run ids sort by time."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    out = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir():
                out.append(entry.name)
    return sorted(out)


class RunIndex:
    """The runs under `runs_root` as RunRows, kept fresh by stamps (see the module docstring)."""

    def __init__(self, runs_root: str | os.PathLike):
        self.root = Path(runs_root)
        self.db_path: Path | None = self.root / INDEX_FILE  # None: in memory only
        self._known: dict[str, tuple[str, RunRow]] = {}  # id -> (stamp, row) as this instance last saw them
        self.rebuilt = 0  # rows read from their folders by the last rows() call (tests, benchmarks)

    # ------------------------------------------------------------ public

    def rows(self) -> list[RunRow]:
        """Every run folder under the root, oldest first; never raises for a bad run folder or index. Keep one
        RunIndex per runs folder: a row whose stamp did not change since its last call is not even parsed."""
        root = os.fspath(self.root)
        names = _run_names(self.root)
        stamps = {name: _stamp(os.path.join(root, name)) for name in names}
        known = self._known
        gone = {name for name in known if name not in stamps}
        for name in gone:
            del known[name]
        need = [name for name in names if name not in known or known[name][0] != stamps[name]]
        fresh: dict[str, tuple[str, str]] = {}
        if need:
            cached = self._load()
            gone |= {name for name in cached if name not in stamps}
            for name in need:
                path, stamp, hit = Path(root, name), stamps[name], cached.get(name)
                row = None
                if hit is not None and hit[0] == stamp:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        row = RunRow.from_dict(json.loads(hit[1]), path)
                if row is None:
                    row = read_row(path)
                    fresh[name] = (stamp, json.dumps(row.to_dict(), default=str))
                known[name] = (stamp, row)
        self.rebuilt = len(fresh)
        if fresh or gone:
            self._store(fresh, gone)
        read = set(need)  # the temp-file clean-up runs when a run is read, not on every call
        return [_resolve(known[name][1], stamps[name], clean=name in read) for name in names]

    def clear(self) -> None:
        """Forget the index (the next rows() reads every run folder)."""
        self._known.clear()
        if self.db_path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{self.db_path}{suffix}")

    # ------------------------------------------------------------ storage

    def _connect(self) -> sqlite3.Connection:
        assert self.db_path is not None
        con = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                con.execute("BEGIN IMMEDIATE")
                con.execute("DROP TABLE IF EXISTS runs")
                con.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, stamp TEXT NOT NULL, row TEXT NOT NULL)")
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                con.execute("COMMIT")
            with contextlib.suppress(sqlite3.DatabaseError):
                con.execute("PRAGMA journal_mode=WAL")
        except BaseException:
            con.close()
            raise
        return con

    def _with_db(self, action):
        """Run `action(con)` on the index; a corrupt file is rebuilt once; an unwritable place moves the index
        to the user cache folder, then to memory. Returns None when only memory is left."""
        for _attempt in range(3):
            if self.db_path is None:
                return None
            try:
                con = self._connect()
                try:
                    return action(con)
                finally:
                    con.close()
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if "locked" in text or "busy" in text:
                    return None  # another process holds it past the timeout: skip this time
                self._move_away()
            except sqlite3.DatabaseError:  # not a database, malformed: rebuild from the run folders
                self.clear()
        return None

    def _move_away(self) -> None:
        """The runs folder cannot hold the index (read-only): use the user cache folder, else memory."""
        cache = _cache_dir()
        if self.db_path is not None and self.db_path.parent != cache:
            digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:20]
            try:
                cache.mkdir(parents=True, exist_ok=True)
                self.db_path = cache / f"{digest}.sqlite"
                return
            except OSError:
                pass
        self.db_path = None

    def _load(self) -> dict[str, tuple[str, str]]:
        def read(con: sqlite3.Connection) -> dict[str, tuple[str, str]]:
            return {rid: (stamp, row) for rid, stamp, row in con.execute("SELECT id, stamp, row FROM runs")}

        found = self._with_db(read)
        return {} if found is None else found

    def _store(self, fresh: dict[str, tuple[str, str]], gone: set[str]) -> None:

        def write(con: sqlite3.Connection) -> bool:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(
                    "INSERT OR REPLACE INTO runs (id, stamp, row) VALUES (?, ?, ?)",
                    [(rid, stamp, row) for rid, (stamp, row) in fresh.items()],
                )
                con.executemany("DELETE FROM runs WHERE id = ?", [(rid,) for rid in gone])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return True

        self._with_db(write)
