"""TrainingControl: how a user steers a running loop from another thread. The loop checks it between
batches; nothing here interrupts a batch half way."""

from __future__ import annotations

import threading


class TrainingControl:
    def __init__(self) -> None:
        self._running = threading.Event()  # set = not paused
        self._running.set()
        self._stop = threading.Event()
        self._stop_after_epoch = threading.Event()

    # -- requests (any thread)
    # ------------------------------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def toggle_pause(self) -> bool:
        """Pause when running, resume when paused; returns True when now paused."""
        if self.paused:
            self.resume()
        else:
            self.pause()
        return self.paused

    def stop(self) -> None:
        """Stop after the current batch (a checkpoint is saved). Also releases a pause."""
        self._stop.set()
        self._running.set()

    def stop_after_epoch(self, enabled: bool = True) -> None:
        if enabled:
            self._stop_after_epoch.set()
        else:
            self._stop_after_epoch.clear()

    # -- state (the loop)
    # -----------------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def stop_after_epoch_requested(self) -> bool:
        return self._stop_after_epoch.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True once running again (or stopping)."""
        return self._running.wait(timeout)
