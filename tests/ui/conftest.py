"""GUI tests: modal dialogs answer at once (tests/qt_fixtures.py)."""

from qt_fixtures import _no_blocking_dialogs  # noqa: F401  (an autouse fixture)
