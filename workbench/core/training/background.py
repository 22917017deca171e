"""BackgroundWriter: one `wb-checkpoint` thread that writes checkpoints in order while training goes on.
The trainer copies the tensors first (so later steps cannot change what is written) and calls `close()`
before it reports the run finished: the files are complete on disk by then."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class BackgroundWriter:
    def __init__(self, name: str = "wb-checkpoint"):
        self.name = name
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, write: Callable[[], object]) -> None:
        self.raise_error()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        self._queue.put(write)

    def _run(self) -> None:
        while True:
            write = self._queue.get()
            if write is None:
                return
            if self._error is None:
                try:
                    write()
                except BaseException as exc:  # noqa: BLE001 - reported by raise_error() / close()
                    self._error = exc

    def raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Wait until everything submitted is on disk; re-raise a write's error."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self.raise_error()
