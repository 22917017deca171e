"""`workbench plugins list|enable|disable|folder` : what is loaded, from where, errors; enable/disable.

Changes are saved to `<user data>/plugins.json` and apply the next time Workbench (or a command) starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.core.errors import UserError


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "plugins",
        help="list plugins (layers, data sources, exporters, panels); enable or disable them",
        description="Plugins come from the built-ins, the entry-point group "
        "`workbench.plugins` and enabled plugin folders. Changes apply at the "
        "next start.",
    )
    group = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    listing = group.add_parser("list", help="every plugin with its origin, version, status and contributions")
    listing.add_argument("--json", action="store_true", help="one JSON document (errors with tracebacks)")
    listing.set_defaults(func=run_list)
    for action, text in (("enable", "load it from the next start"), ("disable", "do not import it any more")):
        p = group.add_parser(action, help=f"{action} a plugin by id: {text}")
        p.add_argument("plugin_id", metavar="ID", help="the id shown by `workbench plugins list`")
        p.set_defaults(func=run_enable, enable=action == "enable")
    folder = group.add_parser("folder", help="enable, disable or remove a plugin folder")
    folder.add_argument("state", choices=("enable", "disable", "remove"))
    folder.add_argument("path", help="a folder of plugin files (name.py) and packages (name/__init__.py)")
    folder.set_defaults(func=run_folder)


def _manager():
    from workbench.plugins.manager import load_plugins

    return load_plugins()


def run_list(args) -> int:
    manager = _manager()
    if args.json:
        from workbench.cli import print_json

        print_json(
            {
                "state_file": str(manager.path()),
                "state_warning": manager.state_warning,
                "folders": [{"path": str(p), "enabled": on} for p, on in manager.folders()],
                "plugins": [r.to_dict() for r in manager.records],
                "pending": manager.pending_changes(),
            }
        )
        return 0
    rows = [("ID", "NAME", "VERSION", "ORIGIN", "STATUS", "CONTRIBUTES")]
    rows += [(r.id, r.name, r.version, r.origin, r.status, r.contribution_summary()) for r in manager.records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for r in manager.records:
        if r.error:
            out.append(f"\n{r.id}: {r.error}")
    out.append("\nFolders:")
    out += [f"  [{'x' if on else ' '}] {path}" for path, on in manager.folders()]
    if manager.pending_changes():
        out.append("\nAt the next start: " + "; ".join(manager.pending_changes()))
    if manager.state_warning:
        out.append(f"\nwarning: {manager.state_warning}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _discovered():
    """The plugin records without importing any plugin: enable / disable / folder work even when a plugin
    hangs or crashes on import."""
    from workbench.plugins.manager import plugin_manager

    manager = plugin_manager()
    manager.discover()
    return manager


def run_enable(args) -> int:
    manager = _discovered()
    record = manager.record(args.plugin_id)
    if record is None:
        known = ", ".join(r.id for r in manager.records if r.can_disable) or "none"
        raise UserError(f"no plugin with the id {args.plugin_id!r}; plugins that can be switched: {known}")
    if not record.can_disable:
        raise UserError(f"{record.name} is built in and cannot be disabled")
    manager.set_enabled(record.id, args.enable)
    sys.stdout.write(f"{record.name}: {'enabled' if args.enable else 'disabled'} from the next start\n")
    return 0


def run_folder(args) -> int:
    manager = _discovered()
    path = Path(args.path).expanduser().resolve()
    if args.state == "remove":
        manager.remove_folder(path)
    elif args.state == "enable" and not path.is_dir():
        raise UserError(f"plugin folder not found: {path}; give an existing folder")
    else:
        manager.set_folder_enabled(path, args.state == "enable")
    sys.stdout.write(f"plugin folder {path}: {args.state}d from the next start\n")
    return 0
