"""`workbench monitor [--once] [--interval S] [--json]` (docs/contract.md section 3).

--json --once: one JSON document. --json: one JSON document per line every interval until Ctrl+C (JSON Lines,
ready for `jq` or a log file). Without --json: a readable table, refreshed every interval."""

from __future__ import annotations

import json
import sys
import time

from workbench.core.hardware.sampler import DEFAULT_INTERVAL_S, HardwareSampler, check_interval
from workbench.core.hardware.snapshot import HardwareSnapshot
from workbench.core.units import bytes_text


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "monitor",
        help="CPU, memory and NVIDIA GPUs (memory, utilization, temperature, "
        "power, processes), once or every --interval seconds",
        description="Show CPU, memory, this process and NVIDIA GPUs. Streams until Ctrl+C unless --once.",
    )
    parser.add_argument("--once", action="store_true", help="take one sample and exit")
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_S,
        metavar="S",
        help=f"seconds between samples, 0.25 to 10 (default {DEFAULT_INTERVAL_S:g})",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="JSON: one document with --once, otherwise one document per line (JSON Lines)",
    )
    parser.set_defaults(func=run)


ONCE_PERIOD_S = 0.5  # --once: the CPU figures cover this long (psutil measures between two calls)


def run(args) -> int:
    interval = check_interval(args.interval)
    sampler = HardwareSampler(interval, probe_torch=False)
    sampler.system.first_period_s = ONCE_PERIOD_S if args.once else interval  # the first line: a real figure
    try:
        if args.once:
            snapshot = sampler.sample()
            if args.json:
                from workbench.cli import print_json

                print_json(snapshot.to_dict())
            else:
                sys.stdout.write(format_table(snapshot) + "\n")
            return 0
        return _stream(sampler, interval, args.json)
    finally:
        sampler.stop()


def _stream(sampler: HardwareSampler, interval: float, as_json: bool) -> int:
    clear = not as_json and sys.stdout.isatty()
    next_at = None
    try:
        while True:
            snapshot = sampler.sample()
            if as_json:
                sys.stdout.write(json.dumps(snapshot.to_dict(), default=str) + "\n")
            else:
                sys.stdout.write(("\x1b[H\x1b[2J" if clear else "") + format_table(snapshot) + "\n\n")
            sys.stdout.flush()
            now = time.monotonic()
            next_at = now + interval if next_at is None else max(next_at + interval, now)
            time.sleep(max(next_at - time.monotonic(), 0.0))
    except KeyboardInterrupt:  # Ctrl+C is how streaming ends: not an error
        return 0
    except BrokenPipeError:  # `workbench monitor --json | head -3`
        sys.stderr.close()
        return 0


def format_table(s: HardwareSnapshot) -> str:
    """A compact, nvidia-smi-like text view of one snapshot."""
    stamp = time.strftime("%H:%M:%S", time.localtime(s.time))
    freq = f" @ {s.cpu.frequency_mhz / 1000:.2f} GHz" if s.cpu.frequency_mhz else ""
    cores = " ".join(f"{p:3.0f}" for p in s.cpu.per_core)
    lines = [
        f"Workbench monitor  {stamp}",
        f"CPU      {s.cpu.percent:5.1f} %  ({s.cpu.count} cores{freq})  per core: {cores}",
        f"RAM      {s.memory.percent:5.1f} %  {bytes_text(s.memory.used)} / {bytes_text(s.memory.total)}"
        + (
            f"   swap {bytes_text(s.memory.swap_used)} / {bytes_text(s.memory.swap_total)}"
            if s.memory.swap_total
            else ""
        ),
        f"Process  pid {s.process.pid}  RSS {bytes_text(s.process.rss)}  CPU {s.process.cpu_percent:.0f} %  "
        f"{s.process.threads} threads",
    ]
    if s.disk:
        lines.append(
            f"Disk     {bytes_text(s.disk.free)} free of {bytes_text(s.disk.total)}  ({s.disk.path})"
        )
    if not s.gpus:
        lines.append(f"GPU      No NVIDIA GPU: {s.gpu_error}")
    for g in s.gpus:
        if g.error:
            lines.append(f"GPU {g.index}    {g.name}: {g.error}")
            continue
        lines.append(f"GPU {g.index}    {g.name}  ({g.device or 'hidden by CUDA_VISIBLE_DEVICES'})")
        lines.append(
            f"         util {_v(g.utilization, '%')}  memory {bytes_text(g.memory_used)} / "
            f"{bytes_text(g.memory_total)}  temp {_v(g.temperature, '°C')}  power {_v(g.power_watts, 'W')}"
            f" / {_v(g.power_limit_watts, 'W')}  SM {_v(g.sm_clock_mhz, 'MHz')}  fan {_v(g.fan_percent, '%')}"
        )
        for p in g.processes:
            mark = "  <- this process" if p.ours else ""
            lines.append(
                f"         pid {p.pid:>7}  {bytes_text(p.memory_used) if p.memory_used is not None else 'n/a':>10}"
                f"  {p.name or '(not visible here)'}{mark}"
            )
    return "\n".join(lines)


def _v(value, unit: str) -> str:
    return "–" if value is None else f"{value:.0f} {unit}"
