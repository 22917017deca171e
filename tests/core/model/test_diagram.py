"""The network diagram's layout (workbench.core.model.diagram): folding of repeated layers and patterns, Residual
arcs, collapsing groups, the error layer flagged, and layer paths that map clicks back to layers."""

from __future__ import annotations

import itertools
import time

from workbench.core.model.analysis import analyze
from workbench.core.model.diagram import ARC_PAD, find_runs, key_params, layout
from workbench.core.model.spec import ModelSpec
from workbench.core.model.templates import make_template

ENCODER = {"type": "TransformerEncoderLayer", "d_model": 64, "nhead": 4, "dim_feedforward": 128}


def encoder_spec(**changed_fifth) -> ModelSpec:
    layers = [{"type": "Embedding", "num_embeddings": 100, "embedding_dim": 64}]
    layers += [dict(ENCODER, **(changed_fifth if i == 4 else {})) for i in range(12)]
    layers += [{"type": "Flatten"}, {"type": "Linear", "out_features": 4}]
    return ModelSpec(input_shape=[16], layers=layers)


def boxes_of(diagram, kind=None):
    return [b for b in diagram.boxes if kind is None or b.kind == kind]


def test_twelve_identical_encoder_layers_fold_into_one_block_that_unfolds():
    spec = encoder_spec()
    analysis = analyze(spec, input_dtype="int64")
    assert analysis.ok, analysis.error
    diagram = layout(spec, analysis)
    assert [(b.kind, b.title, b.count) for b in diagram.boxes] == [
        ("input", "Input", 1),
        ("layer", "Embedding", 1),
        ("repeat", "TransformerEncoderLayer", 12),
        ("layer", "Flatten", 1),
        ("layer", "Linear", 1),
    ]
    fold = diagram.boxes[2]
    assert fold.shape == "16×64" and fold.path == (1,) and fold.paths == tuple((i,) for i in range(1, 13))
    assert "d_model=64" not in fold.detail and fold.detail.startswith("64, heads 4")
    assert diagram.box_for((9,)) is fold  # a click on any copy in the layer list highlights the fold
    one = analysis.layers[1]
    assert fold.params == 12 * one.num_params and fold.macs == 12 * one.macs and one.num_params > 0
    unfolded = layout(spec, analysis, toggled={fold.toggle})
    copies = [b for b in unfolded.boxes if b.kind == "layer" and b.title == "TransformerEncoderLayer"]
    assert [b.path for b in copies] == [(i,) for i in range(1, 13)] and all(b.count == 1 for b in copies)
    frame = next(b for b in unfolded.boxes if b.kind == "repeat")
    assert frame.frame and frame.expanded and all(frame.contains(b.x + 1, b.y + 1) for b in copies)
    assert unfolded.box_for((9,)).path == (9,)
    assert unfolded.height > diagram.height + 10 * 30


def test_a_layer_that_differs_splits_the_run():
    spec = encoder_spec(nhead=8)
    diagram = layout(spec, analyze(spec, input_dtype="int64"))
    assert [(b.title, b.count, b.path) for b in diagram.boxes[2:5]] == [
        ("TransformerEncoderLayer", 4, (1,)),
        ("TransformerEncoderLayer", 1, (5,)),  # nhead 8
        ("TransformerEncoderLayer", 7, (6,)),
    ]
    # equal spec parameters but another resolved input (in_features 1024 vs 64) keep the first Linear apart
    mlp = ModelSpec(input_shape=[1024], layers=[{"type": "Linear", "out_features": 64}] * 4)
    assert [b.count for b in layout(mlp, analyze(mlp)).boxes[1:]] == [1, 3]


def test_a_repeated_pattern_folds_and_maps_every_copy_to_the_shown_one():
    triple = [
        {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2d"},
        {"type": "ReLU"},
    ]
    spec = ModelSpec(input_shape=[8, 6, 6], layers=triple * 4 + [{"type": "Flatten"}])
    diagram = layout(spec, analyze(spec))
    fold = diagram.boxes[1]
    assert (fold.kind, fold.frame, fold.count, fold.title) == (
        "repeat",
        True,
        4,
        "Conv2d → BatchNorm2d → ReLU",
    )
    shown = [b.path for b in diagram.boxes[2:5]]
    assert shown == [(0,), (1,), (2,)] and all(fold.contains(b.x, b.y) for b in diagram.boxes[2:5])
    assert diagram.box_for((10,)).path == (1,)  # the BatchNorm of the fourth copy -> the shown BatchNorm
    assert diagram.boxes[5].path == (12,)
    unfolded = layout(spec, analyze(spec), toggled={fold.toggle})
    blocks = [b for b in unfolded.boxes if b.kind == "layer"]
    assert [b.path for b in blocks] == [(i,) for i in range(13)]
    assert len(unfolded.bands) == 2  # copies 2 and 4 on shaded bands, each around its three blocks
    for (_x, y, _w, h), first in zip(unfolded.bands, (blocks[3], blocks[9]), strict=True):
        assert y < first.y and y + h > blocks[blocks.index(first) + 2].y + 28
    arrows = {(round(e.y0), round(e.y1)) for e in unfolded.edges}
    assert all((round(a.y + a.h), round(b.y)) in arrows for a, b in itertools.pairwise(blocks[:12]))


def test_find_runs_prefers_the_run_that_covers_most_layers():
    assert find_runs([1, 1, 2, 1, 1, 2, 1, 1, 2]) == [(0, 3, 3)]
    assert find_runs([5, 5, 6]) == [(0, 1, 2)]
    assert find_runs([1, 2, 1, 2]) == []  # a pattern of several layers needs three copies
    assert find_runs([3, 1, 2, 1, 2, 1, 2, 4, 4, 4]) == [(1, 2, 3), (7, 1, 3)]


def test_residual_blocks_keep_their_skip_arcs_and_groups_collapse():
    spec = make_template("small_resnet", [1, 8, 8], 10)
    analysis = analyze(spec)
    diagram = layout(spec, analysis)
    groups = boxes_of(diagram, "group")
    assert [g.path for g in groups] == [(3,), (5,), (7,)] and all(g.frame for g in groups)
    assert [a.label for a in diagram.arcs] == [
        "identity skip",
        "1×1 conv skip, stride 2",
        "1×1 conv skip, stride 2",
    ]
    for group, arc in zip(groups, diagram.arcs, strict=True):
        body = [b for b in diagram.boxes if b.path[:1] == group.path and len(b.path) == 2]
        assert len(body) == 5
        assert group.y < arc.y0 < body[0].y and arc.y1 > body[-1].y + body[-1].h  # the add is below the body
        assert arc.y1 < group.y + group.h and group.x + group.w - ARC_PAD < arc.x < group.x + group.w
        assert all(b.x + b.w < arc.x for b in body)  # the arc runs beside the body, not across it
    assert diagram.box_for((5, 3)).path == (5, 3)

    closed = layout(spec, analysis, toggled={("group", (5,))})
    group = closed.box_for((5,))
    assert not group.frame and group.detail == "5 layers, 1×1 conv skip, stride 2" and group.shape == "64×4×4"
    assert not [b for b in closed.boxes if b.path[:1] == (5,) and len(b.path) == 2]
    assert closed.box_for((5, 3)) is group and len(closed.arcs) == 2
    assert closed.height < diagram.height - 4 * 28


def test_the_error_layer_is_flagged_and_never_folded_away():
    layers = [{"type": "Linear", "out_features": 32}] * 3 + [
        {"type": "Conv2d", "out_channels": 4, "kernel_size": 3},  # a 1-D input: the error
        {"type": "Linear", "out_features": 32},
    ]
    spec = ModelSpec(input_shape=[32], layers=layers)
    analysis = analyze(spec)
    assert analysis.error_path == (3,)
    diagram = layout(spec, analysis)
    bad = diagram.error_box
    assert bad is not None and bad.path == (3,) and bad.count == 1 and "Conv2d" in bad.message
    assert [b.status for b in diagram.boxes].count("error") == 1
    assert diagram.boxes[1].count == 3 and diagram.boxes[1].status == ""
    # an error inside a Residual body: the body's layer is the red one
    nested = ModelSpec(
        input_shape=[4, 8, 8],
        layers=[{"type": "Residual", "layers": [{"type": "Linear", "out_features": 3}, {"type": "ReLU"}]}],
    )
    assert layout(nested, analyze(nested)).error_box.path == (0, 0)


def test_clicks_map_to_the_innermost_box_and_a_spec_without_analysis_still_draws():
    spec = make_template("small_resnet", [1, 8, 8], 10)
    diagram = layout(spec)  # while a torch-backed analysis runs: no shapes yet
    conv = diagram.box_for((3, 0))
    assert conv.shape == "" and diagram.box_at(conv.x + 30, conv.y + 10) is conv
    frame = diagram.box_for((3,))
    assert diagram.box_at(frame.x + 3, frame.y + frame.h - 3) is frame  # a frame's margin
    assert frame.on_toggle(frame.x + 10, frame.y + 10) and not frame.on_toggle(frame.x + 60, frame.y + 10)
    assert diagram.box_at(diagram.width + 5, 5) is None
    empty = ModelSpec(input_shape=[4], layers=[{"type": "Residual", "layers": []}])
    kinds = [b.kind for b in layout(empty, analyze(empty)).boxes]
    assert kinds == ["input", "group", "empty"]


def test_key_params_are_short():
    assert key_params({"out_channels": 16, "kernel_size": 3, "padding": 1}) == "16, k3, p1"
    assert key_params({"kernel_size": [3, 5], "p": 0.25}) == "k3×5, p=0.25"
    assert key_params({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}) == "a=1, b=2, c=3, d=4, …"


def test_layout_is_fast_at_200_layers():
    layers = [{"type": "Linear", "out_features": 16}]
    for i in range(199):
        layers.append({"type": "ReLU"} if i % 2 else {"type": "Linear", "out_features": 16 + i % 7})
    spec = ModelSpec(input_shape=[16], layers=layers)
    analysis = analyze(spec)
    start = time.perf_counter()
    diagram = layout(spec, analysis)
    elapsed = time.perf_counter() - start
    assert len(diagram.boxes) > 150 and elapsed < 0.1  # typically ~1-2 ms


def test_an_imported_models_modules_are_drawn_with_its_repeated_blocks_folded():
    """The rows an imported (Pretrained) layer's report carries (layers_pretrained: named_modules order, path,
    type, output shape, parameters): a tree of groups, ModuleList items in the list's place, BertLayer × 3."""
    from workbench.core.model.analysis import Analysis, LayerReport

    def row(path, type_, shape, params=0):
        return {
            "path": path,
            "type": type_,
            "depth": path.count(".") + 1,
            "output_shape": shape,
            "params": params,
        }

    rows = [
        row("model", "BertForSequenceClassification", [4], 9000),
        row("model.bert", "BertModel", [8, 16], 8900),
    ]
    rows.append(row("model.bert.embeddings", "Embedding", [8, 16], 1600))
    rows.append(row("model.bert.encoder", "BertEncoder", [8, 16], 7000))
    rows.append(row("model.bert.encoder.layer", "ModuleList", None, 7000))
    for i in range(3):
        rows.append(row(f"model.bert.encoder.layer.{i}", "BertLayer", [8, 16], 2300))
        rows.append(row(f"model.bert.encoder.layer.{i}.dense", "Linear", [8, 16], 272))
        rows.append(row(f"model.bert.encoder.layer.{i}.LayerNorm", "LayerNorm", [8, 16], 32))
    rows.append(row("model.classifier", "Linear", [4], 68))
    spec = ModelSpec(
        input_shape=[8],
        layers=[
            {"type": "Pretrained", "format": "huggingface", "source": "/models/tiny-bert/", "num_classes": 4}
        ],
    )
    report = LayerReport((0,), "Pretrained", params=dict(spec.layers[0].params), output_shape=(4,))
    report.details = {"modules": rows}
    analysis = Analysis((8,), [report], (4,))
    diagram = layout(spec, analysis)
    pretrained = diagram.boxes[1]
    assert pretrained.frame and pretrained.detail == "4, huggingface, tiny-bert"
    assert diagram.box_for((0,)) is pretrained
    shown = [(b.module, b.kind, b.count) for b in diagram.boxes[2:]]
    assert shown == [
        ("model", "group", 1),
        ("model.bert", "group", 1),
        ("model.bert.embeddings", "layer", 1),
        ("model.bert.encoder", "group", 1),
        ("model.bert.encoder.layer.0", "repeat", 3),  # closed BertLayers (deeper than OPEN_DEPTH), folded
        ("model.classifier", "layer", 1),
    ]
    fold = diagram.boxes[6]
    assert fold.title == "BertLayer" and fold.detail == "2 modules" and fold.path == (0,)
    # a click on a module's box selects the Pretrained layer (box.path)
    assert diagram.box_at(fold.x + 50, fold.y + 10) is fold
    unfolded = layout(spec, analysis, toggled={fold.toggle, ("group", (0, "model.bert.encoder.layer.1"))})
    names = [
        b.module for b in unfolded.boxes if b.module.startswith("model.bert.encoder.l") and b.kind != "repeat"
    ]
    assert names == [
        "model.bert.encoder.layer.0",
        "model.bert.encoder.layer.1",
        "model.bert.encoder.layer.1.dense",  # the one opened
        "model.bert.encoder.layer.1.LayerNorm",
        "model.bert.encoder.layer.2",
    ]
