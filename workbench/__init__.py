"""Workbench: build, train, monitor and export PyTorch networks."""

__version__ = "0.1.0"
