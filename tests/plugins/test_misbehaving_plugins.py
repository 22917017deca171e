"""Plugins that misbehave towards the process: a lingering thread, a slow atexit handler, prints on stdout,
os._exit, os.chdir. The CLI still prints clean output, keeps its exit code and exits within a bound (issue 27).

Each test runs the real `python -m workbench` in a subprocess with a plugin folder enabled in its own
WORKBENCH_HOME, and times it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

LINGERING = """
import atexit, os, sys, threading, time
print("chatty: at import")
os.write(1, b"chatty: raw bytes on descriptor 1\\n")

def _chatter():
    for i in range(3):
        print("chatty: from a thread", i)
        time.sleep(0.05)
    time.sleep(120)  # a non-daemon thread that never ends on its own

def register(api):
    print("chatty: in register")
    threading.Thread(target=_chatter, name="chatty-thread").start()
    atexit.register(time.sleep, 120)
"""

QUITS_AT_IMPORT = "import os\nos._exit(0)\n"
QUITS_IN_REGISTER = "def register(api):\n    import os\n    os._exit(3)\n"
MOVES_FOLDER = "import os\n\ndef register(api):\n    os.chdir('/')\n"
QUITS_FROM_EXCEPT = (  # os._exit behind a broad except: still caught (PluginExited is no Exception)
    "import os\ntry:\n    os._exit(0)\nexcept Exception:\n    pass\n"
)


def _cli(home: Path, plugins: dict[str, str], argv: list[str], cwd: Path | None = None):
    folder = home / "hostile_plugins"
    folder.mkdir(exist_ok=True)
    for name, code in plugins.items():
        (folder / f"{name}.py").write_text(code)
    state = home / "plugins.json"
    if not state.exists():
        state.write_text(json.dumps({"format_version": 1, "folders": {str(folder): True}}))
    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[2])}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "workbench", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd or home,
    )
    return out, time.monotonic() - started


def _startup_seconds(home: Path) -> float:
    """The same command with no hostile plugin: the bound below is measured against it (a loaded machine)."""
    quiet = home / "quiet"
    quiet.mkdir()
    return _cli(quiet, {}, ["plugins", "list", "--json"])[1]


def test_lingering_thread_atexit_and_prints_neither_hang_nor_corrupt_json(tmp_path):
    baseline = _startup_seconds(tmp_path)
    out, seconds = _cli(tmp_path, {"chatty": LINGERING}, ["plugins", "list", "--json"])
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)  # one clean document: nothing the plugin printed
    assert "chatty:" not in out.stdout
    assert {p["id"]: p["status"] for p in listing["plugins"]}["chatty"] == "loaded"
    for line in ("chatty: at import", "chatty: raw bytes on descriptor 1", "chatty: in register"):
        assert line in out.stderr
    assert "chatty: from a thread 2" in out.stderr
    assert "exited without waiting for the thread 'chatty-thread'" in out.stderr
    # the grace is 1.5 s; the thread and the handler would each keep the process alive for 120 s (the bound
    # leaves room for a loaded machine)
    assert seconds < baseline + 8.0, (seconds, baseline)


def test_a_failing_command_keeps_its_exit_code_despite_a_lingering_plugin(tmp_path):
    out, seconds = _cli(tmp_path, {"chatty": LINGERING}, ["data", "inspect", "no-such-folder", "--json"])
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no-such-folder" in errors[0], out.stderr
    assert "Traceback" not in out.stderr
    assert seconds < 30


@pytest.mark.parametrize(
    "plugins, culprit, said",
    [
        ({"quitter": QUITS_AT_IMPORT}, "quitter", "os._exit(0)"),
        ({"quitter": QUITS_IN_REGISTER}, "quitter", "os._exit(3)"),
        ({"quitter": QUITS_FROM_EXCEPT}, "quitter", "os._exit(0)"),
    ],
)
def test_os_exit_in_a_plugin_is_caught_and_the_plugin_disabled(tmp_path, plugins, culprit, said):
    out, _ = _cli(tmp_path, plugins, ["plugins", "list", "--json"])
    assert out.returncode == 0, out.stderr
    record = {p["id"]: p for p in json.loads(out.stdout)["plugins"]}[culprit]
    assert record["status"] == "failed" and said in record["error"]
    messages = [line for line in out.stderr.splitlines() if culprit in line]
    assert len(messages) == 1 and "disabled" in messages[0] and said in messages[0], out.stderr
    # disabled for the next starts: it is not imported again
    assert culprit in json.loads((tmp_path / "plugins.json").read_text())["disabled"]
    again, _ = _cli(tmp_path, {}, ["plugins", "list", "--json"])
    assert {p["id"]: p["status"] for p in json.loads(again.stdout)["plugins"]}[culprit] == "disabled"


def test_a_plugin_that_changes_folder_is_undone_and_relative_paths_still_work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "table.csv").write_text("a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n")
    out, _ = _cli(tmp_path, {"mover": MOVES_FOLDER}, ["data", "inspect", "table.csv", "--json"], cwd=work)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["kind"] == "csv" and info["num_samples"] == 4
    messages = [line for line in out.stderr.splitlines() if "mover" in line]
    assert len(messages) == 1 and "changed the working folder to /" in messages[0], out.stderr
    assert "disabled" in messages[0]


EXITS_AT_EXIT = "import atexit, os\n\ndef register(api):\n    atexit.register(os._exit, 7)\n"


def test_an_atexit_handler_cannot_change_the_exit_code(tmp_path):
    ok, _ = _cli(tmp_path, {"exits_late": EXITS_AT_EXIT}, ["plugins", "list", "--json"])
    assert ok.returncode == 0, ok.stderr
    assert {p["id"]: p["status"] for p in json.loads(ok.stdout)["plugins"]}["exits_late"] == "loaded"
    assert "os._exit(7) called in the thread 'wb-exit' while the command was ending" in ok.stderr
    assert "Traceback" not in ok.stderr
    failing, _ = _cli(tmp_path, {}, ["data", "inspect", "no-such-folder"])
    assert failing.returncode == 2, failing.stderr


PRINTING_LAYER = """
from workbench.plugins import LayerType, Plugin

PLUGIN = Plugin("Printing layer", "1.0", "prints from its shape rule")


def _shape(p, s):
    print("printing_layer: shape rule called")
    return tuple(s)


def _build(p, s):
    from torch import nn

    return nn.Identity()


def register(api):
    api.add_layer(LayerType("Printer", "Core", doc="prints", build=_build, shape=_shape, count_params=lambda p, s: 0))
"""


def test_a_plugin_layer_that_prints_during_a_command_leaves_json_clean(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"input_shape": [4], "layers": [{"type": "Printer"}, {"type": "Linear", "out_features": 2}]}
        )
    )
    out, _ = _cli(tmp_path, {"printing_layer": PRINTING_LAYER}, ["model", "check", str(spec), "--json"])
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and [layer["type"] for layer in report["layers"]] == ["Printer", "Linear"]
    assert "printing_layer: shape rule called" in out.stderr


def test_the_manager_itself_refuses_os_exit_and_chdir(make_manager, tmp_path):
    """The same guard in-process (the GUI loads plugins through the same manager)."""
    folder = tmp_path / "in_process"
    folder.mkdir()
    (folder / "quitter.py").write_text(QUITS_IN_REGISTER)
    (folder / "mover.py").write_text(MOVES_FOLDER)
    cwd = os.getcwd()
    manager = make_manager(folders=[folder])
    records = {r.id: r for r in manager.records}
    assert os.getcwd() == cwd and os._exit.__name__ == "_exit"  # the real one is back
    assert records["quitter"].status == "failed" and "os._exit(3)" in records["quitter"].error
    assert records["mover"].status == "failed" and "changed the working folder to /" in records["mover"].error
    assert {"quitter", "mover"} <= set(manager.state.disabled)


EXITS_DURING_COMMAND = """
import os, threading, time
from workbench.plugins import LayerType, Plugin

PLUGIN = Plugin("Exits mid-command", "1.0", "os._exit from its thread, then from its shape rule")
_started = threading.Event()


def _watchdog():
    _started.wait(30)
    os._exit(0)


def _shape(p, s):
    if not _started.is_set():
        _started.set()
        time.sleep(0.5)  # the thread calls os._exit meanwhile
    if p["quit"]:
        os._exit(4)
    return tuple(s)


def _build(p, s):
    from torch import nn

    return nn.Identity()


def register(api):
    threading.Thread(target=_watchdog, name="watchdog", daemon=True).start()
    api.add_layer(LayerType("Quitter", "Core", (Param("quit", "bool", False, doc="exit"),), doc="exits",
                            build=_build, shape=_shape, count_params=lambda p, s: 0))
""".replace("import LayerType, Plugin", "import LayerType, Param, Plugin")


def test_os_exit_from_plugin_code_during_a_command_does_not_end_it(tmp_path):
    spec = tmp_path / "spec.json"
    layers = [{"type": "Quitter"}, {"type": "Linear", "out_features": 2}]
    spec.write_text(json.dumps({"input_shape": [4], "layers": layers}))
    out, _ = _cli(tmp_path, {"exits_mid": EXITS_DURING_COMMAND}, ["model", "check", str(spec), "--json"])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ok"]
    assert "called os._exit(0) in the thread 'watchdog'; that thread is ended" in out.stderr
    # in the command's own thread it is the plugin's error at its layer: exit 2, one line
    spec.write_text(json.dumps({"input_shape": [4], "layers": [{"type": "Quitter", "quit": True}]}))
    failed, _ = _cli(tmp_path, {}, ["model", "check", str(spec)])
    assert failed.returncode == 2, failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "os._exit(4)" in errors[0] and "bug in the plugin" in errors[0], failed.stderr
