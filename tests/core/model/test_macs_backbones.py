"""One MAC convention for every layer: a torchvision backbone (analyzed on the meta device) counts BatchNorm and
residual adds exactly as the builder's own layers do; checked against a layer-by-layer count of the real module."""

from __future__ import annotations

import pytest
import torch

from workbench.core.model.analysis import analyze
from workbench.core.model.build import build_model
from workbench.core.model.spec import ModelSpec


def _layer_by_layer_macs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Per sample: Conv2d out x in/groups x kernel, Linear out x in, one per element for BatchNorm (its input)
    and for each residual add (a ResNet block's output, an inverted-residual block's output when it adds)."""
    from torchvision.models.mobilenetv3 import InvertedResidual
    from torchvision.models.resnet import BasicBlock

    n = len(x)
    counts = {"conv": 0, "linear": 0, "batchnorm": 0, "residual_add": 0}

    def hook(module, args, out):
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            counts["conv"] += out.numel() // n * (module.in_channels // module.groups) * k
        elif isinstance(module, torch.nn.Linear):
            counts["linear"] += out.numel() // n * module.in_features
        elif isinstance(module, torch.nn.BatchNorm2d):
            counts["batchnorm"] += args[0].numel() // n
        elif isinstance(module, BasicBlock) or (
            isinstance(module, InvertedResidual) and module.use_res_connect
        ):
            counts["residual_add"] += out.numel() // n

    hooks = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return counts


@pytest.mark.parametrize(
    "name,shape", [("resnet18", [3, 64, 64]), ("resnet18", [3, 32, 32]), ("mobilenet_v3_small", [3, 64, 64])]
)
def test_backbone_macs_match_a_layer_by_layer_count(name, shape):
    spec = ModelSpec(
        input_shape=shape, layers=[{"type": "TorchvisionModel", "name": name, "num_classes": 10}]
    )
    counts = _layer_by_layer_macs(build_model(spec), torch.randn(2, *shape))
    assert counts["batchnorm"] > 0 and counts["residual_add"] > 0
    assert analyze(spec).total_macs == sum(counts.values()), counts


def test_resnet18_at_224_counts_batchnorm_and_residual_adds():
    """torch's FlopCounterMode alone gives the usual 1,814,073,344; BatchNorm adds 2,483,712 and the eight
    residual adds 752,640 (one per output element each)."""
    spec = ModelSpec(
        input_shape=[3, 224, 224],
        layers=[{"type": "TorchvisionModel", "name": "resnet18", "num_classes": 1000}],
    )
    assert analyze(spec).total_macs == 1_814_073_344 + 2_483_712 + 752_640


def test_a_builder_residual_network_and_its_module_agree():
    """The same convention from the fast rules: Conv + BatchNorm + Residual add, per element."""
    spec = ModelSpec(
        input_shape=[4, 8, 8],
        layers=[
            {
                "type": "Residual",
                "layers": [
                    {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
                    {"type": "BatchNorm2d"},
                ],
            }
        ],
    )
    conv, bn, add = 4 * 8 * 8 * 4 * 9, 4 * 8 * 8, 4 * 8 * 8
    assert analyze(spec).total_macs == conv + bn + add
