"""CPU, RAM and NVIDIA GPU snapshots and a background sampler (Qt-free)."""
