"""torch wrappers around imported models (imported only when building): one tensor in, one tensor out, so an
imported model is a layer like the others. `new_keys` names the state-dict keys that did not come from the
source (the new head): freezing and LoRA leave those trainable."""

from __future__ import annotations

import torch
from torch import nn


class HFClassifier(nn.Module):
    """A transformers classification model: token ids (batch, seq) or pixels (batch, C, H, W) -> logits.
    Padding (`pad_id`) is masked out of attention."""

    def __init__(self, model: nn.Module, pad_id: int, image: bool, new_keys: list[str], model_type: str):
        super().__init__()
        self.model = model
        self.pad_id = pad_id
        self.image = image
        self.new_keys = [f"model.{k}" for k in new_keys]
        self.model_type = model_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image:
            return self.model(pixel_values=x).logits
        # on the meta device (the analysis) no mask: transformers reads the mask's values to pick a kernel
        mask = None if x.device.type == "meta" else (x != self.pad_id).long()
        return self.model(input_ids=x, attention_mask=mask).logits


class GraphModel(nn.Module):
    """An ONNX graph converted by onnx2torch (from an .onnx file or a traced PyTorch module)."""

    def __init__(self, graph: nn.Module, new_keys: list[str]):
        super().__init__()
        self.graph = graph
        self.new_keys = [f"graph.{k}" for k in new_keys]
        self.model_type = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.graph(x)
        return out[0] if isinstance(out, list | tuple) else out


def replace_last_linear(graph: nn.Module, num_classes: int) -> list[str] | None:
    """Swap the Linear whose output is the graph's output for a fresh Linear(in, num_classes); the new state-dict
    keys, or None when the graph does not end in a Linear."""
    fx_graph = getattr(graph, "graph", None)
    if fx_graph is None:
        return None
    output = next((n for n in fx_graph.nodes if n.op == "output"), None)
    if output is None or not output.args:
        return None
    last = output.args[0]
    if isinstance(last, list | tuple):
        if len(last) != 1:
            return None
        last = last[0]
    if getattr(last, "op", None) != "call_module":
        return None
    old = graph.get_submodule(last.target)
    if not isinstance(old, nn.Linear):
        return None
    parent_name, _, child = last.target.rpartition(".")
    parent = graph.get_submodule(parent_name) if parent_name else graph
    setattr(parent, child, nn.Linear(old.in_features, num_classes))
    return [f"{last.target}.weight", f"{last.target}.bias"]
