"""A deliberately broken plugin (tests only): it fails to import."""

import workbench_no_such_module  # noqa: F401

from workbench.plugins import Plugin

PLUGIN = Plugin("Broken import", "0.1")


def register(api):
    pass
