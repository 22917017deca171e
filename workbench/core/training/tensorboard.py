"""TensorBoard event files for a run, written without TensorFlow or any new dependency: TFRecord framing
(length, masked CRC-32C, data, masked CRC-32C) around hand-encoded `Event` / `Summary` protobufs.

    runs/<id>/tb/events.out.tfevents.<time>.<host>.<pid>.workbench

What goes in (tags; x = the global step):
    batch/loss, batch/lr, batch/perplexity   every value of every batch line of metrics.jsonl
    epoch/<key>                              every value of every epoch line (train_loss, train_accuracy, val_loss,
                                             val_accuracy, train_perplexity, val_perplexity, lr)
    _hparams_/session_start_info             the HParams plugin: the run's training settings (lr, batch_size,
                                             optimizer, epochs, finetune ...), group = run id
    _hparams_/session_end_info               status when the run ends (completed / stopped: success, failed: failure)
A value metrics.jsonl holds as null (none, or not finite) is not written, so the files have exactly as many
scalars as metrics.jsonl has values.

API:
    EventWriter(run_dir)                     .hparams(config), .line(metrics line), .end(status), .close();
                                             RunWriter (runs.py) drives one per run, line by line, flushed
    export_run(run_dir) -> Path              writes the files of an existing run from config.json, metrics.jsonl and
                                             summary.json, replacing what tb/ held (idempotent; refused while the
                                             run trains)
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError

TB_DIR = "tb"
SKIP_KEYS = ("kind", "step", "epoch", "time")
HPARAM_KEYS = (
    "lr",
    "batch_size",
    "epochs",
    "optimizer",
    "scheduler",
    "weight_decay",
    "momentum",
    "finetune",
    "lora_rank",
    "grad_accumulation_steps",
    "label_smoothing",
    "precision",
    "seed",
)

# -- CRC-32C (Castagnoli), table driven
# --------------------------------------------------------------------------------------
_POLY = 0x82F63B78
_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc, table = 0xFFFFFFFF, _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, its masked CRC."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


# -- protobuf wire format, the few fields needed
# -----------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64s as two's complement
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _double_field(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value)


def _float_field(number: int, value: float) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<f", value)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def event(
    wall_time: float, step: int | None = None, summary: bytes | None = None, version: str = ""
) -> bytes:
    """tensorflow.Event: wall_time 1, step 2, file_version 3, summary 5."""
    out = _double_field(1, wall_time)
    if step is not None:
        out += _varint_field(2, step)
    if version:
        out += _bytes_field(3, version.encode())
    if summary is not None:
        out += _bytes_field(5, summary)
    return out


def scalar_value(tag: str, value: float) -> bytes:
    """Summary.Value with tag 1 and simple_value 2 (TensorBoard reads it as a scalar)."""
    return _bytes_field(1, _bytes_field(1, tag.encode()) + _float_field(2, value))


_NULL_TENSOR = (
    b"\x08\x01\x12\x02\x12\x00"  # TensorProto: DT_FLOAT, shape [0] (the hparams plugin's NULL_TENSOR)
)


def _plugin_value(tag: str, plugin: str, content: bytes) -> bytes:
    """Summary.Value: tag 1, tensor 8, metadata 9 (SummaryMetadata.plugin_data 1: plugin_name 1, content 2)."""
    plugin_data = _bytes_field(1, plugin.encode()) + _bytes_field(2, content)
    return _bytes_field(
        1,
        _bytes_field(1, tag.encode())
        + _bytes_field(8, _NULL_TENSOR)
        + _bytes_field(9, _bytes_field(1, plugin_data)),
    )


def _proto_value(value: Any) -> bytes:
    """google.protobuf.Value: number_value 2, string_value 3, bool_value 4."""
    if isinstance(value, bool):
        return _varint_field(4, int(value))
    if isinstance(value, int | float):
        return _double_field(2, float(value))
    return _bytes_field(3, str(value).encode())


def session_start(hparams: dict[str, Any], group: str, start: float) -> bytes:
    """HParamsPluginData (version 1 = 0, session_start_info 3: hparams map 1, group_name 4, start_time_secs 5)."""
    info = b"".join(
        _bytes_field(1, _bytes_field(1, key.encode()) + _bytes_field(2, _proto_value(value)))
        for key, value in hparams.items()
    )
    info += _bytes_field(4, group.encode()) + _double_field(5, start)
    return _plugin_value(
        "_hparams_/session_start_info", "hparams", _varint_field(1, 0) + _bytes_field(3, info)
    )


def session_end(status: str, end: float) -> bytes:
    """HParamsPluginData session_end_info 4: status 1 (1 success, 2 failure), end_time_secs 2."""
    code = {"completed": 1, "stopped": 1, "failed": 2}.get(status, 0)
    info = _varint_field(1, code) + _double_field(2, end)
    return _plugin_value("_hparams_/session_end_info", "hparams", _varint_field(1, 0) + _bytes_field(4, info))


def hparams_of(config: dict[str, Any]) -> dict[str, Any]:
    training = config.get("training")
    if not isinstance(training, dict):
        return {}
    out: dict[str, Any] = {}
    for key in HPARAM_KEYS:
        value = training.get(key)
        if isinstance(value, bool | str) or (isinstance(value, int | float) and math.isfinite(value)):
            out[key] = value
    if isinstance(config.get("parent"), str):
        out["parent"] = config["parent"]
    return out


def scalars_of(line: dict[str, Any]) -> list[tuple[str, float]]:
    """(tag, value) for each finite number of a batch or epoch line; nothing for other lines."""
    kind = line.get("kind")
    if kind not in ("batch", "epoch"):
        return []
    out = []
    for key, value in line.items():
        if key in SKIP_KEYS or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out.append((f"{kind}/{key}", float(value)))
    return out


def _step_of(line: dict[str, Any]) -> int:
    for key in ("step", "epoch"):
        value = line.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return 0


class EventWriter:
    """One event file in `<run>/tb/`; each call writes and flushes whole records (a reader never sees half)."""

    def __init__(self, run_dir: str | os.PathLike, path: Path | None = None):
        folder = Path(run_dir) / TB_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.path = path or folder / (
            f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.workbench"
        )
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._write(event(time.time(), version="brain.Event:2"))

    def _write(self, data: bytes) -> None:
        self._fh.write(record(data))
        self._fh.flush()

    def hparams(self, config: dict[str, Any]) -> None:
        started = config.get("created")
        start = float(started) if isinstance(started, int | float) else time.time()
        group = str(config.get("run_id") or "")
        self._write(event(start, 0, session_start(hparams_of(config), group, start)))

    def line(self, line: dict[str, Any]) -> None:
        values = scalars_of(line)
        if values:
            stamp = line.get("time")
            wall = float(stamp) if isinstance(stamp, int | float) and math.isfinite(stamp) else time.time()
            self._write(event(wall, _step_of(line), b"".join(scalar_value(t, v) for t, v in values)))

    def end(self, status: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        self._write(event(at, None, session_end(status, at)))

    def close(self) -> None:
        self._fh.close()


def export_run(run_dir: str | os.PathLike) -> Path:
    """(Re)write `<run>/tb/` from the run's files: the old event files are replaced, never added to."""
    from workbench.core.training.runs import Run, read_metrics_lines

    run = Run(run_dir)
    if not (run.path / "config.json").is_file():
        raise UserError(f"{run.path} is not a run folder (no config.json); pass a run folder or a project")
    if run.status == "running":
        raise UserError(f"run {run.id} is still training; it writes its own event files")
    folder = run.path / TB_DIR
    folder.mkdir(exist_ok=True)
    old = [p for p in folder.iterdir() if "tfevents" in p.name]
    for stale in folder.glob(".export.*.tmp"):  # left by an export that was killed
        stale.unlink(missing_ok=True)
    temp = (
        folder / f".export.{os.getpid()}.tmp"
    )  # no 'tfevents' in the name: TensorBoard skips it until renamed
    writer = EventWriter(run.path, temp)
    try:
        writer.hparams(run.config)
        for line in read_metrics_lines(run.path / "metrics.jsonl"):
            writer.line(line)
        summary = run.summary
        if summary and isinstance(summary.get("status"), str):
            finished = summary.get("finished")
            writer.end(summary["status"], float(finished) if isinstance(finished, int | float) else None)
    except BaseException:
        writer.close()
        temp.unlink(missing_ok=True)
        raise
    writer.close()
    final = folder / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.workbench"
    os.replace(temp, final)
    for path in old:
        if path != final:
            path.unlink(missing_ok=True)
    return final


__all__ = ["EventWriter", "export_run", "scalars_of"]
