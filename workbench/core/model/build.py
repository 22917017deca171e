"""Spec -> torch.nn.Module. The one way Workbench turns a spec into a network (training, export, checkpoints).

The result is an `nn.Sequential` of the spec's layers, so state-dict keys are `<index>.<name>` (and
`<index>.body.<j>.<name>` inside a Residual); the exported code (`codegen.py`) builds the same structure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.core.errors import UserError
from workbench.core.model.registry import LayerType, get_layer_type
from workbench.core.model.spec import ModelSpec

if TYPE_CHECKING:
    import torch

    from workbench.core.model.analysis import LayerReport


def build_model(spec: ModelSpec, load_weights: bool = True) -> torch.nn.Module:
    """Build `spec` with inferred sizes; a layer that does not fit raises UserError naming its index and type.
    `load_weights` lets layers such as TorchvisionModel load their local weights file."""
    from torch import nn

    from workbench.core.model.analysis import analyze

    analysis = analyze(spec)
    if not analysis.ok:
        raise UserError(f"the model cannot be built: {analysis.error}")
    return nn.Sequential(*(_instantiate(r, load_weights) for r in analysis.layers))


def _instantiate(report: LayerReport, load_weights: bool):
    from torch import nn

    lt = get_layer_type(report.type)
    p = dict(report.params)
    if lt.composite:
        p["body"] = nn.Sequential(*(_instantiate(c, load_weights) for c in report.children))
        p["body_shape"] = report.children[-1].output_shape if report.children else report.input_shape
    assert lt.build is not None and report.input_shape is not None  # register_layer, the analysis: set
    module = lt.build(p, tuple(report.input_shape))
    if load_weights and lt.load_weights:
        lt.load_weights(module, p)
    return module


def instantiate_on_meta(lt: LayerType, p: dict, shape: tuple):
    """Build one layer for analysis (call inside `torch.device("meta")`); a composite's body comes in p."""
    if lt.composite and "body" not in p:
        raise UserError(
            f"{lt.name} is a composite without rules for shapes and parameters; the analysis cannot build it"
        )
    assert lt.build is not None  # register_layer refuses a layer type without one
    return lt.build(p, shape)
