"""The verification report written beside every export (JSON + Markdown) and shown in the wizard."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.units import bytes_text


@dataclass
class ExportReport:
    format: str
    path: str
    size_bytes: int
    checker_ok: bool
    max_abs_diff: float | None
    top1_agreement: float | None  # fraction of verification samples with the same top-1 class
    accuracy_before: float | None  # PyTorch on the validation split
    accuracy_after: float | None  # the exported model on the same samples
    latency_ms: dict[str, float]  # {"batch_1": ms, "batch_32": ms}, median after warm-up
    mean_abs_diff: float | None = None
    parity_ok: bool | None = None  # fp32: within rtol/atol; lossy formats: agreement threshold
    tolerance: dict[str, float] = field(default_factory=dict)
    baseline: str = ""  # what "before" ran on, e.g. "onnxruntime fp32"
    baseline_latency_ms: dict[str, float] = field(default_factory=dict)
    baseline_size_bytes: int | None = None
    runtime: str = ""
    source: str = ""  # what was exported (run / checkpoint / current model)
    samples: int = 0  # verification samples (from the validation split, or random)
    samples_from: str = ""  # "validation split" or "random inputs (no dataset)"
    input_shape: list[int] = field(default_factory=list)
    opset: int | None = None  # the opset actually written
    opset_requested: int | None = None
    exporter: str = ""  # "dynamo" / "torchscript" ...
    dynamic_batch: bool | None = None
    checks: list[str] = field(default_factory=list)  # problems found by the checker (empty when ok)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # plain statements: int8 slower than fp32 here, ...
    details: dict[str, Any] = field(default_factory=dict)
    latency_comparison: dict[str, Any] = field(
        default_factory=dict
    )  # per batch: medians, IQRs, ratio, verdict
    verdict: str = ""  # "passed" / "failed" (a failed export is kept only when asked)
    failed_checks: list[str] = field(default_factory=list)  # "parity: ...", "accuracy budget: ..."
    accuracy_budget: dict[str, Any] = field(default_factory=dict)  # int8 static with --max-accuracy-drop
    sensitivity: list[dict[str, Any]] = field(
        default_factory=list
    )  # per node: node, op, sqnr_db, ..., kept_fp32
    seconds: float = 0.0
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str) + "\n"

    @property
    def json_path(self) -> Path:
        return report_paths(self.path)[0]

    @property
    def markdown_path(self) -> Path:
        return report_paths(self.path)[1]

    def to_markdown(self) -> str:
        name = Path(self.path).name
        ok = "passed" if self.checker_ok else "FAILED"
        lines = [
            f"# Export report: {name}",
            "",
            f"- Format: **{self.format}** ({self.runtime})" + (f", opset {self.opset}" if self.opset else ""),
            f"- Source: {self.source}" if self.source else "",
            f"- File: `{self.path}` ({_size(self.size_bytes)})",
            f"- Structural check: {ok}" + ("".join(f"\n  - {c}" for c in self.checks)),
            f"- Verified on {self.samples} samples from the {self.samples_from}",
            "",
            "| | before | after |",
            "| --- | --- | --- |",
            f"| accuracy | {_pct(self.accuracy_before)} | {_pct(self.accuracy_after)} |",
            f"| size | {_size(self.baseline_size_bytes)} | {_size(self.size_bytes)} |",
        ]
        for key in ("batch_1", "batch_32"):
            c = (self.latency_comparison or {}).get(key)
            if c:
                lines.append(
                    f"| latency {key.replace('_', ' ')} (median, IQR) | {_ms(c['baseline_ms'])} "
                    f"({_ms(c['baseline_iqr_ms'][0])}-{_ms(c['baseline_iqr_ms'][1])}) | {_ms(c['export_ms'])} "
                    f"({_ms(c['export_iqr_ms'][0])}-{_ms(c['export_iqr_ms'][1])}): {c['verdict']} |"
                )
            else:
                lines.append(
                    f"| latency {key.replace('_', ' ')} | {_ms(self.baseline_latency_ms.get(key))} "
                    f"| {_ms(self.latency_ms.get(key))} |"
                )
        lines += [
            "",
            f'"Before" is {self.baseline}. Parity against PyTorch: max abs diff '
            f"{_num(self.max_abs_diff)}, mean abs diff {_num(self.mean_abs_diff)}, top-1 agreement "
            f"{_pct(self.top1_agreement)}"
            + (
                f" ({'within' if self.parity_ok else 'OUTSIDE'} tolerance: {_tolerance(self.tolerance)})"
                if self.parity_ok is not None
                else ""
            )
            + ".",
        ]
        if self.verdict:
            lines += [
                "",
                f"**Verification {self.verdict.upper()}**"
                + "".join(f"\n- {check}" for check in self.failed_checks),
            ]
        budget = self.accuracy_budget
        if budget:
            lines += [
                "",
                "## Accuracy budget",
                f"Maximum accuracy drop {budget['max_drop_points']:g} points; the drop achieved is "
                f"{_points(budget.get('achieved_drop_points'))} with {budget.get('fp32_nodes', 0)} of "
                f"{budget.get('quantizable_nodes', 0)} weighted nodes kept in fp32: "
                + ("met." if budget.get("met") else f"NOT met ({budget.get('reason', '')})."),
            ]
        if self.sensitivity:
            lines += [
                "",
                "## Sensitivity (most sensitive first)",
                "| node | op | SQNR (dB) | noise added | kept in fp32 |",
                "| --- | --- | --- | --- | --- |",
            ]
            lines += [
                f"| {r['node']} | {r['op']} | {r['sqnr_db']:.1f} | {r['noise_added']:.3g} | {_kept(r)} |"
                for r in self.sensitivity
            ]
        if self.notes:
            lines += ["", "## Notes", *[f"- {n}" for n in self.notes]]
        if self.warnings:
            lines += ["", "## Warnings", *[f"- {w}" for w in self.warnings]]
        return "\n".join(line for line in lines if line is not None) + "\n"


def report_paths(model_path: str | Path) -> tuple[Path, Path]:
    """`model.onnx` -> (`model.onnx.report.json`, `model.onnx.report.md`) beside it."""
    p = Path(model_path)
    return p.with_name(p.name + ".report.json"), p.with_name(p.name + ".report.md")


def load_report(path: str | Path) -> ExportReport:
    from workbench.core.io import read_json

    doc = read_json(path, "export report")
    known = {k: v for k, v in doc.items() if k in ExportReport.__dataclass_fields__}
    return ExportReport(**known)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"


def _points(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f} points"


def _tolerance(t: dict) -> str:
    if "rtol" in t:
        return f"rtol {t['rtol']:g}, atol {t['atol']:g} x output scale"
    if "max_accuracy_drop_points" in t:
        return f"accuracy drop <= {t['max_accuracy_drop_points']:g} points"
    if "top1_agreement" in t:
        return f"top-1 agreement >= {100 * t['top1_agreement']:.0f}%"
    return ""


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _size(v: int | None) -> str:
    return "n/a" if v is None else bytes_text(v)


def _kept(row: dict) -> str:
    if not row["kept_fp32"]:
        return "no"
    return "yes, but reads int8-rounded input" if row.get("reads_int8_input") else "yes"
