"""Importing models made elsewhere (workbench/core/model/pretrained*.py, layers_pretrained.py): the imported
model computes what the source computes, the analysis reports its real modules, and every hostile source is
refused with one line naming the file, before anything is written."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from workbench.cli import main
from workbench.core.model.analysis import analyze
from workbench.core.model.build import build_model
from workbench.core.model.spec import ModelSpec


def _spec(folder, classes=3, seq=24):
    layer = {"type": "Pretrained", "format": "huggingface", "source": str(folder), "num_classes": classes}
    return ModelSpec(input_shape=[seq], layers=[layer])


def test_imported_bert_computes_what_the_source_computes(tiny_bert):
    import torch
    from transformers import BertModel

    source = BertModel.from_pretrained(tiny_bert, local_files_only=True).eval()
    model = build_model(_spec(tiny_bert)).eval()
    ids = torch.randint(5, 500, (4, 24), generator=torch.Generator().manual_seed(0))
    ids[1, 10:] = 0  # padding, masked out
    mask = (ids != 0).long()
    with torch.no_grad():
        mine = model[0].model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        theirs = source(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = model(ids)
    assert (mine - theirs).abs().max().item() <= 1e-5
    assert logits.shape == (4, 3)


def test_an_image_model_loads_through_transformers_key_renames(tmp_path):
    """ViT's saved names (attention.query ...) differ from its modules' (q_proj ...): transformers' own loader and
    renames are used, so every base weight arrives and the imported model computes what the source computes."""
    import torch
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    torch.manual_seed(0)
    source = ViTModel(config).eval()
    source.save_pretrained(tmp_path / "vit")
    layer = {"type": "Pretrained", "format": "huggingface", "source": str(tmp_path / "vit"), "num_classes": 5}
    spec = ModelSpec(input_shape=[3, 16, 16], layers=[layer])
    result = analyze(spec)
    pooler = 32 * 32 + 32  # the image classifier reads the [CLS] token, not the pooler
    assert result.total_params == sum(p.numel() for p in source.parameters()) - pooler + 5 * 32 + 5
    unmapped = result.to_dict()["layers"][0]["unmapped"]
    assert unmapped == {
        "source_tensors_unused": ["pooler.dense.bias", "pooler.dense.weight"],
        "new_tensors": ["model.classifier.bias", "model.classifier.weight"],
    }
    model = build_model(spec).eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mine = model[0].model.vit(pixel_values=x).last_hidden_state
        assert (mine - source(pixel_values=x).last_hidden_state).abs().max().item() <= 1e-5


def test_analysis_counts_every_parameter_and_lists_the_modules(tiny_bert):
    from transformers import BertModel

    source_params = sum(
        p.numel() for p in BertModel.from_pretrained(tiny_bert, local_files_only=True).parameters()
    )
    result = analyze(_spec(tiny_bert), input_dtype="int64")
    assert result.ok, result.error
    head = 64 * 3 + 3
    assert result.total_params == source_params + head
    assert result.output_shape == (3,)
    row = result.to_dict()["layers"][0]
    modules = {m["path"]: m for m in row["modules"]}
    first, second = modules["model.bert.encoder.layer.0"], modules["model.bert.encoder.layer.1"]
    assert first["type"] == second["type"] == "BertLayer"  # two identical blocks, foldable
    assert first["params"] == second["params"] > 0 and first["output_shape"] == [24, 64]
    assert first["macs"] > 0
    assert modules["model.classifier"]["new_params"] == head
    assert row["unmapped"]["new_tensors"] == ["model.classifier.bias", "model.classifier.weight"]
    assert row["model_type"] == "bert"


def test_project_new_pretrained_and_model_check(tiny_bert, docs_csv, tmp_path, capsys):
    project = tmp_path / "p.wbproj"
    assert (
        main(["project", "new", str(project), "--data", str(docs_csv), "--pretrained", str(tiny_bert)]) == 0
    )
    doc = json.loads(project.read_text())
    layer = doc["model"]["layers"][0]
    assert layer["type"] == "Pretrained" and layer["num_classes"] == 2 and len(layer["sha256"]) == 64
    assert doc["dataset"]["options"]["pretrained_tokenizer"] == str(tiny_bert.resolve())
    capsys.readouterr()
    assert main(["model", "check", str(project), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["total_params"] == report["layers"][0]["params"]
    assert report["layers"][0]["modules"]


def _copy(folder, tmp_path, name="bad"):
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def _config(folder):
    return json.loads((folder / "config.json").read_text())


def _write_config(folder, **changes):
    (folder / "config.json").write_text(json.dumps({**_config(folder), **changes}))


def _no_weights(src, tmp):
    bad = _copy(src, tmp)
    (bad / "model.safetensors").unlink()
    return bad, "has no weights"


def _pickled(src, tmp):
    bad = _copy(src, tmp)
    (bad / "model.safetensors").rename(bad / "pytorch_model.bin")
    return bad, "pytorch_model.bin is a pickled weights file"


def _auto_map(src, tmp):
    bad = _copy(src, tmp)
    _write_config(bad, auto_map={"AutoModel": "modeling_evil.EvilModel"})
    return bad, "auto_map"


def _unknown(src, tmp):
    bad = _copy(src, tmp)
    _write_config(bad, model_type="no_such_architecture")
    return bad, "not an architecture"


def _absurd(src, tmp):
    bad = _copy(src, tmp)
    _write_config(bad, hidden_size=1_000_000, num_hidden_layers=1_000, intermediate_size=4_000_000)
    return bad, "parameters"


def _tokenizer(src, tmp):
    bad = _copy(src, tmp)
    _write_config(bad, vocab_size=100)  # the tokenizer has ~600 tokens
    return bad, "tokenizer.json has"


def _onnx_op(src, tmp):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("NoSuchOp", ["input"], ["output"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path, "the ONNX op NoSuchOp"


def _raising_module(src, tmp):
    file = tmp / "bad_module.py"
    file.write_text(
        textwrap.dedent(
            """
            import torch

            class Boom(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    raise RuntimeError("no weights for you")
            """
        )
    )
    return f"{file}:Boom", "no weights for you"


@pytest.mark.parametrize(
    "make", [_no_weights, _pickled, _auto_map, _unknown, _absurd, _tokenizer, _onnx_op, _raising_module]
)
def test_hostile_sources_exit_2_and_write_nothing(make, tiny_bert, docs_csv, tmp_path, capsys):
    source, expected = make(tiny_bert, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code = main(
        ["project", "new", str(out / "p.wbproj"), "--data", str(docs_csv), "--pretrained", str(source)]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_resnet18_module_imports_with_the_same_parameter_count(tmp_path):
    """A PyTorch module (file.py:ClassName) is traced once into an ONNX graph; the project keeps that graph."""
    import torchvision

    from workbench.core.model.pretrained import import_module_file

    file = tmp_path / "nets.py"
    file.write_text(
        "import torchvision\n\n\nclass ResNet18(torchvision.models.ResNet):\n"
        "    def __init__(self):\n"
        "        super().__init__(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])\n"
    )
    graph = import_module_file(f"{file}:ResNet18", [3, 32, 32], tmp_path / "pretrained")
    assert graph.suffix == ".onnx" and graph.is_file()
    expected = sum(p.numel() for p in torchvision.models.resnet18(weights=None).parameters())
    layer = {"type": "Pretrained", "format": "module", "source": str(graph), "num_classes": 0}
    result = analyze(ModelSpec(input_shape=[3, 32, 32], layers=[layer]))
    assert result.ok, result.error
    assert result.total_params == expected == 11_689_512
    assert result.output_shape == (1000,)
    head = analyze(ModelSpec(input_shape=[3, 32, 32], layers=[dict(layer, num_classes=10)]))
    assert head.total_params == expected - 1000 * 513 + 10 * 513  # the fc head replaced


def test_workbench_onnx_export_imports_back_with_the_same_parameters(tmp_path):
    """Workbench's own ONNX export of one of its networks, imported back: same parameters, same outputs."""
    import numpy as np
    import torch

    from workbench.core.export.pipeline import export
    from workbench.core.export.settings import ExportSettings
    from workbench.core.export.source import source_from_spec
    from workbench.core.model.templates import make_template

    spec = make_template("lenet5", [1, 16, 16], 4)
    source = source_from_spec(spec, seed=0)
    export(source, ExportSettings(format="onnx"), tmp_path / "m.onnx")
    layer = {"type": "Pretrained", "format": "onnx", "source": str(tmp_path / "m.onnx"), "num_classes": 0}
    imported = ModelSpec(input_shape=[1, 16, 16], layers=[layer])
    assert analyze(imported).total_params == analyze(spec).total_params
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 1, 16, 16)).astype("float32"))
    with torch.no_grad():
        assert (build_model(imported).eval()(x) - source.model(x)).abs().max().item() <= 1e-5


def test_model_code_of_an_imported_model_is_one_error_line(tiny_bert, tmp_path, capsys):
    from workbench.core.model.spec import save_spec

    save_spec(_spec(tiny_bert), tmp_path / "spec.json")
    assert main(["model", "code", str(tmp_path / "spec.json"), "-o", str(tmp_path / "m.py")]) == 2
    assert "export it to ONNX instead" in capsys.readouterr().err and not (tmp_path / "m.py").exists()
