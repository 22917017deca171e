"""`python -m workbench.ui.panels.hardware [PROJECT] [--simulate-gpu]`: the Hardware panel alone.

--simulate-gpu shows two made-up GPUs (ours training on GPU 0) on a machine without one."""

from __future__ import annotations

import os
import sys

from workbench.ui.panels.hardware.panel import HardwarePanel
from workbench.ui.preview import preview


def simulated_sampler():
    from workbench.core.hardware.sampler import HardwareSampler
    from workbench.core.hardware.simulated import SimulatedNvml, demo_gpus

    return HardwareSampler(backend=SimulatedNvml(demo_gpus(os.getpid()), animate=True))


def main() -> int:
    if "--simulate-gpu" not in sys.argv:
        return preview(HardwarePanel, size=(760, 320))
    sys.argv.remove("--simulate-gpu")

    class SimulatedHardwarePanel(HardwarePanel):
        def __init__(self, session, parent=None):
            super().__init__(session, parent, sampler=simulated_sampler())

    return preview(SimulatedHardwarePanel, size=(760, 320))


if __name__ == "__main__":
    sys.exit(main())
