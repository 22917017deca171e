"""The runs table's data: one `RunRow` per run folder, what differs between runs, tags and notes.

API (Qt-free; the GUI's Runs tab and `workbench runs` use it; `RunIndex` in run_index.py makes the rows fast):

    RunRow                      frozen: id, path, name, status, damage, started, duration_s, settings, results,
                                tags, notes; `to_dict()` is its JSON form (`workbench runs list --json`)
    STATUSES                    completed | stopped | failed | interrupted | resumed | running | damaged
                                (resumed: a stopped or interrupted run another run continued, meta.json
                                `resumed_by`, training/fork.py)
    SETTING_KEYS, RESULT_KEYS   the settings / results keys in display order
    read_row(run_path)          a RunRow straight from the folder (never raises; a bad folder is status 'damaged')
    differing_settings(rows)    the setting keys whose values differ between the rows, in SETTING_KEYS order
    config_diff(rows_or_paths)  [(dotted key path, [value per run])] of the config.json keys that differ
    sort_rows(rows, key)        sorted by a column, setting or result key; '-key' descending; None last
    sort_keys(rows)             the keys `sort_rows` accepts
    row_matches(row, text)      the filter box: every word of `text` appears in the row (case-insensitive)
    set_tags(run_path, tags) / set_notes(run_path, text)
                                stored in runs/<id>/meta.json (atomic write); the index picks them up

settings: lr, optimizer, batch_size, epochs, finetune, lora_rank (LoRA runs), scheduler, weight_decay, precision,
seed, model (a short summary: "8 layers, 20.5k params" or "Pretrained bert-tiny + 2 layers, 4.4M params"),
data ("digits 70/15/15"), parent (the run it resumed from, by id), forked_from ("<run id>@<step>" when recorded).
results: best_val_accuracy, last_val_accuracy, best_val_loss, last_val_loss, test_accuracy, test_loss,
samples_per_s, last_step, epochs_completed, best_val_perplexity (language models). A value not recorded is None.

Results come from summary.json; what an older summary lacks (and everything for a run without a summary:
interrupted or running) from one pass over metrics.jsonl that parses only the epoch lines.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.io import atomic_write_json, open_regular_file, read_json

STATUSES = ("completed", "stopped", "failed", "interrupted", "resumed", "running", "damaged")
SETTING_KEYS = (
    "lr",
    "optimizer",
    "batch_size",
    "epochs",
    "finetune",
    "lora_rank",
    "scheduler",
    "weight_decay",
    "precision",
    "seed",
    "model",
    "data",
    "parent",
    "forked_from",
)
RESULT_KEYS = (
    "best_val_accuracy",
    "last_val_accuracy",
    "best_val_loss",
    "last_val_loss",
    "test_accuracy",
    "test_loss",
    "samples_per_s",
    "last_step",
    "epochs_completed",
    "best_val_perplexity",
)
COLUMN_KEYS = ("id", "name", "status", "started", "duration_s", "tags", "notes")
META_FILE = "meta.json"
UNFINISHED = (
    "unfinished"  # a row read from a folder without summary: running or interrupted, decided by .lock
)

Value = str | float | int | None


@dataclass(frozen=True)
class RunRow:
    id: str
    path: Path
    name: str
    status: str
    damage: str = ""  # one line saying what is wrong when status == 'damaged'
    started: float | None = None  # epoch seconds
    duration_s: float | None = None
    settings: dict[str, Value] = field(default_factory=dict)
    results: dict[str, Value] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    notes: str = ""
    resumed_by: str = ""  # the id of the run that resumed this one (meta.json), '' when none

    def value(self, key: str) -> Any:
        """A column, setting or result by key (None when the run has no such value)."""
        if key in self.settings:
            return self.settings[key]
        if key in self.results:
            return self.results[key]
        if key == "path":
            return str(self.path)
        if key == "tags":
            return ", ".join(self.tags)
        return getattr(self, key, None) if key in COLUMN_KEYS else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "name": self.name,
            "status": self.status,
            "damage": self.damage,
            "started": self.started,
            "duration_s": self.duration_s,
            "settings": dict(self.settings),
            "results": dict(self.results),
            "tags": list(self.tags),
            "notes": self.notes,
            "resumed_by": self.resumed_by,
        }

    @staticmethod
    def from_dict(doc: dict[str, Any], path: Path) -> RunRow:
        return RunRow(
            id=doc["id"],
            path=path,
            name=doc["name"],
            status=doc["status"],
            damage=doc.get("damage", ""),
            started=doc.get("started"),
            duration_s=doc.get("duration_s"),
            settings=doc.get("settings") or {},
            results=doc.get("results") or {},
            tags=tuple(doc.get("tags") or ()),
            notes=doc.get("notes") or "",
            resumed_by=doc.get("resumed_by") or "",
        )


# ---------------------------------------------------------------- reading one folder


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _count(n: int | None) -> str:
    if n is None:
        return ""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def model_summary(config: dict[str, Any]) -> str | None:
    model = config.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("layers"), list):
        return None
    layers = [layer for layer in model["layers"] if isinstance(layer, dict)]
    pretrained = [layer for layer in layers if layer.get("type") == "Pretrained"]
    if pretrained:
        source = str(pretrained[0].get("source") or "model").rstrip("/\\")
        text = f"Pretrained {Path(source).name}"
        if len(layers) > 1:
            text += f" + {len(layers) - 1} layer{'s' if len(layers) > 2 else ''}"
    else:
        text = f"{len(layers)} layer{'' if len(layers) == 1 else 's'}"
    total = (
        (config.get("finetune") or {}).get("total_params")
        if isinstance(config.get("finetune"), dict)
        else None
    )
    if isinstance(total, int) and not isinstance(total, bool):
        text += f", {_count(total)} params"
    return text


def data_summary(config: dict[str, Any]) -> str | None:
    data = config.get("dataset")
    if not isinstance(data, dict):
        return None
    source = str(data.get("source") or data.get("kind") or "?").rstrip("/\\")
    text = Path(source).name or source
    split = data.get("split")
    if isinstance(split, dict):
        parts = [_num(split.get(k)) for k in ("train", "val", "test")]
        if all(p is not None for p in parts):
            text += " " + "/".join(f"{round(float(p) * 100):g}" for p in parts)  # type: ignore[arg-type]
        seed = split.get("seed")
        if seed not in (None, 0):
            text += f" seed {seed}"
    return text


def _run_ref(value: Any, with_step: bool = True) -> str | None:
    """A lineage reference (a path, relative or absolute, or a dict {"run", "step"} with one) as the run's id,
    "<id>@<step>" when `with_step` and the step is recorded."""
    if isinstance(value, dict):
        ref = value.get("run") or value.get("run_id") or value.get("path") or value.get("run_dir")
        step = value.get("step")
        name = _run_ref(ref)
        return f"{name}@{step}" if name and with_step and isinstance(step, int) else name
    if isinstance(value, str) and value.strip():
        path = Path(value.strip().rstrip("/\\"))
        if path.name == "checkpoints" or path.suffix == ".safetensors":  # a checkpoint inside a run folder
            path = path.parent if path.name == "checkpoints" else path.parent.parent
        return path.name or None
    return None


def settings_of(config: dict[str, Any]) -> dict[str, Value]:
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    assert isinstance(training, dict)

    def plain(key: str) -> Value:
        value = training.get(key)
        return value if isinstance(value, str | int | float) and not isinstance(value, bool) else None

    finetune = plain("finetune")
    return {
        "lr": plain("lr"),
        "optimizer": plain("optimizer"),
        "batch_size": plain("batch_size"),
        "epochs": plain("epochs"),
        "finetune": finetune,
        "lora_rank": plain("lora_rank") if finetune == "lora" else None,
        "scheduler": plain("scheduler"),
        "weight_decay": plain("weight_decay"),
        "precision": plain("precision"),
        "seed": plain("seed"),
        "model": model_summary(config),
        "data": data_summary(config),
        "parent": _run_ref(config.get("resumed_from"), with_step=False),
        "forked_from": _run_ref(config.get("forked_from")),
    }


def scan_metrics(path: Path) -> tuple[dict[str, Value], str]:
    """One pass over metrics.jsonl, parsing only the epoch lines (a batch line is recognised by its prefix).
    Returns (results, problem): problem is '' or one line about a corrupt line in the middle of the file.
    A half-written last line (a killed run) is skipped, not a problem."""
    out: dict[str, Value] = {}
    try:
        fh = open_regular_file(path, "metrics.jsonl")  # never blocks on a FIFO
    except UserError as exc:
        return out, "" if not path.exists() and not path.is_symlink() else _reason(exc, path)
    with fh:
        lines = list(fh)  # bytes lines (a few MB for 100k steps)
    tail_cut = bool(lines and not lines[-1].endswith(b"\n") and lines[-1].strip())  # killed mid-line
    if tail_cut:
        lines.pop()
    best_acc = best_loss = last_acc = last_loss = best_ppl = None
    epochs = 0
    last_step = None
    first_time = last_time = None
    problem = ""
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        if raw.startswith(b'{"kind": "batch"'):
            if not raw.rstrip().endswith(b"}"):
                problem = problem or f"metrics.jsonl line {number} is cut short"
            elif first_time is None:
                first_time = _field(raw, b'"time": ')
            continue
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            problem = problem or f"metrics.jsonl line {number} is not valid JSON"
            continue
        if not isinstance(line, dict) or line.get("kind") != "epoch":
            continue
        epochs += 1
        acc, loss = _num(line.get("val_accuracy")), _num(line.get("val_loss"))
        if acc is not None:
            last_acc = acc
            best_acc = acc if best_acc is None else max(best_acc, acc)
        if loss is not None:
            last_loss = loss
            best_loss = loss if best_loss is None else min(best_loss, loss)
        ppl = _num(line.get("val_perplexity"))
        if ppl is not None:
            best_ppl = ppl if best_ppl is None else min(best_ppl, ppl)
        if _num(line.get("step")) is not None:
            last_step = line["step"]
        if _num(line.get("time")) is not None:
            last_time = line["time"]
    for raw in reversed(lines):  # the last complete batch line: the last step and time
        if raw.startswith(b'{"kind": "batch"'):
            step, t = _field(raw, b'"step": '), _field(raw, b'"time": ')
            if step is not None and (last_step is None or step > last_step):
                last_step = int(step)
            if t is not None and (last_time is None or t > last_time):
                last_time = t
            break
    out.update(
        best_val_accuracy=best_acc,
        last_val_accuracy=last_acc,
        best_val_loss=best_loss,
        last_val_loss=last_loss,
        last_step=last_step,
        epochs_completed=epochs,
        best_val_perplexity=best_ppl,
    )
    if first_time is not None and last_time is not None:
        out["_first_time"], out["_last_time"] = first_time, last_time
    if tail_cut:
        out["_tail_cut"] = 1
    return out, problem


def _field(raw: bytes, name: bytes) -> float | None:
    at = raw.find(name)
    if at < 0:
        return None
    start = at + len(name)
    end = start
    while end < len(raw) and raw[end : end + 1] not in (b",", b"}"):
        end += 1
    try:
        value = float(raw[start:end])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _meta_doc(run_path: Path) -> dict[str, Any]:
    """meta.json as a dict; unreadable or not an object: empty (it never damages the run)."""
    try:
        doc = read_json(run_path / META_FILE, "run notes")
    except UserError:
        return {}
    return doc if isinstance(doc, dict) else {}


def read_meta(run_path: Path) -> dict[str, Any]:
    """{"tags": tuple, "notes": str, "resumed_by": str} from meta.json; an unreadable meta.json gives none (it
    never damages the run)."""
    doc = _meta_doc(run_path)
    tags, notes, by = doc.get("tags"), doc.get("notes"), doc.get("resumed_by")
    return {
        "tags": tuple(str(t) for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        "notes": notes if isinstance(notes, str) else "",
        "resumed_by": by if isinstance(by, str) else "",
    }


def _damaged(run_path: Path, reason: str, **known: Any) -> RunRow:
    known["results"] = {**dict.fromkeys(RESULT_KEYS), **(known.get("results") or {})}
    return RunRow(
        id=run_path.name,
        path=run_path,
        name=known.pop("name", run_path.name),
        status="damaged",
        damage=reason,
        **known,
    )


def _reason(exc: UserError, path: Path) -> str:
    return str(exc).replace(f"{path.name} {path}", path.name).replace(str(path), path.name)


def read_row(run_path: str | os.PathLike) -> RunRow:
    """The row of one run folder, read from its files. Never raises: a folder that is not a readable run
    (config.json missing or not JSON, summary.json not a dict, metrics.jsonl corrupt or missing, no
    permission) is a row with status 'damaged' and a one-line reason. A run without summary.json has status
    UNFINISHED here; RunIndex.rows() turns it into running or interrupted by its .lock."""
    path = Path(run_path)
    try:
        return _read_row(path)
    except Exception as exc:  # noqa: BLE001 - one bad folder never hides the others
        return _damaged(path, f"cannot read the run folder: {type(exc).__name__}: {exc}"[:300])


def _read_row(path: Path) -> RunRow:
    try:
        names = set(os.listdir(path))
    except PermissionError:
        return _damaged(path, "cannot read the run folder: permission denied")
    except OSError as exc:
        return _damaged(path, f"cannot read the run folder: {exc.strerror or exc}")
    meta = read_meta(path) if META_FILE in names else {}
    if "config.json" not in names:
        return _damaged(path, "config.json is missing", **meta)
    try:
        config = read_json(path / "config.json", "config.json")
    except UserError as exc:
        return _damaged(path, _reason(exc, path / "config.json"), **meta)
    if not isinstance(config, dict):
        return _damaged(path, "config.json is not a JSON object", **meta)
    settings = settings_of(config)
    name = config.get("name") if isinstance(config.get("name"), str) and config.get("name") else path.name
    started = _num(config.get("created"))
    known: dict[str, Any] = {
        "name": name,
        "started": started,
        "settings": settings,
        **meta,
    }
    summary: dict[str, Any] | None = None
    if "summary.json" in names:
        try:
            doc = read_json(path / "summary.json", "summary.json")
        except UserError as exc:
            return _damaged(path, _reason(exc, path / "summary.json"), **known)
        if not isinstance(doc, dict):
            return _damaged(path, "summary.json is not a JSON object", **known)
        if doc.get("status") not in ("completed", "stopped", "failed"):
            return _damaged(path, f"summary.json has no valid status ({doc.get('status')!r})", **known)
        summary = doc
    if "metrics.jsonl" not in names and summary is not None:
        return _damaged(path, "metrics.jsonl is missing", **known)
        # a run that has only just started, or died before its first line: the .lock decides
    results: dict[str, Value] = dict.fromkeys(RESULT_KEYS)
    duration = None
    if summary is not None:
        results.update(
            best_val_accuracy=_num(summary.get("best_val_accuracy")),
            last_val_accuracy=_num(summary.get("last_val_accuracy")),
            best_val_loss=_num(summary.get("best_val_loss")),
            last_val_loss=_num(summary.get("last_val_loss")),
            test_accuracy=_num(summary.get("test_accuracy")),
            test_loss=_num(summary.get("test_loss")),
            samples_per_s=_num(summary.get("samples_per_second")),
            last_step=_num(summary.get("steps")),
            epochs_completed=_num(summary.get("epochs_completed")),
            best_val_perplexity=_num(summary.get("best_val_perplexity")),
        )
        duration = _num(summary.get("elapsed"))
    complete = summary is not None and all(
        k in summary for k in ("last_val_accuracy", "last_val_loss", "best_val_loss")
    )
    if "metrics.jsonl" in names:
        if complete:
            problem = _tail_problem(path / "metrics.jsonl")
        else:
            scanned, problem = scan_metrics(path / "metrics.jsonl")
            if summary is not None and scanned.get("_tail_cut"):
                problem = problem or "metrics.jsonl ends in half a line although the run finished"
            for key in RESULT_KEYS:
                if results.get(key) is None and scanned.get(key) is not None:
                    results[key] = scanned[key]
            if duration is None and isinstance(scanned.get("_last_time"), float):
                begin = started if started is not None else scanned.get("_first_time")
                if isinstance(begin, int | float):
                    duration = max(0.0, float(scanned["_last_time"]) - float(begin))  # type: ignore[arg-type]
        if problem:
            return _damaged(path, problem, **{**known, "results": results, "duration_s": duration})
    status = str(summary["status"]) if summary is not None else UNFINISHED
    if status == "stopped" and meta.get("resumed_by"):
        status = "resumed"
    return RunRow(id=path.name, path=path, status=status, results=results, duration_s=duration, **known)


def _tail_problem(path: Path) -> str:
    """A finished run's metrics.jsonl must end with a newline (checked without reading the file)."""
    try:
        with open_regular_file(path, "metrics.jsonl") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return ""
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
    except UserError as exc:
        return _reason(exc, path)
    except OSError as exc:
        return f"cannot read metrics.jsonl: {exc.strerror or exc}"
    return "" if last == b"\n" else "metrics.jsonl ends in half a line although the run finished"


# ---------------------------------------------------------------- comparing rows


def differing_settings(rows: list[RunRow]) -> list[str]:
    """The setting keys whose values differ between the rows (damaged rows without settings are left out)."""
    with_settings = [r for r in rows if r.settings]
    out = []
    keys = list(SETTING_KEYS) + sorted({k for r in with_settings for k in r.settings} - set(SETTING_KEYS))
    for key in keys:
        values = {json.dumps(r.settings.get(key), sort_keys=True) for r in with_settings}
        if len(values) > 1:
            out.append(key)
    return out


_NOISE = ("run_id", "created", "name")  # always differ between runs: not what the user changed


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value


def config_diff(rows_or_paths: list[RunRow] | list[str | os.PathLike]) -> list[tuple[str, list[Any]]]:
    """The flattened config.json keys ('training.lr', 'model.layers[3].out_channels') whose values differ
    between two or more runs, with one value per run (None where the run lacks the key or its config cannot be
    read), in the order the keys first appear."""
    paths = [r.path if isinstance(r, RunRow) else Path(r) for r in rows_or_paths]
    flats: list[dict[str, Any]] = []
    for path in paths:
        try:
            config = read_json(path / "config.json", "config.json")
        except UserError:
            config = {}
        flat: dict[str, Any] = {}
        _flatten(config if isinstance(config, dict) else {}, "", flat)
        flats.append(flat)
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    out = []
    for key in keys:
        if key in _NOISE:
            continue
        values = [flat.get(key) for flat in flats]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            out.append((key, values))
    return out


def sort_keys(rows: list[RunRow]) -> list[str]:
    extra = sorted({k for r in rows for k in r.settings} - set(SETTING_KEYS))
    return [*COLUMN_KEYS, *SETTING_KEYS, *extra, *RESULT_KEYS]


def sort_rows(rows: list[RunRow], key: str) -> list[RunRow]:
    """Rows sorted by `key` ('-key' descending); rows without a value go last either way; ties keep run id
    order. An unknown key is a UserError that lists the keys."""
    descending = key.startswith("-")
    name = key[1:] if descending else key
    keys = sort_keys(rows)
    if name not in keys:
        raise UserError(f"unknown sort key {name!r}; choose one of: {', '.join(keys)}")
    base = sorted(rows, key=lambda r: r.id)
    present = [r for r in base if r.value(name) not in (None, "")]
    missing = [r for r in base if r.value(name) in (None, "")]

    def order(r: RunRow) -> tuple[int, Any]:
        v = r.value(name)
        return (0, float(v)) if isinstance(v, int | float) else (1, str(v).lower())

    return sorted(present, key=order, reverse=descending) + missing


def row_matches(row: RunRow, text: str) -> bool:
    """The filter box: every whitespace-separated word appears somewhere in the row (id, name, status, damage,
    settings, tags, notes), case-insensitive."""
    words = text.lower().split()
    if not words:
        return True
    hay = " ".join(
        [row.id, row.name, row.status, row.damage, row.notes, *row.tags]
        + [str(v) for v in row.settings.values() if v is not None]
    ).lower()
    return all(w in hay for w in words)


# ---------------------------------------------------------------- tags and notes


def _write_meta(run_path: Path, **changes: Any) -> None:
    if not run_path.is_dir():
        raise UserError(f"{run_path} is not a run folder")
    doc = _meta_doc(run_path)
    doc.update(changes)
    try:
        atomic_write_json(run_path / META_FILE, doc)
    except OSError as exc:
        raise UserError(f"cannot save tags and notes in {run_path}: {exc.strerror or exc}") from exc


def set_tags(run_path: str | os.PathLike, tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Replace a run's tags (stripped, empty ones dropped, duplicates removed, order kept); returns them."""
    clean: dict[str, None] = {}
    for tag in tags:
        text = " ".join(str(tag).split())
        if text:
            clean[text] = None
    _write_meta(Path(run_path), tags=list(clean))
    return tuple(clean)


def set_notes(run_path: str | os.PathLike, text: str) -> None:
    """Replace a run's notes (free text)."""
    _write_meta(Path(run_path), notes=str(text))
