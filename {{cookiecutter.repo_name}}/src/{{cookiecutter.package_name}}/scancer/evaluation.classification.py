"""Benchmark scores of a classifier: AUC, accuracy, F1 and recall per class."""

import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_auroc,
    multiclass_f1_score,
    multiclass_recall,
)


def benchmark_scores(
    probabilities: torch.Tensor, targets: torch.Tensor, class_names: list[str]
) -> dict[str, float]:
    """Return AUC, accuracy, macro F1 and per-class recall from class probabilities (N, C)."""
    classes = len(class_names)
    recall = multiclass_recall(probabilities, targets, classes, average=None)
    scores = {
        "auc": multiclass_auroc(probabilities, targets, classes).item(),
        "accuracy": multiclass_accuracy(probabilities, targets, classes, average="micro").item(),
        "f1": multiclass_f1_score(probabilities, targets, classes).item(),
    }
    for name, value in zip(class_names, recall.tolist(), strict=True):
        scores[f"recall_{name}"] = value
    return scores
