"""Test data and networks shaped for a classifier."""

import h5py
import numpy as np
import torch

from {{ cookiecutter.package_name }}.scancer.data import split_paths

# The benchmark scores every model of this task reports.
MAIN_SCORES = ("auc", "accuracy", "f1")

# What training logs on the test split, and the default network.
TRAINING_METRICS = ("test_auc", "test_acc", "test_f1")
DEFAULT_BACKBONE = "small_cnn"


def write_pcam_split(folder, split, images, labels):
    """Write images (N, H, W, C) and labels (N,) as one split in the PCam layout."""
    images_path, labels_path = split_paths(folder, split)
    with h5py.File(images_path, "w") as file:
        file.create_dataset("x", data=images)
    with h5py.File(labels_path, "w") as file:
        file.create_dataset("y", data=labels.astype(np.uint8).reshape(-1, 1, 1, 1))


def write_random_split(folder, split, metadata, rng, count):
    """Write count random patches with labels cycling through the classes, in the PCam layout."""
    shape = (count, metadata.input_size, metadata.input_size, metadata.input_channels)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    write_pcam_split(folder, split, images, np.arange(count) % metadata.num_classes)


def training_mode_network(metadata) -> torch.nn.Module:
    """Return a network with BatchNorm in training mode and the classifier's output shape."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(metadata.input_channels, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, metadata.num_classes),
    ).train()
