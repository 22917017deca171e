"""Dataset sources, splits and transforms (Qt-free)."""
