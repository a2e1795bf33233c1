"""Benchmark scores of a segmentation model: Dice and IoU, overall and per class."""

import math

import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_jaccard_index
from torchmetrics.functional.segmentation import dice_score


def benchmark_scores(
    probabilities: torch.Tensor, targets: torch.Tensor, class_names: list[str]
) -> dict[str, float]:
    """Return Dice, IoU and pixel accuracy from probability maps (N, C, H, W) and masks (N, H, W).

    Dice and IoU count every pixel of the split together. ``dice`` and ``iou``
    are the means over the classes that appear in the masks or predictions. A
    class that appears in neither gets no per-class score.
    """
    classes = len(class_names)
    predicted = probabilities.argmax(dim=1)
    dice = dice_score(
        predicted, targets, classes, average="none", input_format="index",
        aggregation_level="global",
    )[0]  # fmt: skip
    iou = multiclass_jaccard_index(
        predicted, targets, classes, average="none", zero_division=float("nan")
    )
    scores = {
        "dice": dice.nanmean().item(),
        "iou": iou.nanmean().item(),
        "pixel_accuracy": multiclass_accuracy(predicted, targets, classes, average="micro").item(),
    }
    for name, dice_value, iou_value in zip(class_names, dice.tolist(), iou.tolist(), strict=True):
        if not math.isnan(dice_value):
            scores[f"dice_{name}"] = dice_value
            scores[f"iou_{name}"] = iou_value
    return scores
