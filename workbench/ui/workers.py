"""GeneratorWorker: a QThread that drives a Qt-free core generator and hands its events to the GUI in
throttled batches.

Measured traps this avoids:
- a cross-thread signal connected to a lambda or plain function runs in the *worker* thread; here nothing is
  emitted per event: the worker only appends to a deque, and a QTimer owned by this object (GUI thread) drains
  it ~25 times a second and emits `sig_events(list)` from the GUI thread;
- redrawing on every batch cut training throughput 6x: consumers get one list per tick, however fast the
  generator runs, and every event is in it (nothing dropped).
Events must be plain numbers (the core's frozen dataclasses), never live tensors.
"""

from __future__ import annotations

import collections
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QThread, QTimer, Signal

DRAIN_MS = 40   # 25 Hz
FRAME_CREDIT_S = 0.03       # frames may run ahead of their budget by this much (a costly first frame)
FRAME_GAP_S = 1.0           # and come at least once a second, however costly
FRAME_WAIT_S = 0.25         # the longest a generator waits for a frame the GUI asked for
STALLED_S = 0.1             # a frame asked for this long ago and not given (the generator is busy or blocked):
                            # the events so far are delivered without it


class GeneratorWorker(QThread):
    sig_events = Signal(list)           # a batch of events, in order (GUI thread)
    sig_done = Signal(object)           # None when the generator ended, else (exception, traceback text)
    _sig_waiting = Signal()             # worker thread -> GUI thread (queued): the generator waits for a frame

    def __init__(self, make_generator: Callable[[], Iterator[Any]], name: str = "wb-worker",
                 on_stop: Callable[[], None] | None = None, interval_ms: int = DRAIN_MS,
                 frame_budget: float | None = None, parent=None):
        super().__init__(parent)
        if not name.startswith("wb-"):
            raise ValueError("Workbench threads are named wb-<job>")
        self.setObjectName(name)
        self._make = make_generator
        self._on_stop = on_stop
        self._buffer: collections.deque = collections.deque()
        self._abort = threading.Event()
        self._error: tuple[BaseException, str] | None = None
        self._done_sent = False
        self.events_seen = 0
        self.frames = 0
        self.frame_seconds = 0.0
        self._budget = frame_budget
        self._interval = interval_ms / 1000
        self._want_frame = threading.Event()
        self._frame_over = threading.Event()
        self._asked_at = 0.0
        self._last_frame = 0.0
        self._credit, self._credit_at = FRAME_CREDIT_S, time.perf_counter()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain if frame_budget is None else self._ask_frame)
        self._sig_waiting.connect(self._frame)
        self.finished.connect(self._on_thread_finished)

    # -- worker thread --------------------------------------------------------------------------------------------
    def run(self) -> None:  # noqa: D401 - QThread API
        # (the thread is named by objectName; renaming Python's dummy Thread object would outlive the QThread)
        generator = None
        try:
            generator = self._make()
            append = self._buffer.append
            want_frame = self._want_frame
            for event in generator:
                append(event)
                if self._abort.is_set():
                    break
                if want_frame.is_set():
                    want_frame.clear()
                    self._frame_over.clear()
                    self._sig_waiting.emit()
                    self._frame_over.wait(FRAME_WAIT_S)
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost
            self._error = (exc, traceback.format_exc())
        finally:
            if generator is not None and hasattr(generator, "close"):
                try:
                    generator.close()
                except Exception as exc:  # noqa: BLE001
                    self._error = self._error or (exc, traceback.format_exc())

    # -- GUI thread -------------------------------------------------------------------------------------------------
    def start(self, *args) -> None:  # noqa: D401
        self._timer.start()
        super().start(*args)

    def drain(self) -> list:
        items = []
        pop = self._buffer.popleft
        while True:
            try:
                items.append(pop())
            except IndexError:
                return items

    def _drain(self) -> None:
        items = self.drain()
        if items:
            self.events_seen += len(items)
            self.sig_events.emit(items)

    def _ask_frame(self) -> None:
        """Frames (frame_budget set): the generator waits at its next event while the GUI takes in the events
        and paints, so the two never contend for the GIL (contended, a 1 ms paint took 10-30 ms and slowed
        training as much). At most one frame an interval; frames spend a credit that grows by `frame_budget`
        of the wall time (capped at FRAME_CREDIT_S), so they cost at most that share of the time; and at
        least one a second."""
        now = time.perf_counter()
        self._credit = min(FRAME_CREDIT_S, self._credit + (now - self._credit_at) * self._budget)
        self._credit_at = now
        if self._want_frame.is_set():
            if now - self._asked_at > STALLED_S and self._buffer:
                self._drain()           # the generator is blocked (paused) or busy: deliver what it sent
            return
        since = now - self._last_frame
        if since >= FRAME_GAP_S or (since >= self._interval and self._credit > 0):
            self._asked_at = now
            self._want_frame.set()

    def _frame(self) -> None:
        start = time.perf_counter()
        try:
            self._drain()
        finally:
            self._frame_over.set()
        cost = time.perf_counter() - start
        self.frames += 1
        self.frame_seconds += cost
        self._credit -= cost
        self._last_frame = start

    def _on_thread_finished(self) -> None:
        self._want_frame.clear()
        self._timer.stop()
        self._drain()
        if not self._done_sent:
            self._done_sent = True
            self.sig_done.emit(self._error)

    def request_stop(self) -> None:
        """Ask the job to end cleanly (e.g. the trainer finishes the batch and saves a checkpoint)."""
        if self._on_stop is not None:
            self._on_stop()

    def abort(self) -> None:
        """Stop consuming after the next event and close the generator (its clean-up still runs)."""
        self.request_stop()
        self._abort.set()
        self._frame_over.set()

    def stop_and_wait(self, timeout_ms: int = 2000) -> bool:
        """For shutdown: stop, wait, and deliver what is left. True when the thread has ended."""
        self.abort()
        ended = self.wait(timeout_ms)
        if ended:
            self._on_thread_finished()
        return ended
