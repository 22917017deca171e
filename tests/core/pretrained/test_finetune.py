"""Fine-tuning an imported model (workbench/core/training/finetune.py): LoRA learns where the frozen encoder does
not, a LoRA run's checkpoints hold only what trained, resume works, and the merged ONNX export matches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.core.data import load_dataset
from workbench.core.data.inspect import settings_for
from workbench.core.model.pretrained_spec import pretrained_spec, tokenizer_option
from workbench.core.project import Project
from workbench.core.training.config import TrainingConfig
from workbench.core.training.loop import train


@pytest.fixture(scope="module")
def text_data(tiny_bert, docs_csv):
    options = {**tokenizer_option(str(tiny_bert), "csv"), "seq_len": 32}
    settings = settings_for(str(docs_csv), None, None, options)
    data = load_dataset(settings)
    spec, _note, _files = pretrained_spec(data.meta, str(tiny_bert), docs_csv.parent)
    return settings, data, spec


def _run(text_data, tmp_path, resume=None, **training):
    settings, data, spec = text_data
    cfg = TrainingConfig(batch_size=32, seed=0, **training)
    project = Project(name="t", dataset=settings, model=spec, training=cfg)
    events = list(train(project, data, runs_root=tmp_path / "runs", resume_from=resume))
    finished = events[-1]
    assert finished.status == "completed", finished.message
    return finished


def test_the_models_own_tokenizer_encodes_the_texts(text_data, tiny_bert):
    from tokenizers import Tokenizer

    _settings, data, _spec = text_data
    tok = Tokenizer.from_file(str(tiny_bert / "tokenizer.json"))
    first = data.train.x[0].tolist()
    assert first[0] == tok.token_to_id("[CLS]")  # the model's special tokens, padding (0) at the end
    assert data.meta.extra["tokenizer"] == "pretrained" and data.meta.input_shape == (32,)


@pytest.mark.slow
def test_lora_beats_the_frozen_encoder_on_real_texts(text_data, tmp_path):
    frozen = _run(text_data, tmp_path, epochs=6, lr=0.02, finetune="freeze")
    lora = _run(text_data, tmp_path, epochs=6, lr=0.02, finetune="lora")
    assert lora.best_val_accuracy >= frozen.best_val_accuracy + 0.1, (lora, frozen)  # 3+ of 21 texts
    config = json.loads((tmp_path / "runs" / lora.run_dir.split("/")[-1] / "config.json").read_text())
    assert config["finetune"]["method"] == "lora"
    assert 0 < config["finetune"]["trainable_params"] < config["finetune"]["total_params"] / 10


@pytest.mark.slow
def test_lora_checkpoints_resume_and_merged_onnx_export(text_data, tmp_path):
    import onnxruntime as ort
    import torch
    from safetensors import safe_open

    from workbench.core.export.pipeline import export
    from workbench.core.export.settings import ExportSettings
    from workbench.core.export.source import source_from_checkpoint
    from workbench.core.training.checkpoints import load_checkpoint

    first = _run(text_data, tmp_path, epochs=1, lr=0.01, finetune="lora", lora_rank=4)
    last = f"{first.run_dir}/checkpoints/last.safetensors"
    with safe_open(last, framework="pt") as fh:
        keys = list(fh.keys())
    assert keys and all(
        "lora_" in k or "classifier" in k or "position_ids" in k or "token_type" in k for k in keys
    )
    meta = load_checkpoint(last).meta
    assert meta["finetune"]["base"][0]["sha256"] and meta["finetune"]["partial_checkpoints"]

    resumed = _run(text_data, tmp_path, resume=first.run_dir, epochs=2, lr=0.01, finetune="lora", lora_rank=4)
    assert resumed.epochs_completed == 2 and resumed.steps == 2 * first.steps

    source = source_from_checkpoint(resumed.run_dir, "last")
    assert not any("lora_" in k for k in source.model.state_dict())  # merged into the base weights
    out = tmp_path / "merged.onnx"
    report = export(source, ExportSettings(format="onnx"), out)
    assert report.verdict != "failed"
    ids = text_data[1].val.x[:8].numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: ids})[0]
    with torch.no_grad():
        torch_out = source.model(torch.from_numpy(ids)).numpy()
    assert np.abs(onnx_out - torch_out).max() <= 1e-4

    import shutil

    from workbench.core.errors import UserError

    moved = tmp_path / "moved-bert"
    base = text_data[2].layers[0].params["source"]
    shutil.move(base, moved)  # a LoRA checkpoint needs its base model: said plainly when it is gone
    try:
        with pytest.raises(UserError, match="tiny-bert does not exist"):
            source_from_checkpoint(resumed.run_dir, "last")
    finally:
        shutil.move(moved, base)

    adapters = export(source, ExportSettings(format="adapters"), tmp_path / "adapters.safetensors")
    assert adapters.verdict != "failed" and adapters.max_abs_diff <= 1e-5  # base + adapters == the merged run
    assert (tmp_path / "adapters.safetensors").stat().st_size < (tmp_path / "merged.onnx").stat().st_size / 5


def test_frozen_paths_stay_fixed_and_shrink_the_trainable_count(text_data, tmp_path):
    from workbench.core.model.build import build_model
    from workbench.core.training.finetune import apply_finetune

    _settings, _data, spec = text_data
    model = build_model(spec)
    full = apply_finetune(model, spec, TrainingConfig())
    locked = apply_finetune(model, spec, TrainingConfig(frozen=["0.model.bert.encoder.layer.0"]))
    layer0 = sum(p.numel() for p in model[0].model.bert.encoder.layer[0].parameters())
    assert locked.trainable_params == full.trainable_params - layer0
    assert not any(p.requires_grad for p in model[0].model.bert.encoder.layer[0].parameters())
    with pytest.raises(Exception, match="matches no weights"):
        apply_finetune(model, spec, TrainingConfig(frozen=["0.model.no_such_block"]))


@pytest.mark.slow
def test_cli_train_finetune_flags(tiny_bert, docs_csv, tmp_path, capsys):
    from workbench.cli import main

    project = tmp_path / "p.wbproj"
    args = ["project", "new", str(project), "--data", str(docs_csv), "--pretrained", str(tiny_bert)]
    assert main([*args, "--option", "seq_len=16"]) == 0
    assert main(["train", str(project), "--epochs", "1", "--finetune", "lora", "--lora-rank", "4"]) == 0
    captured = capsys.readouterr()
    assert "fine-tuning: LoRA rank 4 on 4 modules" in captured.out + captured.err  # the run's notes
    config = json.loads(next((tmp_path / "runs").glob("*/config.json")).read_text())
    assert config["training"]["finetune"] == "lora" and config["finetune"]["lora"]["rank"] == 4
    assert main(["train", str(project), "--finetune", "sideways"]) == 2
