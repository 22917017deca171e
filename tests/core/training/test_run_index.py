"""The runs index and table rows (issue 26): rebuilt when deleted, corrupt or of another schema; fresh when a run
changes on disk; damaged run folders listed with a reason, never hiding the others; what differs; sorting."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading

import pytest

from bench.runs import make_runs
from workbench.core.errors import UserError
from workbench.core.training.run_index import INDEX_FILE, SCHEMA_VERSION, RunIndex, run_row
from workbench.core.training.run_table import (
    RESULT_KEYS,
    config_diff,
    differing_settings,
    row_matches,
    set_notes,
    set_tags,
    sort_rows,
)
from workbench.core.training.runs import RunWriter


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs-template") / "runs"
    make_runs(root, 30, 200, seed=3)
    return root


@pytest.fixture
def runs(template, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(template, root)
    return root


def _by_id(rows):
    return {r.id: r for r in rows}


def test_thirty_runs_listed_with_status_results_and_the_three_damaged_ones(runs):
    index = RunIndex(runs)
    rows = index.rows()
    assert len(rows) == 30 and [r.id for r in rows] == sorted(r.id for r in rows)
    assert index.rebuilt == 30 and (runs / INDEX_FILE).is_file()
    statuses = {r.status for r in rows}
    assert {"completed", "interrupted", "damaged"} <= statuses
    damaged = [r for r in rows if r.status == "damaged"]
    reasons = sorted(r.damage for r in damaged)
    assert len(damaged) == 3, reasons
    assert any("config.json is not valid JSON" in d for d in reasons)
    assert any("summary.json is not a JSON object" in d for d in reasons)
    assert any("metrics.jsonl line" in d for d in reasons)
    for row in rows:
        assert "\n" not in row.damage and (row.status == "damaged") == bool(row.damage)
    done = [r for r in rows if r.status == "completed"]
    for row in done:
        summary = json.loads((row.path / "summary.json").read_text())
        assert row.results["best_val_accuracy"] == summary["best_val_accuracy"]
        assert row.results["last_step"] == summary["steps"] and row.duration_s == summary["elapsed"]
        epochs = [json.loads(line) for line in (row.path / "metrics.jsonl").open() if '"epoch",' in line]
        assert row.results["last_val_loss"] == pytest.approx(epochs[-1]["val_loss"])
        assert row.results["best_val_loss"] == pytest.approx(min(e["val_loss"] for e in epochs))
    interrupted = [r for r in rows if r.status == "interrupted"]
    assert interrupted and all(r.results["epochs_completed"] is not None for r in interrupted)


def test_warm_rows_read_no_folder_and_equal_the_cold_ones(runs):
    cold = RunIndex(runs).rows()
    index = RunIndex(runs)
    warm = index.rows()
    assert index.rebuilt == 0 and warm == cold


def test_deleted_corrupt_or_old_schema_index_is_rebuilt_from_the_folders(runs):
    expected = RunIndex(runs).rows()
    (runs / INDEX_FILE).unlink()
    index = RunIndex(runs)
    assert index.rows() == expected and index.rebuilt == 30
    (runs / INDEX_FILE).write_bytes(b"this is not a database" * 100)
    index = RunIndex(runs)
    assert index.rows() == expected and index.rebuilt == 30
    with sqlite3.connect(runs / INDEX_FILE) as con:  # a valid index again
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 30
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    index = RunIndex(runs)
    assert index.rows() == expected and index.rebuilt == 30


def test_a_run_changed_on_disk_shows_its_new_state_and_only_it_is_reread(runs):
    index = RunIndex(runs)
    rows = index.rows()
    run = next(r for r in rows if r.status == "interrupted")
    (run.path / ".lock").unlink()
    text = (run.path / "metrics.jsonl").read_text()
    (run.path / "metrics.jsonl").write_text(
        text[: text.rindex("\n") + 1]
    )  # as a writer that went on to finish
    (run.path / "summary.json").write_text(
        json.dumps({"status": "completed", "best_val_accuracy": 0.5, "steps": 7, "elapsed": 3.0}),
        encoding="utf-8",
    )
    after = _by_id(index.rows())
    assert index.rebuilt == 1
    assert after[run.id].status == "completed" and after[run.id].results["best_val_accuracy"] == 0.5
    shutil.rmtree(rows[0].path)
    assert rows[0].id not in _by_id(index.rows()) and index.rebuilt == 0
    with sqlite3.connect(runs / INDEX_FILE) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 29


def test_a_fifo_in_place_of_the_lock_never_blocks(runs):
    row = next(r for r in RunIndex(runs).rows() if r.status == "interrupted")
    (row.path / ".lock").unlink()
    os.mkfifo(row.path / ".lock")
    assert _by_id(RunIndex(runs).rows())[row.id].status == "interrupted"


def test_running_while_the_lock_holder_lives(runs):
    row = next(r for r in RunIndex(runs).rows() if r.status == "interrupted")
    (row.path / ".lock").write_text(f"{os.getpid()}@{os.uname().nodename}\n")
    assert _by_id(RunIndex(runs).rows())[row.id].status == "running"
    assert run_row(row.path).status == "running"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: (p / "config.json").write_text('{"name": '), "config.json is not valid JSON"),
        (lambda p: (p / "config.json").write_text("[]"), "config.json is not a JSON object"),
        (lambda p: (p / "config.json").unlink(), "config.json is missing"),
        (lambda p: ((p / "config.json").unlink(), (p / "config.json").mkdir()), "is a folder"),
        (lambda p: (p / "summary.json").write_text('"done"'), "summary.json is not a JSON object"),
        (lambda p: (p / "summary.json").write_text('{"status": "great"}'), "no valid status"),
        (lambda p: (p / "summary.json").write_text('{"stat'), "summary.json is not valid JSON"),
        (lambda p: (p / "metrics.jsonl").unlink(), "metrics.jsonl is missing"),
        (lambda p: (p / "metrics.jsonl").open("a").write('{"kind": "batch", "st'), "ends in half a line"),
        (lambda p: ((p / "metrics.jsonl").unlink(), os.mkfifo(p / "metrics.jsonl")), "not a regular file"),
        (lambda p: ((p / "summary.json").unlink(), os.mkfifo(p / "summary.json")), "not a regular file"),
    ],
)
def test_a_damaged_folder_is_listed_with_its_reason_and_hides_nothing(runs, damage, reason):
    good = [r for r in RunIndex(runs).rows() if r.status == "completed"]
    victim = good[0].path
    damage(victim)
    rows = _by_id(RunIndex(runs).rows())
    assert len(rows) == 30
    assert rows[victim.name].status == "damaged" and reason in rows[victim.name].damage
    assert all(rows[r.id].status == "completed" for r in good[1:])


def test_a_corrupt_line_in_the_middle_of_metrics_is_damage_a_cut_last_line_is_an_interruption(runs):
    rows = RunIndex(runs).rows()
    run = next(r for r in rows if r.status == "interrupted")
    text = (run.path / "metrics.jsonl").read_text()
    assert not text.endswith("\n")  # killed mid-line: interrupted, not damaged
    lines = text.splitlines(keepends=True)
    lines[3] = '{"kind": "epoch", "epo\n'
    (run.path / "metrics.jsonl").write_text("".join(lines))
    row = _by_id(RunIndex(runs).rows())[run.id]
    assert row.status == "damaged" and row.damage == "metrics.jsonl line 4 is not valid JSON"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_permission_denied_is_damage(runs):
    victim = next(r for r in RunIndex(runs).rows() if r.status == "completed").path
    (victim / "config.json").chmod(0)
    try:
        row = _by_id(RunIndex(runs).rows())[victim.name]
    finally:
        (victim / "config.json").chmod(0o644)
    assert row.status == "damaged" and "permission denied" in row.damage


def test_an_index_that_cannot_live_in_the_runs_folder_moves_to_the_user_cache(runs):
    (runs / INDEX_FILE).mkdir()  # cannot be opened as a database (like a read-only folder)
    index = RunIndex(runs)
    rows = index.rows()
    assert len(rows) == 30 and index.db_path is not None and index.db_path.parent.name == "run-index"
    assert index.db_path.is_file()
    again = RunIndex(runs)
    assert again.rows() == rows


def test_two_writers_at_once_never_fail(runs):
    errors, results = [], []

    def work():
        try:
            for _ in range(3):
                index = RunIndex(runs)
                index.clear() if threading.current_thread().name == "a" else None
                results.append(len(index.rows()))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, name=n) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [30] * 6


def test_differing_settings_sort_filter_and_config_diff(runs):
    rows = [r for r in RunIndex(runs).rows() if r.status != "damaged"]
    first, second = rows[0], rows[1]
    differ = differing_settings([first, second])
    for key in differ:
        assert first.settings[key] != second.settings[key]
    same = [k for k in first.settings if k not in differ]
    assert all(first.settings[k] == second.settings[k] for k in same)
    assert differing_settings([first, first]) == []
    every = differing_settings(rows)
    assert "lr" in every and "batch_size" in every and every == [k for k in first.settings if k in every]

    ordered = sort_rows(rows, "-best_val_accuracy")
    values = [r.results["best_val_accuracy"] for r in ordered]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=True) and values[: len(present)] == present
    assert [r.settings["lr"] for r in sort_rows(rows, "lr")] == sorted(r.settings["lr"] for r in rows)
    with pytest.raises(UserError, match="unknown sort key 'speed'.*best_val_accuracy"):
        sort_rows(rows, "speed")
    assert all(row_matches(r, "adam") for r in rows if r.settings["optimizer"] == "adam")
    assert not any(row_matches(r, "adam zzz") for r in rows)

    diff = dict(config_diff([first, second]))
    assert "run_id" not in diff and "created" not in diff
    if first.settings["lr"] != second.settings["lr"]:
        assert diff["training.lr"] == [first.settings["lr"], second.settings["lr"]]
    assert all(len(set(map(json.dumps, v))) > 1 for v in diff.values())


def test_tags_and_notes_live_in_the_run_folder_and_reach_the_index(runs):
    index = RunIndex(runs)
    row = index.rows()[4]
    assert set_tags(row.path, [" best ", "lr sweep", "best", ""]) == ("best", "lr sweep")
    set_notes(row.path, "try a smaller lr next")
    fresh = _by_id(index.rows())[row.id]
    assert index.rebuilt == 1
    assert fresh.tags == ("best", "lr sweep") and fresh.notes == "try a smaller lr next"
    assert json.loads((row.path / "meta.json").read_text()) == {
        "tags": ["best", "lr sweep"],
        "notes": "try a smaller lr next",
    }
    with pytest.raises(UserError, match="not a run folder"):
        set_tags(runs / "nope", ["x"])


def test_the_writer_records_last_and_best_validation_values_in_the_summary(tmp_path):
    writer = RunWriter(tmp_path, {"name": "r", "training": {"lr": 0.1}})
    for epoch, (acc, loss) in enumerate([(0.5, 1.0), (0.7, 0.6), (0.65, 0.8)], 1):
        writer.write({"kind": "batch", "step": epoch, "epoch": epoch, "loss": loss, "lr": 0.1, "time": 1.0})
        writer.write({"kind": "epoch", "epoch": epoch, "val_accuracy": acc, "val_loss": loss, "step": epoch})
    writer.finish({"status": "completed", "best_val_accuracy": 0.7, "steps": 3})
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["last_val_accuracy"] == 0.65 and summary["last_val_loss"] == 0.8
    assert summary["best_val_loss"] == 0.6
    row = run_row(tmp_path)
    assert row.status == "completed" and {k: row.results[k] for k in RESULT_KEYS[:4]} == {
        "best_val_accuracy": 0.7,
        "last_val_accuracy": 0.65,
        "best_val_loss": 0.6,
        "last_val_loss": 0.8,
    }


def test_an_unreadable_run_folder_is_damage(runs, monkeypatch):
    from workbench.core.training import run_table

    victim = RunIndex(runs).rows()[7].path
    listdir = os.listdir

    def refuse(path):
        if os.fspath(path) == os.fspath(victim):
            raise PermissionError(13, "Permission denied")
        return listdir(path)

    monkeypatch.setattr(run_table.os, "listdir", refuse)
    (victim / "config.json").touch()  # a new stamp: read again
    rows = _by_id(RunIndex(runs).rows())
    assert len(rows) == 30
    assert rows[victim.name].status == "damaged"
    assert rows[victim.name].damage == "cannot read the run folder: permission denied"


def test_a_stopped_or_interrupted_run_that_another_resumed_reads_resumed_and_keeps_it_when_tagged(runs):
    rows = RunIndex(runs).rows()
    interrupted = next(r for r in rows if r.status == "interrupted")
    stopped = next(r for r in rows if r.status == "completed")
    summary = json.loads((stopped.path / "summary.json").read_text())
    (stopped.path / "summary.json").write_text(json.dumps({**summary, "status": "stopped"}))
    for row in (interrupted, stopped):
        (row.path / "meta.json").write_text(json.dumps({"resumed_by": "child-run"}))
        set_tags(row.path, ["kept"])
    after = _by_id(RunIndex(runs).rows())
    for row in (interrupted, stopped):
        assert after[row.id].status == "resumed" and after[row.id].resumed_by == "child-run"
        assert after[row.id].tags == ("kept",)
