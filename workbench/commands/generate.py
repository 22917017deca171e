"""`workbench generate RUN --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--seed S]`
(docs/contract.md section 3): continue a prompt with a language model trained on a text file."""

from __future__ import annotations

import sys

from workbench.core.training.generation import MAX_NEW_TOKENS


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "generate",
        help="continue a prompt with a language-model run (a run trained on a text file)",
        description="Loads the run's best checkpoint (else the last) and its tokenizer, and prints the prompt "
        "followed by the generated text. The same seed gives the same text.",
    )
    parser.add_argument(
        "run", metavar="RUN", help="a run folder (runs/<id>) or a checkpoint .safetensors file"
    )
    parser.add_argument(
        "--prompt", default="", help="the text to continue (default: start from a line break)"
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=200,
        metavar="N",
        help=f"tokens to generate, 1..{MAX_NEW_TOKENS:,} (default 200)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        metavar="T",
        help="0 = greedy; higher = more varied (default 0.8)",
    )
    parser.add_argument(
        "--top-k", type=int, default=0, metavar="K", help="sample among the K most likely tokens (0 = all)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which checkpoint of RUN"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:<index>")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args) -> int:
    from workbench.core.training.generation import generate_from_run

    sample = generate_from_run(
        args.run,
        args.prompt,
        max_new_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
        which=args.checkpoint,
        device=args.device,
    )
    if args.json:
        from workbench.cli import print_json

        print_json(sample.to_dict())
    else:
        sys.stdout.write(sample.prompt + sample.text + "\n")
    return 0
