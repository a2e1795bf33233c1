"""The classification card's evidence: ROC curve, confusion matrix, example predictions."""

import os
from pathlib import Path

import torch
from torchmetrics.functional.classification import multiclass_roc

from .figures import plot_confusion, plt, save_figure
from .metadata import Metadata
from .serving import open_archive

UNIT = "patches"


def plot_roc(probabilities: torch.Tensor, targets: torch.Tensor, metadata: Metadata, path: Path):
    """Plot one-vs-rest ROC curves, one per class (one curve for two classes)."""
    fpr, tpr, _ = multiclass_roc(probabilities, targets, metadata.num_classes)
    plotted_classes = [1] if metadata.num_classes == 2 else range(metadata.num_classes)
    figure, axes = plt.subplots(figsize=(4, 4))
    for index in plotted_classes:
        axes.plot(fpr[index].numpy(), tpr[index].numpy(), label=metadata.class_names[index])
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    axes.legend(loc="lower right")
    save_figure(figure, path)


def plot_figures(
    probabilities: torch.Tensor, targets: torch.Tensor, metadata: Metadata, folder: Path
) -> list[str]:
    """Draw the ROC curve and the confusion matrix into folder; return their Markdown."""
    plot_roc(probabilities, targets, metadata, folder / "roc.png")
    predicted = probabilities.argmax(dim=1)
    class_names = list(metadata.class_names)
    plot_confusion(predicted, targets, class_names, folder / "confusion.png", "Confusion matrix")
    return ["![ROC curve](docs/card/roc.png) ![Confusion matrix](docs/card/confusion.png)"]


def example_rows(archive: Path, examples: list[Path], root: Path) -> list[str]:
    """Return a Markdown table of the example patches and the archive's predictions."""
    if not examples:
        return ["No example images; run `make sample-data`."]
    with open_archive(archive, batch_size=len(examples)) as served:
        answers = served.predict([path.read_bytes() for path in examples])
    lines = ["| Patch | File | Prediction |", "| --- | --- | --- |"]
    for path, answer in zip(examples, answers, strict=True):
        relative = Path(os.path.relpath(path, root)).as_posix()
        label = answer.body["label"]
        probability = answer.body["probabilities"][label]
        lines.append(f"| ![{path.stem}]({relative}) | `{relative}` | {label} ({probability:.3f}) |")
    return lines
