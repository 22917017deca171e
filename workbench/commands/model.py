"""`workbench model check|memory|code|templates` (docs/contract.md section 3).
SPEC is a spec .json or a .wbproj (its model)."""

from __future__ import annotations

import sys

from workbench.core.errors import UserError


def add_parser(sub) -> None:
    model = sub.add_parser("model", help="check a model spec or export it as PyTorch code")
    cmds = model.add_subparsers(dest="model_command", metavar="COMMAND")

    check = cmds.add_parser(
        "check", help="shapes, parameters and MACs per layer; the error at the failing layer"
    )
    check.add_argument("spec", metavar="SPEC", help="model spec .json, or a .wbproj project")
    check.add_argument(
        "--input-shape", help="input shape without the batch, e.g. 3,32,32 (default: the spec's)"
    )
    check.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="batch size of the layer outputs (training peak: model memory)",
    )
    check.add_argument("--num-classes", type=int, help="flag a last layer of another size")
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.set_defaults(func=run_check)

    from workbench.commands.model_memory import add_arguments as add_memory_arguments

    add_memory_arguments(
        cmds.add_parser(
            "memory",
            help="the traced peak memory of a training step; does it fit, the largest batch that does",
        )
    )

    code = cmds.add_parser("code", help="write a standalone PyTorch module file (imports only torch)")
    code.add_argument("spec", metavar="SPEC", help="model spec .json, or a .wbproj project")
    code.add_argument("-o", "--output", required=True, help="the .py file to write")
    code.add_argument("--class-name", default="Model", help="name of the nn.Module class (default Model)")
    code.set_defaults(func=run_code)

    templates = cmds.add_parser("templates", help="write a template network sized to an input and classes")
    templates.add_argument("name", nargs="?", help="template name (omit to list them)")
    templates.add_argument(
        "--input-shape", default="1,8,8", help="input shape without the batch (default 1,8,8)"
    )
    templates.add_argument("--num-classes", type=int, default=10)
    templates.add_argument(
        "--vocab-size",
        type=int,
        help="token templates (text_bag, text_lstm, bert_classifier, gpt_lm): the vocabulary size; "
        "the input shape is then the sequence length, e.g. --input-shape 40",
    )
    templates.add_argument("-o", "--output", help="spec .json to write (default: print it)")
    templates.set_defaults(func=run_templates)


def parse_shape(text: str) -> list[int]:
    from workbench.core.model.spec import check_input_shape

    try:
        shape = [int(part) for part in text.replace("x", ",").split(",") if part.strip()]
    except ValueError:  # not whole numbers (1e5, inf), or over Python's 4300-digit limit
        shape = []
    shown = text if len(text) <= 40 else f"{text[:37]}..."
    if not shape or any(d < 1 for d in shape):
        raise UserError(f"--input-shape {shown!r} must be positive sizes separated by commas, e.g. 3,32,32")
    try:
        return check_input_shape(shape)
    except ValueError as exc:
        raise UserError(f"--input-shape {shown!r}: {str(exc).removeprefix('input_shape ')}") from None


def run_check(args) -> int:
    from workbench.cli import print_json
    from workbench.core.model.analysis import analyze
    from workbench.core.model.spec import load_spec

    if args.batch_size < 1:
        raise UserError("--batch-size must be 1 or more")
    try:
        spec = load_spec(args.spec)
        if args.input_shape:
            spec = spec.model_copy(update={"input_shape": parse_shape(args.input_shape)})
    except UserError as exc:
        if args.json:
            print_json(
                {
                    "ok": False,
                    "error": str(exc),
                    "output_shape": None,
                    "total_params": 0,
                    "trainable_params": 0,
                    "layers": [],
                }
            )
        raise
    result = analyze(spec, batch_size=args.batch_size, num_classes=args.num_classes)
    if args.json:
        print_json(result.to_dict())
    else:
        _print_table(result)
    if not result.ok:
        sys.stderr.write(f"error: {result.error}\n")
        return 2
    return 0


def _print_table(result) -> None:
    from workbench.core.model.format import table

    print(table(result))


def run_code(args) -> int:
    from workbench.core.io import refuse_output_over_inputs
    from workbench.core.model.codegen import export_code
    from workbench.core.model.spec import load_spec

    refuse_output_over_inputs([args.output], [args.spec])
    path = export_code(load_spec(args.spec), args.output, args.class_name)
    print(f"wrote {path}")
    return 0


def run_templates(args) -> int:
    from workbench.cli import print_json
    from workbench.core.model.spec import save_spec
    from workbench.core.model.templates import TEMPLATES, make_template

    if not args.name:
        for t in TEMPLATES.values():
            print(f"{t.name:16} {t.title}: {t.doc}")
        return 0
    token_kinds = ("tokens", "language_model")  # templates that take integer token ids
    tokens = args.name in TEMPLATES and TEMPLATES[args.name].kind in token_kinds
    spec = make_template(
        args.name,
        parse_shape(args.input_shape),
        args.num_classes,
        "int64" if tokens else "float32",
        vocab_size=args.vocab_size,
    )
    if args.output:
        from workbench.core.io import refuse_output_over_inputs

        refuse_output_over_inputs([args.output], [])  # never into a run's checkpoints
        save_spec(spec, args.output)
        print(f"wrote {args.output}")
    else:
        print_json(spec.to_dict())
    return 0
