"""Command line front over core (docs/contract.md section 3).

`workbench [PROJECT]` opens the GUI; `workbench <group> ...` runs headless. Bad input exits 2 with one
`error:` line on stderr and no traceback; exit 1 is reserved for bugs. Each command group lives in
`workbench/commands/<group>.py` and adds itself with `add_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from workbench import __version__
from workbench.core.errors import UserError

COMMAND_GROUPS = ("data", "model", "project", "train", "export", "generate", "monitor", "plugins")
PLUGIN_GROUPS = ("data", "model", "project", "train", "export", "plugins")  # these see plugin contributions


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one `error:` line (exit 2) instead of a usage dump."""

    def error(self, message: str):
        raise UserError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", description="Build, train, monitor and export PyTorch networks.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_GROUPS:
        importlib.import_module(f"workbench.commands.{name}").add_parser(sub)
    return parser


def print_json(obj: Any) -> None:
    """`--json`: one JSON document on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _wants_gui(argv: list[str]) -> bool:
    if not argv:
        return True
    first = argv[0]
    return first not in COMMAND_GROUPS and not first.startswith("-")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if _wants_gui(argv):
            if len(argv) > 1:
                raise UserError(f"unexpected arguments {' '.join(argv[1:])}; usage: workbench [PROJECT]")
            from workbench.app import main as gui_main

            return gui_main(argv[0] if argv else None)
        if argv[0] in PLUGIN_GROUPS and argv[:2] not in (
            ["plugins", "enable"],
            ["plugins", "disable"],
            ["plugins", "folder"],
        ):  # these never import plugins
            from workbench.plugins.manager import load_plugins

            load_plugins()
        args = build_parser().parse_args(argv)
        if not getattr(args, "func", None):
            raise UserError(
                f"choose a subcommand of `workbench {args.command}` (see `workbench {args.command} --help`)"
            )
        return int(args.func(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        sys.stderr.write(
            "error: out of memory: the data or the model does not fit in this machine's memory "
            f"({_first_line(exc) or 'MemoryError'}); use a smaller model, batch or data set\n"
        )
        return 2


def is_out_of_memory(exc: BaseException) -> bool:
    """A failed allocation (Python's MemoryError, or torch's CPU / CUDA allocator): bad input, not a bug."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return any(
        s in text
        for s in (
            "can't allocate memory",
            "CUDA out of memory",
            "not enough memory",
            "Cannot allocate memory",
        )
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


if __name__ == "__main__":
    sys.exit(main())
