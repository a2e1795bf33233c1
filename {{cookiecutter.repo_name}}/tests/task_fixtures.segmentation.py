"""Test data and networks shaped for a segmentation model."""

import numpy as np
import torch
from PIL import Image

from {{ cookiecutter.package_name }}.scancer.data import split_folder

# The benchmark scores every model of this task reports.
MAIN_SCORES = ("dice", "iou", "pixel_accuracy")

# What training logs on the test split, and the default network.
TRAINING_METRICS = ("test_dice", "test_iou")
DEFAULT_BACKBONE = "small_unet"


def write_random_split(folder, split, metadata, rng, count):
    """Write count random images with random masks of every class, in the folder layout."""
    root = split_folder(folder, split)
    for name in ("images", "masks"):
        (root / name).mkdir(parents=True)
    size, channels = metadata.input_size, metadata.input_channels
    for index in range(count):
        shape = (size, size) if channels == 1 else (size, size, channels)
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        mask = rng.integers(0, metadata.num_classes, size=(size, size), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"image-{index:03d}.png")
        Image.fromarray(mask).save(root / "masks" / f"image-{index:03d}.png")


def training_mode_network(metadata) -> torch.nn.Module:
    """Return a network with BatchNorm in training mode and the segmenter's output shape."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(metadata.input_channels, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, metadata.num_classes, 1),
    ).train()
