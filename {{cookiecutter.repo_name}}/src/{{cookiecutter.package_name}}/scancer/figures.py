"""Figures of the model card that every task draws, saved without metadata.

PNG files carry no version string or date, so drawing the same data again
gives identical bytes.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to files only; no display is needed

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchmetrics.functional.classification import multiclass_confusion_matrix  # noqa: E402

PNG_METADATA = {"Software": None}  # no version string, so figures are byte-identical


def save_figure(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(figure)


def plot_confusion(
    predicted: torch.Tensor, targets: torch.Tensor, class_names: list[str], path: Path, title: str
) -> None:
    """Plot the confusion matrix of predicted labels against targets, with counts in the cells."""
    classes = len(class_names)
    matrix = multiclass_confusion_matrix(predicted.flatten(), targets.flatten(), classes)
    figure, axes = plt.subplots(figsize=(4, 4))
    axes.imshow(matrix.numpy(), cmap="Blues")
    dark = matrix.max().item() / 2
    for row in range(len(matrix)):
        for column in range(len(matrix)):
            count = matrix[row, column].item()
            colour = "white" if count > dark else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
    ticks = list(range(classes))
    axes.set_xticks(ticks, class_names)
    axes.set_yticks(ticks, class_names)
    axes.set(xlabel="predicted", ylabel="true", title=title)
    save_figure(figure, path)
