"""The exporter registry. Built-in formats register through `register_exporter` exactly as plugins do.

An exporter writes one artifact and says how to run it, so every format is verified the same way:
`write(job)` is a generator that writes `job.work_path` (yielding progress), `load(path, job)` returns a
predictor (a numpy batch in, numpy outputs out) and `check(path)` returns the structural check's findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.registry import Registry

Predictor = Callable[[Any], Any]  # numpy batch -> numpy outputs (the model's first output)


@dataclass(frozen=True)
class Exporter:
    name: str  # the --format value, e.g. "onnx-int8-static"
    label: str  # shown in the wizard, e.g. "ONNX int8 static (QDQ)"
    suffix: str  # file name suffix, e.g. ".onnx"
    write: Callable[[Any], Iterator[Any]]  # write(job) -> yields ExportProgress; writes job.work_path
    load: Callable[
        [Path, Any], Predictor
    ]  # (path, job) -> a runner for verification (parity, accuracy, latency)
    check: Callable[[Path], list[str]] | None = None  # structural check: a list of problems (empty = ok)
    description: str = ""
    runtime: str = "onnxruntime"  # what runs it, named in the report
    baseline: str = "pytorch"  # "pytorch" or "onnx-fp32": what "before" latency is measured on
    needs_calibration: bool = False  # reads samples of the train split
    lossy: bool = False  # fp16 / int8: judged by agreement and accuracy, not tolerance
    options: tuple[str, ...] = ()  # ExportSettings fields the wizard shows for this format
    requires: str = ""  # a module it needs (e.g. "tensorrt"); missing: offered but disabled


def _load_builtin_exporters() -> None:
    from workbench.core.export import (  # noqa: F401 - self-registering
        adapters_format,
        onnx_formats,
        tensorrt_format,
        torch_formats,
    )


EXPORTERS: Registry[Exporter] = Registry("export format", lambda e: e.name, _load_builtin_exporters)
add_missing_hint = EXPORTERS.add_missing_hint
unregister_exporter = EXPORTERS.unregister
get_exporter = EXPORTERS.lookup
exporters = EXPORTERS.items  # every registered format, built-ins first, in registration order


def register_exporter(exporter: Exporter, replace: bool = False, only_here: bool = False) -> Exporter:
    """Add an export format. A second registration of the same name is refused unless `replace`."""
    if not exporter.suffix.startswith("."):
        raise ValueError(f"exporter {exporter.name!r}: suffix must start with a dot, got {exporter.suffix!r}")
    return EXPORTERS.register(exporter, replace, only_here)
