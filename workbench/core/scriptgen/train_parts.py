"""Training for generated scripts: copied verbatim into the script (inspect.getsource), so it uses only the
standard library, NumPy and torch (safetensors when installed). It follows Workbench's trainer: the same epoch
permutation for a seed, the same global batch split across torchrun processes, the same choice of the monitored
metric, checkpoints Workbench can read (safetensors with the model spec in the metadata)."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from workbench.core.scriptgen.data_parts import load_data


def torchrun_env():
    """(rank, world size, local rank) when started by torchrun, else None."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    return None


def pick_device(name, local_rank=None):
    """auto -> CUDA when available; under torchrun each process takes the GPU of its local rank."""
    name = (name or "auto").lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if not name.startswith("cuda"):
        return torch.device(name)
    if not torch.cuda.is_available():
        raise SystemExit(f"error: device {name} is not available (no CUDA GPU); use --device cpu")
    if local_rank is not None:
        if local_rank >= torch.cuda.device_count():
            raise SystemExit(
                f"error: more processes on this machine than its {torch.cuda.device_count()} GPU(s); "
                "lower --nproc-per-node or use --device cpu"
            )
        return torch.device("cuda", local_rank)
    return torch.device(name)


def make_optimizer(cfg, params):
    name, lr, wd = cfg["optimizer"], cfg["lr"], cfg["weight_decay"]
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=cfg["momentum"],
            weight_decay=wd,
            nesterov=cfg["nesterov"] and cfg["momentum"] > 0,
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.RMSprop(params, lr=lr, momentum=cfg["momentum"], weight_decay=wd)


def make_scheduler(cfg, optimizer, steps_per_epoch):
    sched = torch.optim.lr_scheduler
    kind = cfg["scheduler"]
    if kind == "step":
        return sched.StepLR(optimizer, step_size=cfg["step_size"], gamma=cfg["gamma"])
    if kind == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=cfg["epochs"])
    if kind == "onecycle":
        return sched.OneCycleLR(
            optimizer, max_lr=cfg["lr"], epochs=cfg["epochs"], steps_per_epoch=steps_per_epoch
        )
    if kind == "plateau":
        return sched.ReduceLROnPlateau(optimizer, factor=cfg["gamma"], patience=cfg["plateau_patience"])
    return None


def compute_loss(cfg, task, out, y):
    if task == "language_model":  # (B, L, vocab) scores, (B, L) next tokens: every position counts
        return torch.nn.functional.cross_entropy(
            out.reshape(-1, out.shape[-1]), y.reshape(-1), label_smoothing=cfg["label_smoothing"]
        )
    if cfg["loss"] == "mse" or task == "regression":
        target = (
            torch.nn.functional.one_hot(y, out.shape[-1])
            if task == "classification"
            else y.reshape(out.shape)
        )
        return torch.nn.functional.mse_loss(out.float(), target.float())
    return torch.nn.functional.cross_entropy(out, y, label_smoothing=cfg["label_smoothing"])


def epoch_order(n, seed, epoch, rank=0, world=1):
    """This epoch's shuffled sample order; under torchrun padded to a multiple of the processes, each taking
    every world-th sample from its rank (torch's DistributedSampler with set_epoch)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    if world > 1:
        total = math.ceil(n / world) * world
        order = torch.cat([order, order.repeat(math.ceil(total / n))[: total - n]])[rank::world]
    return order


def all_reduce(values, device, world):
    if world == 1:
        return list(values)
    summed = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(summed)
    return summed.tolist()


@torch.no_grad()
def evaluate(model, x, y, cfg, task, rank, world):
    """(loss, accuracy) over a split, each process taking every world-th sample; the sums are all-reduced."""
    module = getattr(model, "module", model)
    module.eval()
    xs, ys = (x[rank::world], y[rank::world]) if len(y) >= world else (x, y)
    loss_sum, correct = 0.0, 0
    for start in range(0, len(ys), 256):
        out = module(xs[start : start + 256])
        loss_sum += compute_loss(cfg, task, out, ys[start : start + 256]).item() * len(
            ys[start : start + 256]
        )
        if task == "classification":
            correct += (out.argmax(1) == ys[start : start + 256]).sum().item()
    module.train()
    loss_sum, correct, seen = all_reduce([loss_sum, correct, len(ys)], x.device, world)
    return loss_sum / max(seen, 1), (correct / max(seen, 1) if task == "classification" else None)


def save_weights(model, path, spec_json, meta):
    """safetensors with the model spec in the metadata (Workbench can export it), else a state dict .pt with
    spec.json beside it."""
    state = {
        k: v.detach().cpu().contiguous() for k, v in getattr(model, "module", model).state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from safetensors.torch import save_file
    except ImportError:
        torch.save(state, path.with_suffix(".pt"))
        path.with_name("spec.json").write_text(spec_json)
        return
    tmp = path.with_name(path.name + ".tmp")
    save_file(
        state,
        str(tmp),
        metadata={
            "format": "workbench-checkpoint",
            "format_version": "1",
            "model_spec": spec_json,
            "meta": json.dumps(meta),
        },
    )
    os.replace(tmp, path)


def fit(cfg, data, model_class, reader, spec_json, out_dir, device, rank=0, world=1, augment_fn=None):
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"] % 2**32)
    splits = load_data(data, reader)
    meta = splits["meta"]
    task = meta["task"]
    splits = {k: (v[0].to(device), v[1].to(device)) for k, v in splits.items() if k != "meta"}
    x_train, y_train = splits["train"]
    model = model_class().to(device)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    accumulate = cfg.get("grad_accumulation_steps", 1)  # micro-batches per optimizer step
    batch = max(1, cfg["batch_size"] // world) * accumulate  # the global batch is split across the processes
    full, rest = divmod(math.ceil(len(y_train) / world), batch)
    steps = full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)  # a trailing batch of one is dropped
    optimizer = make_optimizer(cfg, model.parameters())
    scheduler = make_scheduler(cfg, optimizer, steps)
    autocast = device.type == "cuda" and cfg["precision"] in ("bf16", "fp16")
    scaler = torch.amp.GradScaler("cuda") if autocast and cfg["precision"] == "fp16" else None
    has_val = len(splits["val"][1]) > 0
    monitor = (
        "train_loss"
        if not has_val
        else (
            (cfg["early_stopping_metric"] if task == "classification" else "val_loss")
            if cfg["early_stopping"] or task != "classification"
            else "val_accuracy"
        )
    )
    best, bad_epochs, started = None, 0, time.perf_counter()
    if rank == 0 and cfg.get("activation_checkpointing"):
        print("note: activation_checkpointing is not applied by this script (same results, more memory)")
    if rank == 0:
        print(
            f"training on {device} ({world} process{'es' if world > 1 else ''}): {len(y_train)} samples, "
            f"{steps} batches/epoch of {batch} per process"
        )
    for epoch in range(1, cfg["epochs"] + 1):
        model.train()
        order = epoch_order(len(y_train), cfg["seed"], epoch, rank, world).to(device)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps):
            idx = order[step * batch : (step + 1) * batch]
            xb, yb = x_train[idx], y_train[idx]
            if augment_fn is not None:
                xb = augment_fn(xb)
            optimizer.zero_grad(set_to_none=True)
            micro = math.ceil(len(yb) / min(accumulate, len(yb)))
            batch_loss = 0.0
            for start in range(0, len(yb), micro):  # gradients of the whole batch's mean loss add up
                x_part, y_part = xb[start : start + micro], yb[start : start + micro]
                with torch.autocast(
                    "cuda",
                    dtype=torch.bfloat16 if cfg["precision"] == "bf16" else torch.float16,
                    enabled=autocast,
                ):
                    out = model(x_part)
                    loss = compute_loss(cfg, task, out, y_part)
                    if micro < len(yb):
                        loss = loss * (len(y_part) / len(yb))
                (scaler.scale(loss) if scaler else loss).backward()
                batch_loss += loss.item()
                if task == "classification":
                    correct += (out.detach().argmax(1) == y_part).sum().item()
            if cfg["grad_clip"]:
                if scaler:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            if cfg["scheduler"] == "onecycle" and scheduler.last_epoch + 1 < scheduler.total_steps:
                scheduler.step()
            loss_sum += batch_loss * len(yb)
            seen += len(yb)
        loss_sum, correct, seen = all_reduce([loss_sum, correct, seen], device, world)
        train_loss = loss_sum / seen
        if not math.isfinite(train_loss):
            raise SystemExit(
                f"error: the loss became {train_loss} in epoch {epoch}; lower the learning rate "
                f"(now {cfg['lr']:g}) or set a gradient clip"
            )
        val_loss, val_acc = (
            evaluate(model, *splits["val"], cfg, task, rank, world) if has_val else (None, None)
        )
        value = {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_acc}[monitor]
        score = value if monitor == "val_accuracy" else -value
        improved = best is None or score > best
        best, bad_epochs = (score, 0) if improved else (best, bad_epochs + 1)
        if rank == 0:
            checkpoint_meta = {"dataset": meta, "epoch": epoch, "training": cfg}
            if improved and cfg["save_best"]:
                save_weights(model, out_dir / "best.safetensors", spec_json, checkpoint_meta)
            save_weights(model, out_dir / "last.safetensors", spec_json, checkpoint_meta)
            accuracy = f"  val_acc {val_acc:.4f}" if val_acc is not None else ""
            print(f"epoch {epoch}  train_loss {train_loss:.4f}{accuracy}" + ("  *best*" if improved else ""))
        if scheduler is not None and cfg["scheduler"] in ("step", "cosine"):
            scheduler.step()
        elif scheduler is not None and cfg["scheduler"] == "plateau":
            scheduler.step(val_loss if val_loss is not None else train_loss)
        if cfg["early_stopping"] and bad_epochs >= cfg["patience"]:
            if rank == 0:
                print(f"early stopping: {monitor} did not improve for {cfg['patience']} epoch(s)")
            break
    test = "test" if len(splits["test"][1]) else "val"
    test_loss, test_acc = evaluate(model, *splits[test], cfg, task, rank, world)
    summary = {
        "epochs": epoch,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
        f"{test}_loss": test_loss,
        f"{test}_accuracy": test_acc,
        "processes": world,
        "seconds": time.perf_counter() - started,
    }
    if rank == 0:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{test} accuracy {test_acc:.4f}" if test_acc is not None else f"{test} loss {test_loss:.4f}")
        print(f"weights and summary in {out_dir}")
    return summary


def main(data, training, model_class, reader, spec_json, augment_fn=None, argv=None):
    parser = argparse.ArgumentParser(description="Train the model on the data with the settings above.")
    parser.add_argument("--epochs", type=int, default=training["epochs"])
    parser.add_argument(
        "--batch-size",
        type=int,
        default=training["batch_size"],
        help="the global batch (split across torchrun processes)",
    )
    parser.add_argument("--lr", type=float, default=training["lr"])
    parser.add_argument("--seed", type=int, default=training["seed"])
    parser.add_argument("--device", default=training["device"], help="auto, cpu, cuda or cuda:<index>")
    parser.add_argument("--data", default=data["source"], help="where the data is on this machine")
    parser.add_argument("--out", default="train-output", help="folder for the weights and summary.json")
    args = parser.parse_args(argv)
    cfg = {**training, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed}
    data = {**data, "source": args.data}
    env = torchrun_env()
    rank, world, local_rank = env or (0, 1, 0)
    device = pick_device(args.device, local_rank if env else None)
    if env:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return fit(cfg, data, model_class, reader, spec_json, Path(args.out), device, rank, world, augment_fn)
    finally:
        if env:
            torch.distributed.destroy_process_group()
