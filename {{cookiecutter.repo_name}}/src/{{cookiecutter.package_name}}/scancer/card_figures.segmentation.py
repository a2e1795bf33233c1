"""The segmentation card's evidence: a pixel confusion matrix and predicted masks.

Each example image gets a copy with its predicted mask laid over it: every
class but the background in its colour of CLASS_COLOURS, at OVERLAY_OPACITY.
"""

import base64
import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .figures import plot_confusion
from .metadata import Metadata
from .serving import open_archive

UNIT = "images"
# Colours of labels 1, 2, ... (label 0, the background, is not drawn).
CLASS_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189))
OVERLAY_OPACITY = 0.45


def plot_figures(
    probabilities: torch.Tensor, targets: torch.Tensor, metadata: Metadata, folder: Path
) -> list[str]:
    """Draw the confusion matrix of all pixels into folder; return its Markdown."""
    predicted = probabilities.argmax(dim=1)
    plot_confusion(
        predicted, targets, list(metadata.class_names), folder / "confusion.png",
        "Pixel confusion matrix",
    )  # fmt: skip
    return ["![Pixel confusion matrix](docs/card/confusion.png)"]


def overlay(image_bytes: bytes, mask: np.ndarray) -> Image.Image:
    """Return the image in RGB with every non-background class of mask tinted in its colour."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    for label in range(1, int(mask.max()) + 1):
        colour = np.array(CLASS_COLOURS[(label - 1) % len(CLASS_COLOURS)], dtype=np.float32)
        where = mask == label
        pixels[where] = (1 - OVERLAY_OPACITY) * pixels[where] + OVERLAY_OPACITY * colour
    return Image.fromarray(pixels.round().astype(np.uint8))


def describe(answer: dict) -> str:
    fractions = sorted(answer["class_fractions"].items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {fraction:.1%}" for name, fraction in fractions)


def example_rows(archive: Path, examples: list[Path], root: Path) -> list[str]:
    """Return a Markdown table of the example images, their predicted masks and class shares."""
    if not examples:
        return ["No example images; run `make sample-data`."]
    bodies = [path.read_bytes() for path in examples]
    with open_archive(archive, batch_size=len(examples)) as served:
        answers = served.predict(bodies)
    folder = root / "docs" / "card"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["| Image | Predicted mask | File | Pixels |", "| --- | --- | --- | --- |"]
    for path, body, answer in zip(examples, bodies, answers, strict=True):
        with Image.open(io.BytesIO(base64.b64decode(answer.body["mask"]))) as mask_image:
            mask = np.asarray(mask_image)
        overlay(body, mask).save(folder / f"{path.stem}-mask.png")
        relative = Path(os.path.relpath(path, root)).as_posix()
        lines.append(
            f"| ![{path.stem}]({relative}) | ![{path.stem} mask](docs/card/{path.stem}-mask.png) "
            f"| `{relative}` | {describe(answer.body)} |"
        )
    return lines
