"""`workbench data ...` (docs/contract.md section 3):
`workbench data inspect SOURCE [--kind K] [--target COLUMN] --json`."""

from __future__ import annotations

import sys

from workbench.core.errors import UserError

CONTRACT_KEYS = ("kind", "num_samples", "num_classes", "class_names", "input_shape", "skipped")


def _options(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--option {pair!r} needs the form KEY=VALUE, e.g. --option resize=28")
        low = value.lower()
        if low in ("true", "false", "yes", "no"):
            out[key] = low in ("true", "yes")
        else:
            try:
                out[key] = int(value)
            except ValueError:
                try:
                    out[key] = float(value)
                except ValueError:
                    out[key] = value
    return out


def _progress():
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=0, file=sys.stderr, leave=False, unit="", unit_scale=True)  # files, or bytes of a CSV

    def update(done, total, message):
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_description(message[:40], refresh=False)
        bar.refresh()

    return update, bar.close


def cmd_inspect(args) -> int:
    from workbench.cli import print_json
    from workbench.core.data.inspect import inspect_source, settings_for

    settings = settings_for(args.source, args.kind, args.target, _options(args.option), args.val_source)
    progress, close = _progress()
    try:
        report = inspect_source(settings, progress)
    finally:
        close()
    if args.json:
        print_json({k: report[k] for k in CONTRACT_KEYS})
        return 0
    d = report["details"]
    shape = "x".join(str(s) for s in report["input_shape"])
    lines = [
        f"{args.source}: {report['kind']}, {report['num_samples']:,} samples, input {shape} "
        f"({d['input_dtype']}), {d['task']}"
    ]
    if d["task"] == "classification":
        lines.append(f"{report['num_classes']} classes:")
        width = max(len(n) for n in report["class_names"])
        lines += [f"  {n:<{width}}  {c:>7,}" for n, c in d["class_counts"].items()]
    if "missing" in d:
        m = d["missing"]
        lines.append(
            f"missing values: policy {m['policy']}, {m['rows_dropped']} rows dropped"
            + (f", imputed {m['values_imputed']}" if m["values_imputed"] else "")
        )
    if d["task"] == "language_model":
        tokens = ", ".join(f"{n} {c:,}" for n, c in d["tokens"].items())
        lines.append(
            f"{d['characters']:,} characters read as {d['encoding']}; {d['tokenizer']} tokenizer: "
            f"{d['vocab_size']:,} tokens in the vocabulary; tokens per split: {tokens} (windows of {shape})"
        )
    elif "encoding" in d:
        lines.append(
            f"read as {d['encoding']}, delimiter {d['delimiter']!r}, target column {d['target']!r}"
            + (f", text column {d['text_column']!r}" if d.get("text_column") else "")
        )
    if report["skipped"]:
        lines.append(f"skipped {len(report['skipped'])} files:")
        lines += [f"  {s['path']}: {s['reason']}" for s in report["skipped"][:50]]
        if len(report["skipped"]) > 50:
            lines.append(f"  ... and {len(report['skipped']) - 50} more (see --json)")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="inspect data sources")
    dsub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", parser_class=type(data))
    p = dsub.add_parser(
        "inspect",
        help="count samples and classes of a data source, list skipped files",
        description="Kinds: digits, imagefolder, csv, npz, mnist, fashionmnist, cifar10, textfile "
        "(detected from SOURCE when --kind is omitted; SOURCE `digits` is built in).",
    )
    p.add_argument("source", metavar="SOURCE", help="a folder, a .csv / .npz file, or `digits`")
    p.add_argument("--kind", help="the source kind (detected when omitted)")
    p.add_argument("--target", metavar="COLUMN", help="CSV: the target column (default: the last column)")
    p.add_argument("--val-source", metavar="PATH", help="image folder: a separate validation folder")
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a source option, e.g. resize=28, missing=impute, text_column=review (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_inspect)
