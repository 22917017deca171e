"""The builder with Transformers (pytest-qt, offscreen): the Attention palette, a BERT-style template's rows, a
Transformer layer added from the palette that fits where it lands, and an nhead error fixed with one click."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from workbench.core.model.templates import make_template
from workbench.ui.panels.builder import BuilderPanel
from workbench.ui.session import ProjectSession


@pytest.fixture
def panel(qtbot):
    session = ProjectSession()
    widget = BuilderPanel(session)
    qtbot.addWidget(widget)
    session.update_model(make_template("bert_classifier", [16], 4, "int64", vocab_size=500))
    widget.resize(900, 650)
    widget.show()
    yield widget
    widget.shutdown()


def _row(panel, i):
    item = panel.layer_list.topLevelItem(i)
    return item.text(0).split(maxsplit=1)[1], item.text(1)


def test_attention_palette_and_the_bert_template_rows(panel):
    assert {
        "MultiheadAttention",
        "TransformerEncoderLayer",
        "TransformerDecoderLayer",
        "PositionalEmbedding",
        "PatchEmbedding",
        "SequencePool",
        "LMHead",
    } <= set(panel.palette.visible_types())
    assert _row(panel, 3) == ("TransformerEncoderLayer(heads=4, ff128, norm_first)", "16×64")
    assert _row(panel, 6) == ("SequencePool(mean)", "64")
    assert not panel.problem.isVisible()


def test_a_transformer_layer_from_the_palette_fits_then_an_nhead_error_is_fixed(panel, qtbot):
    panel.layer_list.setCurrentItem(panel.layer_list.item_for((4,)))
    item = panel.palette.tree.findItems(
        "TransformerDecoderLayer", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive
    )[0]
    panel.palette.tree.itemActivated.emit(item, 0)  # double-click / Enter: lands after layer 4
    added = panel.session.project.model.layers[5]
    assert added.type == "TransformerDecoderLayer"
    assert added.params == {"nhead": 4, "dim_feedforward": 256}  # 4 x the 64 features, not torch's 2048
    assert panel.analysis.ok and _row(panel, 5)[1] == "16×64"

    panel.properties.fields["nhead"].setValue(5)  # 64 features do not split into 5 heads
    assert not panel.analysis.ok and "use nhead 4 or 8" in panel.analysis.error
    fix = panel.properties.fix_button
    assert panel.properties.problem.isVisible() and fix.isVisible() and "Set nhead to 4" in fix.text()
    qtbot.mouseClick(fix, Qt.MouseButton.LeftButton)
    assert panel.analysis.ok and panel.session.project.model.layers[5].params["nhead"] == 4
