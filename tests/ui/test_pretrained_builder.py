"""Model builder > Import and the Imported tab (pytest-qt, offscreen): a Hugging Face folder becomes the network,
the trainer process analyzes it, its encoder blocks show folded, a lock on them fixes their weights
(`training.frozen`) and the trainable count follows the locks and the fine-tuning method."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from workbench.core.paths import SAMPLE_PROJECT
from workbench.core.units import count_text
from workbench.ui.panels.builder import BuilderPanel
from workbench.ui.panels.builder.import_model import import_source
from workbench.ui.session import ProjectSession

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """Made in a child process: this (GUI) process never imports torch or transformers."""
    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    code = (
        "import sys; from pathlib import Path; "
        "from tests.core.pretrained_models import save_tiny_bert; from tests.realdata import stdlib_docstrings; "
        "save_tiny_bert(Path(sys.argv[1]), [t for t, _ in stdlib_docstrings(per_class=100)])"
    )
    subprocess.run([sys.executable, "-c", code, str(folder)], check=True, cwd=ROOT, capture_output=True)
    return folder


@pytest.fixture
def panel(qtbot):
    session = ProjectSession()
    widget = BuilderPanel(session)
    qtbot.addWidget(widget)
    session.open(SAMPLE_PROJECT)
    widget.resize(620, 700)
    widget.show()
    yield widget
    widget.shutdown()


def _items(tree):
    stack = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(item.child(k) for k in range(item.childCount()))


@pytest.mark.slow
def test_import_shows_folded_blocks_and_locks_update_the_trainable_count(panel, qtbot, tiny_bert):
    panel.spec = panel.spec.model_copy(update={"input_shape": [24]})
    with qtbot.waitSignal(
        panel.sig_analyzed, timeout=120_000, check_params_cb=lambda a: bool(a.layers[0].details)
    ):
        import_source(panel, "huggingface", str(tiny_bert))
    analysis = panel.analysis
    assert analysis.ok, analysis.error
    assert panel.spec.layers[0].type == "Pretrained" and panel.spec.layers[0].params["sha256"]
    assert panel.network_tabs.currentWidget() is panel.pretrained_view
    view = panel.pretrained_view
    groups = [item for item in _items(view.tree) if item.text(0).startswith("BertLayer ×2")]
    assert len(groups) == 1  # the two encoder layers, folded
    full = int(view.summary.text().split("Trainable: ")[1].split("<")[0].replace(",", ""))
    assert full == analysis.total_params

    groups[0].setCheckState(0, Qt.CheckState.Checked)  # the lock on the folded blocks: both layers
    locked = ["0.model.bert.encoder.layer.0", "0.model.bert.encoder.layer.1"]
    qtbot.waitUntil(lambda: panel.session.project.training.frozen == locked, timeout=5_000)
    layer_params = sum(
        m["params"]
        for m in analysis.layers[0].details["modules"]
        if m["path"].startswith("model.bert.encoder.layer.") and m["depth"] == 5
    )
    qtbot.waitUntil(lambda: "2 locked" in view.summary.text(), timeout=60_000)  # (after the re-analysis)
    trainable, total, _ = view.trainable()
    assert layer_params > 0 and trainable == full - layer_params and total == analysis.total_params

    training = panel.session.project.training
    panel.session.update_training(training.model_copy(update={"finetune": "lora", "frozen": []}))
    qtbot.waitUntil(lambda: "LoRA rank 8 on query, value" in view.summary.text(), timeout=60_000)
    trainable, _total, _ = view.trainable()
    classes = panel.spec.layers[0].params["num_classes"]
    head = 64 * classes + classes  # the new classifier
    assert trainable == head + 2 * 2 * 8 * (64 + 64)  # query and value of both layers, rank 8
    # the builder's totals line says the same (it counted every imported weight as trainable)
    qtbot.waitUntil(lambda: f"({count_text(trainable)} trainable" in panel.totals.text(), timeout=10_000)


@pytest.mark.slow
def test_new_project_from_a_model_dialog(qtbot, tiny_bert, tmp_path):
    from tests.realdata import write_docstrings_csv
    from workbench.ui.new_from_model_dialog import NewFromModelDialog

    csv = write_docstrings_csv(tmp_path / "docs.csv", ("asyncio", "email", "xml"), per_class=20)
    bad = tmp_path / "bad_net.py"
    bad.write_text(
        "import torch\n\nclass Net(torch.nn.Module):\n"
        "    def __init__(self):\n        raise ValueError('broken on purpose')\n"
    )
    session = ProjectSession()
    dialog = NewFromModelDialog(session)
    qtbot.addWidget(dialog)
    dialog.show()
    try:
        dialog.model_edit.setText(str(bad))
        dialog.class_edit.setText("Net")
        dialog.data_edit.setText(str(csv))
        qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "broken on purpose" in dialog.status.text(), timeout=120_000)
        assert dialog.isVisible() and dialog.project is None  # the problem is shown, the dialog stays

        dialog.model_edit.setText(str(tiny_bert))
        with qtbot.waitSignal(dialog.accepted, timeout=120_000):
            qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
        project = dialog.project
        layer = project.model.layers[0]
        assert layer.type == "Pretrained" and layer.params["num_classes"] == 3
        assert project.dataset.options["pretrained_tokenizer"] == str(tiny_bert.resolve())
    finally:
        session.jobs.shutdown()


@pytest.mark.slow
def test_import_a_pytorch_module_traces_it_in_the_trainer_process(qtbot, tmp_path):
    import shutil

    from workbench.ui.panels.builder.import_model import import_module

    project = tmp_path / "digits.wbproj"
    shutil.copy(SAMPLE_PROJECT, project)
    net = tmp_path / "small_net.py"
    net.write_text(
        "import torch\n\n\nclass SmallNet(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)\n        self.fc = torch.nn.Linear(4 * 8 * 8, 7)\n\n"
        "    def forward(self, x):\n        return self.fc(torch.relu(self.conv(x)).flatten(1))\n"
    )
    session = ProjectSession()
    panel = BuilderPanel(session)
    qtbot.addWidget(panel)
    session.open(project)
    try:
        with qtbot.waitSignal(
            panel.sig_analyzed, timeout=120_000, check_params_cb=lambda a: bool(a.layers[0].details)
        ):
            import_module(panel, f"{net}:SmallNet")
        layer = panel.spec.layers[0].params
        assert layer["format"] == "module" and layer["source"] == str(
            tmp_path / "pretrained" / "SmallNet.onnx"
        )
        analysis = panel.analysis
        assert analysis.ok, analysis.error
        classes = layer["num_classes"]
        assert analysis.output_shape == (classes,)  # the Linear at the end replaced by the new head
        assert analysis.total_params == (4 * 9 + 4) + (256 * classes + classes)
        assert not (tmp_path / "small_net.onnx").exists() and list((tmp_path / "pretrained").iterdir())
    finally:
        panel.shutdown()
        session.jobs.shutdown()
