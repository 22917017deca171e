"""Screenshots of the builder's network diagram (`make screenshots`, not `make test`): the main window at 1280x800
and 1600x1000 with the Diagram tab on the small ResNet template and on the BERT-style template, and the whole
diagrams as exported PNGs (a 12-layer BERT-base-sized encoder too). Written to $WORKBENCH_SCREENSHOTS
(docs/screenshots) or, without it, to a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from workbench.core.model.spec import ModelSpec
from workbench.core.model.templates import make_template
from workbench.ui.main_window import MainWindow
from workbench.ui.panels.builder import BuilderPanel

pytestmark = pytest.mark.screenshots
SIZES = ((1280, 800), (1600, 1000))


def bert_base() -> ModelSpec:
    """BERT-base's shape: 12 post-norm encoder layers of width 768 with 12 heads, over 128 tokens."""
    encoder = {"type": "TransformerEncoderLayer", "nhead": 12, "dim_feedforward": 3072, "activation": "gelu"}
    return ModelSpec(
        input_shape=[128],
        layers=[
            {"type": "Embedding", "num_embeddings": 30522, "embedding_dim": 768, "padding_idx": 0},
            {"type": "PositionalEmbedding", "kind": "learned"},
            {"type": "LayerNorm"},
            {"type": "Dropout", "p": 0.1},
            *[dict(encoder) for _ in range(12)],
            {"type": "SequencePool", "mode": "first"},
            {"type": "Linear", "out_features": 768},
            {"type": "Tanh"},
            {"type": "Linear", "out_features": 4},
        ],
    )


def pretrained_screenshot(out: Path, tmp_path: Path) -> None:
    """An imported Hugging Face BERT (12 small layers, made offline) as the diagram draws it from its modules."""
    from realdata import stdlib_docstrings

    from tests.core.pretrained_models import save_tiny_bert
    from workbench.core.model.analysis import analyze
    from workbench.ui.panels.builder.diagram import NetworkDiagram

    folder = save_tiny_bert(tmp_path / "tiny-bert", [t for t, _ in stdlib_docstrings()][:300], layers=12)
    layer = {"type": "Pretrained", "format": "huggingface", "source": str(folder), "num_classes": 4}
    spec = ModelSpec(input_shape=[64], layers=[layer])
    analysis = analyze(spec, input_dtype="int64")
    assert analysis.ok, analysis.error
    diagram = NetworkDiagram()
    diagram.resize(480, 800)
    diagram.show_network(spec, analysis, None)
    assert [b.count for b in diagram.diagram.boxes if b.kind == "repeat"] == [12]
    diagram.export_png(out / "diagram_pretrained_bert.png")
    diagram.deleteLater()


def beside_screenshot(out: Path, qtbot) -> None:
    """The builder alone at 1280x800 with the diagram beside the layer list (Beside list)."""
    from workbench.ui.session import ProjectSession

    session = ProjectSession()
    panel = BuilderPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    qtbot.waitExposed(panel)
    session.update_model(make_template("small_resnet", [3, 32, 32], 10))
    qtbot.mouseClick(panel.diagram.beside_button, Qt.MouseButton.LeftButton)
    panel.layer_list.setCurrentItem(panel.layer_list.item_for((5, 0)))
    qtbot.wait(200)
    panel.grab().save(str(out / "diagram_beside_list_1280x800.png"))
    panel.shutdown()


def test_diagram_screenshots(qtbot, tmp_path):
    out = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow()
    window.settings.clear()
    qtbot.addWidget(window)
    window.resize(*SIZES[0])
    window.show()
    qtbot.waitExposed(window)
    builder = window.docks["builderDock"].widget()
    assert isinstance(builder, BuilderPanel)
    builder.network_tabs.setCurrentWidget(builder.diagram)
    specs = {
        "small_resnet": (make_template("small_resnet", [1, 8, 8], 10), (5, 0)),
        "bert": (make_template("bert_classifier", [64], 10, "int64", vocab_size=8000), (3,)),
    }
    for name, (spec, selected) in specs.items():
        window.session.update_model(spec)
        qtbot.waitUntil(
            lambda spec=spec: builder.analysis is not None and builder.spec == spec, timeout=60_000
        )
        assert builder.analysis.ok, builder.analysis.error
        for width, height in SIZES:
            window.resize(width, height)
            window.reset_layout()
            window.docks["builderDock"].raise_()
            builder.layer_list.setCurrentItem(builder.layer_list.item_for(selected))
            qtbot.wait(200)
            window.grab().save(str(out / f"diagram_{name}_{width}x{height}.png"))
        builder.diagram.export_png(out / f"diagram_{name}.png")
        assert not QImage(str(out / f"diagram_{name}.png")).isNull()
    pretrained_screenshot(out, tmp_path)
    beside_screenshot(out, qtbot)
    window.session.update_model(bert_base())
    qtbot.waitUntil(lambda: builder.analysis is not None and len(builder.spec.layers) == 20, timeout=60_000)
    assert [b.count for b in builder.diagram.diagram.boxes if b.kind == "repeat"] == [12]
    builder.diagram.export_png(out / "diagram_bert_base.png")
    window.session._set_dirty(False)
    window.shutdown()
