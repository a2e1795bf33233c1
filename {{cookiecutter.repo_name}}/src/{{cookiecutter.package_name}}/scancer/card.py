"""Write the model card's evidence into README.md: ``make card``.

The card goes between the ``card:start`` and ``card:end`` markers of
README.md. It contains the metadata summary, the benchmark metrics next to the
published model's, an ROC curve and a confusion matrix (PNG files in
``docs/card``), the example patches with the archive's predictions, and how to
call the endpoint. The text contains
no dates and the figures are saved without metadata, so running it again on
the same model and data gives identical files.
"""

import argparse
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to files only; no display is needed

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchmetrics.functional.classification import (  # noqa: E402
    multiclass_confusion_matrix,
    multiclass_roc,
)

from .checks import benchmark_metrics, benchmark_predictions, build_context  # noqa: E402
from .metadata import REPOSITORY_ROOT, Metadata  # noqa: E402
from .serving import open_archive  # noqa: E402

README_PATH = REPOSITORY_ROOT / "README.md"
START, END = "<!-- card:start -->", "<!-- card:end -->"
PNG_METADATA = {"Software": None}  # no version string, so figures are byte-identical


def save_figure(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(figure)


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


def plot_confusion(probabilities: torch.Tensor, targets: torch.Tensor, metadata: Metadata, path):
    """Plot the confusion matrix of the arg-max labels, with counts in the cells."""
    matrix = multiclass_confusion_matrix(probabilities, targets, metadata.num_classes)
    figure, axes = plt.subplots(figsize=(4, 4))
    axes.imshow(matrix.numpy(), cmap="Blues")
    dark = matrix.max().item() / 2
    for row in range(len(matrix)):
        for column in range(len(matrix)):
            count = matrix[row, column].item()
            colour = "white" if count > dark else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
    ticks = list(range(metadata.num_classes))
    axes.set_xticks(ticks, metadata.class_names)
    axes.set_yticks(ticks, metadata.class_names)
    axes.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    save_figure(figure, path)


def metrics_table(metrics: dict, published: dict | None) -> list[str]:
    old = published["metrics"] if published else {}
    header = f"| Metric | This model | Published {published['version']} |" if published else (
        "| Metric | This model | Published |")  # fmt: skip
    lines = [header, "| --- | ---: | ---: |"]
    for name, value in metrics.items():
        reference = f"{old[name]:.4f}" if name in old else "none"
        lines.append(f"| {name} | {value:.4f} | {reference} |")
    return lines


def example_rows(archive: Path, examples: list[Path], root: Path) -> list[str]:
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


def card_text(context, root: Path = REPOSITORY_ROOT) -> str:
    """Return the card section for root/README.md, writing its figures under root/docs/card."""
    document, metadata = context.document, context.metadata
    probabilities, targets = benchmark_predictions(
        context.archive, context.data_dir, context.split, metadata
    )
    metrics = benchmark_metrics(context.archive, context.data_dir, context.split, metadata)
    figures = root / "docs" / "card"
    plot_roc(probabilities, targets, metadata, figures / "roc.png")
    plot_confusion(probabilities, targets, metadata, figures / "confusion.png")
    latest = next(entry for entry in document["changelog"] if entry["version"] == metadata.version)
    size, channels = metadata.input_size, metadata.input_channels
    lines = [
        START,
        f"**{document['diagnostic_use']}**",
        "",
        f"Version {metadata.version}: {latest['changes']} Intended use: {document['intended_use']}"
        f" Licence: {document['licence']}.",
        "",
        f"Benchmark: the `{context.split}` split of `{document['benchmark']['data_dir']}` "
        f"({len(targets)} patches).",
        "",
        *metrics_table(metrics, document["published"]),
        "",
        "![ROC curve](docs/card/roc.png) ![Confusion matrix](docs/card/confusion.png)",
        "",
        *example_rows(context.archive, context.examples, root),
        "",
        f"Input: one {size} x {size} px {'RGB' if channels == 3 else 'greyscale'} patch as PNG, "
        f"JPEG, TIFF or WebP. Call the endpoint with:",
        "",
        "```bash",
        f'curl -H "Authorization: Bearer $TOKEN" -T patch.png '
        f"http://127.0.0.1:8080/predictions/{metadata.model_name}",
        "```",
        END,
    ]
    return "\n".join(lines)


def write_card(readme: Path, text: str) -> None:
    """Replace the section between the markers of readme with text."""
    content = readme.read_text()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(content):
        raise SystemExit(f"{readme} has no {START} ... {END} section for the card")
    readme.write_text(pattern.sub(lambda _: text, content, count=1))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, help="default: this version's archive")
    args = parser.parse_args(argv)
    context = build_context(args.archive)
    if not context.archive.is_file():
        raise SystemExit(f"{context.archive} is missing; run 'make archive' first")
    write_card(README_PATH, card_text(context))
    print(f"Wrote the model card to {README_PATH} and figures to docs/card")


if __name__ == "__main__":
    main()
