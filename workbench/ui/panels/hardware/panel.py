"""HardwarePanel: CPU, RAM, this process, disk and each NVIDIA GPU now (cards), over time (plot) and who uses
the GPUs (table); the device picker for training and a warning when the model will not fit there.

The session owns the sampler and runs it as a background job (`ProjectSession.start_sampling`, thread
`wb-hardware`) from the moment the panel exists; every snapshot is published by the session (`sig_hardware`,
`sig_gpu_memory`) for this view, the training plots, the toolbar and the builder."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.hardware.fit import fit_warning, resolve_device
from workbench.core.hardware.sampler import DEFAULT_INTERVAL_S, HardwareSampler
from workbench.core.hardware.snapshot import HardwareSnapshot
from workbench.core.units import bytes_text
from workbench.ui.panels.hardware.meters import STYLE, GpuMeters, NoGpuNote, SystemMeters, short_gpu_name
from workbench.ui.panels.hardware.plots import GROUPS, HistoryPlot
from workbench.ui.panels.hardware.processes import GpuProcessTable

INTERVALS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
RANGES = (("1 min", 60.0), ("10 min", 600.0), ("1 h", 3600.0))
WARNING_STYLE = (
    "QLabel#hardwareFitWarning { background: #fff4d6; color: #6b4e00; border: 1px solid #e8c66a;"
    " border-radius: 4px; padding: 3px 6px; }"
)


class HardwarePanel(QWidget):
    sig_snapshot_shown = Signal(object)  # after the view shows a snapshot (tests, screenshots)

    def __init__(
        self,
        session,
        parent: QWidget | None = None,
        sampler: HardwareSampler | None = None,
        start: bool = True,
    ):
        super().__init__(parent)
        self.setObjectName("hardwarePanel")
        self.session = session
        self.settings = QSettings("Workbench", "Workbench")
        if sampler is None:
            sampler = session.sampler or HardwareSampler(
                self._saved_interval(), disk_path=self._project_folder()
            )
        self.sampler = session.sampler = sampler  # the session owns it (and its job)
        self.latest: HardwareSnapshot | None = None
        self._stopped = False
        self._had_gpus: bool | None = None
        self._build()
        session.sig_hardware.connect(self.show_snapshot)
        session.sig_device_changed.connect(self._on_session_device_changed)
        session.sig_project_loaded.connect(self._on_session_project_loaded)
        session.memory.sig_plan.connect(self._on_session_memory_plan)
        if start:
            session.start_sampling(self.sampler)

    # -- construction
    # -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.setStyleSheet(STYLE + WARNING_STYLE)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("hardwareDeviceCombo")
        self.device_combo.setToolTip("Where training runs (the same choice as the toolbar's device picker)")
        self.device_combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.device_combo.addItem("auto", "auto")
        self.device_combo.addItem("CPU", "cpu")
        self._select_device(self.session.device)
        self.device_combo.currentIndexChanged.connect(self._on_device_combo_changed)

        self.group_combo = QComboBox()
        self.group_combo.setObjectName("hardwarePlotGroup")
        self.group_combo.setToolTip("What the history plot shows")
        self.group_combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        for group in GROUPS:
            self.group_combo.addItem(group.title, group.title)
        self.group_combo.currentIndexChanged.connect(self._on_group_changed)

        self.range_buttons = QButtonGroup(self)
        range_box = QHBoxLayout()
        range_box.setSpacing(0)
        saved_range = float(self.settings.value("hardware/range", 60.0))
        for i, (text, seconds) in enumerate(RANGES):
            button = QToolButton()
            button.setText(text)
            button.setCheckable(True)
            button.setChecked(seconds == saved_range)
            button.setToolTip(f"Show the last {text}")
            self.range_buttons.addButton(button, i)
            range_box.addWidget(button)
        if self.range_buttons.checkedId() < 0:
            self.range_buttons.button(0).setChecked(True)
        self.range_buttons.idClicked.connect(self._on_range_clicked)

        self.interval_combo = QComboBox()
        self.interval_combo.setObjectName("hardwareInterval")
        self.interval_combo.setToolTip("How often to sample (the history keeps the last hour)")
        for seconds in INTERVALS:
            self.interval_combo.addItem(f"every {seconds:g} s", seconds)
        self.interval_combo.setCurrentIndex(_nearest(INTERVALS, self.sampler.interval))
        self.interval_combo.currentIndexChanged.connect(self._on_interval_changed)

        controls = QHBoxLayout()
        controls.setSpacing(6)
        controls.addWidget(QLabel("Device"))
        controls.addWidget(self.device_combo)
        controls.addSpacing(8)
        controls.addWidget(self.group_combo)
        controls.addLayout(range_box)
        controls.addStretch(1)
        controls.addWidget(self.interval_combo)

        self.warning = QLabel()
        self.warning.setObjectName("hardwareFitWarning")
        self.warning.setWordWrap(True)
        self.warning.setVisible(False)

        self.system_meters = SystemMeters()
        self.no_gpu_note = NoGpuNote()
        self.no_gpu_note.setVisible(False)
        self.gpu_meters: list[GpuMeters] = []
        column = QWidget()
        self.meters_layout = QVBoxLayout(column)
        self.meters_layout.setContentsMargins(0, 0, 0, 0)
        self.meters_layout.setSpacing(5)
        self.meters_layout.addWidget(self.system_meters)
        self.meters_layout.addWidget(self.no_gpu_note)
        self.meters_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(column)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(260)
        self.meters_scroll = scroll

        self.plot = HistoryPlot()
        self.plot.set_seconds(RANGES[self.range_buttons.checkedId()][1])
        saved_group = self.settings.value("hardware/group", GROUPS[0].title)
        self.group_combo.setCurrentIndex(max(self.group_combo.findData(saved_group), 0))
        self.processes = GpuProcessTable()
        self.processes.setVisible(False)
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.plot)
        right.addWidget(self.processes)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([320, 420])
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(5)
        layout.addLayout(controls)
        layout.addWidget(self.warning)
        layout.addWidget(self.splitter, 1)

    # -- snapshots
    # ------------------------------------------------------------------------------------------------
    def show_snapshot(self, snapshot: HardwareSnapshot) -> None:
        """Show one snapshot and hand it on to the session (GUI thread)."""
        if self._stopped:
            return
        self.latest = snapshot
        if self.isVisible():  # a hidden tab costs nothing; it catches up when shown
            self._render(snapshot)
        self._update_warning()
        self.sig_snapshot_shown.emit(snapshot)

    def _render(self, snapshot: HardwareSnapshot, force_plot: bool = False) -> None:
        self.system_meters.show_snapshot(snapshot)
        self._show_gpus(snapshot)
        self.processes.show_gpus(snapshot.gpus)
        self.plot.refresh(self.sampler.history, force=force_plot)
        self._refresh_device_items(snapshot)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.latest is not None and not self._stopped:
            self._render(self.latest, force_plot=True)

    def _show_gpus(self, s: HardwareSnapshot) -> None:
        while len(self.gpu_meters) < len(s.gpus):
            block = GpuMeters(len(self.gpu_meters))
            block.show_plan(self.session.memory.plan)
            self.meters_layout.insertWidget(1 + len(self.gpu_meters), block)
            block.show()
            self.gpu_meters.append(block)
        while len(self.gpu_meters) > len(s.gpus):
            block = self.gpu_meters.pop()
            self.meters_layout.removeWidget(block)
            block.deleteLater()
        for block, gpu in zip(self.gpu_meters, s.gpus, strict=True):
            block.show_gpu(gpu)
        self.no_gpu_note.setVisible(not s.gpus)
        if bool(s.gpus) != self._had_gpus:
            self._had_gpus = bool(s.gpus)
            for i, group in enumerate(GROUPS):  # GPU plots only when there is a GPU to plot
                self.group_combo.model().item(i).setEnabled(self._had_gpus or not group.needs_gpu)
        if not s.gpus:
            self.no_gpu_note.show_reason(s.gpu_error)
        self.processes.setVisible(bool(s.gpus))

    # -- device picker and the fit warning
    # ----------------------------------------------------------------------
    def _refresh_device_items(self, s: HardwareSnapshot) -> None:
        self.device_combo.blockSignals(True)
        try:
            for gpu in s.gpus:
                if not gpu.device:
                    continue
                free = f" ({bytes_text(gpu.memory_free)} free)" if gpu.memory_free is not None else ""
                name = short_gpu_name(gpu.name)
                text = f"{gpu.device} · {name}{free}" if not gpu.error else f"{gpu.device} · {name} (lost)"
                index = self.device_combo.findData(gpu.device)
                if index < 0:
                    self.device_combo.addItem(text, gpu.device)
                elif self.device_combo.itemText(index) != text:
                    self.device_combo.setItemText(index, text)
            self._select_device(self.session.device)
        finally:
            self.device_combo.blockSignals(False)

    def _select_device(self, device: str) -> None:
        index = self.device_combo.findData(device)
        if index < 0:
            self.device_combo.addItem(f"{device} (not found)", device)
            index = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(index)

    def _on_device_combo_changed(self, index: int) -> None:
        device = self.device_combo.itemData(index)
        if device:
            self.session.set_device(device)
            self._update_warning()

    def _on_session_device_changed(self, device: str) -> None:
        if self.device_combo.currentData() != device:
            self.device_combo.blockSignals(True)
            self._select_device(device)
            self.device_combo.blockSignals(False)
        self._update_warning()

    def _on_session_project_loaded(self) -> None:
        self.sampler.set_disk_path(self._project_folder())
        self._update_warning()

    def _on_session_memory_plan(self, _plan=None) -> None:
        """The traced plan of the next run (ui/memory.py): on its GPU's memory bar, and in the warning."""
        plan = self.session.memory.plan
        for block in self.gpu_meters:
            block.show_plan(plan)
        self._update_warning()

    def _update_warning(self) -> None:
        plan = self.session.memory.plan
        text = fit_warning(plan, self.session.device, self.latest)
        self.warning.setText(f"⚠ {text}" if text else "")
        self.warning.setVisible(bool(text))
        if self.latest is not None:
            target = resolve_device(self.session.device, self.latest)
            planned = (
                f"; the next run's traced peak is {bytes_text(plan.peak_bytes)} (needs "
                f"{bytes_text(plan.needed_bytes)} with headroom)"
                if plan is not None and plan.device == target
                else ""
            )
            self.device_combo.setToolTip(f"Training runs on {target}{planned}")

    # -- controls
    # -------------------------------------------------------------------------------------------------
    def _on_group_changed(self, index: int) -> None:
        self.plot.set_group(GROUPS[index])
        self.settings.setValue("hardware/group", GROUPS[index].title)
        self.plot.refresh(self.sampler.history, force=True)

    def _on_range_clicked(self, button_id: int) -> None:
        seconds = RANGES[button_id][1]
        self.plot.set_seconds(seconds)
        self.settings.setValue("hardware/range", seconds)
        self.plot.refresh(self.sampler.history, force=True)

    def _on_interval_changed(self, index: int) -> None:
        seconds = INTERVALS[index]
        self.sampler.interval = seconds
        self.settings.setValue("hardware/interval", seconds)

    def _saved_interval(self) -> float:
        try:
            value = float(self.settings.value("hardware/interval", DEFAULT_INTERVAL_S))
        except (TypeError, ValueError):
            return DEFAULT_INTERVAL_S
        return INTERVALS[_nearest(INTERVALS, value)]

    def _project_folder(self):
        return self.session.path.parent if self.session.path else None

    # -- lifecycle -----------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop showing snapshots and stop the sampling job (it releases NVML when it ends)."""
        if self._stopped:
            return
        self._stopped = True
        job = self.session.jobs.current("hardware")
        if job is not None:
            job.cancel()


def _nearest(values, value: float) -> int:
    return min(range(len(values)), key=lambda i: abs(values[i] - value))
