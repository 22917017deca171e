"""The model analysis as a text table (the CLI); numbers written by workbench.core.units."""

from __future__ import annotations

from workbench.core.units import bytes_text, count_text, shape_text


def table(analysis) -> str:
    """The analysis as a text table (CLI `model check` without --json)."""
    rows = [("#", "layer", "output", "params", "MACs", "")]
    for r in analysis.walk():
        indent = "  " * (len(r.path) - 1)
        note = f"ERROR: {r.error}" if r.error else (f"warning: {r.warning}" if r.warning else "")
        if r.fix:
            note += f" [fix: {r.fix.label}]"
        rows.append(
            (
                r.label,
                indent + r.type,
                shape_text(r.output_shape),
                count_text(r.num_params),
                count_text(r.macs),
                note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    ]
    lines.append(
        f"input {shape_text(analysis.input_shape)} -> output {shape_text(analysis.output_shape)}; "
        f"{analysis.total_params:,} parameters ({analysis.trainable_params:,} trainable, "
        f"{bytes_text(analysis.param_bytes)}), {count_text(analysis.total_macs)} MACs per sample"
    )
    lines.append(
        f"batch {analysis.batch_size}: layer outputs {bytes_text(analysis.activation_bytes)}; "
        "the training peak: workbench model memory"
    )
    return "\n".join(line.rstrip() for line in lines)
