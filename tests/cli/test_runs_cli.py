"""`workbench runs list|show`: the JSON shape of docs/contract.md, sorting, the table, bad input (exit 2)."""

from __future__ import annotations

import json

import pytest

from bench.runs import make_project
from workbench.cli import main
from workbench.core.training.run_table import RESULT_KEYS


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("runs-cli"), 30, 200, seed=5)


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_list_json_one_object_per_run_with_the_differing_settings_and_results(project, capsys):
    doc = _json(capsys, ["runs", "list", str(project), "--json"])
    assert len(doc) == 30 and [d["id"] for d in doc] == sorted(d["id"] for d in doc)
    keys = {
        "id",
        "name",
        "status",
        "settings",
        "results",
        "started",
        "duration_s",
        "tags",
        "notes",
        "resumed_by",
    }
    keys.add("path")
    for item in doc:
        assert keys <= item.keys()
        assert set(item["results"]) == set(RESULT_KEYS)
        assert ("damage" in item) == (item["status"] == "damaged")
    good = [d for d in doc if d["settings"]]
    differing = set(good[0]["settings"])
    assert {"lr", "optimizer", "batch_size"} <= differing
    assert all(set(d["settings"]) == differing for d in doc)
    for key in differing:  # only what differs
        assert len({json.dumps(d["settings"][key]) for d in good}) > 1
    assert sum(d["status"] == "damaged" for d in doc) == 3
    assert _json(capsys, ["runs", "list", str(project.parent / "runs"), "--json"]) == doc


def test_list_sorted_descending_and_ascending(project, capsys):
    doc = _json(capsys, ["runs", "list", str(project), "--sort", "-best_val_accuracy", "--json"])
    values = [d["results"]["best_val_accuracy"] for d in doc]
    present = [v for v in values if v is not None]
    assert len(present) > 20 and values[: len(present)] == sorted(present, reverse=True)
    doc = _json(capsys, ["runs", "list", str(project), "--sort", "batch_size", "--json"])
    sizes = [d["settings"]["batch_size"] for d in doc if d["settings"].get("batch_size") is not None]
    assert sizes == sorted(sizes)


def test_list_table_aligned_with_damaged_reasons(project, capsys):
    assert main(["runs", "list", str(project), "--filter", "adam"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0]
    assert header.startswith("ID") and "STATUS" in header and "LR" in header and "BEST ACC" in header
    rows = out[1 : out.index("")] if "" in out else out[1:-1]
    assert rows and all(r[header.index("STATUS")] != " " for r in rows)  # the STATUS column lines up
    assert out[-1].endswith("runs") and int(out[-1].split()[0]) == len(rows)


def test_show_json_has_the_row_config_and_lineage(project, capsys):
    doc = _json(capsys, ["runs", "list", str(project), "--json"])
    child = next(d for d in doc if d["settings"].get("parent") or d["settings"].get("forked_from"))
    ref = child["settings"].get("parent") or child["settings"]["forked_from"]
    parent_id = ref.partition("@")[0]
    shown = _json(capsys, ["runs", "show", child["path"], "--json"])
    assert shown["id"] == child["id"] and shown["config"]["run_id"] == child["id"]
    assert set(shown["results"]) == set(RESULT_KEYS) and "lr" in shown["settings"]
    link = shown["parent"] or shown["forked_from"]
    assert link["id"] == parent_id and link["path"].endswith(parent_id)
    by_prefix = _json(capsys, ["runs", "show", parent_id[:-2], "--project", str(project), "--json"])
    assert by_prefix["id"] == parent_id and child["id"] in by_prefix["children"]
    assert main(["runs", "show", child["path"]]) == 0
    text = capsys.readouterr().out
    assert f"run       {child['id']}" in text and "settings" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runs", "list", "{missing}"], "does not exist"),
        (["runs", "list", "{text}"], "is not a project file"),
        (["runs", "list", "{bare}"], "has no runs/ folder"),
        (["runs", "list", "{empty_dir}"], "neither a project file"),
        (["runs", "list", "{project}", "--sort", "speed"], "unknown sort key 'speed'; choose one of: id"),
        (["runs", "show", "nope", "--project", "{project}"], "no run 'nope'"),
        (["runs", "show", "nope"], "no run folder nope"),
        (["runs", "show", "2026", "--project", "{project}"], "matches 30 runs"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project, tmp_path, capsys, argv, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / "p.wbproj").write_text("{}")
    (tmp_path / "empty").mkdir()
    paths = {
        "missing": tmp_path / "missing.wbproj",
        "text": tmp_path / "notes.txt",
        "bare": tmp_path / "alone" / "p.wbproj",
        "empty_dir": tmp_path / "empty",
        "project": project,
    }
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
