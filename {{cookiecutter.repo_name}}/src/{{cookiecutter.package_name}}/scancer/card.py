"""Write the model card's evidence into README.md: ``make card``.

The card goes between the ``card:start`` and ``card:end`` markers of
README.md. It contains the metadata summary and the benchmark metrics next to
the published model's. It adds the task's figures (PNG files in ``docs/card``,
drawn by card_figures), the example images with the archive's predictions,
and how to call the endpoint. The text contains no dates and the figures are saved without
metadata, so running it again on the same model and data gives identical files.
"""

import argparse
import re
from pathlib import Path

from .card_figures import UNIT, example_rows, plot_figures
from .checks import benchmark_metrics, benchmark_predictions, build_context
from .metadata import REPOSITORY_ROOT

README_PATH = REPOSITORY_ROOT / "README.md"
START, END = "<!-- card:start -->", "<!-- card:end -->"


def metrics_table(metrics: dict, published: dict | None) -> list[str]:
    old = published["metrics"] if published else {}
    header = f"| Metric | This model | Published {published['version']} |" if published else (
        "| Metric | This model | Published |")  # fmt: skip
    lines = [header, "| --- | ---: | ---: |"]
    for name, value in metrics.items():
        reference = f"{old[name]:.4f}" if name in old else "none"
        lines.append(f"| {name} | {value:.4f} | {reference} |")
    return lines


def card_text(context, root: Path = REPOSITORY_ROOT) -> str:
    """Return the card section for root/README.md, writing its figures under root/docs/card."""
    document, metadata = context.document, context.metadata
    probabilities, targets = benchmark_predictions(
        context.archive, context.data_dir, context.split, metadata
    )
    metrics = benchmark_metrics(context.archive, context.data_dir, context.split, metadata)
    figure_lines = plot_figures(probabilities, targets, metadata, root / "docs" / "card")
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
        f"({len(targets)} {UNIT}).",
        "",
        *metrics_table(metrics, document["published"]),
        "",
        *figure_lines,
        "",
        *example_rows(context.archive, context.examples, root),
        "",
        f"Input: one {size} x {size} px {'RGB' if channels == 3 else 'greyscale'} image as PNG, "
        f"JPEG, TIFF or WebP. Call the endpoint with:",
        "",
        "```bash",
        f'curl -H "Authorization: Bearer $TOKEN" -T image.png '
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
