"""One-click fixes checked against the whole model before they are offered.

A layer's fix repairs that layer only: "set kernel_size to 16" can leave the MaxPool after it with a 1x1 input.
`vet_fix` tries the fix on a copy of the spec and analyzes it:
- valid: offered as it is;
- a "set" of one whole number that breaks a later layer: the largest smaller value that keeps the whole model
  valid is offered instead (kernel 20 on 16x16 before a 2x2 pool -> kernel 15);
- otherwise the later layers' own fixes are chained (up to MAX_CHAIN) and offered as one fix whose label says
  what else it changes; when the chain does not end valid the label says what still fails.
An inserted Embedding is sized from the dataset's vocabulary (padding id 0), not the registry's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from workbench.core.model.analysis import analyze, apply_fix
from workbench.core.model.registry import Fix

MAX_CHAIN = 4


@dataclass(frozen=True)
class ChainFix:
    """Several fixes applied as one edit (`steps` in order); `path` is the first one's layer."""

    label: str
    steps: tuple[Any, ...]
    path: tuple[int, ...]
    op: str = "chain"
    notes: tuple[str, ...] = field(default_factory=tuple)


def apply_any(spec, fix):
    """The spec after `fix` (a core Fix or a ChainFix)."""
    if getattr(fix, "op", None) == "chain":
        for step in fix.steps:
            spec = apply_fix(spec, step)
        return spec
    return apply_fix(spec, fix)


def sized(fix, vocab_size: int | None):
    """An inserted Embedding without a vocabulary size gets the dataset's (and padding id 0)."""
    if fix is None or fix.op != "insert" or not vocab_size:
        return fix
    layers = fix.layer if isinstance(fix.layer, list) else [fix.layer]
    if not any(layer.get("type") == "Embedding" and "num_embeddings" not in layer for layer in layers):
        return fix
    new = [
        dict(layer, num_embeddings=int(vocab_size), padding_idx=0)
        if layer.get("type") == "Embedding" and "num_embeddings" not in layer
        else layer
        for layer in layers
    ]
    label = fix.label.replace("Embedding", f"Embedding({int(vocab_size):,} tokens)", 1)
    return replace(fix, label=label, layer=new if isinstance(fix.layer, list) else new[0])


def _first_error_fix(analysis):
    for report in analysis.walk():
        if report.error and (report.fix or not report.children):
            return report.fix
    return None


def vet_fix(spec, fix, vocab_size: int | None = None, **analysis_args):
    """The fix to offer for `spec` (see the module doc); None stays None."""
    fix = sized(fix, vocab_size)
    if fix is None:
        return None
    try:
        after = apply_fix(spec, fix)
    except Exception:  # noqa: BLE001 - a fix that cannot be applied is offered as it was
        return fix
    result = analyze(after, **analysis_args)
    if result.error is None:
        return fix
    smaller = _smaller_value(spec, fix, analysis_args)
    if smaller is not None:
        return smaller
    steps, current = [fix], after
    for _ in range(MAX_CHAIN):
        nxt = sized(_first_error_fix(result), vocab_size)
        if nxt is None:
            break
        try:
            current = apply_fix(current, nxt)
        except Exception:  # noqa: BLE001
            break
        steps.append(nxt)
        result = analyze(current, **analysis_args)
        if result.error is None:
            break
    rest = "; ".join(step.label[0].lower() + step.label[1:] for step in steps[1:])
    if result.error is None:
        return ChainFix(f"{fix.label}, and also {rest}", tuple(steps), fix.path)
    still = f"; still: {result.error}"
    if len(steps) == 1:
        return ChainFix(f"{fix.label} (then {result.error})", (fix,), fix.path, notes=(result.error,))
    return ChainFix(f"{fix.label}, and also {rest}{still}", tuple(steps), fix.path, notes=(result.error,))


def _smaller_value(spec, fix, analysis_args):
    """For "set one int key": the largest value below the suggested one that leaves the whole model valid."""
    if fix.op != "set" or not isinstance(fix.layer, dict) or len(fix.layer) != 1:
        return None
    ((key, value),) = fix.layer.items()
    if not isinstance(value, int) or isinstance(value, bool) or value <= 1:
        return None
    for candidate in range(value - 1, 0, -1):
        trial = Fix(f"Set {key} to {candidate}", "set", fix.path, {key: candidate})
        try:
            if analyze(apply_fix(spec, trial), **analysis_args).error is None:
                return trial
        except Exception:  # noqa: BLE001
            return None
    return None
