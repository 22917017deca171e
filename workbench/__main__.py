"""`python -m workbench` (also `torchrun -m workbench`).

`python -m` puts the current folder first on sys.path, so a `numpy.py` or `torch.py` lying there would be
imported instead of the real package and run its code. The folder is dropped before anything else is
imported; Workbench's own modules are found through the already imported package, not through sys.path.
"""

import os
import sys


def _drop_current_folder(path: list[str]) -> None:
    try:
        here = os.path.realpath(os.getcwd())
    except OSError:  # the current folder was deleted: only the '' entry can point at it
        here = None
    path[:] = [p for p in path if p != "" and (here is None or os.path.realpath(p) != here)]


_drop_current_folder(sys.path)

from workbench.cli import main  # noqa: E402 - only after sys.path is safe

sys.exit(main())
