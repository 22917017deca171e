"""What a plugin may not do to the process that loads it: end it, move its working folder, or write on the
output a script reads.

- `os._exit(...)` while a plugin imports or registers raises `PluginExited` instead (a BaseException, so a
  plugin's own `except Exception` does not swallow it); the manager disables the plugin with one message.
- A plugin that changes the working folder while loading is caught: the folder is changed back (relative paths
  on the command line keep working) and the plugin is disabled with one message.
- Plugin code marks itself with `plugin_code()`; `running_plugin_code()` tells the CLI's stdout router
  (workbench/cli_process.py) to send what it prints to stderr, so `--json` output stays one clean document.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()
_exit_lock = threading.Lock()
_real_exit = os._exit


class PluginExited(BaseException):
    """A plugin called os._exit (while loading, or from its code during a CLI command)."""

    def __init__(self, code: object, when: str = "while loading"):
        self.code = code
        super().__init__(f"it called os._exit({code!r}) {when}, which would end Workbench with no output")


class PluginMovedFolder(Exception):
    """A plugin changed the working folder while it was loading."""


@contextmanager
def plugin_code() -> Iterator[None]:
    """While plugin code runs on this thread, what it prints goes to stderr (see the CLI's stdout router)."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def running_plugin_code() -> bool:
    return getattr(_local, "depth", 0) > 0


_loading = 0  # how many confined_load blocks are open
EXIT_THREAD = "wb-exit"  # the CLI's thread that runs the atexit handlers (cli_process.exit_process)


def refuse_exit(code: object = 0) -> None:
    """os._exit while a plugin loads: raises PluginExited instead. Kept by a plugin (`from os import _exit`,
    `atexit.register(os._exit, 7)`) and called later, it does what os._exit does at that moment."""
    if _loading:
        raise PluginExited(code)
    if os._exit is refuse_exit:  # cannot happen outside loading; never recurse
        _real_exit(code)  # type: ignore[arg-type]
    os._exit(code)  # type: ignore[arg-type]


PLUGIN_MODULE_PREFIXES: set[str] = {"workbench_plugins."}  # folder plugins; the manager adds entry points


def _is_plugin_module(name: str) -> bool:
    return any(name == p.rstrip(".") or name.startswith(p) for p in PLUGIN_MODULE_PREFIXES)


def exit_unless_plugin(code: object = 0) -> None:
    """os._exit during a CLI command: a call made directly from plugin code does not end the process (in a
    plugin's thread that thread ends, with one warning line; in the command's thread it is the plugin's error);
    any other caller (a forked worker ending, Workbench itself) exits as usual."""
    caller = str(sys._getframe(1).f_globals.get("__name__", ""))
    if not _is_plugin_module(caller):
        _real_exit(code)  # type: ignore[arg-type]
    if threading.current_thread() is threading.main_thread():
        raise PluginExited(code, "while the command ran")
    sys.stderr.write(
        f"warning: {caller} (a plugin) called os._exit({code!r}) in the thread "
        f"'{threading.current_thread().name}'; that thread is ended, the command goes on\n"
    )
    raise SystemExit(code)  # ends this thread quietly


def refuse_exit_at_the_end(code: object = 0) -> None:
    """os._exit while the CLI ends (its exit code is decided): whoever calls it, the calling thread ends with
    one warning line and the process exits with the command's code."""
    sys.stderr.write(
        f"warning: os._exit({code!r}) called in the thread '{threading.current_thread().name}' while the "
        "command was ending (an atexit handler or a thread of a plugin, most likely); ignored\n"
    )
    if threading.current_thread().name != EXIT_THREAD:  # an atexit handler just returns; a thread ends
        raise SystemExit(code)


def guard_exits() -> None:
    """For the rest of a CLI command, os._exit called from plugin code does not end the process."""
    with _exit_lock:
        os._exit = exit_unless_plugin


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # the folder was deleted
        return None


@contextmanager
def confined_load() -> Iterator[None]:
    """Around one plugin's import and register(): os._exit raises PluginExited, and a changed working folder
    is changed back and reported as PluginMovedFolder (after the plugin's own error, if it raised one)."""
    cwd = _cwd()
    global _loading
    with _exit_lock:
        before, os._exit = os._exit, refuse_exit
        _loading += 1
    try:
        with plugin_code():
            yield
    finally:
        with _exit_lock:
            _loading -= 1
            os._exit = before
        moved_to = _cwd()
        if cwd is not None and moved_to != cwd:
            os.chdir(cwd)
    if cwd is not None and moved_to != cwd:
        raise PluginMovedFolder(
            f"it changed the working folder to {moved_to} while loading (changed back to {cwd}); "
            "a plugin must not call os.chdir"
        )


def real_exit(code: int) -> None:
    """os._exit as it was before any plugin loaded (the CLI's bounded exit)."""
    _real_exit(code)
