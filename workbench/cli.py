"""Command line front over core (docs/contract.md section 3).

`workbench [PROJECT]` opens the GUI; `workbench <group> ...` runs headless. Bad input exits 2 with one
`error:` line on stderr and no traceback; exit 1 is reserved for bugs. Each command group lives in
`workbench/commands/<group>.py` and adds itself with `add_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from typing import Any

from workbench import __version__
from workbench.core.errors import UserError

COMMAND_GROUPS = ("data", "model", "project", "train", "runs", "export", "generate", "monitor", "plugins")
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
    """Run one command. Called with no argv (the `workbench` script, `python -m workbench`), a headless command
    owns the process: plugins cannot write on its stdout, and it ends with the command's exit code within
    `cli_process.EXIT_GRACE_S` of returning, whatever threads or atexit handlers a plugin left behind."""
    as_process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if _wants_gui(argv):
        return _run(argv)
    from workbench.cli_process import exit_process, isolate_stdout

    previous, router = isolate_stdout(at_fd_level=as_process)
    try:
        code = _run(argv, owns_process=as_process)
    except SystemExit as exc:  # --help, --version
        if not as_process:
            raise
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            sys.stderr.write(f"{exc.code}\n")
    except BaseException:
        if not as_process:
            raise
        traceback.print_exc()  # a bug (exit 1): its traceback, then the same bounded exit
        code = 1
    finally:
        router.flush()
        if not as_process and sys.stdout is router:
            sys.stdout = previous
    if as_process:
        exit_process(code)
    return code


def _run(argv: list[str], owns_process: bool = False) -> int:
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

            if owns_process:  # from now on os._exit in plugin code cannot end the command
                from workbench.plugins.confine import guard_exits

                guard_exits()
            load_plugins()
        args = build_parser().parse_args(argv)
        if not getattr(args, "func", None):
            raise UserError(
                f"choose a subcommand of `workbench {args.command}` (see `workbench {args.command} --help`)"
            )
        return int(args.func(args) or 0)
    except UserError as exc:
        cause = _torch_import_cause(exc)  # a loader's "not a readable file" may really be a broken torch
        sys.stderr.write(f"error: {environment_error(cause) if cause else exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as exc:
        message = environment_error(exc)
        if message is None:
            raise  # a bug: exit 1 with its traceback
        sys.stderr.write(f"error: {message}\n")
        return 2


def environment_error(exc: BaseException) -> str | None:
    """One line for a failure of the machine or the installation rather than of Workbench (exit 2): out of
    memory, a file system refusal (a symlink loop, a name too long, permission denied, a full disk) or a torch
    that cannot be imported; None for anything else (a bug)."""
    if torch_import_failed(exc):
        return (
            f"torch could not be imported: {type(exc).__name__}: {_first_line(exc) or 'no message'}; "
            "reinstall it with `make venv`"
        )
    if isinstance(exc, MemoryError | RuntimeError) and is_out_of_memory(exc):
        return (
            "out of memory: the data or the model does not fit in this machine's memory "
            f"({_first_line(exc) or 'MemoryError'}); use a smaller model, batch or data set"
        )
    if isinstance(exc, RuntimeError) and str(exc).startswith("Symlink loop from "):  # pathlib, Python < 3.13
        where = _short(str(exc).removeprefix("Symlink loop from ").strip("'\""))
        return f"cannot use {where}: it is a symbolic link that loops back on itself"
    if isinstance(exc, OSError):
        from workbench.core.io import describe_os_error

        where = " and ".join(_short(os.fsdecode(f)) for f in (exc.filename, exc.filename2) if f is not None)
        return f"cannot use {where}: {describe_os_error(exc)}" if where else describe_os_error(exc)
    return None


def _torch_import_cause(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        if torch_import_failed(cause):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _short(path: str, limit: int = 160) -> str:
    """A path for a one-line message: a very long one keeps its start and its end."""
    return path if len(path) <= limit else f"{path[: limit // 2 - 2]}...{path[-(limit // 2 - 1) :]}"


def torch_import_failed(exc: BaseException) -> bool:
    """True when `exc` came out of importing torch itself (a broken or half-installed torch), not of code that
    uses it."""
    if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] == "torch":
        return True
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        module = str(frame.f_globals.get("__name__", ""))
        if frame.f_code.co_name == "<module>" and (module == "torch" or module.startswith("torch.")):
            return True
        tb = tb.tb_next
    return False


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
