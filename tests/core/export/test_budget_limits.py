"""The int8 budget's fp32 limit counts weighted nodes only (a Reshape or MaxPool kept beside a Gemm is free), a
kept node that still reads int8-rounded input is named, and the budget is never measured on the test split."""

from __future__ import annotations

import pytest


def _row(node, op, inputs_from=()):
    return {"node": node, "op": op, "inputs_from": list(inputs_from)}


# seven quantized nodes as the sensitivity table ranks them: each weighted node reads a tensor quantized by
# a Reshape or a MaxPool, which must stay fp32 with it
TABLE = [
    _row("gemm_1", "Gemm", ["reshape"]),
    _row("conv_2", "Conv", ["pool_1"]),
    _row("conv_1", "Conv"),
    _row("gemm_2", "Gemm", ["gemm_1"]),
    _row("pool_1", "MaxPool", ["conv_1"]),
    _row("reshape", "Reshape", ["pool_2"]),
    _row("pool_2", "MaxPool", ["conv_2"]),
]


def test_the_fp32_limit_counts_weighted_nodes_not_the_reshape_beside_them():
    from workbench.core.export.quant_budget import counted_nodes, fp32_nodes_for, most_sensitive_within

    assert counted_nodes(TABLE) == {"gemm_1", "conv_2", "conv_1", "gemm_2"}
    assert fp32_nodes_for(TABLE, 2) == ["gemm_1", "reshape", "conv_2", "pool_1"]  # 4 names, 2 weighted
    # a limit of 3 used to stop at k = 1 (4 names > 3); the three most sensitive weighted nodes fit
    assert most_sensitive_within(TABLE, 3) == 3
    assert most_sensitive_within(TABLE, 1) == 1 and most_sensitive_within(TABLE, 0) == 0
    pooling_only = [_row("pool", "MaxPool"), _row("avg", "AveragePool", ["pool"])]
    assert counted_nodes(pooling_only) == {"pool", "avg"}  # no weighted node: every node counts


def test_a_kept_node_reading_a_quantized_activation_is_named(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from workbench.core.export.quant_budget import int8_fed

    scale = numpy_helper.from_array(np.array(0.1, dtype=np.float32), "scale")
    zero = numpy_helper.from_array(np.array(0, dtype=np.uint8), "zero")
    w_q = numpy_helper.from_array(np.ones((4, 4), dtype=np.uint8), "w_q")
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["x_q"], name="x_Q"),
        helper.make_node("DequantizeLinear", ["x_q", "scale", "zero"], ["x_dq"], name="x_DQ"),
        helper.make_node("DequantizeLinear", ["w_q", "scale", "zero"], ["w"], name="w_DQ"),
        helper.make_node("MatMul", ["x_dq", "w"], ["a"], name="fed"),  # reads the int8-rounded x
        helper.make_node(
            "MatMul", ["x", "w"], ["b"], name="clean"
        ),  # reads x in fp32 (and a quantized weight)
        helper.make_node("Add", ["a", "b"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=[scale, zero, w_q],
    )
    onnx.save(helper.make_model(graph), tmp_path / "m.onnx")
    assert int8_fed(tmp_path / "m.onnx", ["fed", "clean", "add"]) == ["fed"]


def test_the_budget_is_not_measured_on_the_test_split(tmp_path):
    import torch

    from workbench.core.data.dataset import DataBundle, DatasetMeta, Split
    from workbench.core.errors import UserError
    from workbench.core.export.pipeline import export
    from workbench.core.export.settings import ExportSettings
    from workbench.core.export.source import source_from_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 3))
    x, y = torch.randn(96, 16), torch.randint(0, 3, (96,))
    splits = [
        Split(name, None, x[s], y[s])
        for name, s in (("train", slice(0, 64)), ("val", slice(0, 0)), ("test", slice(64, 96)))
    ]
    data = DataBundle(DatasetMeta("table", (16,), 3, ["a", "b", "c"]), *splits)  # no validation split
    settings = ExportSettings(format="onnx-int8-static", calibration_samples=32, max_accuracy_drop=1.0)
    with pytest.raises(UserError, match="no validation samples .the test split would be used."):
        export(source_from_model(model, [16], data=data), settings, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
