"""Discovery, isolation and enable/disable of plugins (no Qt)."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import subprocess
import sys

import pytest
from conftest import FIXTURE_PLUGINS

from workbench.core.data.registry import source_types
from workbench.core.errors import UserError
from workbench.core.export.registry import exporters
from workbench.core.model.analysis import analyze
from workbench.core.model.build import build_model
from workbench.core.model.registry import layer_types
from workbench.core.model.spec import ModelSpec
from workbench.plugins.manager import NO_PLUGINS_ENV
from workbench.plugins.state import state_path, user_plugins_dir


def by_id(manager):
    return {r.id: r for r in manager.records}


def test_builtins_are_plugins_and_cannot_be_disabled(make_manager):
    manager = make_manager()
    records = by_id(manager)
    layers, sources, exporters_ = (
        records["builtin.layers"],
        records["builtin.sources"],
        records["builtin.exporters"],
    )
    assert {"Linear", "Conv2d", "Residual", "LSTM"} <= set(layers.contributions["layers"])
    assert "SqueezeExcite" not in layers.contributions["layers"]  # a plugin's, not a built-in
    assert {"digits", "imagefolder", "csv"} <= set(sources.contributions["sources"])
    assert "shapes" not in sources.contributions["sources"]
    assert {"onnx", "onnx-int8-static", "torchscript"} <= set(exporters_.contributions["exporters"])
    assert all(
        r.origin == "built-in" and r.loaded and not r.can_disable for r in (layers, sources, exporters_)
    )
    with pytest.raises(ValueError, match="cannot be disabled"):
        manager.set_enabled("builtin.layers", False)


def test_repository_examples_load_from_the_enabled_plugins_folder(make_manager):
    manager = make_manager()
    records = by_id(manager)
    se, shapes = records["squeeze_excite"], records["synthetic_shapes"]
    assert se.status == shapes.status == "loaded" and se.origin == "folder"
    assert (
        se.name == "Squeeze-and-Excitation"
        and se.version == "1.0.0"
        and se.location.endswith("squeeze_excite")
    )
    assert se.contributions["layers"] == ["SqueezeExcite"] and shapes.contributions["sources"] == ["shapes"]
    assert layer_types()["SqueezeExcite"].extra["plugin"] == "squeeze_excite"
    assert "shapes" in {s.kind for s in source_types()}


def test_loading_plugins_does_not_import_torch(tmp_path):
    code = (
        "import sys; from workbench.plugins import load_plugins; m = load_plugins(); "
        "assert [r.id for r in m.records if r.status == 'loaded'][-2:] == ['squeeze_excite', 'synthetic_shapes']; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WORKBENCH_HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_broken_plugin_is_recorded_logged_and_rolled_back(make_manager, caplog):
    caplog.set_level(logging.INFO, "workbench.plugins")
    manager = make_manager(folders=[FIXTURE_PLUGINS])
    records = by_id(manager)
    imp, reg = records["broken_import"], records["broken_register"]
    assert imp.status == reg.status == "failed"
    assert "ModuleNotFoundError" in imp.error and "workbench_no_such_module" in imp.error
    assert imp.location.endswith("broken_import.py") and "broken_import.py" in imp.traceback
    assert reg.error == "RuntimeError: the plugin's configuration file is missing"
    assert reg.name == "Broken register" and reg.version == "0.2"  # known from PLUGIN before it failed
    assert "raise RuntimeError" in reg.traceback
    assert "HalfRegistered" not in layer_types()  # what it registered before failing is gone
    assert "workbench_plugins.broken_import" not in sys.modules
    # everything else still loaded
    assert (
        records["squeeze_excite"].loaded and records["hello_panel"].loaded and records["broken_build"].loaded
    )
    logged = caplog.text
    assert "plugin 'broken_import'" in logged and "failed to load" in logged and "Traceback" in logged


def test_disable_persists_across_restarts_and_the_plugin_is_not_imported(make_manager):
    first = make_manager()
    first.set_enabled("squeeze_excite", False)
    assert json.loads(state_path().read_text())["disabled"] == ["squeeze_excite"]
    assert first.pending_changes() == ["Squeeze-and-Excitation will not be loaded"]
    first.unload()
    second = make_manager()  # next start: reads plugins.json
    se = by_id(second)["squeeze_excite"]
    assert se.status == "disabled" and se.module is None
    assert "workbench_plugins.squeeze_excite" not in sys.modules
    assert "SqueezeExcite" not in layer_types()
    assert se.name == "Squeeze-and-Excitation" and se.contributions["layers"] == [
        "SqueezeExcite"
    ]  # remembered
    assert by_id(second)["synthetic_shapes"].loaded
    second.set_enabled("squeeze_excite", True)
    assert second.pending_changes() == ["Squeeze-and-Excitation will be loaded"]
    second.unload()
    third = make_manager()
    assert by_id(third)["squeeze_excite"].loaded and "SqueezeExcite" in layer_types()


def test_the_user_plugin_folder_loads_only_once_enabled(make_manager):
    folder = user_plugins_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mine.py").write_text(
        "from workbench.plugins import Plugin\nPLUGIN = Plugin('Mine', '2.0')\nIMPORTED = True\n"
        "def register(api):\n    pass\n"
    )
    record = by_id(make_manager())["mine"]
    assert record.status == "folder disabled" and "not enabled" in record.error
    assert "workbench_plugins.mine" not in sys.modules
    record = by_id(make_manager(folders=[folder]))["mine"]
    assert record.loaded and record.name == "Mine" and record.version == "2.0"
    assert sys.modules["workbench_plugins.mine"].IMPORTED


def test_a_second_plugin_with_the_same_id_is_refused(make_manager, tmp_path):
    (tmp_path / "squeeze_excite.py").write_text("def register(api):\n    pass\n")
    records = [r for r in make_manager(folders=[tmp_path]).records if r.id == "squeeze_excite"]
    assert [r.status for r in records] == ["loaded", "failed"]
    assert "already loaded from" in records[1].error and "rename one" in records[1].error


def test_a_module_without_register_is_reported(make_manager, tmp_path):
    (tmp_path / "no_entry.py").write_text("PLUGIN = None\n")
    (tmp_path / "bad_meta.py").write_text("PLUGIN = 'a string'\ndef register(api):\n    pass\n")
    records = by_id(make_manager(folders=[tmp_path]))
    assert "defines no register(api) function" in records["no_entry"].error
    assert "must be a workbench.plugins.Plugin" in records["bad_meta"].error


def test_entry_point_plugins_load_and_can_be_disabled(make_manager, tmp_path, monkeypatch):
    (tmp_path / "wb_ep_demo.py").write_text(
        '"""Demo exporter plugin."""\n'
        "from workbench.plugins import Exporter\n"
        "def register(api):\n"
        "    api.add_exporter(Exporter('demo-format', 'Demo', '.demo', write=lambda job: iter(()), "
        "load=lambda path, job: None))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint("demo", "wb_ep_demo", "workbench.plugins")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda **kw: [ep] if kw.get("group") == "workbench.plugins" else real(**kw),
    )

    manager = make_manager(load=False)
    manager.use_entry_points = True
    manager.load()
    record = by_id(manager)["demo"]
    assert (
        record.loaded
        and record.origin == "entry point"
        and record.contributions["exporters"] == ["demo-format"]
    )
    assert record.description == "Demo exporter plugin."
    assert "demo-format" in {e.name for e in exporters()}
    manager.set_enabled("demo", False)
    manager.unload()
    sys.modules.pop("wb_ep_demo", None)
    again = make_manager(load=False)
    again.use_entry_points = True
    again.load()
    assert by_id(again)["demo"].status == "disabled" and "wb_ep_demo" not in sys.modules
    assert "demo-format" not in {e.name for e in exporters()}


def test_safe_mode_loads_only_the_builtins(make_manager, monkeypatch):
    monkeypatch.setenv(NO_PLUGINS_ENV, "1")
    records = by_id(make_manager())
    assert records["builtin.layers"].loaded and records["squeeze_excite"].status == "skipped"
    assert "SqueezeExcite" not in layer_types()


def test_a_damaged_state_file_never_stops_start_up(make_manager):
    state_path().write_text("{not json")
    manager = make_manager(load=False)
    manager.load()
    assert "not valid JSON" in manager.state_warning and by_id(manager)["squeeze_excite"].loaded
    assert state_path().read_text() == "{not json"  # left alone until the user changes a setting
    manager.set_enabled("synthetic_shapes", False)
    assert json.loads(state_path().read_text())["disabled"] == ["synthetic_shapes"]


def test_bugs_in_plugin_layers_become_clear_errors_at_the_layer(make_manager):
    make_manager(folders=[FIXTURE_PLUGINS])
    a = analyze(
        ModelSpec(input_shape=[4], layers=[{"type": "Linear", "out_features": 4}, {"type": "BrokenBuild"}])
    )
    assert not a.ok and a.error_path == (1,)
    assert a.layers[1].error.startswith(
        "BrokenBuild (plugin 'broken_build') build failed: RuntimeError: cannot find the kernel library"
    )
    a = analyze(ModelSpec(input_shape=[4], layers=[{"type": "BrokenRule"}]))
    assert not a.ok and "BrokenRule (plugin 'broken_build') shape failed: KeyError" in a.layers[0].error
    spec = ModelSpec(input_shape=[4], layers=[{"type": "BuildsOnlyInTraining"}])
    assert analyze(spec).ok  # the rules are fine ...
    with pytest.raises(UserError, match="BuildsOnlyInTraining .plugin 'broken_build'. build failed"):
        build_model(spec)  # ... the build is not: one clear line, no crash


def test_unload_removes_every_contribution(make_manager):
    manager = make_manager(folders=[FIXTURE_PLUGINS])
    assert {"SqueezeExcite", "BrokenBuild"} <= set(layer_types())
    assert [p.title for p in manager.panels()] == ["Hello", "Broken panel"]
    manager.unload()
    assert not {"SqueezeExcite", "BrokenBuild"} & set(layer_types())
    assert "shapes" not in {s.kind for s in source_types()} and not manager.panels()
    assert "Linear" in layer_types()


def test_the_minimal_example_in_the_docs_works(make_manager, tmp_path):
    """docs/plugins.md's complete minimal plugin, saved as a file in a plugin folder, as the docs say."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "scale.py").write_text(code)
    record = by_id(make_manager(folders=[tmp_path]))["scale"]
    assert record.loaded and record.name == "Scale layer" and record.contributions["layers"] == ["Scale"]
    a = analyze(ModelSpec(input_shape=[3, 4, 4], layers=[{"type": "Scale", "init": 2.0}]))
    assert a.ok and a.total_params == 3 and a.output_shape == (3, 4, 4)
    import torch

    model = build_model(ModelSpec(input_shape=[3, 4, 4], layers=[{"type": "Scale", "init": 2.0}]))
    assert torch.equal(model(torch.ones(1, 3, 4, 4)), torch.full((1, 3, 4, 4), 2.0))
    bad = analyze(ModelSpec(input_shape=[8], layers=[{"type": "Scale"}]))
    assert "Scale needs a CxHxW input but receives 8" in bad.layers[0].error


BUGGY_SOURCE_AND_EXPORTER = """
import numpy as np
from workbench.plugins import IMAGE, Exporter, RawData, SourceType, UserError


def _load(settings, progress=None, cancel=None):
    if settings.options.get("mode") == "user":
        raise UserError("pick a smaller size")          # an intended error passes through unchanged
    return {}["missing"]                                 # a bug


def _detect(path):
    raise RuntimeError("a bug in detect")


def _write(job):
    yield job.progress("export", 0.1, "writing")
    raise ValueError("bad dtype")


def register(api):
    api.add_source(SourceType("buggy", "Buggy", _load, path_mode="none", detect=_detect))
    api.add_exporter(Exporter("buggy-format", "Buggy", ".bug", write=_write, load=lambda path, job: None))
"""


def test_bugs_in_plugin_sources_and_exporters_are_clear_errors(make_manager, tmp_path):
    from workbench.core.data import DatasetSettings, detect_kind, load_dataset
    from workbench.core.export.pipeline import export
    from workbench.core.export.settings import ExportSettings
    from workbench.core.export.source import source_from_spec

    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "buggy.py").write_text(BUGGY_SOURCE_AND_EXPORTER)
    make_manager(folders=[tmp_path / "plugins"])
    with pytest.raises(UserError, match=r"the data source 'buggy' \(plugin 'buggy'\) load failed: KeyError"):
        load_dataset(DatasetSettings(kind="buggy", source="x"))
    with pytest.raises(UserError, match="^pick a smaller size$"):
        load_dataset(DatasetSettings(kind="buggy", source="x", options={"mode": "user"}))
    (tmp_path / "data.xyz").write_bytes(b"?")
    with pytest.raises(UserError, match="cannot tell what kind of data"):  # a raising detect is a "no"
        detect_kind(str(tmp_path / "data.xyz"))
    spec = ModelSpec(input_shape=[4], layers=[{"type": "Linear", "out_features": 3}])
    with pytest.raises(
        UserError,
        match=r"the exporter 'buggy-format' \(plugin 'buggy'\) write failed: "
        "ValueError: bad dtype",
    ):
        export(source_from_spec(spec), ExportSettings(format="buggy-format"), tmp_path / "out")
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))  # nothing half-written left
