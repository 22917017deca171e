"""The Hardware panel: CPU, RAM, this process, disk and NVIDIA GPUs, live and with history."""

from workbench.ui.panels.hardware.panel import HardwarePanel

__all__ = ["HardwarePanel"]
