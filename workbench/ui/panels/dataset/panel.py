"""DatasetPanel: pick a source, load it in the background, see samples, classes, splits, transforms, skipped files.

Edits go through `session.update_dataset(...)`; every change of the project's dataset settings (from here or
elsewhere) reloads in the background, except augmentation, which only swaps `DataBundle.augment` and redraws
the preview. The loaded bundle is handed to the other panels with `session.set_data(bundle)`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.core.data.augment import augment_from_options
from workbench.core.data.settings import DatasetSettings
from workbench.core.errors import describe_validation_error
from workbench.ui.panels.dataset.histogram import ClassHistogram
from workbench.ui.panels.dataset.source_form import TRANSFORM_KEYS, SourceForm, is_image_kind
from workbench.ui.panels.dataset.split_form import AUGMENT_KEYS, SplitTransformForm
from workbench.ui.panels.dataset.thumbnails import ThumbnailGrid
from workbench.ui.panels.dataset.views import (
    SPLITS,
    details_html,
    fill_table,
    make_table,
    sample_rows,
    summary_html,
    token_frequencies,
)
from workbench.ui.panels.dataset.worker import DataLoad

EDIT_DELAY_MS = 350


def _relative(path: str, root: str | None) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def _without_augment(settings: DatasetSettings) -> DatasetSettings:
    return settings.model_copy(
        update={"options": {k: v for k, v in settings.options.items() if k not in AUGMENT_KEYS}}
    )


class DatasetPanel(QWidget):
    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setObjectName("datasetPanel")
        self.session = session
        self._augment_job = None  # the augmentation preview being computed (workbench.ui.jobs)
        self.bundle = None
        self.table = None  # CSV preview rows
        self._loaded_settings: DatasetSettings | None = None
        self._thread: DataLoad | None = None
        self._pending: DatasetSettings | None = None
        self._generation = 0
        self._shuffle = 0
        self._edit_timer = QTimer(self, singleShot=True, interval=EDIT_DELAY_MS)
        self._edit_timer.timeout.connect(self._apply_split_form)
        # Deferred calls go through child timers: they die with the panel (a bare QTimer.singleShot(0,
        # callable)
        # can fire into a panel Qt has already deleted).
        self._refresh_timer = QTimer(self, singleShot=True, interval=0)
        self._refresh_timer.timeout.connect(self._refresh_samples)
        self._pending_timer = QTimer(self, singleShot=True, interval=0)
        self._pending_timer.timeout.connect(self._start_pending)
        self._build()
        session.sig_project_loaded.connect(self._on_session_project_loaded)
        session.sig_dataset_changed.connect(self._on_session_dataset_changed)
        self._show_empty("Load a dataset to see samples")

    # -- construction
    # ---------------------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.source_form = SourceForm()
        lay.addWidget(self.source_form)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("datasetProgress")
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("datasetCancelButton")
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self.progress_row = QWidget()
        self.progress_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        self.progress_row.setVisible(False)
        lay.addWidget(self.progress_row)
        self.error = QLabel()
        self.error.setObjectName("datasetError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error.setStyleSheet("color: #b3261e; background: #fdecea; padding: 6px; border-radius: 4px;")
        self.error.setVisible(False)
        lay.addWidget(self.error)
        self.summary = QLabel()
        self.summary.setObjectName("datasetSummary")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        lay.addWidget(self.tabs, 1)
        self.tabs.addTab(self._build_overview(), "Overview")
        self.split_form = SplitTransformForm()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.split_form)
        self.tabs.addTab(scroll, "Split && transforms")
        self.details = QLabel()
        self.details.setObjectName("datasetDetails")
        self.details.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details.setMargin(8)
        details_scroll = QScrollArea()
        details_scroll.setWidgetResizable(True)
        details_scroll.setWidget(self.details)
        self.tabs.addTab(details_scroll, "Details")
        self.skipped_table = make_table("datasetSkipped")
        self.tabs.addTab(self.skipped_table, "Skipped")
        self.source_form.sig_load.connect(self._on_source_form_load)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.split_form.sig_changed.connect(self._edit_timer.start)

    def _build_overview(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(0, 4, 0, 0)
        bar = QHBoxLayout()
        self.split_combo = QComboBox()
        self.split_combo.setObjectName("datasetPreviewSplit")
        for s in SPLITS:
            self.split_combo.addItem(s, s)
        self.shuffle_button = QPushButton("Shuffle")
        self.shuffle_button.setObjectName("datasetShuffleButton")
        self.augment_check = QCheckBox("Show augmentation")
        self.augment_check.setObjectName("datasetAugmentPreview")
        self.augment_check.setToolTip("apply the training augmentation to these samples, as the trainer will")
        bar.addWidget(QLabel("Samples from"))
        bar.addWidget(self.split_combo)
        bar.addWidget(self.shuffle_button)
        bar.addWidget(self.augment_check)
        bar.addStretch(1)
        v.addLayout(bar)
        splitter = QSplitter(Qt.Vertical)
        self.samples = QStackedWidget()
        self.grid = ThumbnailGrid()
        self.rows_table = make_table("datasetRows")
        self.samples.addWidget(self.grid)
        self.samples.addWidget(self.rows_table)
        self.histogram = ClassHistogram()
        splitter.addWidget(self.samples)
        splitter.addWidget(self.histogram)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        self.histogram.setMinimumHeight(140)
        self.samples.setMinimumHeight(2 * 86)
        splitter.setSizes([600, 400])
        v.addWidget(splitter, 1)
        self.split_combo.currentIndexChanged.connect(self._refresh_samples)
        self.shuffle_button.clicked.connect(self._on_shuffle_clicked)
        self.augment_check.toggled.connect(self._refresh_samples)
        self.grid.sig_capacity_changed.connect(self._on_grid_capacity_changed)
        return page

    def _on_grid_capacity_changed(self, _capacity: int) -> None:
        if self.bundle is not None:
            self._refresh_timer.start()

    # -- session
    # --------------------------------------------------------------------------------------------------
    def _on_session_project_loaded(self) -> None:
        settings = self.session.project.dataset
        self._show_settings(settings)
        self._start_load(settings)

    def _on_session_dataset_changed(self) -> None:
        settings = self.session.project.dataset
        self._show_settings(settings)
        if (
            self.bundle is not None
            and self._loaded_settings is not None
            and self._thread is None
            and _without_augment(settings) == _without_augment(self._loaded_settings)
        ):
            self._loaded_settings = settings  # augmentation only: no reload
            self.bundle.augment = augment_from_options(settings.options)
            self.augment_check.setEnabled(self.bundle.augment is not None)
            self.augment_check.setChecked(self.bundle.augment is not None)
            self._refresh_samples()
            self.details.setText(details_html(self.bundle))
            return
        self._start_load(settings)

    def _show_settings(self, settings: DatasetSettings) -> None:
        self.source_form.set_settings(settings)
        self.split_form.set_settings(settings)
        self.split_form.set_images(is_image_kind(self.source_form.source))

    # -- edits
    # ----------------------------------------------------------------------------------------------------
    def _settings_from_forms(self) -> DatasetSettings | None:
        from pydantic import ValidationError

        src = self.source_form.values()
        options = dict(src.pop("options"))
        if is_image_kind(self.source_form.source):
            options.update(self.split_form.option_values())
        try:
            return DatasetSettings(**src, split=self.split_form.split(), options=options)
        except ValidationError as exc:
            self._show_error(describe_validation_error(exc, "dataset settings"))
            return None

    def _on_source_form_load(self) -> None:
        settings = self._settings_from_forms()
        if settings is None:
            return
        if settings.kind != "digits" and not settings.source:
            self._show_error("choose a folder or file first (Browse\u2026)")
            return
        if settings == self.session.project.dataset:
            self._start_load(settings)  # same settings: load again (files may have changed)
        else:
            self.session.update_dataset(settings)  # -> sig_dataset_changed -> reload

    def _apply_split_form(self) -> None:
        current = self.session.project.dataset
        kept = {k: v for k, v in current.options.items() if k not in TRANSFORM_KEYS}
        if is_image_kind(self.source_form.source):
            kept.update(self.split_form.option_values())
        try:
            settings = current.model_copy(update={"split": self.split_form.split(), "options": kept})
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.session.update_dataset(DatasetSettings.model_validate(settings.model_dump()))

    # -- background loading
    # ---------------------------------------------------------------------------------------
    def _start_load(self, settings: DatasetSettings) -> None:
        if self._thread is not None:  # one job at a time: cancel it, start this one after
            self._pending = settings
            self._thread.cancel()
            return
        self._generation += 1
        self._requested = settings
        thread = DataLoad(settings, self._generation, self, jobs=self.session.jobs)
        thread.sig_progress.connect(self._on_worker_progress)
        thread.sig_loaded.connect(self._on_worker_loaded)
        thread.sig_failed.connect(self._on_worker_failed)
        thread.sig_cancelled.connect(self._on_worker_cancelled)
        thread.finished.connect(self._on_worker_finished)
        self._thread = thread
        self.error.setVisible(False)
        self.progress.setRange(0, 0)
        self.progress.setFormat("Loading\u2026")
        self.progress_row.setVisible(True)
        self.source_form.load_button.setEnabled(False)
        thread.start()

    @property
    def loading(self) -> bool:
        return self._thread is not None

    def _on_worker_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)
        self.progress.setFormat(message.replace("%", "%%"))

    def _on_worker_loaded(self, generation: int, bundle, table) -> None:
        if generation != self._generation or self._pending is not None:
            return
        self.bundle, self.table = bundle, table
        self._loaded_settings = self._requested
        self.error.setVisible(False)
        self._show_bundle()
        self.session.set_data(bundle)
        self.session.sig_status.emit(
            f"Loaded {bundle.meta.kind}: {len(bundle.train) + len(bundle.val) + len(bundle.test):,} samples"
        )

    def _on_worker_failed(self, generation: int, message: str) -> None:
        if generation != self._generation or self._pending is not None:
            return
        self.bundle = self.table = None
        self._loaded_settings = None
        self._show_error(message)
        self._show_empty("Fix the data source above, then press Load")
        self.session.set_data(None)

    def _on_worker_cancelled(self, generation: int) -> None:
        if generation == self._generation and self._pending is None:
            self.session.sig_status.emit("Loading cancelled")
            if self.bundle is None:
                self._show_empty("Loading cancelled. Press Load to try again")

    def _on_worker_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        self.progress_row.setVisible(False)
        self.source_form.load_button.setEnabled(True)
        if self._pending is not None:
            self._pending_timer.start()  # never start a job from inside a completion callback

    def _start_pending(self) -> None:
        if self._pending is not None and self._thread is None:
            pending, self._pending = self._pending, None
            self._start_load(pending)

    def _on_cancel_clicked(self) -> None:
        self._pending = None
        if self._thread is not None:
            self._thread.cancel()

    def shutdown(self) -> None:
        """Stop the loading thread and wait for it (the main window calls this on close)."""
        for timer in (self._edit_timer, self._refresh_timer, self._pending_timer):
            timer.stop()
        self._pending = None
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.cancel()  # the job ends with the session's JobRunner.shutdown

    # -- views
    # ----------------------------------------------------------------------------------------------------
    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(True)

    def _show_empty(self, message: str) -> None:
        self.summary.setText("<i>No data loaded.</i>")
        self.grid.set_empty_text(message)
        self.samples.setCurrentWidget(self.grid)
        self.histogram.clear_data(message.replace("samples", "classes"))
        self.details.setText(message)
        fill_table(
            self.skipped_table,
            ["file", "reason"],
            [["Nothing loaded yet", "files or rows a source cannot use are listed here, with the reason"]],
        )
        self.tabs.setTabText(3, "Skipped")
        self.augment_check.setEnabled(False)
        self.shuffle_button.setEnabled(False)

    def _show_bundle(self) -> None:
        b = self.bundle
        self.summary.setText(summary_html(b))
        self.details.setText(details_html(b))
        self.split_form.set_note(self._split_note(b))
        root = b.meta.extra.get("root")
        fill_table(
            self.skipped_table,
            ["file", "reason"],
            [[_relative(s["path"], root), s["reason"]] for s in b.skipped]
            or [["Nothing was skipped", "every file (or row) of the source was used"]],
        )
        self.tabs.setTabText(3, f"Skipped ({len(b.skipped):,})" if b.skipped else "Skipped")
        self.augment_check.setEnabled(b.augment is not None)
        if b.augment is None:
            self.augment_check.setChecked(False)
        self.shuffle_button.setEnabled(True)
        if b.meta.task == "classification":
            counts = {
                s: np.bincount(
                    np.asarray(b.split(s).y)
                    if b.split(s).y is not None
                    else np.asarray(b.split(s).dataset.y),
                    minlength=b.meta.num_classes,
                )
                for s in SPLITS
            }
            self.histogram.show_classes(b.meta.class_names, counts)
        elif b.meta.task == "language_model":
            names, counts = token_frequencies(b)
            self.histogram.show_classes(names, counts)
            self.histogram.setLabel("bottom", f"the {len(names)} most frequent tokens (train)")
        else:
            self.histogram.show_values(np.asarray(b.train.y), b.meta.extra.get("target", "target"))
        self._refresh_samples()

    @staticmethod
    def _split_note(b) -> str:
        notes = []
        if b.meta.task == "language_model":
            notes.append(
                "A text file is split into contiguous ranges in order (train, then validation, then test), so no "
                "window shares text with another split; the seed plays no part."
            )
        if b.meta.extra.get("official_test") is not None and len(b.test) == b.meta.extra["official_test"]:
            notes.append("The official test set is the test split; train and validation share the rest.")
        if b.meta.extra.get("streaming"):
            notes.append(
                "This data set is larger than the in-memory budget: it is decoded from disk per batch."
            )
        return " ".join(notes)

    def _on_shuffle_clicked(self) -> None:
        self._shuffle += 1
        self._refresh_samples()

    def _refresh_samples(self) -> None:
        b = self.bundle
        if b is None:
            return
        split = self.split_combo.currentData()
        n = len(b.split(split))
        if n == 0:
            self.grid.set_empty_text(f"The {split} split is empty; change the split percentages")
            self.samples.setCurrentWidget(self.grid)
            return
        rng = np.random.default_rng(self._shuffle)
        if b.modality == "image":
            self.samples.setCurrentWidget(self.grid)
            picks = rng.choice(n, size=min(n, self.grid.capacity()), replace=False)
            self.grid.set_items(self._thumbnails(b, split, picks))
            return
        self.samples.setCurrentWidget(self.rows_table)
        self.augment_check.setEnabled(False)
        if self.table is not None:
            target = (
                self.table.header.index(b.meta.extra["target"])
                if b.meta.extra.get("target") in self.table.header
                else None
            )
            fill_table(self.rows_table, self.table.header, self.table.rows, highlight=target)
        else:
            header, rows = sample_rows(b, split, rng.choice(n, size=min(n, 200), replace=False))
            fill_table(self.rows_table, header, rows, highlight=0)

    def _thumbnails(self, b, split: str, picks: np.ndarray) -> list:
        samples = [b.sample(split, int(i)) for i in picks]
        if not samples:
            return []
        x = [s[0] for s in samples]
        labels = [b.label_name(y) for _, y in samples]
        if self.augment_check.isChecked() and b.augment is not None:
            self._start_augment_preview(b, np.stack([np.asarray(xi) for xi in x]), labels)
        return [(b.to_image(xi), label) for xi, label in zip(x, labels, strict=True)]

    def _start_augment_preview(self, b, x: np.ndarray, labels: list) -> None:
        """The augmented thumbnails are computed in the trainer process (torch stays out of the GUI); they
        replace the plain ones when they come, unless a newer preview or sample draw has replaced this one."""
        import dataclasses

        jobs = self.session.jobs
        if jobs.closing:
            return
        job = jobs.job(
            "augment_preview",
            "augment_preview",
            augment=dataclasses.asdict(b.augment),
            x=x,
            seed=self._shuffle,
        )

        def show(events: list) -> None:
            if self._augment_job is job and self.bundle is b and self.augment_check.isChecked():
                self.grid.set_items(
                    [(b.to_image(xi), label) for xi, label in zip(events[-1], labels, strict=True)]
                )

        job.sig_events.connect(show)
        self._augment_job = job
        jobs.start(job)
