"""Training config, the loop (a generator of events), checkpoints, metrics and runs (Qt-free)."""
