"""`workbench export SOURCE --format F -o OUT` (docs/contract.md section 3): export a run or checkpoint, verify it,
and write the model with its report (JSON + Markdown) beside it. Progress goes to stderr; `--json` prints
the report as one JSON document on stdout, otherwise the Markdown report."""

from __future__ import annotations

import sys

from workbench.core.errors import UserError

BUILTIN_FORMATS = (
    "onnx",
    "onnx-fp16",
    "onnx-int8-dynamic",
    "onnx-int8-static",
    "tensorrt-int8",
    "torchscript",
    "safetensors",
    "adapters",
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a run or checkpoint to ONNX / fp16 / int8 / TorchScript, verified",
        description="Export a trained model and verify it: onnx.checker, onnxruntime at batch 1 "
        "and 32, parity and accuracy against PyTorch, size and latency. The report is "
        "written beside the model as <model>.report.json and .report.md. Exit codes: "
        "0 exported and verified; 2 bad input; 3 verification failed (one line names "
        "the failed check; nothing is left under OUT unless --keep-failed).",
    )
    p.add_argument(
        "source", metavar="SOURCE", help="a run folder (runs/<id>) or a checkpoint file (.safetensors)"
    )
    p.add_argument(
        "--format",
        "-f",
        default="onnx",
        metavar="FORMAT",
        help=f"one of {', '.join(BUILTIN_FORMATS)} (or a plugin's format; tensorrt-int8 needs "
        "`pip install tensorrt` and an NVIDIA GPU); default onnx",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="the file to write (a folder: <checkpoint name>.<suffix> inside it)",
    )
    p.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="for a run folder: which checkpoint (default best, else last)",
    )
    p.add_argument(
        "--opset",
        type=int,
        help="ONNX opset, written exactly or refused (default 18; int8 dynamic 11+, int8 static 13+)",
    )
    p.add_argument(
        "--calibration-samples",
        type=int,
        metavar="N",
        help="onnx-int8-static: train samples to calibrate on (default 256)",
    )
    p.add_argument(
        "--calibration-method",
        choices=("minmax", "entropy", "percentile"),
        help="onnx-int8-static: how activation ranges are chosen (default minmax)",
    )
    p.add_argument(
        "--max-accuracy-drop",
        type=float,
        metavar="POINTS",
        help="onnx-int8-static / tensorrt-int8: the largest accuracy drop accepted, in points on the "
        "validation split; "
        "the most sensitive nodes stay in fp32 until it is met (the report lists each node's "
        "sensitivity)",
    )
    p.add_argument(
        "--max-fp32-nodes",
        type=int,
        metavar="N",
        help="with --max-accuracy-drop: keep at most N nodes in fp32 (default half the quantizable ones)",
    )
    p.add_argument(
        "--keep-failed",
        action="store_true",
        help="keep the file (and its report) even when verification fails; the exit code is still 3",
    )
    p.add_argument(
        "--verify-samples", type=int, metavar="K", help="validation samples for parity (default 1000)"
    )
    p.add_argument("--fp16-io", action="store_true", help="onnx-fp16: half-precision inputs and outputs too")
    p.add_argument("--report", metavar="REPORT.json", help="also write the report here")
    p.add_argument("--json", action="store_true", help="print the report as one JSON document")
    p.set_defaults(func=run_export_command)


def _settings(args):
    from pydantic import ValidationError

    from workbench.core.errors import describe_validation_error
    from workbench.core.export.registry import exporters
    from workbench.core.export.settings import ExportSettings

    values = {
        "format": args.format,
        "opset": args.opset,
        "calibration_samples": args.calibration_samples,
        "calibration_method": args.calibration_method,
        "verify_samples": args.verify_samples,
        "keep_io_float32": False if args.fp16_io else None,
        "source": args.checkpoint,
        "max_accuracy_drop": args.max_accuracy_drop,
        "max_fp32_nodes": args.max_fp32_nodes,
    }
    budgeted = [e.name for e in exporters() if "max_accuracy_drop" in e.options]
    if (
        args.max_accuracy_drop is not None or args.max_fp32_nodes is not None
    ) and args.format not in budgeted:
        raise UserError(
            f"--max-accuracy-drop and --max-fp32-nodes apply to --format {' / '.join(budgeted)} only; "
            "choose one of those or leave them out"
        )
    drop = args.max_accuracy_drop
    if drop is not None and not 0 <= drop <= 100:  # nan fails both comparisons
        raise UserError(
            f"--max-accuracy-drop {drop:g} is not a valid budget; give the accuracy points you accept to lose, "
            "a number from 0 to 100 (e.g. 0.5)"
        )
    if args.max_fp32_nodes is not None and args.max_fp32_nodes < 0:
        raise UserError(f"--max-fp32-nodes {args.max_fp32_nodes} is negative; give 0 or more nodes")
    if args.max_fp32_nodes is not None and args.max_accuracy_drop is None:
        raise UserError("--max-fp32-nodes needs --max-accuracy-drop (the budget it helps to meet)")
    try:
        return ExportSettings.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, "bad export option")) from exc


def _refuse_overwrites(args, source, settings) -> None:
    """The model, its reports and --report never replace the checkpoint, the run's files or the project."""
    from workbench.core.export.pipeline import output_path
    from workbench.core.export.registry import get_exporter
    from workbench.core.io import refuse_output_over_inputs, run_inputs

    model = output_path(args.output, get_exporter(settings.format), source)
    beside = [model.with_name(model.name + ext) for ext in (".report.json", ".report.md")]
    inputs = [args.source, source.path, *run_inputs(source.path or args.source)]
    refuse_output_over_inputs([model, args.report], inputs)
    refuse_output_over_inputs(beside, [*inputs, model, args.report])


def run_export_command(args) -> int:
    from workbench.core.export.pipeline import (
        EXIT_VERIFICATION_FAILED,
        ExportFinished,
        VerificationFailed,
        run_export,
    )
    from workbench.core.export.registry import get_exporter
    from workbench.core.export.source import source_from_checkpoint
    from workbench.core.io import atomic_write_text

    settings = _settings(args)
    get_exporter(settings.format)  # an unknown format fails before the model is loaded
    source = source_from_checkpoint(args.source, settings.source)
    _refuse_overwrites(args, source, settings)
    report = None
    failed = None
    try:
        for event in run_export(
            source, settings, args.output, on_failure="keep" if args.keep_failed else "delete"
        ):
            if isinstance(event, ExportFinished):
                report = event.report
            else:
                sys.stderr.write(f"[{int(100 * event.fraction):3d}%] {event.message}\n")
                sys.stderr.flush()
    except VerificationFailed as exc:
        report, failed = exc.report, exc
    assert report is not None
    if failed is None and report.verdict == "failed":
        failed = VerificationFailed(report)
    for warning in report.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if args.report:
        atomic_write_text(args.report, report.to_json())
    if args.json:
        from workbench.cli import print_json

        print_json(report.to_dict())
    else:
        sys.stdout.write(report.to_markdown())
    if failed is not None:
        kept = f" (kept: {report.path})" if args.keep_failed else " (nothing written; --keep-failed keeps it)"
        sys.stderr.write(f"{failed}{kept}\n")
        return EXIT_VERIFICATION_FAILED
    return 0
