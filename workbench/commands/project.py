"""`workbench project new|script` (docs/contract.md section 3).

    workbench project new PATH --data SOURCE [--kind K] [--target COLUMN] [--template NAME | --model SPEC |
                                                                          --pretrained SOURCE]
    workbench project script PROJECT -o train.py

`new` inspects the data, sizes the model to it (a template adapted to the input shape and classes, or a spec
file whose input shape is adapted and checked) and writes the project atomically. `script` writes a standalone
training script (workbench.core.scriptgen) that runs with `python train.py` or under torchrun.
"""

from __future__ import annotations

from pathlib import Path

from workbench.core.errors import UserError


def add_parser(sub) -> None:
    project = sub.add_parser(
        "project", help="create a project from data and a model; export a training script"
    )
    cmds = project.add_subparsers(dest="project_command", metavar="COMMAND", parser_class=type(project))

    new = cmds.add_parser(
        "new",
        help="write a project file for a data source and a template or model spec",
        description="Inspects SOURCE, sizes the model to its input and classes and writes PATH "
        "(*.wbproj). Runs go in runs/ beside it.",
    )
    new.add_argument("path", metavar="PATH", help="the project file to write (*.wbproj)")
    new.add_argument(
        "--data",
        required=True,
        metavar="SOURCE",
        help="a folder, a .csv / .npz file, a text file (--kind textfile: a language model), or `digits`",
    )
    new.add_argument("--kind", help="the data kind (detected when omitted)")
    new.add_argument("--target", metavar="COLUMN", help="CSV: the target column (default: the last column)")
    new.add_argument("--val-source", metavar="PATH", help="image folder: a separate validation folder")
    new.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a data option, e.g. resize=28 or missing=impute (repeatable)",
    )
    model = new.add_mutually_exclusive_group()
    model.add_argument(
        "--template",
        metavar="NAME",
        help="a template sized to the data (see `workbench model templates`): mlp, lenet5, small_vgg, "
        "small_resnet, text_bag, ...; without --template, --model or --pretrained the data's default: lenet5 "
        "(small_resnet above 64 px) for images, mlp for tables, text_bag for text, gpt_lm for a text file",
    )
    model.add_argument(
        "--model",
        metavar="SPEC",
        help="a model spec .json (or a .wbproj's model); its input shape is set to the data's and checked",
    )
    model.add_argument(
        "--pretrained",
        metavar="SOURCE",
        help="a model made elsewhere, read offline: a Hugging Face folder (config.json + *.safetensors), an "
        ".onnx file, or file.py:ClassName (its code runs once, now; the project keeps the traced ONNX graph); "
        "a new head is sized to the classes",
    )
    new.add_argument("--name", help="the project's name (default: the file name)")
    new.add_argument("--force", action="store_true", help="replace PATH when it exists")
    new.add_argument("--json", action="store_true", help="print one JSON document")
    new.set_defaults(func=run_new)

    script = cmds.add_parser(
        "script",
        help="write a standalone training script (python train.py / torchrun)",
        description="A readable Python file with the model code, the data loading, split "
        "and normalization, and the training settings; it imports no Workbench "
        "code.",
    )
    script.add_argument("project", metavar="PROJECT", help="the project file (*.wbproj)")
    script.add_argument("-o", "--output", required=True, help="the .py file to write")
    script.set_defaults(func=run_script)


def _project_path(text: str, force: bool) -> Path:
    path = Path(text).expanduser()
    if not path.suffix:
        path = path.with_suffix(".wbproj")
    if path.suffix != ".wbproj":
        raise UserError(f"project files end in .wbproj; use e.g. {path.with_suffix('.wbproj')}")
    if path.is_dir():
        raise UserError(f"{path} is a folder; give the project file to write, e.g. {path / 'project.wbproj'}")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to replace it or choose another name")
    return path


def model_for_data(meta, template: str | None = None, spec_path: str | None = None):
    """(spec, note): a template sized to the data, or a spec file adapted to the input shape and checked.
    Neither given: the data's default template (`default_template`, as the New project dialog picks)."""
    from workbench.core.model.analysis import analyze
    from workbench.core.model.templates import TEMPLATES, default_template, make_template, templates_for

    shape = list(meta.input_shape)
    chosen = ""
    if template is None and spec_path is None:
        template = default_template(shape, meta.input_dtype, meta.task)
        chosen = " (the data's default)"
    if template is not None:
        fitting = templates_for(shape, meta.input_dtype, meta.task)  # a text file: the language models
        if template in TEMPLATES and TEMPLATES[template] not in fitting:
            fits = ", ".join(t.name for t in fitting)
            raise UserError(
                f"template '{template}' does not fit this data ({meta.input_dtype} input "
                f"{'x'.join(map(str, shape))}); templates that fit: {fits}"
            )
        spec = make_template(
            template, shape, meta.num_classes, meta.input_dtype, vocab_size=meta.extra.get("vocab_size")
        )
        return spec, f"template {template}{chosen}"
    from workbench.core.model.spec import load_spec

    spec = load_spec(spec_path)
    note = f"model {spec_path}"
    if list(spec.input_shape) != shape:
        note += f" (input shape {spec.input_shape} adapted to the data's {shape})"
        spec = spec.model_copy(update={"input_shape": shape})
    result = analyze(spec, num_classes=meta.num_classes or None)
    if not result.ok:
        raise UserError(
            f"model spec {spec_path} does not fit the data (input {'x'.join(map(str, shape))}): "
            f"{result.error}"
        )
    if result.warnings:
        raise UserError(f"model spec {spec_path} does not fit the data: {result.warnings[0]}")
    if meta.task == "regression" and tuple(result.output_shape) != (1,):
        raise UserError(
            f"model spec {spec_path} gives {tuple(result.output_shape)} outputs; a regression target "
            "needs one output (end with Linear(out_features=1))"
        )
    return spec, note


def run_new(args) -> int:
    from workbench.cli import print_json
    from workbench.commands.data import _options
    from workbench.core.data import load_dataset
    from workbench.core.data.inspect import settings_for
    from workbench.core.io import refuse_output_over_inputs
    from workbench.core.model.analysis import analyze
    from workbench.core.project import Project, save_project

    path = _project_path(args.path, args.force)
    source = args.data
    if source.strip().lower() != "digits":
        source = str(Path(source).expanduser().resolve()) if Path(source).expanduser().exists() else source
    val_source = str(Path(args.val_source).expanduser().resolve()) if args.val_source else None
    options = _options(args.option)
    pretrained = getattr(args, "pretrained", None)
    if pretrained:
        from workbench.core.model.pretrained_spec import tokenizer_option

        kind = settings_for(source, args.kind, args.target, options, val_source).kind
        options = {**tokenizer_option(pretrained, kind), **options}
    settings = settings_for(source, args.kind, args.target, options, val_source)
    refuse_output_over_inputs([path], [args.data, args.val_source, args.model])
    data = load_dataset(settings)
    meta = data.meta
    written = []
    if pretrained:
        from workbench.core.model.pretrained_spec import pretrained_spec

        spec, note, written = pretrained_spec(meta, pretrained, path.resolve().parent)
    else:
        spec, note = model_for_data(meta, args.template, args.model)
    project = Project(name=args.name or path.stem, dataset=settings, model=spec)
    try:
        save_project(project, path)
    except BaseException:
        for file in written:  # an imported module's graph goes with the project it was made for
            file.unlink(missing_ok=True)
        raise
    analysis = analyze(spec)
    shape = "x".join(map(str, meta.input_shape))
    report = {
        "path": str(path),
        "name": project.name,
        "dataset": {
            "kind": meta.kind,
            "source": settings.source,
            "num_samples": meta.extra.get("num_samples"),
            "num_classes": meta.num_classes,
            "input_shape": list(meta.input_shape),
            "task": meta.task,
            "splits": {n: len(data.split(n)) for n in ("train", "val", "test")},
        },
        "model": {
            "from": note,
            "layers": len(spec.layers),
            "total_params": analysis.total_params,
            "output_shape": list(analysis.output_shape or []),
        },
    }
    if args.json:
        print_json(report)
    else:
        what = {
            "classification": f"{meta.num_classes} classes",
            "language_model": f"language model, {meta.num_classes} tokens in the vocabulary",
        }.get(meta.task, "regression")
        print(
            f"wrote {path}: {meta.kind} data ({report['dataset']['num_samples']:,} samples, {what}, input "
            f"{shape}); {note}, {len(spec.layers)} layers, {analysis.total_params:,} parameters\n"
            f"next: workbench train {path}"
        )
    return 0


def run_script(args) -> int:
    from workbench.core.io import refuse_output_over_inputs
    from workbench.core.project import load_project
    from workbench.core.scriptgen import export_training_script

    project = load_project(args.project)
    data = project.dataset
    refuse_output_over_inputs(
        [args.output],
        [args.project, *(s for s in (data.source, data.val_source) if s and Path(s).expanduser().is_file())],
    )
    out = export_training_script(project, args.output)
    print(f"wrote {out}\nrun it with: python {out}   (or: torchrun --nproc-per-node 2 {out})")
    return 0
