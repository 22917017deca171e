"""GeneratorWorker: a QThread that drives a Qt-free core generator and hands its events to the GUI in
throttled batches.

Measured traps this avoids:
- a cross-thread signal connected to a lambda or plain function runs in the *worker* thread; here nothing is
  emitted per event: the worker only appends to a deque, and the GUI thread takes it in and emits
  `sig_events(list)`, either from a QTimer (~25 times a second) or in *frames* (`frame_budget`: the generator
  waits while the GUI takes in the events and paints; a live training view);
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
FRAME_MIN_S = 0.04          # frames: at most 25 a second,
FRAME_GAP_S = 1.0           # at least one a second, however costly,
FRAME_CREDIT_S = 0.01       # and running ahead of their budget by at most this much (a costly first frame)
FRAME_WAIT_S = 0.25         # the longest a generator waits for the GUI to give it a frame
STALLED_S = 0.25            # no new event for this long (the generator is blocked, e.g. paused, or slow): the
                            # events it sent are delivered without a frame


class GeneratorWorker(QThread):
    """`frame_budget=None`: the GUI drains the events DRAIN_MS apart. `frame_budget` set: frames (see _frame)."""

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
        self._frame_due = 0.0               # perf_counter time from which the worker stops for a frame
        self._frame_over = threading.Event()
        self._last_event = 0.0
        self._credit, self._credit_at = FRAME_CREDIT_S, time.perf_counter()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms if frame_budget is None else int(STALLED_S * 1000))
        self._timer.timeout.connect(self._drain if frame_budget is None else self._drain_if_stalled)
        self._sig_waiting.connect(self._frame)
        self.finished.connect(self._on_thread_finished)

    # -- worker thread --------------------------------------------------------------------------------------------
    def run(self) -> None:  # noqa: D401 - QThread API
        # (the thread is named by objectName; renaming Python's dummy Thread object would outlive the QThread)
        generator = None
        frames = self._budget is not None
        clock = time.perf_counter
        try:
            generator = self._make()
            append = self._buffer.append
            for event in generator:
                append(event)
                if self._abort.is_set():
                    break
                if frames:
                    now = self._last_event = clock()
                    if now >= self._frame_due:
                        self._frame_due = float("inf")      # until the GUI sets the next one
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

    def _frame(self) -> None:
        """A frame: the generator waits at an event boundary while the GUI takes in the events and paints, so
        the two never contend for the GIL (contended, a 1 ms repaint took 10-30 ms and slowed training as much).
        The worker decides when a frame is due, so no GUI timer wakes up (and takes the GIL) between frames.
        Frames spend a credit that grows by `frame_budget` of the wall time, capped at FRAME_CREDIT_S: they
        cost the generator at most that share of its time; at most one per FRAME_MIN_S, at least one per
        FRAME_GAP_S."""
        start = time.perf_counter()
        try:
            self._drain()
        finally:
            self._frame_over.set()
        end = time.perf_counter()
        cost = end - start
        self.frames += 1
        self.frame_seconds += cost
        self._credit = min(FRAME_CREDIT_S, self._credit + (start - self._credit_at) * self._budget) - cost
        self._credit_at = start
        wait = max(0.0, -self._credit) / self._budget
        self._frame_due = start + min(FRAME_GAP_S, max(FRAME_MIN_S, end - start + wait))

    def _drain_if_stalled(self) -> None:
        """The generator sent events and then nothing for STALLED_S (blocked while paused, or a long step):
        deliver them without waiting for its next event."""
        if self._buffer and time.perf_counter() - self._last_event > STALLED_S:
            self._drain()

    def _on_thread_finished(self) -> None:
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
