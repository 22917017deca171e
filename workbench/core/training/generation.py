"""Text from a trained language model: a prompt continued token by token.

The model maps (B, L) token ids to (B, L, vocab) logits with a causal mask and a fixed input length L (the
data's block size). Every step feeds the last <= L tokens RIGHT-padded to L and reads the logits at the last
real position: under the causal mask the padding after it cannot change them, so any model of a fixed input
length generates exactly. `<unk>` is never generated. Sampling: logits / temperature, optionally only the top_k
most likely tokens, drawn with a generator seeded by `seed` (the same seed gives the same text); temperature 0
is greedy (argmax).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError

MAX_NEW_TOKENS = 10_000


@dataclass(frozen=True)
class Sample:
    """One generation: the prompt as the model saw it, the continuation and how it was drawn. `complete` is
    False for the partial samples `generate_steps` yields on the way."""

    prompt: str
    text: str  # the generated continuation only
    tokens: list[int]  # its token ids
    max_new_tokens: int
    temperature: float
    top_k: int
    seed: int
    run: str | None = None
    checkpoint: str | None = None
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["complete"]
        return out


def check_options(max_new_tokens: int, temperature: float, top_k: int) -> None:
    import math

    if not 1 <= int(max_new_tokens) <= MAX_NEW_TOKENS:
        raise UserError(f"max new tokens {max_new_tokens} is out of range; use 1..{MAX_NEW_TOKENS:,}")
    if not math.isfinite(temperature) or temperature < 0:
        raise UserError(f"temperature {temperature} must be 0 (greedy) or a positive number such as 0.8")
    if top_k < 0:
        raise UserError(f"top-k {top_k} must be 0 (all tokens) or a positive number of tokens")


def generate_steps(
    model,
    tokenizer,
    prompt: str,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 0,
    seed: int = 0,
    block_size: int | None = None,
    every_s: float = 0.1,
) -> Iterator[Sample]:
    """`generate`, step by step: a partial Sample at most every `every_s` seconds while tokens come, then the
    complete one (a view shows the text growing; a consumer that stops iterating stops the generation)."""
    import time

    import torch

    check_options(max_new_tokens, temperature, top_k)
    ids = tokenizer.encode(prompt or "\n")
    if not ids:
        raise UserError("the prompt encodes to no tokens; type some text")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    block = int(block_size or len(ids))
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    unk = getattr(tokenizer, "unk_id", None)
    shown = tokenizer.decode(ids) if prompt else ""

    def sample(new: list[int], complete: bool) -> Sample:
        return Sample(
            shown,
            tokenizer.decode(new),
            list(new),
            int(max_new_tokens),
            float(temperature),
            int(top_k),
            int(seed),
            complete=complete,
        )

    new: list[int] = []
    last = time.perf_counter()
    model.eval()
    for _ in range(int(max_new_tokens)):
        context = (ids + new)[-block:]
        x = torch.zeros((1, block), dtype=torch.int64)
        x[0, : len(context)] = torch.tensor(context, dtype=torch.int64)
        with torch.no_grad():  # (not around the yield: grad mode is the consumer's while it is suspended)
            logits = model(x.to(device))[0, len(context) - 1].float().cpu()
        if unk is not None and 0 <= unk < logits.numel():
            logits[unk] = float("-inf")
        new.append(_pick(logits, temperature, top_k, generator))
        if time.perf_counter() - last >= every_s and len(new) < max_new_tokens:
            last = time.perf_counter()
            yield sample(new, complete=False)
    yield sample(new, complete=True)


def generate(
    model,
    tokenizer,
    prompt: str,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 0,
    seed: int = 0,
    block_size: int | None = None,
) -> Sample:
    """Continue `prompt` with `model` (on its own device, in eval mode) and `tokenizer` (`encode`/`decode`,
    see workbench.core.data.textfile.LMTokenizer). An empty prompt starts from a line break."""
    *_, last = generate_steps(model, tokenizer, prompt, max_new_tokens, temperature, top_k, seed, block_size)
    return last


def _pick(logits, temperature: float, top_k: int, generator) -> int:
    import torch

    if temperature == 0:
        return int(logits.argmax())
    logits = logits / temperature
    if 0 < top_k < logits.numel():
        cut = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < cut, float("-inf"))
    return int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))


def load_language_model(run_dir: str | os.PathLike, which: str = "best", device: str = "auto"):
    """(model on `device`, tokenizer, block size, checkpoint) of a run's best (else last) checkpoint, or of a
    checkpoint file given as `run_dir`; a model that is not a language model is refused."""
    from workbench.core.data.textfile import lm_tokenizer
    from workbench.core.training.checkpoints import load_checkpoint
    from workbench.core.training.setup import resolve_device

    source = Path(run_dir).expanduser()
    if source.is_dir():
        path = source / "checkpoints" / f"{which}.safetensors"
        source = path if path.is_file() else source
    checkpoint = load_checkpoint(source)
    facts = checkpoint.meta.get("dataset", {})
    if facts.get("task") != "language_model":
        raise UserError(
            f"{checkpoint.path} is not a language model (task {facts.get('task') or 'unknown'}); "
            "generate from a run trained on a text file"
        )
    tokenizer = lm_tokenizer(facts.get("extra", {}))
    model = checkpoint.build_model().to(resolve_device(device))
    return model, tokenizer, int(checkpoint.spec.input_shape[0]), checkpoint


def _from_run(sample: Sample, checkpoint) -> Sample:
    run = checkpoint.path.parent.parent if checkpoint.path is not None else None
    return replace(sample, run=str(run) if run else None, checkpoint=str(checkpoint.path))


def generate_from_run(
    run_dir: str | os.PathLike,
    prompt: str,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 0,
    seed: int = 0,
    which: str = "best",
    device: str = "auto",
) -> Sample:
    """Generate with a run's best (else last) checkpoint, or a checkpoint file given as `run_dir`."""
    check_options(max_new_tokens, temperature, top_k)
    model, tokenizer, block, checkpoint = load_language_model(run_dir, which, device)
    sample = generate(model, tokenizer, prompt, max_new_tokens, temperature, top_k, seed, block)
    return _from_run(sample, checkpoint)


def generate_job(
    control: Any,
    run_dir: str,
    prompt: str = "",
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 0,
    seed: int = 0,
    which: str = "best",
    device: str = "auto",
) -> Iterator[Sample]:
    """The trainer-process job (workbench.core.jobs.JOBS["generate"]): the text as it grows (partial Samples about
    ten times a second), then the complete Sample; a cancel (a newer request) stops it between tokens."""
    from workbench.core.errors import Cancelled

    check_options(max_new_tokens, temperature, top_k)
    model, tokenizer, block, checkpoint = load_language_model(run_dir, which, device)
    steps = generate_steps(model, tokenizer, prompt, max_new_tokens, temperature, top_k, seed, block)
    for sample in steps:
        if control.cancelled.is_set():
            raise Cancelled("generation cancelled")
        yield _from_run(sample, checkpoint)
