"""The CLI process's two promises, whatever plugins do: stdout carries only the command's own output, and the
process ends with the command's exit code soon after the command returns.

`isolate_stdout()` (when the CLI is the process): file descriptor 1 is pointed at stderr, so anything written
to it below Python (a C library, a subprocess, `os.write(1, ...)`) lands on stderr, and the real stdout is kept
on a private descriptor. `sys.stdout` becomes a `StdoutRouter`: the command's writes (the main thread, outside
plugin code) go to the real stdout; writes from any other thread or from plugin code go to stderr.

`exit_process(code)`: flush, give lingering non-daemon threads and the atexit handlers (logging's flush,
temporary files, a plugin's slow handler) `EXIT_GRACE_S` seconds between them, then `os._exit(code)`: a plugin's
thread or handler can delay the exit by that much at most and never changes the exit code.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import sys
import threading
import time
from typing import Any, TextIO

CONFINE = (
    "workbench.plugins.confine"  # looked up, not imported: a command that loads no plugin never pays for it
)
EXIT_GRACE_S = 1.5  # what lingering threads and atexit handlers get, together, after the command returned


class StdoutRouter(io.TextIOBase):
    """sys.stdout during a CLI command: the command's output to `result`, everything else to `other`."""

    def __init__(self, result: TextIO, other: TextIO):
        self.result = result
        self.other = other
        self._main = threading.main_thread()

    def target(self) -> TextIO:
        confine = sys.modules.get(CONFINE)
        in_plugin = confine is not None and confine.running_plugin_code()
        if threading.current_thread() is self._main and not in_plugin:
            return self.result
        return self.other

    def write(self, text: str) -> int:  # type: ignore[override]
        return self.target().write(text)

    def writelines(self, lines) -> None:  # type: ignore[override]
        self.target().writelines(lines)

    def flush(self) -> None:
        for stream in (self.result, self.other):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
                stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.result.isatty()

    def fileno(self) -> int:
        return self.result.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.result, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:  # buffer, errors, line_buffering, ...
        return getattr(self.result, name)


def isolate_stdout(at_fd_level: bool) -> tuple[TextIO, StdoutRouter]:
    """Install the router; with `at_fd_level` (the CLI is the whole process) also move descriptor 1 to stderr.
    Returns (the previous sys.stdout, the router) so that an in-process caller can restore it."""
    if sys.stderr is None:  # started with stderr closed: errors have nowhere to go, but must not crash
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    previous = sys.stdout
    result: TextIO = previous
    if at_fd_level:
        try:
            sys.stdout.flush()
            real_fd = os.dup(1)
        except (OSError, AttributeError, ValueError):  # no usable stdout (closed): route at Python level only
            real_fd = -1
        if real_fd >= 0:
            result = open(  # noqa: SIM115 - lives as long as the process
                real_fd,
                "w",
                buffering=1 if getattr(previous, "line_buffering", False) else -1,
                encoding=getattr(previous, "encoding", None) or "utf-8",
                errors=getattr(previous, "errors", None) or "strict",
            )
            try:
                os.dup2(2, 1)
            except OSError:  # no stderr to point at: keep descriptor 1, route at Python level only
                result.close()
                result = previous
    if result is None:  # started with stdout closed: the output has nowhere to go
        result = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    router = StdoutRouter(result, sys.stderr)
    sys.stdout = router
    return previous, router


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
            stream.flush()


def _shut_down(threads_until: float, lingering: list[str]) -> None:
    """Python's own shutdown, each wait bounded: threading's exit hooks (an executor wakes its workers), the
    non-daemon threads, then the atexit handlers."""
    for hook in list(getattr(threading, "_threading_atexits", [])):
        with contextlib.suppress(Exception):  # one handler's bug does not stop the others
            hook()
    me = threading.current_thread()
    for thread in threading.enumerate():
        if thread in (threading.main_thread(), me) or thread.daemon:
            continue
        thread.join(max(0.0, threads_until - time.monotonic()))
        if thread.is_alive():
            lingering.append(f"the thread '{thread.name}'")
    atexit._run_exitfuncs()


def exit_process(code: int, grace: float = EXIT_GRACE_S) -> None:
    """End the process with `code` within about `grace` seconds, whatever threads or atexit handlers do."""
    _flush()
    confine = sys.modules.get(CONFINE)
    if confine is not None:  # a plugin's atexit handler or thread cannot end the process with its own code
        os._exit = confine.refuse_exit_at_the_end
    deadline = time.monotonic() + grace
    lingering: list[str] = []
    shutdown = threading.Thread(
        target=_shut_down, args=(deadline - min(0.5, grace / 3), lingering), name="wb-exit", daemon=True
    )
    shutdown.start()
    shutdown.join(max(0.0, deadline - time.monotonic()))
    if shutdown.is_alive():
        lingering.append("an exit handler")
    if lingering:
        sys.stderr.write(
            f"note: exited without waiting for {', '.join(lingering)}, still running {grace:g} s after the "
            "command finished (a plugin's, most likely)\n"
        )
    _flush()
    (confine.real_exit if confine is not None else os._exit)(code)  # os._exit as it was before plugins
