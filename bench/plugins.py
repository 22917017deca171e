"""Plugin loading cost at start-up, side by side, each in fresh processes (median of --runs):

  builtins   WORKBENCH_NO_PLUGINS=1: the built-in layers, sources and exporters only
  examples   the default: built-ins + plugins/ (SqueezeExcite, synthetic shapes)
  many       the default + 50 generated one-layer plugins in an enabled folder

Each run times `load_plugins()` inside the process (the built-ins' first import included) and checks that
torch was not imported. Prints ratios; writes bench/results/plugins.json.
With --window-runs N (default 3) it also times the GUI start-up to the window shown (bench/startup.py's trace)
with the built-ins only and with the examples.
Usage: python bench/plugins.py [--runs N] [--window-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "plugins.json"
GENERATED = 50

PROBE = """
import json, sys, time
t0 = time.perf_counter()
from workbench.plugins import load_plugins
t1 = time.perf_counter()
m = load_plugins()
t2 = time.perf_counter()
print(json.dumps({"import_api_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3,
                  "loaded": sum(r.status == "loaded" for r in m.records),
                  "failed": sum(r.status == "failed" for r in m.records),
                  "torch_imported": "torch" in sys.modules}))
"""

PLUGIN = """from workbench.plugins import LayerType, Param, Plugin

PLUGIN = Plugin("Generated {i}", "1.0")


def _build(p, s):
    from torch import nn

    return nn.Identity()


def register(api):
    api.add_layer(LayerType("Generated{i}", "Generated", (Param("k", "int", 1, 1, 9, doc="k"),), doc="identity",
                            build=_build, shape=lambda p, s: tuple(s), count_params=lambda p, s: 0))
"""


def run(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def window_shown(runs: int) -> dict:
    """`python -m workbench` to the window shown (bench/startup.py's trace), built-ins only vs. the default."""
    sys.path.insert(0, str(Path(__file__).parent))
    from startup import one_run

    shown: dict[str, list[float]] = {"builtins": [], "examples": []}
    for _ in range(runs):
        for name in shown:
            with tempfile.TemporaryDirectory() as home:
                os.environ.pop("WORKBENCH_NO_PLUGINS", None)
                if name == "builtins":
                    os.environ["WORKBENCH_NO_PLUGINS"] = "1"
                shown[name].append(one_run(home)["window_shown"])
    os.environ.pop("WORKBENCH_NO_PLUGINS", None)
    out = {name: round(statistics.median(v), 2) for name, v in shown.items()}
    out["ratio"] = round(out["examples"] / out["builtins"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--window-runs",
        type=int,
        default=3,
        help="also time the whole GUI start-up this many times per scenario (0: skip)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        homes = {name: Path(tmp) / name for name in ("builtins", "examples", "many")}
        folder = Path(tmp) / "generated"
        folder.mkdir()
        for i in range(GENERATED):
            (folder / f"generated_{i:02d}.py").write_text(PLUGIN.format(i=i))
        for home in homes.values():
            home.mkdir()
        (homes["many"] / "plugins.json").write_text(json.dumps({"folders": {str(folder): True}}))
        envs = {name: {**os.environ, "WORKBENCH_HOME": str(home)} for name, home in homes.items()}
        envs["builtins"]["WORKBENCH_NO_PLUGINS"] = "1"
        samples: dict[str, list[dict]] = {name: [] for name in homes}
        for _ in range(args.runs):  # interleaved, so a busy machine affects every scenario alike
            for name in homes:
                samples[name].append(run(envs[name]))
    result = {}
    for name, runs in samples.items():
        result[name] = {
            "load_ms_median": round(statistics.median(r["load_ms"] for r in runs), 1),
            "import_api_ms_median": round(statistics.median(r["import_api_ms"] for r in runs), 1),
            "plugins_loaded": runs[0]["loaded"],
            "failed": runs[0]["failed"],
            "torch_imported": any(r["torch_imported"] for r in runs),
        }
    base = result["builtins"]["load_ms_median"]
    for name in ("examples", "many"):
        result[name]["ratio_to_builtins"] = round(result[name]["load_ms_median"] / base, 2)
    extra = result["many"]["load_ms_median"] - result["examples"]["load_ms_median"]
    result["per_generated_plugin_ms"] = round(extra / GENERATED, 2)
    result["runs"] = args.runs
    if args.window_runs:
        result["window_shown_s"] = window_shown(args.window_runs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name in ("builtins", "examples", "many"):
        r = result[name]
        ratio = f"  x{r['ratio_to_builtins']:.2f}" if "ratio_to_builtins" in r else ""
        print(
            f"{name:9s} import API {r['import_api_ms_median']:6.1f} ms  load_plugins {r['load_ms_median']:6.1f} ms"
            f"{ratio}  ({r['plugins_loaded']} loaded, torch imported: {r['torch_imported']})"
        )
    print(f"each extra plugin: {result['per_generated_plugin_ms']:.2f} ms")
    if "window_shown_s" in result:
        w = result["window_shown_s"]
        print(
            f"window shown: built-ins only {w['builtins']:.2f} s, with the examples {w['examples']:.2f} s "
            f"(x{w['ratio']:.2f})"
        )


if __name__ == "__main__":
    main()
