"""Current values as compact meter rows (label, coloured bar, figure), one block for the machine and one per
GPU, in the spirit of nvitop: dense, readable at a glance, and they fit a 300-pixel-high dock."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QProgressBar, QSizePolicy

from workbench.core.hardware.snapshot import GpuStats, HardwareSnapshot
from workbench.core.units import bytes_text

GREEN, AMBER, RED, GREY = "#3fa34d", "#d99a1e", "#d0453b", "#8a8f98"
VALUE_WIDTH = 136

STYLE = """
QFrame#meterBlock { border: 1px solid palette(mid); border-radius: 5px; background: palette(base); }
QLabel[role="name"] { color: palette(placeholder-text); }
QLabel[role="header"] { font-weight: 600; }
QLabel[role="detail"] { color: palette(placeholder-text); font-size: 11px; }
QProgressBar { border: none; border-radius: 3px; background: palette(alternate-base); }
"""


def level_color(percent: float | None, amber: float = 75, red: float = 90) -> str:
    if percent is None:
        return GREY
    return RED if percent >= red else AMBER if percent >= amber else GREEN


def short_gpu_name(name: str) -> str:
    """'NVIDIA GeForce RTX 4090' -> 'RTX 4090': the part that tells GPUs apart."""
    for prefix in ("NVIDIA ", "GeForce ", "Tesla ", "Quadro "):
        name = name.removeprefix(prefix)
    return name


def _label(role: str, text: str = "") -> QLabel:
    label = QLabel(text)
    label.setProperty("role", role)
    return label


class Bar(QProgressBar):
    """A thin 0-100 bar whose colour says how close to full it is."""

    def __init__(self):
        super().__init__()
        self.setRange(0, 1000)
        self.setTextVisible(False)
        self.setFixedHeight(8)
        self.setMinimumWidth(30)
        self._color = ""
        self._planned: tuple[float, float, str] | None = None  # (from %, to %, colour): the next run's peak

    def set_planned(self, start: float | None, end: float | None, color: str = "#3b6fd4") -> None:
        """Mark [start, end] percent beside the value: where the next run's planned memory would sit."""
        planned = None if start is None or end is None else (start, end, color)
        if planned != self._planned:
            self._planned = planned
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if self._planned is None:
            return
        start, end, color = self._planned
        width = self.width()
        x0 = width * max(0.0, min(start, 100.0)) / 100
        x1 = width * max(0.0, min(end, 100.0)) / 100
        painter = QPainter(self)
        fill = QColor(color)
        fill.setAlpha(110)
        painter.fillRect(QRectF(x0, 1, max(x1 - x0, 2.0), self.height() - 2), fill)
        painter.setPen(QPen(QColor(color), 2))
        painter.drawLine(int(x1) - 1, 0, int(x1) - 1, self.height())
        painter.end()

    def set_percent(self, percent: float | None, color: str | None = None) -> None:
        self.setValue(0 if percent is None else int(max(0.0, min(percent, 100.0)) * 10))
        color = color or level_color(percent)
        if color != self._color:
            self._color = color
            self.setStyleSheet(f"QProgressBar::chunk {{ background: {color}; border-radius: 3px; }}")


class MeterBlock(QFrame):
    """A titled block of meter rows: `add_meter(key, name)` then `set_meter(key, percent, text, tip)`."""

    def __init__(self, title: str = ""):
        super().__init__()
        self.setObjectName("meterBlock")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(8, 4, 8, 5)
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(2)
        self.grid.setColumnStretch(1, 1)
        self.header = _label("header", title)
        self.header.setTextFormat(Qt.RichText)
        self.grid.addWidget(self.header, 0, 0, 1, 3)
        self.header.setVisible(bool(title))
        self.meters: dict[str, tuple[QLabel, Bar, QLabel]] = {}
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)

    def add_meter(self, key: str, name: str) -> None:
        row = self.grid.rowCount()
        name_label, bar, value = _label("name", name), Bar(), _label("value")
        # a fixed size: changing figures must not re-lay-out the window every second (see widgets/label_holder.py)
        value.setFixedSize(VALUE_WIDTH, value.sizeHint().height())
        value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.grid.addWidget(name_label, row, 0)
        self.grid.addWidget(bar, row, 1)
        self.grid.addWidget(value, row, 2)
        self.meters[key] = (name_label, bar, value)

    def add_detail(self) -> QLabel:
        detail = _label("detail")
        detail.setTextFormat(Qt.RichText)
        detail.setWordWrap(True)
        self.grid.addWidget(detail, self.grid.rowCount(), 0, 1, 3)
        return detail

    def set_meter(self, key: str, percent: float | None, text: str, tip: str = "", color: str | None = None):
        name, bar, value = self.meters[key]
        bar.set_percent(percent, color)
        if value.text() != text:
            value.setText(text)
        if value.toolTip() != tip:
            for w in (name, bar, value):
                w.setToolTip(tip)

    def value_text(self, key: str) -> str:
        return self.meters[key][2].text()


class SystemMeters(MeterBlock):
    """CPU, RAM, this process, free disk of the project's folder."""

    def __init__(self):
        super().__init__()
        self.setAccessibleName("systemMeters")
        for key, name in (
            ("cpu", "CPU"),
            ("ram", "RAM"),
            ("swap", "Swap"),
            ("process", "Workbench"),
            ("disk", "Disk"),
        ):
            self.add_meter(key, name)
        self.set_meter("cpu", None, "reading…")

    def show_snapshot(self, s: HardwareSnapshot) -> None:
        freq = f" @ {s.cpu.frequency_mhz / 1000:.1f} GHz" if s.cpu.frequency_mhz else ""
        self.set_meter(
            "cpu",
            s.cpu.percent,
            f"{s.cpu.percent:.0f}% of {s.cpu.count} cores",
            f"All cores{freq}\nPer core: " + " ".join(f"{p:.0f}%" for p in s.cpu.per_core),
        )
        self.set_meter(
            "ram",
            s.memory.percent,
            f"{bytes_text(s.memory.used)} / {bytes_text(s.memory.total)}",
            f"In use (not available to new programs): {s.memory.percent:.0f}%",
        )
        if s.memory.swap_total:
            self.set_meter(
                "swap",
                s.memory.swap_percent,
                f"{bytes_text(s.memory.swap_used)} / {bytes_text(s.memory.swap_total)}",
                "Swap in use: a training job that swaps slows down many times",
                level_color(s.memory.swap_percent, 25, 60),
            )
        else:
            self.set_meter("swap", None, "none", "This machine has no swap space")
        p = s.process
        share = p.cpu_percent / max(s.cpu.count, 1)
        self.set_meter(
            "process",
            100.0 * p.rss / s.memory.total if s.memory.total else None,
            f"{bytes_text(p.rss)} · CPU {p.cpu_percent:.0f}%",
            f"This Workbench process, PID {p.pid}: {p.threads} threads\n"
            f"Resident memory {bytes_text(p.rss)}; CPU {p.cpu_percent:.0f}% of one core "
            f"({share:.0f}% of the machine)\nLast sample took {s.sample_ms:.1f} ms",
            color=level_color(share),
        )
        if s.disk:
            used = 100.0 * (1 - s.disk.free / s.disk.total) if s.disk.total else None
            self.set_meter(
                "disk",
                used,
                f"{bytes_text(s.disk.free, 0)} free",
                f"{s.disk.path}\n{bytes_text(s.disk.free)} free of {bytes_text(s.disk.total)}",
                color=level_color(used, 90, 97),
            )
        else:
            self.set_meter("disk", None, "cannot read", "The project's folder cannot be read")


class GpuMeters(MeterBlock):
    """One GPU: utilization, memory, power against its limit; temperature, clock, fan and our memory below."""

    def __init__(self, index: int):
        super().__init__(f"GPU {index}")
        self.setAccessibleName(f"gpuMeters{index}")
        self.add_meter("util", "util")
        self.add_meter("memory", "memory")
        self.add_meter("power", "power")
        self.detail = self.add_detail()
        self.plan = None  # the next run's MemoryPlan when it is planned on this GPU (ui/memory.py)
        self._gpu: GpuStats | None = None

    def show_plan(self, plan) -> None:
        self.plan = plan
        if self._gpu is not None:
            self.show_gpu(self._gpu)

    def show_gpu(self, gpu: GpuStats) -> None:
        self._gpu = gpu
        where = gpu.device or "hidden by CUDA_VISIBLE_DEVICES"
        self.header.setText(
            f"GPU {gpu.index} · {short_gpu_name(gpu.name)} <span style='font-weight:400; "
            f"color:{GREY}'>· {where}</span>"
        )
        self.header.setToolTip(f"{gpu.name}\nNVML index {gpu.index} · {gpu.uuid or 'no UUID'}")
        if gpu.error:
            for key in ("util", "memory", "power"):
                self.set_meter(key, None, "–")
            self.detail.setText(f"<span style='color:{RED}'>{gpu.error}</span>")
            return
        self.set_meter(
            "util",
            gpu.utilization,
            _num(gpu.utilization, "%"),
            "Share of time a kernel was running on the GPU",
            GREEN,
        )
        ours = gpu.our_memory
        torch_line = (
            f"\ntorch: allocated {bytes_text(gpu.torch.allocated)}, reserved "
            f"{bytes_text(gpu.torch.reserved)}, peak {bytes_text(gpu.torch.peak)}"
            if gpu.torch
            else ""
        )
        plan = self.plan if self.plan is not None and self.plan.device == gpu.device else None
        plan_line = ""
        _name, memory_bar, _value = self.meters["memory"]
        if plan is not None and gpu.memory_total and gpu.memory_used is not None:
            # drawn beside the used memory; the verdict counts what our trainer holds as ours to reuse
            over = max(gpu.memory_used - (ours or 0), 0) + plan.needed_bytes > gpu.memory_total
            start, end = gpu.memory_used, gpu.memory_used + plan.needed_bytes
            memory_bar.set_planned(
                100 * start / gpu.memory_total, 100 * end / gpu.memory_total, RED if over else "#3b6fd4"
            )
            plan_line = (
                f"\nNext run (planned): peak {bytes_text(plan.peak_bytes)}, needs "
                f"{bytes_text(plan.needed_bytes)} with headroom: " + ("does NOT fit" if over else "fits")
            )
        else:
            memory_bar.set_planned(None, None)
        self.set_meter(
            "memory",
            gpu.memory_percent,
            f"{bytes_text(gpu.memory_used)} / {bytes_text(gpu.memory_total)}",
            f"Free: {bytes_text(gpu.memory_free)}\nThis process: "
            f"{bytes_text(ours) if ours is not None else 'not using this GPU'}{torch_line}{plan_line}",
        )
        power_pct = (
            100.0 * gpu.power_watts / gpu.power_limit_watts
            if gpu.power_watts is not None and gpu.power_limit_watts
            else None
        )
        limit = f" / {gpu.power_limit_watts:.0f}" if gpu.power_limit_watts else ""
        self.set_meter(
            "power",
            power_pct,
            "–" if gpu.power_watts is None else f"{gpu.power_watts:.0f}{limit} W",
            "Power draw against the enforced power limit",
            color=level_color(power_pct, 90, 98),
        )
        planned = []
        if plan_line:
            color = RED if "NOT" in plan_line else "#3b6fd4"
            planned.append(
                f"<span style='color:{color}'>▮ next run {bytes_text(plan.needed_bytes)} planned</span>"
            )
        self.detail.setText(" · ".join(_gpu_details(gpu) + planned))


def _gpu_details(gpu: GpuStats) -> list[str]:
    parts = []
    if gpu.temperature is not None:
        parts.append(
            f"<span style='color:{level_color(gpu.temperature, 80, 88)}'>{gpu.temperature:.0f} °C</span>"
        )
    if gpu.sm_clock_mhz is not None:
        parts.append(f"SM {gpu.sm_clock_mhz} MHz")
    if gpu.fan_percent is not None:
        parts.append(f"fan {gpu.fan_percent:.0f}%")
    if gpu.our_memory is not None:
        parts.append(f"<b>Workbench {bytes_text(gpu.our_memory)}</b>")
    return parts or ["no sensor readings"]


def _num(value, unit: str) -> str:
    return "–" if value is None else f"{value:.0f}{unit}"


class NoGpuNote(MeterBlock):
    """The calm no-GPU state: why, and what it means for training."""

    def __init__(self):
        super().__init__("No NVIDIA GPU")
        self.setAccessibleName("noGpuNote")
        self.reason = self.add_detail()

    def show_reason(self, reason: str | None) -> None:
        self.reason.setText(f"{reason or 'looking for GPUs…'}.<br>Training runs on the CPU.")
        self.setToolTip(f"No NVIDIA GPU: {reason}")

    def text(self) -> str:
        return f"No NVIDIA GPU: {self.reason.text()}"
