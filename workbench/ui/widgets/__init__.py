"""Reusable widgets (live plots, ...)."""
