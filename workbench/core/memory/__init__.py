"""Memory planning (Qt-free; torch imported only when a trace runs).

estimate = estimate_memory(project.model, project.training, device="cuda")   # traced peak of a training step
estimate.peak_bytes, estimate.categories, estimate.layers, estimate.method
"""

from workbench.core.memory.estimate import CATEGORIES, LayerMemory, MemoryEstimate, estimate_memory

__all__ = ["CATEGORIES", "LayerMemory", "MemoryEstimate", "estimate_memory"]
