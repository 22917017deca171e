"""Training throughput, side by side in one run (same model, data, batch size, optimizer, epochs):

  (a) the loop a tutorial writes: a Dataset returning PIL images through ToTensor() + Normalize per sample,
      a shuffled DataLoader of batch 64, SGD, a validation pass per epoch;
  (b) the core trainer headless (workbench.core.training.loop.train), writing its run folder;
  (c) the GUI-driven trainer: TrainingPanel with live plots (offscreen), its QThread worker; and in separate
      runs (--latency-runs) the same with a 10 ms QTimer probing the GUI event loop's latency while it trains
      (the probe wakes the GUI thread 100 times a second, and each time takes the GIL from the trainer).

Data: sklearn's digits rendered as 28x28 images. Models: an MLP and a small CNN, trained long enough for a
run to take about 5 s in the core trainer (MLP 80 epochs, CNN 8): a live view is for runs someone watches,
and a run of half a second measures the start and the end, not the training. Wall time of whole runs
(validation, metrics file and checkpoints included). This machine's speed drifts by +-10% between runs, so
the configurations are interleaved (the order of (b) and (c) alternating) and gui_vs_core is the median of the
per-repeat ratios. Even so a run's speed can change 30% within seconds (CPU time tracks wall time: the cores
themselves slow down), so gui_vs_core_cpu_normalized also compares the share of its wall time the training
thread spent running (its CPU time over the wall time), GUI over headless: what the GUI costs the trainer
(frames, waiting for the GIL), with the machine's drift cancelled. Prints ratios; writes
bench/results/training.json.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/training.py [--epochs N] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "training.json"
BATCH = 64
LR = 0.01
EPOCHS = {"mlp": 80, "cnn": 8}
MODELS = {
    "mlp": {"input_shape": [1, 28, 28], "layers": [
        {"type": "Flatten"}, {"type": "Linear", "out_features": 128}, {"type": "ReLU"},
        {"type": "Linear", "out_features": 10}]},
    "cnn": {"input_shape": [1, 28, 28], "layers": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"}, {"type": "Linear", "out_features": 10}]},
}


# -- data ------------------------------------------------------------------------------------------------------
def digits_28():
    """The digits as 28x28 uint8 images (PIL bilinear upscaling), a fixed 80/20 split."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    images = [Image.fromarray((img * 255 / 16).astype(np.uint8)).resize((28, 28), Image.BILINEAR)
              for img in d.images]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    cut = int(0.8 * len(images))
    return ([images[i] for i in order[:cut]], d.target[order[:cut]],
            [images[i] for i in order[cut:]], d.target[order[cut:]])


def bundle_from(train_imgs, train_y, val_imgs, val_y):
    from torch.utils.data import TensorDataset

    from workbench.core.data.dataset import DataBundle, DatasetMeta, Split

    def tensor(images):
        return torch.from_numpy(np.stack([np.asarray(i, dtype=np.float32) / 255.0 for i in images]))[:, None]

    xt, xv = tensor(train_imgs), tensor(val_imgs)
    mean, std = float(xt.mean()), float(xt.std())
    xt, xv = (xt - mean) / std, (xv - mean) / std
    yt, yv = torch.as_tensor(train_y, dtype=torch.long), torch.as_tensor(val_y, dtype=torch.long)
    empty = Split("test", TensorDataset(xv[:0], yv[:0]), xv[:0], yv[:0])
    meta = DatasetMeta("digits28", (1, 28, 28), 10, [str(i) for i in range(10)], mean=[mean], std=[std])
    return DataBundle(meta, Split("train", TensorDataset(xt, yt), xt, yt), Split("val", TensorDataset(xv, yv), xv, yv),
                      empty), (mean, std)


def project_for(model: str, epochs: int):
    from workbench.core.model.spec import ModelSpec
    from workbench.core.project import Project
    from workbench.core.training.config import TrainingConfig

    return Project(model=ModelSpec.model_validate(MODELS[model]),
                   training=TrainingConfig(epochs=epochs, batch_size=BATCH, optimizer="sgd", lr=LR, momentum=0.9,
                                           device="cpu", seed=0))


# -- (a) the tutorial loop -------------------------------------------------------------------------------------
def tutorial(model_name: str, data, norm, epochs: int) -> float:
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from workbench.core.model.build import build_model

    train_imgs, train_y, val_imgs, val_y = data
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((norm[0],), (norm[1],))])

    class Digits(Dataset):
        def __init__(self, images, labels):
            self.images, self.labels = images, labels

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return transform(self.images[i]), int(self.labels[i])

    torch.manual_seed(0)
    train_loader = DataLoader(Digits(train_imgs, train_y), batch_size=BATCH, shuffle=True)
    val_loader = DataLoader(Digits(val_imgs, val_y), batch_size=BATCH)
    model = build_model(project_for(model_name, epochs).model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += (model(x).argmax(1) == y).sum().item()
    return time.perf_counter() - start


# -- (b) the core trainer --------------------------------------------------------------------------------------
TRAINER_CPU: list[float] = []      # CPU seconds of the thread that ran each training loop


def train_timed(*args, **kwargs):
    """workbench.core.training.loop.train, recording the CPU time of the thread that iterates it (the caller
    headless, the wb-train worker in the GUI): the run's wall time over it says how much of the time the
    trainer could not run (waiting for the GUI or the GIL), whatever speed the machine had at that moment."""
    from workbench.core.training import loop

    start = time.thread_time()
    yield from loop.train_untimed(*args, **kwargs)
    TRAINER_CPU.append(time.thread_time() - start)


def headless(model_name: str, bundle, epochs: int, root: Path) -> tuple[float, float, float]:
    from workbench.core.training.loop import train

    start = time.perf_counter()
    events = list(train(project_for(model_name, epochs), bundle, runs_root=root))
    elapsed = time.perf_counter() - start
    assert events[-1].status == "completed", events[-1].message
    return elapsed, [e for e in events if e.kind == "epoch"][-1].val_accuracy, TRAINER_CPU[-1]


# -- (c) the GUI-driven trainer --------------------------------------------------------------------------------
def gui(model_name: str, bundle, epochs: int, root: Path, probe_latency: bool = False) -> dict:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.ui.panels.training import TrainingPanel
    from workbench.ui.session import ProjectSession

    app = QApplication.instance() or QApplication([])
    session = ProjectSession()
    session.project = project_for(model_name, epochs)
    session.data = bundle
    panel = TrainingPanel(session)
    panel._runs_root = lambda: root
    panel.resize(1000, 640)
    panel.show()
    settle = time.perf_counter() + 0.5          # the panel is on screen (laid out, painted) before Start
    while time.perf_counter() < settle:
        app.processEvents()
        time.sleep(0.01)
    gaps: list[float] = []
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setInterval(10)
    last = [0]

    def on_probe():
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6 - 10.0)
        last[0] = now

    probe.timeout.connect(on_probe)
    loop = QEventLoop()
    done: dict = {}

    def on_done(error):
        done["t"] = time.perf_counter()
        done["error"] = error
        done["frames"], done["frame_s"] = worker.frames, worker.frame_seconds
        loop.quit()

    from workbench.ui.widgets.live_plot import LivePlot

    painted = LivePlot.paint_seconds
    start = time.perf_counter()
    clock.start()
    if probe_latency:
        probe.start()
    panel.start()
    worker = panel.worker
    worker.sig_done.connect(on_done)
    loop.exec()
    probe.stop()
    elapsed = done["t"] - start
    paint_s = LivePlot.paint_seconds - painted
    assert done["error"] is None, done["error"]
    finished = panel.last_finished
    assert finished.status == "completed", finished.message
    points = len(panel.curves.loss.series["loss"].y.view)
    panel.shutdown()
    for _ in range(5):
        app.processEvents()
    panel.deleteLater()
    app.processEvents()
    result = {"seconds": elapsed, "trainer_cpu_s": TRAINER_CPU[-1], "paint_s": paint_s, "frames": done["frames"], "frame_s": done["frame_s"],
              "points_plotted": points, "steps": finished.steps}
    if probe_latency:
        lat = np.array(gaps[1:]) if len(gaps) > 1 else np.zeros(1)
        result.update({"latency_p50_ms": float(np.percentile(lat, 50)), "latency_p99_ms": float(np.percentile(lat, 99)),
                       "latency_max_ms": float(lat.max()), "probes": len(lat)})
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=0, help="epochs for both models (0: MLP 80, CNN 8)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-runs", type=int, default=2, help="GUI runs with the latency probe")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from workbench.core.training import loop

    loop.train_untimed, loop.train = loop.train, train_timed
    data = digits_28()
    bundle, norm = bundle_from(*data)
    results = {"machine": {"python": sys.version.split()[0], "torch": torch.__version__,
                           "platform": platform.platform(), "cpus": os.cpu_count(),
                           "torch_threads": torch.get_num_threads()},
               "settings": {"epochs": {m: args.epochs or EPOCHS[m] for m in MODELS}, "batch_size": BATCH,
                            "optimizer": "sgd", "lr": LR,
                            "train_samples": len(data[1]), "val_samples": len(data[3]), "repeats": args.repeats,
                            "image": "28x28 grayscale"},
               "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            epochs = args.epochs or EPOCHS[model]
            samples = len(data[1]) * epochs
            a, b, b_cpu, c, acc, probed = [], [], [], [], [], []
            tutorial(model, data, norm, 1)          # warm-up (first-call costs) for each path
            headless(model, bundle, 1, Path(tmp) / "warm")
            gui(model, bundle, 1, Path(tmp) / "warm")
            for r in range(args.repeats):
                a.append(tutorial(model, data, norm, epochs))
                if r % 2:
                    c.append(gui(model, bundle, epochs, Path(tmp) / f"{model}-c{r}"))
                seconds, val_acc, cpu = headless(model, bundle, epochs, Path(tmp) / f"{model}-b{r}")
                b.append(seconds)
                b_cpu.append(cpu)
                acc.append(val_acc)
                if not r % 2:
                    c.append(gui(model, bundle, epochs, Path(tmp) / f"{model}-c{r}"))
                if r < args.latency_runs:   # separate runs: the 100 Hz probe takes the GIL from the trainer itself
                    probed.append(gui(model, bundle, epochs, Path(tmp) / f"{model}-p{r}", probe_latency=True))
            ta, tb = statistics.median(a), statistics.median(b)
            tc = statistics.median(x["seconds"] for x in c)
            row = {
                "tutorial_s": ta, "core_s": tb, "gui_s": tc,
                "tutorial_samples_per_s": samples / ta, "core_samples_per_s": samples / tb,
                "gui_samples_per_s": samples / tc,
                "core_vs_tutorial": ta / tb,
                "gui_vs_core": statistics.median(x / y["seconds"] for x, y in zip(b, c, strict=True)),
                "gui_vs_core_of_medians": tb / tc,
                # the trainer's share of the wall time it could run, GUI over headless: the machine's drift cancels
                "gui_vs_core_cpu_normalized": statistics.median(
                    (y["trainer_cpu_s"] / y["seconds"]) / (cpu / x) for x, cpu, y in zip(b, b_cpu, c, strict=True)),
                "gui_frames_per_s": statistics.median(x["frames"] / x["seconds"] for x in c),
                "gui_frame_share": statistics.median(x["frame_s"] / x["seconds"] for x in c),
                "gui_latency_p99_ms": max(x["latency_p99_ms"] for x in probed),
                "gui_latency_max_ms": max(x["latency_max_ms"] for x in probed),
                "gui_latency_p50_ms": statistics.median(x["latency_p50_ms"] for x in probed),
                "gui_probed_vs_core": tb / statistics.median(x["seconds"] for x in probed),
                "gui_probed_cpu_normalized": statistics.median(x["trainer_cpu_s"] / x["seconds"] for x in probed)
                / statistics.median(cpu / x for x, cpu in zip(b, b_cpu, strict=True)),
                "gui_points_plotted": c[0]["points_plotted"], "val_accuracy": statistics.median(acc),
                "runs": {"tutorial_s": a, "core_s": b, "core_trainer_cpu_s": b_cpu, "gui": c, "gui_probed": probed},
            }
            results["models"][model] = row
            print(f"{model}: tutorial {ta:.2f}s  core {tb:.2f}s  gui {tc:.2f}s  |  core/tutorial "
                  f"{row['core_vs_tutorial']:.2f}x  gui/core {row['gui_vs_core']:.3f}x, CPU-normalized "
                  f"{row['gui_vs_core_cpu_normalized']:.3f}x ({row['gui_frames_per_s']:.1f} "
                  f"frames/s, {row['gui_frame_share']:.1%} of the time)  |  GUI latency p99 "
                  f"{row['gui_latency_p99_ms']:.1f} ms, max {row['gui_latency_max_ms']:.1f} ms  |  val acc "
                  f"{row['val_accuracy']:.3f}", flush=True)
    goals = {
        "gui_vs_core >= 0.97": all(m["gui_vs_core"] >= 0.97 for m in results["models"].values()),
        "gui_vs_core_cpu_normalized >= 0.97": all(m["gui_vs_core_cpu_normalized"] >= 0.97
                                                   for m in results["models"].values()),
        "cnn core_vs_tutorial >= 1.0": results["models"]["cnn"]["core_vs_tutorial"] >= 1.0,
        "mlp core_vs_tutorial >= 5": results["models"]["mlp"]["core_vs_tutorial"] >= 5.0,
        "latency p99 <= 16 ms": all(m["gui_latency_p99_ms"] <= 16 for m in results["models"].values()),
        "latency max <= 100 ms": all(m["gui_latency_max_ms"] <= 100 for m in results["models"].values()),
    }
    results["goals"] = goals
    for goal, ok in goals.items():
        print(f"{'PASS' if ok else 'MISS'}  {goal}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
