"""`workbench runs list|show ...`: a project's runs as a table or JSON (docs/contract.md section 3).

    workbench runs list PROJECT [--sort KEY] [--filter TEXT] [--json]
    workbench runs show RUN [--project PROJECT] [--json]
    workbench runs export-tb PROJECT_OR_RUN       TensorBoard event files for older runs (training/tensorboard.py)

PROJECT is a project file (*.wbproj) or its runs/ folder. The rows come from the runs index
(workbench/core/training/run_index.py: runs/.index.sqlite, rebuilt from the run folders when missing or stale).
Each subcommand is one `_add_<name>(group)` function below, registered in `add_parser`.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError

TABLE_RESULTS = (
    ("best_val_accuracy", "BEST ACC"),
    ("last_val_accuracy", "LAST ACC"),
    ("best_val_loss", "BEST LOSS"),
    ("last_val_loss", "LAST LOSS"),
    ("test_accuracy", "TEST ACC"),
    ("samples_per_s", "SAMPLES/S"),
)


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "runs",
        help="list a project's runs with the settings that differ and their results; show one run",
        description="A project's runs from its runs/ folder, read through the runs index "
        "(runs/.index.sqlite, rebuilt from the run folders when missing or stale).",
    )
    group = parser.add_subparsers(
        dest="action", metavar="ACTION", parser_class=_descending_sort(type(parser))
    )
    _add_list(group)
    _add_show(group)
    _add_export_tb(group)


def _descending_sort(base):
    """argparse reads `--sort -best_val_accuracy` as two options; this parser passes it as `--sort=-KEY`."""

    class Parser(base):
        def parse_known_args(self, args=None, namespace=None):
            args = list(args or [])
            for i, arg in enumerate(args[:-1]):
                value = args[i + 1]
                if arg == "--sort" and value.startswith("-") and not value.startswith("--"):
                    args[i : i + 2] = [f"--sort={value}"]
                    break
            return super().parse_known_args(args, namespace)

    return Parser


def _add_list(group) -> None:
    p = group.add_parser(
        "list",
        help="every run: id, status, the settings that differ between runs, results",
        description="Every run of the project, oldest first unless --sort. Damaged run folders are listed "
        "with status 'damaged' and the reason.",
    )
    p.add_argument("project", metavar="PROJECT", help="a project file (*.wbproj) or its runs/ folder")
    p.add_argument(
        "--sort",
        metavar="KEY",
        help="sort by a column, setting or result key (e.g. best_val_accuracy, lr, duration_s); "
        "'-KEY' for descending; runs without a value go last",
    )
    p.add_argument(
        "--filter",
        metavar="TEXT",
        help="only runs whose id, name, status, settings, tags or notes contain every word of TEXT",
    )
    p.add_argument("--json", action="store_true", help="a JSON list, one object per run")
    p.set_defaults(func=run_list)


def _add_show(group) -> None:
    p = group.add_parser(
        "show",
        help="one run: its settings, results, tags, notes, config and lineage",
        description="One run's row (every setting and result), its config.json, its parent (the run it "
        "resumed or forked from) and the runs made from it.",
    )
    p.add_argument("run", metavar="RUN", help="a run folder, or with --project a run id, id prefix or name")
    p.add_argument("--project", metavar="PROJECT", help="a project file (*.wbproj) or its runs/ folder")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=run_show)


def _add_export_tb(group) -> None:
    p = group.add_parser(
        "export-tb",
        help="write TensorBoard event files (runs/<id>/tb/) for runs trained before they were written",
        description="(Re)write each run's tb/ folder from its metrics.jsonl, config.json and summary.json: "
        "scalars per batch and per epoch, and the hyperparameters. Idempotent: the old event files are "
        "replaced, never added to. Runs still training are skipped (they write their own). Then: "
        "tensorboard --logdir runs/",
    )
    p.add_argument(
        "target", metavar="PROJECT_OR_RUN", help="a project file (*.wbproj), its runs/ folder, or a run"
    )
    p.set_defaults(func=run_export_tb)


def run_export_tb(args) -> int:
    from workbench.core.training.runs import list_runs
    from workbench.core.training.tensorboard import export_run

    target = Path(args.target).expanduser()
    single = target.is_dir() and (target / "config.json").is_file()
    runs = [target] if single else [run.path for run in list_runs(runs_folder(args.target))]
    written = 0
    for run in runs:
        try:
            path = export_run(run)
        except UserError as exc:
            if single:
                raise
            sys.stderr.write(f"skipped {run.name}: {exc}\n")
            continue
        written += 1
        sys.stdout.write(f"{path}\n")
    sys.stderr.write(
        f"{written} of {len(runs)} run(s) written; view them with: tensorboard --logdir "
        f"{target if single else runs_folder(args.target)}\n"
    )
    return 0


# ---------------------------------------------------------------- resolving arguments


def runs_folder(project: str) -> Path:
    """The runs/ folder of a project file, or the runs folder itself; a one-line UserError otherwise."""
    path = Path(project).expanduser()
    if not path.exists():
        raise UserError(f"{project} does not exist; give a project file (*.wbproj) or its runs/ folder")
    if path.is_file():
        if path.suffix != ".wbproj":
            raise UserError(f"{project} is not a project file (*.wbproj) or a runs folder")
        runs = path.resolve().parent / "runs"
        if not runs.is_dir():
            raise UserError(f"{project} has no runs/ folder beside it yet; train it first (workbench train)")
        return runs
    if path.is_dir():
        if any(path.glob("*.wbproj")) and (path / "runs").is_dir():
            return path / "runs"
        if path.name == "runs" or any((p / "config.json").is_file() for p in _some_dirs(path)):
            return path
        raise UserError(f"{project} is neither a project file (*.wbproj) nor a runs folder")
    raise UserError(f"{project} is not a regular file or folder")


def _some_dirs(path: Path, limit: int = 20) -> list[Path]:
    out = []
    try:
        for child in path.iterdir():
            if child.is_dir():
                out.append(child)
                if len(out) >= limit:
                    break
    except OSError:
        pass
    return out


def _find_run(spec: str, project: str | None) -> Path:
    path = Path(spec).expanduser()
    if path.is_dir() and project is None:
        return path
    if project is None:
        raise UserError(
            f"no run folder {spec}; give the run folder's path, or --project PROJECT with its id or name"
        )
    runs = runs_folder(project)
    if (runs / spec).is_dir():
        return runs / spec
    from workbench.core.training.run_index import RunIndex

    rows = RunIndex(runs).rows()
    hits = [r for r in rows if r.id.startswith(spec)] or [r for r in rows if r.name == spec]
    if len(hits) == 1:
        return hits[0].path
    if not hits:
        raise UserError(f"no run {spec!r} in {runs}; `workbench runs list {project}` shows the ids")
    raise UserError(
        f"{spec!r} matches {len(hits)} runs ({', '.join(r.id for r in hits[:5])}...); give more of the id"
    )


# ---------------------------------------------------------------- list


def _list_rows(args):
    from workbench.core.training.run_index import RunIndex
    from workbench.core.training.run_table import differing_settings, row_matches, sort_rows

    rows = RunIndex(runs_folder(args.project)).rows()
    differ = differing_settings(rows)
    if args.sort:
        rows = sort_rows(rows, args.sort)  # an unknown key is a UserError listing the keys
    if args.filter:
        rows = [r for r in rows if row_matches(r, args.filter)]
    return rows, differ


def run_list(args) -> int:
    rows, differ = _list_rows(args)
    if args.json:
        from workbench.cli import print_json

        print_json([_list_object(r, differ) for r in rows])
        return 0
    sys.stdout.write(_table(rows, differ))
    return 0


def _list_object(row, differ: list[str]) -> dict[str, Any]:
    doc = {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "settings": {k: row.settings.get(k) for k in differ},
        "results": dict(row.results),
        "started": row.started,
        "duration_s": row.duration_s,
        "tags": list(row.tags),
        "notes": row.notes,
        "resumed_by": row.resumed_by,
        "path": str(row.path),
    }
    if row.status == "damaged":
        doc["damage"] = row.damage
    return doc


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _table(rows, differ: list[str]) -> str:
    if not rows:
        return "No runs.\n"
    header = [
        "ID",
        "STATUS",
        *(k.upper() for k in differ),
        *(h for _, h in TABLE_RESULTS),
        "DURATION",
        "TAGS",
    ]
    body = [
        [
            r.id if r.name == r.id else f"{r.id} ({r.name})",
            r.status,
            *(_cell(r.settings.get(k)) for k in differ),
            *(_cell(r.results.get(k)) for k, _ in TABLE_RESULTS),
            _duration(r.duration_s),
            ",".join(r.tags) or "-",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    ]
    damaged = [r for r in rows if r.status == "damaged"]
    if damaged:
        out.append("")
        out += [f"damaged {r.id}: {r.damage}" for r in damaged]
    out.append(f"\n{len(rows)} run{'s' if len(rows) != 1 else ''}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- show


def run_show(args) -> int:
    from workbench.core.io import read_json
    from workbench.core.training.run_index import RunIndex, run_row

    path = _find_run(args.run, args.project)
    row = run_row(path)
    try:
        config = read_json(path / "config.json", "config.json")
    except UserError:
        config = None
    siblings = RunIndex(path.parent).rows()
    by_id = {r.id: r for r in siblings}

    def link(ref: Any) -> dict[str, Any] | None:
        if not ref:
            return None
        run_id, _, step = str(ref).partition("@")
        found = by_id.get(run_id)
        return {
            "id": run_id,
            "step": int(step) if step.isdigit() else None,
            "path": str(found.path) if found else None,
            "status": found.status if found else "missing",
        }

    children = [
        r.id
        for r in siblings
        if r.id != row.id
        and any(str(r.settings.get(k) or "").partition("@")[0] == row.id for k in ("parent", "forked_from"))
    ]
    doc = {
        **row.to_dict(),
        "parent": link(row.settings.get("parent")),
        "forked_from": link(row.settings.get("forked_from")),
        "children": children,
        "config": config,
    }
    if args.json:
        from workbench.cli import print_json

        print_json(doc)
        return 0
    sys.stdout.write(_show_text(doc))
    return 0


def _show_text(doc: dict[str, Any]) -> str:
    started = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(doc["started"])) if doc.get("started") else "-"
    )
    lines = [
        f"run       {doc['id']}" + (f" ({doc['name']})" if doc["name"] != doc["id"] else ""),
        f"status    {doc['status']}" + (f": {doc['damage']}" if doc.get("damage") else ""),
        f"folder    {doc['path']}",
        f"started   {started}   duration {_duration(doc.get('duration_s'))}",
    ]
    for key in ("parent", "forked_from"):
        if doc.get(key):
            link = doc[key]
            at = f" at step {link['step']}" if link.get("step") is not None else ""
            lines.append(f"{key:<9} {link['id']}{at} ({link['status']})")
    if doc["children"]:
        lines.append(f"children  {', '.join(doc['children'])}")
    if doc["tags"]:
        lines.append(f"tags      {', '.join(doc['tags'])}")
    if doc["notes"]:
        lines.append(f"notes     {doc['notes']}")
    lines.append("settings")
    lines += [f"  {k:<20} {_cell(v)}" for k, v in doc["settings"].items() if v is not None]
    lines.append("results")
    lines += [f"  {k:<20} {_cell(v)}" for k, v in doc["results"].items() if v is not None]
    return "\n".join(lines) + "\n"
