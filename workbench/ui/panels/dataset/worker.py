"""DataLoadThread: runs `workbench.core.data.load_dataset` off the GUI thread (a thin QThread adapter).

Results come back as signals tagged with the job's generation, so a late answer from a superseded job is
recognised and dropped. `cancel()` makes the core job raise `Cancelled` at its next check.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread, Signal

from workbench.core.data.settings import DatasetSettings
from workbench.core.errors import Cancelled, UserError

PREVIEW_ROWS = 300


class DataLoadThread(QThread):
    sig_progress = Signal(int, int, str)         # done, total (0 = unknown), message
    sig_loaded = Signal(int, object, object)     # generation, DataBundle, CSV preview table (or None)
    sig_failed = Signal(int, str)                # generation, message for the user
    sig_cancelled = Signal(int)

    def __init__(self, settings: DatasetSettings, generation: int, parent=None):
        super().__init__(parent)
        self.setObjectName("wb-data-load")      # Qt names the OS thread after it
        self.settings = settings
        self.generation = generation
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        from workbench.core.data import load_dataset

        try:
            bundle = load_dataset(self.settings, progress=self.sig_progress.emit, cancel=self._cancel.is_set)
            table = self._preview_table(bundle)
        except Cancelled:
            self.sig_cancelled.emit(self.generation)
            return
        except UserError as exc:
            self.sig_failed.emit(self.generation, str(exc))
            return
        except MemoryError:
            self.sig_failed.emit(self.generation, "not enough memory to load this data set; resize the images "
                                 "smaller or set in_memory to no (stream from disk)")
            return
        except Exception as exc:  # noqa: BLE001 - a bug, but the GUI must show it, not die
            self.sig_failed.emit(self.generation, f"unexpected error while loading ({type(exc).__name__}: {exc}); "
                                 "please report it")
            return
        self.sig_loaded.emit(self.generation, bundle, table)

    def _preview_table(self, bundle):
        """The first rows of a CSV as the user wrote them, for the table view."""
        if self.settings.kind != "csv":
            return None
        from workbench.core.data.csvfile import read_csv

        opts = self.settings.options
        try:
            return read_csv(self.settings.source, opts.get("encoding", "auto"), opts.get("delimiter", "auto"),
                            bool(opts.get("header", True)), max_rows=PREVIEW_ROWS)
        except UserError:
            return None
