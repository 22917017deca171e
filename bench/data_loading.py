"""Data loading benchmark: index + decode 10,000 28x28 PNGs, then batching from memory vs a DataLoader.

    .venv/bin/python bench/data_loading.py [--images 10000] [--batch-size 128]

Measured side by side in one run:
1. index + decode the folder with Workbench's imagefolder source vs torchvision's ImageFolder (PIL decode of
   every item, single process), same files;
2. one epoch of shuffled batches: Workbench's in-memory path (a random permutation and tensor slicing, as the
   trainer does) vs torch DataLoader over a TensorDataset of the same tensors (num_workers=0), and vs a DataLoader
   streaming the PNGs from disk (Workbench's streaming dataset, 2 workers).
Writes bench/results/data_loading.json and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_folder(root: Path, n: int) -> None:
    from PIL import Image

    from workbench.core.data.synthetic import digits_uint8

    images, labels = digits_uint8()
    for c in range(10):
        (root / f"digit{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        j = i % len(images)
        img = Image.fromarray(images[j]).resize((28, 28), Image.Resampling.BILINEAR)
        img.save(root / f"digit{labels[j]}" / f"{i:05d}.png")


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "data_loading.json"))
    args = ap.parse_args()
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from torchvision.datasets import ImageFolder

    from workbench.core.data import DatasetSettings, load_dataset, read_source

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    results: dict = {
        "images": args.images,
        "batch_size": args.batch_size,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pngs"
        gen, _ = timed(lambda: make_folder(root, args.images))
        print(f"wrote {args.images:,} PNGs in {gen:.1f} s")
        settings = DatasetSettings(kind="imagefolder", source=str(root))
        import workbench.core.data.imagefolder as imagefolder

        threads = imagefolder.DECODE_THREADS
        imagefolder.DECODE_THREADS = 1
        serial, _ = timed(lambda: read_source(settings), repeat=2)
        imagefolder.DECODE_THREADS = threads
        ours, raw = timed(lambda: read_source(settings), repeat=2)

        def torchvision_decode():
            ds = ImageFolder(str(root))
            return np.stack([np.asarray(ds[i][0].convert("L")) for i in range(len(ds))])

        tv, arr = timed(torchvision_decode, repeat=2)
        assert arr.shape[0] == raw.x.shape[0] == args.images
        results["index_decode"] = {
            "workbench_s": ours,
            "workbench_1_thread_s": serial,
            "decode_threads": threads,
            "torchvision_imagefolder_s": tv,
            "workbench_images_per_s": args.images / ours,
            "torchvision_images_per_s": args.images / tv,
            "speedup": tv / ours,
        }
        print(
            f"index + decode: workbench {ours:.2f} s ({args.images / ours:,.0f} img/s, {threads} threads; "
            f"{serial:.2f} s with 1), torchvision ImageFolder {tv:.2f} s -> {tv / ours:.2f}x"
        )

        bundle = load_dataset(
            settings.model_copy(
                update={"split": settings.split.model_copy(update={"train": 1.0, "val": 0.0, "test": 0.0})}
            )
        )
        x, y = bundle.train.x, bundle.train.y
        bs = args.batch_size

        def in_memory_epoch():
            perm = torch.randperm(len(y))
            seen = 0
            for s in range(0, len(y), bs):
                idx = perm[s : s + bs]
                xb, yb = x[idx], y[idx]
                seen += len(yb) + 0 * xb.shape[0]
            return seen

        def dataloader_epoch():
            return sum(len(yb) for _, yb in DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True))

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # batching is memory-bound; one intra-op thread is fastest (and fair)
        mem, n1 = timed(in_memory_epoch, repeat=3)
        dl, n2 = timed(dataloader_epoch, repeat=3)
        stream = load_dataset(
            settings.model_copy(update={"options": {"in_memory": "no"}, "split": bundle_split(settings)})
        )

        def streaming_epoch():
            loader = DataLoader(
                stream.train.dataset, batch_size=bs, shuffle=True, num_workers=2, persistent_workers=False
            )
            return sum(len(yb) for _, yb in loader)

        disk, n3 = timed(streaming_epoch, repeat=1)
        torch.set_num_threads(threads)
        assert n1 == n2 == n3 == args.images
        results["batching"] = {
            "in_memory_samples_per_s": n1 / mem,
            "dataloader_tensor_samples_per_s": n2 / dl,
            "dataloader_streaming_png_samples_per_s": n3 / disk,
            "in_memory_vs_dataloader": dl / mem,
            "in_memory_vs_streaming": disk / mem,
        }
        print(
            f"one epoch, batch {bs}: in-memory {n1 / mem:,.0f} samples/s, DataLoader(TensorDataset) "
            f"{n2 / dl:,.0f} samples/s -> {dl / mem:.1f}x; DataLoader streaming PNGs (2 workers) "
            f"{n3 / disk:,.0f} samples/s -> {disk / mem:.1f}x"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def bundle_split(settings):
    return settings.split.model_copy(update={"train": 1.0, "val": 0.0, "test": 0.0})


if __name__ == "__main__":
    sys.exit(main())
