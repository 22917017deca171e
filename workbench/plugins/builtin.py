"""The built-in layers, data sources and exporters, listed as plugins and loaded by the same manager.

Each is an ordinary plugin whose `register(api)` imports the module that registers the built-ins with
`register_layer` / `register_source` / `register_exporter`, the functions third-party plugins use. Built-ins
cannot be disabled (the rest of Workbench stands on them).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from workbench import __version__
from workbench.plugins.api import Plugin, PluginAPI


@dataclass(frozen=True)
class BuiltinPlugin:
    id: str
    plugin: Plugin
    modules: tuple[str, ...]
    kind: str  # the registry whose pre-existing entries it owns: layers | sources | exporters

    def register(self, api: PluginAPI) -> None:
        for name in self.modules:
            importlib.import_module(name)


BUILTINS = (
    BuiltinPlugin(
        "builtin.layers",
        Plugin(
            "Built-in layers",
            __version__,
            "torch.nn layers (convolution, pooling, normalization, activations, recurrent), Residual blocks and "
            "torchvision backbones.",
            "Workbench",
        ),
        ("workbench.core.model.layers",),
        "layers",
    ),
    BuiltinPlugin(
        "builtin.sources",
        Plugin(
            "Built-in data sources",
            __version__,
            "Digits, image folders, CSV tables and text, NumPy .npz, and local MNIST / FashionMNIST / CIFAR-10.",
            "Workbench",
        ),
        ("workbench.core.data.builtins",),
        "sources",
    ),
    BuiltinPlugin(
        "builtin.exporters",
        Plugin(
            "Built-in exporters",
            __version__,
            "ONNX (fp32, fp16, int8 dynamic and static), TorchScript and safetensors weights, each verified.",
            "Workbench",
        ),
        ("workbench.core.export.onnx_formats", "workbench.core.export.torch_formats"),
        "exporters",
    ),
)
