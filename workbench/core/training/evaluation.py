"""Evaluation on demand: a model's predictions on a split, the confusion matrix, per-class precision /
recall / F1 (sklearn.metrics) and which samples sit in each cell, so a view can show the images behind it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from workbench.core.errors import UserError
from workbench.core.io import atomic_write_json, read_json


@dataclass(frozen=True)
class Evaluation:
    split: str
    class_names: list[str]
    y_true: list[int]
    y_pred: list[int]
    confidence: list[float]  # softmax probability of the predicted class
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    accuracy: float
    loss: float
    run: str | None = None
    checkpoint: str | None = None

    def cell(self, true_class: int, predicted_class: int) -> list[int]:
        """Positions in the split of the samples of `true_class` predicted as `predicted_class`."""
        return [
            i
            for i, (t, p) in enumerate(zip(self.y_true, self.y_pred, strict=True))
            if t == true_class and p == predicted_class
        ]

    def misclassified(self) -> list[int]:
        """Wrong predictions, the most confident mistakes first."""
        wrong = [i for i, (t, p) in enumerate(zip(self.y_true, self.y_pred, strict=True)) if t != p]
        return sorted(wrong, key=lambda i: -self.confidence[i])

    def to_dict(self) -> dict[str, Any]:
        """Shallow (no copy of the matrix); a large confusion matrix is stored as its non-zero cells."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        n = len(self.confusion)
        if n > SPARSE_CLASSES:
            out["confusion"] = {
                "n": n,
                "cells": [[i, j, c] for i, row in enumerate(self.confusion) for j, c in enumerate(row) if c],
            }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        data = dict(data)
        matrix = data.get("confusion")
        if isinstance(matrix, dict):
            n = int(matrix["n"])
            if not 0 <= n <= MAX_CLASSES:
                raise TypeError(f"a confusion matrix of {n} classes")
            dense = [[0] * n for _ in range(n)]
            for i, j, c in matrix["cells"]:
                dense[i][j] = c
            data["confusion"] = dense
        return cls(**data)


SPARSE_CLASSES = 1000  # above this, evaluation files store the confusion matrix's non-zero cells
MAX_CLASSES = 100_000


def predict_classes(model, data, split: str, device, batch_size: int = 512) -> tuple[Any, Any, Any, float]:
    """(predicted class, its softmax probability, label, mean loss) per sample of a split, in order. Only these
    are kept per batch, never the logits of the whole split (samples x classes)."""
    import torch

    from workbench.core.training.batches import SplitBatches

    batches = SplitBatches(data.split(split), device, batch_size)
    preds, confs, labels, loss_sum = [], [], [], 0.0
    model.eval()
    with torch.no_grad():
        for xb, yb in batches.in_order():
            out = model(xb).float()
            loss_sum += torch.nn.functional.cross_entropy(out, yb, reduction="sum").item()
            conf, pred = out.softmax(1).max(1)
            preds.append(pred.cpu())
            confs.append(conf.cpu())
            labels.append(yb.cpu())
    return torch.cat(preds), torch.cat(confs), torch.cat(labels), loss_sum / max(len(batches.split), 1)


def evaluate_model(
    model,
    data,
    split: str = "val",
    device=None,
    batch_size: int = 512,
    run: str | None = None,
    checkpoint: str | None = None,
) -> Evaluation:
    import numpy as np

    if data.meta.task != "classification":
        raise UserError("a confusion matrix needs a classification data set; this one has regression targets")
    if len(data.split(split)) == 0:
        raise UserError(
            f"the {split} split is empty; give it a share of the data in the dataset's split settings"
        )
    device = device or next(model.parameters()).device
    pred, conf, labels, loss = predict_classes(model, data, split, device, batch_size)
    y_true, y_pred = labels.numpy().astype(np.int64), pred.numpy().astype(np.int64)
    n = max(data.meta.num_classes, int(y_true.max()) + 1, int(y_pred.max()) + 1)
    if n > MAX_CLASSES:
        raise UserError(
            f"{n:,} classes are more than a confusion matrix can show (the limit is {MAX_CLASSES:,})"
        )
    # per-class counts in O(samples + classes); only the matrix itself is classes x classes
    support = np.bincount(y_true, minlength=n)
    predicted = np.bincount(y_pred, minlength=n)
    hits = np.bincount(y_true[y_true == y_pred], minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, hits / np.maximum(support, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    confusion = np.zeros((n, n), dtype=np.int64 if n <= SPARSE_CLASSES else np.int32)
    np.add.at(confusion, (y_true, y_pred), 1)
    names = list(data.meta.class_names) + [str(i) for i in range(len(data.meta.class_names), n)]
    return Evaluation(
        split,
        names,
        y_true.tolist(),
        y_pred.tolist(),
        conf.numpy().astype(float).tolist(),
        confusion.tolist(),
        precision.tolist(),
        recall.tolist(),
        f1.tolist(),
        support.tolist(),
        float(np.mean(y_true == y_pred)),
        loss,
        run,
        checkpoint,
    )


def evaluate_run(
    run_dir: str | os.PathLike, data, split: str = "val", device: str = "auto", which: str = "best"
) -> Evaluation:
    """Evaluate a run's best (else last) checkpoint and keep the result as `evaluation_<split>.json`."""
    from workbench.core.training.checkpoints import load_checkpoint
    from workbench.core.training.setup import resolve_device

    run_dir = Path(run_dir)
    path = run_dir / "checkpoints" / f"{which}.safetensors"
    checkpoint = load_checkpoint(path if path.is_file() else run_dir)
    expected = checkpoint.meta.get("dataset", {}).get("input_shape")
    if expected and list(expected) != list(data.meta.input_shape):
        raise UserError(
            f"run {run_dir.name} was trained on inputs of shape {expected}, the loaded data has "
            f"{list(data.meta.input_shape)}; load the data set the run was trained on"
        )
    from workbench.core.data.text import tokenizer_mismatch

    differs = tokenizer_mismatch(checkpoint.meta.get("dataset", {}).get("extra") or {}, data.meta.extra)
    if differs:
        raise UserError(f"run {run_dir.name} {differs}; load the data set the run was trained on")
    torch_device = resolve_device(device)
    model = checkpoint.build_model().to(torch_device)
    result = evaluate_model(
        model, data, split, torch_device, run=str(run_dir), checkpoint=str(checkpoint.path)
    )
    atomic_write_json(run_dir / f"evaluation_{split}.json", result.to_dict())
    return result


def saved_evaluation(run_dir: str | os.PathLike, split: str = "val") -> Evaluation | None:
    path = Path(run_dir) / f"evaluation_{split}.json"
    if not path.is_file():
        return None
    try:
        return Evaluation.from_dict(read_json(path, "evaluation"))
    except (UserError, TypeError):
        return None


def evaluation_job(
    run_dir, data, split: str = "val", device: str = "auto", dataset_settings=None
) -> Iterator[tuple[Evaluation, Any]]:
    """For a worker thread: loads the run's data when not given, then yields (the Evaluation, the data)
    once, so a view can draw the samples behind each cell."""
    if data is None:
        from workbench.core.data import load_dataset

        if dataset_settings is None:
            from workbench.core.data.settings import DatasetSettings
            from workbench.core.training.runs import Run

            dataset_settings = DatasetSettings.model_validate(Run(run_dir).config.get("dataset", {}))
        data = load_dataset(dataset_settings)
    yield evaluate_run(run_dir, data, split, device), data
