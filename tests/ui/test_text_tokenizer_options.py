"""The text source's tokenizer in the New project dialog, as a user sets it: Options -> Tokenizer bpe ->
Vocabulary size -> Load; a size too small for bpe is one line in the dialog, a good one loads subwords, the
default text template is picked and the project keeps the choice."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QDialogButtonBox, QSpinBox
from realdata import write_docstrings_csv

from workbench.ui.panels.dataset.new_project import NewFromDataDialog

LOAD_MS = 60_000


def _pick(combo: QComboBox, value: str) -> None:
    """Choose an item with the keyboard, as a user does on a focused combo box."""
    combo.setFocus()
    while combo.currentData() != value:
        before = combo.currentIndex()
        QTest.keyClick(combo, Qt.Key_Down)
        assert combo.currentIndex() != before, f"{value} is not offered"


def _type_number(spin: QSpinBox, value: int) -> None:
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, str(value))
    QTest.keyClick(spin, Qt.Key_Tab)


@pytest.mark.slow
def test_bpe_tokenizer_chosen_in_the_dialog_is_validated_used_and_kept(qtbot, tmp_path):
    path = write_docstrings_csv(tmp_path / "docs.csv", ("json", "http", "email"), per_class=40)
    dialog = NewFromDataDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData("csv"))
    form.path.edit.setText(str(path))
    form.target.setEditText("module")
    QTest.mouseClick(form.options_toggle, Qt.LeftButton)
    tokenizer = form.findChild(QComboBox, "option_tokenizer")
    vocab = form.findChild(QSpinBox, "option_vocab_size")
    assert tokenizer.isVisible() and vocab.isVisible()
    assert [tokenizer.itemData(i) for i in range(tokenizer.count())] == ["words", "chars", "bpe"]
    assert "train" in tokenizer.toolTip()
    _pick(tokenizer, "bpe")
    _type_number(vocab, 100)
    QTest.mouseClick(form.load_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Cannot use this data" in dialog.message.text(), timeout=LOAD_MS)
    assert "too small for the bpe tokenizer" in dialog.message.text()
    assert not dialog.buttons.button(QDialogButtonBox.Ok).isEnabled()

    _type_number(vocab, 1000)
    QTest.mouseClick(form.load_button, Qt.LeftButton)
    create = dialog.buttons.button(QDialogButtonBox.Ok)
    qtbot.waitUntil(create.isEnabled, timeout=LOAD_MS)
    extra = dialog.bundle.meta.extra
    assert extra["tokenizer"] == "bpe" and extra["vocab_size"] <= 1000 and "tokenizer_json" in extra
    assert dialog.template.currentData() == "text_bag"
    assert [dialog.template.itemData(i) for i in range(dialog.template.count())][:2] == [
        "text_bag",
        "text_lstm",
    ]
    project = dialog.project()
    assert project.dataset.options["tokenizer"] == "bpe" and project.dataset.options["vocab_size"] == 1000
    assert project.model.layers[0].type == "EmbeddingBag"
    assert project.model.layers[0].params["num_embeddings"] == extra["vocab_size"]
    dialog.reject()
