"""GUI tests: modal dialogs answer at once (tests/qt_fixtures.py)."""

from qt_fixtures import (  # noqa: F401  (autouse fixtures: no modal dialog hangs, jobs end, one warm trainer)
    _jobs_shut_down,
    _no_blocking_dialogs,
    _warm_trainer_process_shared,
)
