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
        self._quick = threading.Event()  # stop(final_evaluation=False)

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

    def stop(self, final_evaluation: bool = True) -> None:
        """Stop after the current batch (a checkpoint is saved). Also releases a pause. `final_evaluation=False`
        (a signal, the window closing): the run ends right after its checkpoint and summary, with no evaluation
        of the test split (which can take as long as an epoch)."""
        if not final_evaluation:
            self._quick.set()
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
    def final_evaluation_skipped(self) -> bool:
        """A stop that must be quick: no evaluation of the test split after the last checkpoint."""
        return self._quick.is_set()

    @property
    def stop_after_epoch_requested(self) -> bool:
        return self._stop_after_epoch.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True once running again (or stopping)."""
        return self._running.wait(timeout)
