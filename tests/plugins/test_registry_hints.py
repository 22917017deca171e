"""Every registry says why a name is unknown when a disabled plugin provides it (one Registry type)."""

from __future__ import annotations

import pytest

from workbench.core.data.registry import get_source
from workbench.core.errors import UserError
from workbench.core.export.registry import get_exporter
from workbench.core.model.registry import get_layer_type

PLUGIN = """
from workbench.plugins import Exporter, Plugin
from workbench.core.data.registry import SourceType
from workbench.core.model.registry import LayerType

PLUGIN = Plugin(name="Demo formats")

def register(api):
    api.add_exporter(Exporter("demo-format", "Demo", ".demo", write=lambda job: iter(()),
                              load=lambda path, job: None))
    api.add_source(SourceType(kind="demo-kind", label="Demo", load=lambda *a: None))
    api.add_layer(LayerType(name="DemoLayer", category="Core", build=lambda p: None))
"""


def test_a_disabled_plugin_explains_its_exporter_source_and_layer(make_manager, tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "demo_formats.py").write_text(PLUGIN)
    manager = make_manager(folders=[folder])
    assert {r.id: r.status for r in manager.records}["demo_formats"] == "loaded"
    assert get_exporter("demo-format").name == "demo-format"

    make_manager(folders=[folder], disabled=["demo_formats"])  # a restart with the plugin disabled
    for lookup, what, name in (
        (get_exporter, "export format", "demo-format"),
        (get_source, "data kind", "demo-kind"),
        (get_layer_type, "layer type", "DemoLayer"),
    ):
        with pytest.raises(UserError) as caught:
            lookup(name)
        assert str(caught.value).startswith(
            f"unknown {what} '{name}': it comes from the plugin 'Demo formats', which is disabled; enable it"
        )


def test_an_unknown_name_without_a_plugin_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown export format 'tflite'; choose one of: .*onnx"):
        get_exporter("tflite")
    with pytest.raises(UserError, match=r"unknown layer type 'linear'; did you mean Linear\?"):
        get_layer_type("linear")
