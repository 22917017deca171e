"""`workbench model memory PROJECT`: the traced peak memory of a training step of the project's model with its
training settings, whether it fits the device (with the headroom stated) and the largest batch size that does."""

from __future__ import annotations

from workbench.core.errors import UserError


def add_arguments(memory) -> None:
    memory.add_argument(
        "project", metavar="PROJECT", help="a .wbproj project (its model and training settings)"
    )
    memory.add_argument("--batch-size", type=int, help="batch size (default: the project's)")
    memory.add_argument(
        "--device", help="cpu, cuda or cuda:<index> (default: the project's device; auto picks the first GPU)"
    )
    memory.add_argument("--amp", choices=("fp16", "bf16"), help="mixed precision (CUDA only)")
    memory.add_argument(
        "--grad-accumulation-steps",
        type=int,
        help="micro-batches per optimizer step (default: the project's)",
    )
    memory.add_argument(
        "--activation-checkpointing",
        action="store_true",
        help="recompute each block's activations in backward",
    )
    memory.add_argument("--json", action="store_true", help="print one JSON document")
    memory.set_defaults(func=run_memory)


def run_memory(args) -> int:
    from workbench.cli import print_json
    from workbench.core.hardware.fit import plan_memory
    from workbench.core.hardware.sampler import HardwareSampler
    from workbench.core.project import load_project

    project = load_project(args.project)
    update = {}
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise UserError(f"--batch-size must be 1 or more, not {args.batch_size}")
        update["batch_size"] = args.batch_size
    if args.grad_accumulation_steps is not None:
        if args.grad_accumulation_steps < 1:
            raise UserError(
                f"--grad-accumulation-steps must be 1 or more, not {args.grad_accumulation_steps}"
            )
        update["grad_accumulation_steps"] = args.grad_accumulation_steps
    if args.amp:
        update["precision"] = args.amp
    if args.activation_checkpointing:
        update["activation_checkpointing"] = True
    from pydantic import ValidationError

    from workbench.core.errors import describe_validation_error

    try:  # validated like the project file (a batch of 10**400 is one line, not an OverflowError)
        config = type(project.training).model_validate({**project.training.model_dump(), **update})
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, "bad training option")) from exc
    device = (args.device or config.device or "auto").strip().lower()
    if args.amp and device == "cpu":
        raise UserError(f"--amp {args.amp} needs a CUDA GPU; the CPU trains in fp32 (drop --amp or use cuda)")
    task = "regression" if project.dataset.options.get("task") == "regression" else "classification"
    sampler = HardwareSampler()
    try:
        snapshot = sampler.sample()
    finally:
        sampler.release()
    plan = plan_memory(project.model, config, device, snapshot, task=task)
    if args.json:
        print_json(plan.to_dict())
    else:
        print(memory_report(plan))
    return 0


def memory_report(plan) -> str:
    from workbench.core.hardware.fit import ALLOCATOR_MARGIN, CUDA_CONTEXT_BYTES, MAX_BATCH_SEARCH
    from workbench.core.units import bytes_text

    est = plan.estimate
    options = [f"batch {est.batch_size}", est.precision]
    if est.grad_accumulation_steps > 1:
        options.append(f"x {est.grad_accumulation_steps} accumulation steps")
    if est.activation_checkpointing:
        options.append("activation checkpointing")
    lines = [
        f"training step ({', '.join(options)}) on {plan.device} ({plan.device_name}): "
        f"peak {bytes_text(est.peak_bytes)} [{est.method}, {est.seconds:.2f} s]",
        "  " + ", ".join(f"{k.replace('_', ' ')} {bytes_text(v)}" for k, v in est.categories.items() if v),
    ]
    if est.layers:
        lines.append(f"  {'#':>3}  {'layer':24} {'weights':>10} {'kept acts':>10} {'peak':>10}")
        for row in est.layers:
            lines.append(
                f"  {row.index:>3}  {row.type[:24]:24} {bytes_text(row.parameter_bytes):>10} "
                f"{bytes_text(row.activation_bytes):>10} {bytes_text(row.peak_bytes):>10}"
            )
    headroom = f"+{ALLOCATOR_MARGIN:.0%} allocator margin"
    if plan.device.startswith("cuda"):
        headroom += f" + {bytes_text(CUDA_CONTEXT_BYTES, 0)} CUDA context"
    verdict = {True: "fits", False: "does NOT fit", None: "unknown (the device does not report free memory)"}
    lines.append(
        f"needs {bytes_text(plan.needed_bytes)} ({headroom}); available {bytes_text(plan.available_bytes)}: "
        f"{verdict[plan.fits]}"
    )
    if plan.max_batch_size is not None:
        limit = " (the most the settings allow)" if plan.max_batch_size >= MAX_BATCH_SEARCH else ""
        lines.append(f"largest batch size that fits: {plan.max_batch_size}{limit}")
    advice = plan.advice()
    if advice:
        lines.append(advice)
    lines.extend(f"note: {note}" for note in est.notes)
    return "\n".join(lines)
