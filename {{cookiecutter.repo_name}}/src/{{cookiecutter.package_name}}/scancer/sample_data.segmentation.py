"""Write a small image and mask data set cut from real H&E tissue.

The tiles come from the tissue regions of sample_sources at 0.5 um/px. Each
mask marks tissue (label 1, the second class) against background (label 0)
by Otsu's threshold on HSV saturation of the regions together, smoothed by a
MEDIAN_FILTER px median filter. The masks are
a demonstration label for the pipeline, not an annotation of tumour, and
not a diagnosis.

Steps:

1. Bring the regions to 0.5 um/px; a region whose bands are lower than a
   tile is left out.
2. Split each region into three bands of rows (train, valid, test), so that
   no tile crosses a split, and cut tiles within each band.
3. Keep the tiles with at least MIN_TISSUE_FRACTION tissue.
4. Write images/, masks/ and meta.csv per split, provenance.json and a few
   example PNG images.

Run by ``make sample-data``; option: --output DIR (default data/sample).
"""

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .data import SPLITS, split_folder
from .digests import files_sha256
from .metadata import Metadata, load_metadata
from .sample_sources import DEFAULT_CACHE_DIR
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

MIN_TISSUE_FRACTION = 0.05
MEDIAN_FILTER = 7
TISSUE_LABEL = 1
EXAMPLES = 4


@dataclass
class Tile:
    source: str
    split: str
    row: int
    column: int
    pixels: np.ndarray
    tissue: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.source}-{self.row:05d}-{self.column:05d}"


def cut_tiles(pixels: np.ndarray, tissue: np.ndarray, source: str, size: int) -> list[Tile]:
    """Cut size x size tiles with some tissue from each split's band, without overlap."""
    tiles = []
    for split, (top, bottom) in band_limits(pixels.shape[0], size).items():
        for row in range(top, bottom - size + 1, size):
            for column in range(0, pixels.shape[1] - size + 1, size):
                window = np.s_[row : row + size, column : column + size]
                if tissue[window].mean() >= MIN_TISSUE_FRACTION:
                    tiles.append(Tile(source, split, row, column, pixels[window], tissue[window]))
    return tiles


def smooth(tissue: np.ndarray) -> np.ndarray:
    """Return a tissue mask without specks smaller than the median filter."""
    image = Image.fromarray(tissue.astype(np.uint8) * 255)
    return np.asarray(image.filter(ImageFilter.MedianFilter(MEDIAN_FILTER))) > 127


def save_image(pixels: np.ndarray, path: Path) -> None:
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)


def write_split(output: Path, split: str, tiles: list[Tile], channels: int) -> str:
    """Write one split's images, masks and meta.csv; return a digest over its files."""
    folder = split_folder(output, split)
    for name in ("images", "masks"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for old in (folder / name).glob("*.png"):
            old.unlink()
    with (folder / "meta.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        # region is the band of rows of a source image that this split was cut
        # from. Bands do not overlap, but all splits share the source images.
        writer.writerow(["name", "source", "region", "row", "column", "tissue_fraction"])
        for tile in tiles:
            save_image(to_channels(tile.pixels, channels), folder / "images" / f"{tile.name}.png")
            mask = np.where(tile.tissue, TISSUE_LABEL, 0).astype(np.uint8)
            Image.fromarray(mask, mode="L").save(folder / "masks" / f"{tile.name}.png")
            region = f"{tile.source}/{split}"
            fraction = round(float(tile.tissue.mean()), 4)
            writer.writerow([tile.name, tile.source, region, tile.row, tile.column, fraction])
    return files_sha256([path for path in folder.rglob("*") if path.is_file()], output)


def write_examples(folder: Path, tiles: list[Tile], channels: int) -> list[str]:
    """Save a few test tiles as PNG files for calling the API."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    # Evenly spaced picks spread the examples over the band.
    picks = np.linspace(0, len(tiles) - 1, min(EXAMPLES, len(tiles)))
    names = []
    for number, index in enumerate(picks, start=1):
        name = f"tile-{number}.png"
        save_image(to_channels(tiles[int(round(index))].pixels, channels), folder / name)
        names.append(name)
    return names


def provenance(sources: list[dict], digests: dict, counts: dict, metadata: Metadata) -> dict:
    return {
        "purpose": (
            "Demonstration data: masks mark tissue against background by a threshold, "
            "not tumour and not a diagnosis. Not for clinical or diagnostic use."
        ),
        "labels": {
            metadata.class_names[0]: "background: HSV saturation at or below the threshold",
            metadata.class_names[TISSUE_LABEL]: "tissue: HSV saturation above the threshold",
        },
        "sources": sources,
        "microns_per_pixel": MICRONS_PER_PIXEL,
        "tile_size": metadata.input_size,
        "channels": metadata.input_channels,
        "split_rule": SPLIT_RULE,
        "tissue_rule": (
            "Otsu's threshold on HSV saturation of all regions together, then a "
            f"{MEDIAN_FILTER} px median filter; tiles with at least "
            f"{MIN_TISSUE_FRACTION:.0%} tissue are kept"
        ),
        "tiles": counts,
        "sha256": digests,
    }


def fitting_regions(regions, tissue, sources, size) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Return the regions whose bands are high enough for a tile, with their tissue."""
    kept = []
    for region, mask, source in zip(regions, tissue, sources, strict=True):
        try:
            band_limits(region.shape[0], size)
        except ValueError:
            log.info(
                "%s is left out: it is %d px high, too low for three bands of %d px tiles",
                source["name"], region.shape[0], size,
            )  # fmt: skip
            continue
        kept.append((region, mask, source["name"]))
    if not kept:
        raise SystemExit(
            f"no sample region is high enough for {size} px tiles in three bands; "
            "choose a smaller input.size in metadata.json"
        )
    return kept


def build(output: Path, examples: Path, cache_dir: Path = DEFAULT_CACHE_DIR) -> dict:
    """Build the sample data set in output and the example images; return provenance."""
    metadata = load_metadata()
    if metadata.num_classes > 2:
        log.warning(
            "the sample marks tissue and background only, so classes after %r get no pixels",
            metadata.class_names[TISSUE_LABEL],
        )
    regions, sources = load_sources(cache_dir)
    tissue, threshold = tissue_masks(regions)
    tissue = [smooth(mask) for mask in tissue]
    log.info("tissue threshold: HSV saturation > %d", threshold)
    size = metadata.input_size
    tiles = []
    for region, mask, name in fitting_regions(regions, tissue, sources, size):
        tiles += cut_tiles(region, mask, name, size)

    digests, counts = {}, {}
    for split in SPLITS:
        in_split = [tile for tile in tiles if tile.split == split]
        digests[split] = write_split(output, split, in_split, metadata.input_channels)
        counts[split] = len(in_split)
        log.info("%s: %d tiles", split, len(in_split))
    test_tiles = [tile for tile in tiles if tile.split == "test"]
    record = provenance(sources, digests, counts, metadata)
    record["examples"] = write_examples(examples, test_tiles, metadata.input_channels)
    (output / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv=None) -> None:
    run_sample(build, "tiles", __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
