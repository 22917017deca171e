"""No code from files: Workbench never evaluates what a file contains. Weights are safetensors; a user's
.pt/.pth is read with `torch.load(weights_only=True)`; pickled objects are refused with a clear message;
plugins are imported only from the entry-point group or a plugin folder the user enabled.

The first test reads Workbench's own source and fails if a way to run a file's contents appears in it."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from reliability_helpers import assert_cli_error

import workbench
from workbench.core.errors import UserError

PACKAGE = Path(workbench.__file__).parent
FORBIDDEN_NAMES = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_CALLS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("marshal", "load"),
    ("marshal", "loads"),
    ("shelve", "open"),
    ("dill", "load"),
    ("dill", "loads"),
    ("cloudpickle", "load"),
    ("cloudpickle", "loads"),
    ("joblib", "load"),
    ("yaml", "load"),
    ("yaml", "unsafe_load"),
    ("pickle", "Unpickler"),
}


def _dotted(node: ast.AST) -> tuple[str, ...]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return tuple(reversed(parts))


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return "missing"


def code_from_file_problems(source: str, filename: str) -> list[str]:
    """Every call in `source` that could run what a file contains, as 'file:line: what'."""
    problems = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_NAMES:
                problems.append(f"{where}: {node.func.id}()")
            elif name[-2:] in FORBIDDEN_CALLS:
                problems.append(f"{where}: {'.'.join(name)}()")
            elif name[-2:] == ("torch", "load") and _keyword(node, "weights_only") is not True:
                problems.append(f"{where}: torch.load() without weights_only=True")
            elif (
                name[-1:] == ("load",)
                and name[:-1] in (("np",), ("numpy",))
                and _keyword(node, "allow_pickle") is True
            ):
                problems.append(f"{where}: numpy.load(allow_pickle=True)")
        elif isinstance(node, ast.ClassDef):
            unpickler = any(_dotted(base)[-1:] == ("Unpickler",) for base in node.bases)
            restricted = any(
                isinstance(item, ast.FunctionDef) and item.name == "find_class" for item in node.body
            )
            if unpickler and not restricted:
                problems.append(f"{where}: Unpickler subclass {node.name} without a restricting find_class")
    return problems


def test_workbench_source_runs_no_code_from_files():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += code_from_file_problems(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    assert not problems, "ways to run a file's contents:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "snippet, found",
    [
        ("import torch\ntorch.load(f)", "without weights_only"),
        ("import torch\ntorch.load(f, weights_only=False)", "without weights_only"),
        ("import pickle\npickle.loads(b)", "pickle.loads"),
        ("eval(text)", "eval()"),
        ("exec(text)", "exec()"),
        ("import numpy as np\nnp.load(p, allow_pickle=True)", "allow_pickle=True"),
        ("import pickle\nclass U(pickle.Unpickler):\n    pass", "without a restricting find_class"),
    ],
)
def test_the_scan_catches_each_pattern(snippet, found):
    """The scan above would fail on each of these (so its silence means something)."""
    problems = code_from_file_problems(snippet, "x.py")
    assert len(problems) == 1 and found in problems[0]


def test_the_scan_allows_the_safe_forms():
    safe = (
        "import torch\ntorch.load(f, map_location='cpu', weights_only=True)\nmodel.eval()\napp.exec()\n"
        "import numpy as np\nnp.load(p, allow_pickle=False)\nimport pickle\n"
        "class U(pickle.Unpickler):\n    def find_class(self, m, n):\n        raise ValueError\n"
    )
    assert code_from_file_problems(safe, "x.py") == []


class _Payload:
    """Unpickling this creates `marker`: the proof that a file's code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _evil_pt(path: Path, marker: Path) -> Path:
    import torch

    torch.save({"weight": torch.zeros(2), "payload": _Payload(marker)}, path)
    return path


def test_a_pickled_object_in_a_pt_checkpoint_is_refused(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    evil = _evil_pt(tmp_path / "weights.pt", marker)
    (tmp_path / "spec.json").write_text('{"input_shape": [1, 8, 8], "layers": [{"type": "Flatten"}]}')
    assert_cli_error(
        ["export", evil, "-o", tmp_path / "out.onnx"],
        capsys,
        [
            "cannot be loaded as plain weights",
            "pickled Python object (io.open)",
            "would run code",
            "only tensors are accepted",
        ],
        [tmp_path],
    )
    assert not marker.exists()


def test_a_pickled_object_as_backbone_weights_is_refused(tmp_path):
    from workbench.core.model.build import build_model
    from workbench.core.model.spec import ModelSpec

    marker = tmp_path / "PWNED"
    evil = _evil_pt(tmp_path / "resnet.pth", marker)
    spec = ModelSpec.model_validate(
        {
            "input_shape": [3, 32, 32],
            "layers": [
                {"type": "TorchvisionModel", "name": "resnet18", "num_classes": 10, "weights_path": str(evil)}
            ],
        }
    )
    with pytest.raises(
        UserError, match="resnet.pth cannot be loaded as plain weights: it holds a pickled Python object"
    ):
        build_model(spec)
    assert not marker.exists()


def test_a_pt_of_plain_tensors_is_accepted(run_dir, tmp_path):
    """weights_only=True is no obstacle to honest files: a state dict saved with torch.save loads."""
    import torch

    from workbench.core.training.checkpoints import load_checkpoint

    checkpoint = load_checkpoint(run_dir)
    torch.save(checkpoint.state_dict, tmp_path / "model.pt")
    (tmp_path / "spec.json").write_text(checkpoint.spec.model_dump_json(), encoding="utf-8")
    again = load_checkpoint(tmp_path / "model.pt")
    model = again.build_model()
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_plugins_in_a_folder_the_user_did_not_enable_are_never_imported(tmp_path, monkeypatch):
    from workbench.plugins.manager import FOLDER_DISABLED, LOADED, PluginManager
    from workbench.plugins.state import user_plugins_dir

    marker = tmp_path / "IMPORTED"
    folder = user_plugins_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sneaky.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\ndef register(api):\n    pass\n", encoding="utf-8"
    )
    manager = PluginManager(entry_points=False)
    try:
        manager.load()
        assert manager.record("sneaky").status == FOLDER_DISABLED
        assert not marker.exists()
    finally:
        manager.unload()
    manager.set_folder_enabled(folder, True)  # the user's choice, persisted
    enabled = PluginManager(entry_points=False)
    try:
        enabled.load()
        assert enabled.record("sneaky").status == LOADED and marker.exists()
    finally:
        enabled.unload()


def test_safe_mode_imports_no_third_party_plugin(tmp_path, monkeypatch):
    from workbench.plugins.manager import NO_PLUGINS_ENV, SKIPPED, PluginManager
    from workbench.plugins.state import user_plugins_dir

    marker = tmp_path / "IMPORTED"
    folder = user_plugins_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sneaky.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    PluginManager(entry_points=False).set_folder_enabled(folder, True)
    monkeypatch.setenv(NO_PLUGINS_ENV, "1")
    manager = PluginManager(entry_points=False)
    try:
        manager.load()
        assert manager.record("sneaky").status == SKIPPED and not marker.exists()
    finally:
        manager.unload()
    assert os.environ[NO_PLUGINS_ENV] == "1"
