"""Evaluation on demand: a model's predictions on a split, the confusion matrix, per-class precision /
recall / F1 (sklearn.metrics) and which samples sit in each cell, so a view can show the images behind it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
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
    confidence: list[float]               # softmax probability of the predicted class
    confusion: list[list[int]]            # rows: true class, columns: predicted class
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
        return [i for i, (t, p) in enumerate(zip(self.y_true, self.y_pred, strict=True))
                if t == true_class and p == predicted_class]

    def misclassified(self) -> list[int]:
        """Wrong predictions, the most confident mistakes first."""
        wrong = [i for i, (t, p) in enumerate(zip(self.y_true, self.y_pred, strict=True)) if t != p]
        return sorted(wrong, key=lambda i: -self.confidence[i])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(**data)


def predict(model, data, split: str, device, batch_size: int = 512) -> tuple[Any, Any, float]:
    """(logits on the CPU, labels on the CPU, mean loss) for every sample of a split, in order."""
    import torch

    from workbench.core.training.batches import SplitBatches

    batches = SplitBatches(data.split(split), device, batch_size)
    outs, labels, loss_sum = [], [], 0.0
    model.eval()
    with torch.no_grad():
        for xb, yb in batches.in_order():
            out = model(xb).float()
            loss_sum += torch.nn.functional.cross_entropy(out, yb, reduction="sum").item()
            outs.append(out.cpu())
            labels.append(yb.cpu())
    return torch.cat(outs), torch.cat(labels), loss_sum / max(len(batches.split), 1)


def evaluate_model(model, data, split: str = "val", device=None, batch_size: int = 512,
                   run: str | None = None, checkpoint: str | None = None) -> Evaluation:
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if data.meta.task != "classification":
        raise UserError("a confusion matrix needs a classification data set; this one has regression targets")
    if len(data.split(split)) == 0:
        raise UserError(f"the {split} split is empty; give it a share of the data in the dataset's split settings")
    device = device or next(model.parameters()).device
    logits, labels, loss = predict(model, data, split, device, batch_size)
    probs = logits.softmax(1)
    conf, pred = probs.max(1)
    y_true, y_pred = labels.numpy().astype(int), pred.numpy().astype(int)
    n = max(data.meta.num_classes, int(y_true.max()) + 1, int(y_pred.max()) + 1)
    classes = list(range(n))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes,
                                                                     zero_division=0)
    names = list(data.meta.class_names) + [str(i) for i in range(len(data.meta.class_names), n)]
    return Evaluation(split, names, y_true.tolist(), y_pred.tolist(), conf.numpy().astype(float).tolist(),
                      confusion_matrix(y_true, y_pred, labels=classes).tolist(), precision.tolist(),
                      recall.tolist(), f1.tolist(), support.tolist(), float(np.mean(y_true == y_pred)), loss,
                      run, checkpoint)


def evaluate_run(run_dir: str | os.PathLike, data, split: str = "val", device: str = "auto",
                 which: str = "best") -> Evaluation:
    """Evaluate a run's best (else last) checkpoint and keep the result as `evaluation_<split>.json`."""
    from workbench.core.training.checkpoints import load_checkpoint
    from workbench.core.training.setup import resolve_device

    run_dir = Path(run_dir)
    path = run_dir / "checkpoints" / f"{which}.safetensors"
    checkpoint = load_checkpoint(path if path.is_file() else run_dir)
    expected = checkpoint.meta.get("dataset", {}).get("input_shape")
    if expected and list(expected) != list(data.meta.input_shape):
        raise UserError(f"run {run_dir.name} was trained on inputs of shape {expected}, the loaded data has "
                        f"{list(data.meta.input_shape)}; load the data set the run was trained on")
    torch_device = resolve_device(device)
    model = checkpoint.build_model().to(torch_device)
    result = evaluate_model(model, data, split, torch_device, run=str(run_dir), checkpoint=str(checkpoint.path))
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


def evaluation_job(run_dir, data, split: str = "val", device: str = "auto",
                   dataset_settings=None) -> Iterator[tuple[Evaluation, Any]]:
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
