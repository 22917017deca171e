"""Builder analysis speed: shapes, parameters, MACs and memory for 10-, 50- and 200-layer networks.

Side by side in one run:
  rules      workbench.core.model.analysis.analyze with an empty cache (what a fresh spec costs)
  edit       analyze after changing one layer near the start (everything after it has a new input shape)
  cached     analyze again with nothing changed (what a redraw costs)
  meta       the same per-layer figures from building every layer on torch's meta device and running it
  real       build_model with real weights + one forward pass on the CPU (how torchinfo-style tools measure)
  panel      BuilderPanel.refresh(): the analysis plus redrawing the layer list, properties and diagram (Qt offscreen)
  diagram    workbench.core.model.diagram.layout: the network diagram's boxes, arcs and folds (repeats folded)
  unfolded   the same with every repeated run unfolded (a box per layer, the most there is to place)
  paint      painting that unfolded diagram whole into an image (what a PNG export costs; the view paints less)
  bert_base  rules / cached / meta for a 12-layer BERT-base-sized encoder spec (hidden 768, 12 heads, ff 3072,
             vocabulary 30522, 128 tokens); its parameter count beside Hugging Face's BertModel

Prints milliseconds and ratios; writes bench/results/builder.json. Usage: python bench/builder.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results") / "builder.json"


def network(n_layers: int, width: int = 32):
    """A VGG-like stack of Conv-BatchNorm-ReLU triples (with a pooling every 12 layers) and a Linear head."""
    from workbench.core.model.spec import ModelSpec

    layers, side = [], 32
    while len(layers) < n_layers - 2:
        if len(layers) % 12 == 9 and side > 4:
            layers.append({"type": "MaxPool2d", "kernel_size": 2})
            side //= 2
            continue
        layers += [
            {"type": "Conv2d", "out_channels": width, "kernel_size": 3, "padding": 1},
            {"type": "BatchNorm2d"},
            {"type": "ReLU"},
        ]
    layers = layers[: n_layers - 2] + [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}]
    return ModelSpec(input_shape=[3, 32, 32], layers=layers)


def bert_base():
    """A BERT-base-sized encoder classifier on 128 token ids: vocabulary 30,522, hidden 768, 12 layers of 12 heads,
    feed-forward 3,072, learned positions up to 512, BERT's pooler (first token, Linear, Tanh) and a 2-class head."""
    from workbench.core.model.spec import ModelSpec

    encoder = {
        "type": "TransformerEncoderLayer",
        "nhead": 12,
        "dim_feedforward": 3072,
        "activation": "gelu",
        "layer_norm_eps": 1e-12,
    }
    return ModelSpec(
        input_shape=[128],
        layers=[
            {"type": "Embedding", "num_embeddings": 30522, "embedding_dim": 768, "padding_idx": 0},
            {"type": "PositionalEmbedding", "max_len": 512},
            {"type": "LayerNorm", "eps": 1e-12},
            {"type": "Dropout", "p": 0.1},
            *[dict(encoder) for _ in range(12)],
            {"type": "SequencePool", "mode": "first"},
            {"type": "Linear", "out_features": 768},
            {"type": "Tanh"},
            {"type": "Linear", "out_features": 2},
        ],
    )


def bert_row(repeat: int) -> dict:
    """Analysis of the BERT-base-sized spec (must stay under 100 ms) against the meta-device fallback; its
    parameter count against Hugging Face's BertModel (which also has 2 x 768 token-type embeddings)."""
    from workbench.core.model import analysis as A
    from workbench.core.model.registry import get_layer_type

    spec = bert_base()

    def rules():
        A._CACHE.clear()
        return A.analyze(spec, batch_size=32, input_dtype="int64")

    result = rules()
    assert result.ok, result.error

    def meta():
        for r in result.layers[1:]:  # the Embedding needs token ids; the others run on the meta device
            A._meta_stats(get_layer_type(r.type), dict(r.params), r.input_shape)

    row = {
        "layers": len(spec.layers),
        "params": result.total_params,
        "macs": result.total_macs,
        "rules_ms": timed(rules, repeat),
        "cached_ms": timed(lambda: A.analyze(spec, batch_size=32, input_dtype="int64"), repeat),
        "meta_ms": timed(meta, max(1, repeat // 2)),
    }
    try:
        from transformers import BertConfig, BertModel

        hf = sum(p.numel() for p in BertModel(BertConfig()).parameters())
        row["hf_bert_base_params"] = hf
        row["params_minus_hf"] = result.total_params - hf  # the 2-class head minus token-type embeddings
    except ImportError:
        pass
    print(
        f"BERT-base-sized encoder ({row['layers']} layers, {row['params']:,} params, {row['macs'] / 1e9:.1f} GMAC): "
        f"rules {row['rules_ms']:.2f} ms  cached {row['cached_ms']:.2f} ms  meta {row['meta_ms']:.0f} ms"
    )
    return row


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _panel():
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:
        return None
    from workbench.ui.panels.builder import BuilderPanel
    from workbench.ui.session import ProjectSession

    global _APP
    _APP = QApplication.instance() or QApplication([])
    panel = BuilderPanel(ProjectSession())
    panel.resize(520, 650)
    panel.show()
    panel.layer_list.setCurrentItem(panel.layer_list.item_for((0,)))
    return panel


def _paint(panel, diagram):
    """The whole diagram painted into an image at zoom 1, as the view and the PNG export paint it."""
    from PySide6.QtGui import QImage, QPainter

    from workbench.ui.panels.builder.diagram_paint import DiagramPainter

    image = QImage(int(diagram.width), int(diagram.height), QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    DiagramPainter(painter, panel.font()).paint(diagram)
    painter.end()
    return image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import torch

    from workbench.core.model import analysis as A
    from workbench.core.model.build import build_model
    from workbench.core.model.diagram import layout
    from workbench.core.model.registry import get_layer_type

    torch.set_num_threads(1)
    panel = _panel()
    A.analyze(network(10))  # imports and registry outside the timings
    rows = []
    for n in (10, 50, 200):
        spec = network(n)
        assert len(spec.layers) == n

        def rules(spec=spec):
            A._CACHE.clear()
            return A.analyze(spec, batch_size=64)

        result = rules()
        assert result.ok, result.error
        edits = iter(range(10**6))

        def edit(spec=spec, edits=edits):
            changed = spec.model_copy(deep=True)
            changed.layers[0].out_channels = 33 + next(edits) % 1000  # a shape no cache entry has seen
            return A.analyze(changed, batch_size=64)

        def meta(result=result):
            for r in result.layers:
                A._meta_stats(get_layer_type(r.type), dict(r.params), r.input_shape)

        def real(spec=spec):
            with torch.no_grad():
                build_model(spec)(torch.zeros(1, *spec.input_shape))

        row = {
            "layers": n,
            "params": result.total_params,
            "rules_ms": timed(rules, args.repeat),
            "edit_ms": timed(edit, args.repeat),
            "cached_ms": timed(lambda spec=spec: A.analyze(spec, batch_size=64), args.repeat),
            "meta_ms": timed(meta, max(1, args.repeat // 2)),
            "real_ms": timed(real, max(1, args.repeat // 2)),
        }
        folded = layout(spec, result)
        unfold = {b.toggle for b in folded.boxes if b.kind == "repeat"}
        everything = layout(spec, result, unfold)
        row["diagram_ms"] = timed(lambda spec=spec, result=result: layout(spec, result), args.repeat)
        row["diagram_boxes"] = len(folded.boxes)
        row["diagram_unfolded_ms"] = timed(
            lambda spec=spec, result=result, unfold=unfold: layout(spec, result, unfold), args.repeat
        )
        row["diagram_unfolded_boxes"] = len(everything.boxes)
        if panel is not None:
            panel.session.update_model(spec)
            row["panel_ms"] = timed(panel.refresh, args.repeat)
            row["diagram_paint_ms"] = timed(lambda d=everything: _paint(panel, d), max(1, args.repeat // 2))
        row["meta_over_rules"] = row["meta_ms"] / row["rules_ms"]
        row["real_over_rules"] = row["real_ms"] / row["rules_ms"]
        rows.append(row)
        print(
            f"{n:4d} layers ({result.total_params:>9,} params): rules {row['rules_ms']:7.2f} ms  "
            f"edit {row['edit_ms']:7.2f} ms  cached {row['cached_ms']:6.2f} ms  meta {row['meta_ms']:8.2f} ms  "
            f"real {row['real_ms']:8.2f} ms  panel {row.get('panel_ms', float('nan')):6.1f} ms  "
            f"diagram {row['diagram_ms']:5.2f} ms ({row['diagram_boxes']} boxes), unfolded "
            f"{row['diagram_unfolded_ms']:5.2f} ms ({row['diagram_unfolded_boxes']}), "
            f"paint {row.get('diagram_paint_ms', float('nan')):6.1f} ms  "
            f"| meta/rules {row['meta_over_rules']:5.1f}x  "
            f"real/rules {row['real_over_rules']:5.1f}x"
        )
    bert = bert_row(args.repeat)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "builder analysis",
                "machine": platform.processor() or platform.machine(),
                "python": platform.python_version(),
                "torch": torch.__version__,
                "repeat": args.repeat,
                "loadavg": list(os.getloadavg()),  # other work on the machine slows the timings
                "rows": rows,
                "bert_base": bert,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
