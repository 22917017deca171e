"""`workbench monitor`: docs/contract.md's JSON shape, streaming JSON Lines, the table, bad input."""

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time

from workbench.cli import main


def test_once_json_has_the_contract_shape(capsys):
    assert main(["monitor", "--once", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"time", "cpu", "memory", "process", "gpus", "gpu_error"} <= doc.keys()
    assert isinstance(doc["cpu"]["percent"], float) and len(doc["cpu"]["per_core"]) == os.cpu_count()
    assert doc["memory"]["total"] > doc["memory"]["used"] > 0 and 0 < doc["memory"]["percent"] < 100
    assert doc["process"]["pid"] == os.getpid() and doc["process"]["rss"] > 0
    assert isinstance(doc["process"]["cpu_percent"], float)
    for gpu in doc["gpus"]:
        assert {
            "index",
            "name",
            "utilization",
            "memory_used",
            "memory_total",
            "temperature",
            "power_watts",
            "processes",
        } <= gpu.keys()
        assert all({"pid", "memory_used"} <= p.keys() for p in gpu["processes"])
    assert (doc["gpus"] and doc["gpu_error"] is None) or (doc["gpus"] == [] and doc["gpu_error"])


def test_once_table_is_readable(capsys):
    assert main(["monitor", "--once"]) == 0
    out = capsys.readouterr().out
    assert (
        out.startswith("Workbench monitor") and "CPU" in out and "RAM" in out and f"pid {os.getpid()}" in out
    )
    assert "No NVIDIA GPU:" in out or "GPU 0" in out


def test_bad_interval_is_one_error_line(capsys):
    assert main(["monitor", "--once", "--interval", "0.01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the sampling interval must be between 0.25 and 10") and err.count("\n") == 1
    assert main(["monitor", "--interval", "soon"]) == 2
    assert "error:" in capsys.readouterr().err


def test_streaming_json_lines_until_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "monitor", "--json", "--interval", "0.25"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl+C as a terminal delivers it, even when these tests run in the background (`make test &` in a
        # script ignores SIGINT, and a child inherits that: Python then never raises KeyboardInterrupt)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    docs = [json.loads(line) for line in lines]
    assert [d["process"]["pid"] for d in docs] == [proc.pid] * 3
    times = [d["time"] for d in docs]
    assert all(0.15 < b - a < 1.5 for a, b in itertools.pairwise(times)), times
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert time.time() - times[0] < 30


class _FirstLine:
    """sys.stdout for `monitor` streaming in this process: keeps the first line, then stops it as Ctrl+C does."""

    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text
        raise KeyboardInterrupt

    def flush(self):
        pass

    def isatty(self):
        return False


def _busy_after(delay: float, stop: threading.Event) -> threading.Thread:
    def spin():
        time.sleep(delay)
        while not stop.is_set():
            sum(range(1000))

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    return thread


def test_the_first_line_reports_cpu_over_a_full_interval(monkeypatch, capsys):
    """A thread of this process spins from 0.2 s on: a first reading over psutil's priming value or a 0.1 s
    window says ~0 %; over the interval (1 s) it says most of a core. Likewise --once (over 0.5 s)."""
    stop = threading.Event()
    try:
        _busy_after(0.2, stop)
        out = _FirstLine()
        monkeypatch.setattr(sys, "stdout", out)
        assert main(["monitor", "--json", "--interval", "1"]) == 0
        monkeypatch.undo()
        first = json.loads(out.text)
        assert first["process"]["cpu_percent"] > 30, first["process"]
        assert first["cpu"]["percent"] > 0, first["cpu"]
        stop.set()
        stop = threading.Event()
        _busy_after(0.2, stop)
        assert main(["monitor", "--once", "--json"]) == 0
        once = json.loads(capsys.readouterr().out)
        assert once["process"]["cpu_percent"] > 20, once["process"]
    finally:
        stop.set()
