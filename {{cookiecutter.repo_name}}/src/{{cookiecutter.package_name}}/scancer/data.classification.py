"""PatchCamelyon (PCam) HDF5 files as a LightningDataModule.

The PCam layout has two HDF5 files per split:
``camelyonpatch_level_2_split_<split>_x.h5`` with dataset ``x`` of
N x H x W x C uint8 images, and ``..._y.h5`` with dataset ``y`` of
N x 1 x 1 x 1 labels.
"""

from pathlib import Path

import h5py
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from .digests import file_sha256
from .metadata import Metadata
from .splits import SPLITS, SplitsDataModule

FILE_PREFIX = "camelyonpatch_level_2_split"


class DataError(RuntimeError):
    """A data file that is missing or does not have the PCam layout."""


def split_paths(data_dir: Path, split: str) -> tuple[Path, Path]:
    """Return the image and label file paths of one split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    data_dir = Path(data_dir)
    return (
        data_dir / f"{FILE_PREFIX}_{split}_x.h5",
        data_dir / f"{FILE_PREFIX}_{split}_y.h5",
    )


def check_split(data_dir: Path, split: str, size: int, channels: int) -> int:
    """Check one split's files against the PCam layout and return its length."""
    images_path, labels_path = split_paths(data_dir, split)
    for path in (images_path, labels_path):
        if not path.is_file():
            raise DataError(
                f"missing {path}; run 'make data' for PCam or 'make sample-data' "
                "for the built-in sample, or set DATA_DIR to the folder that has it"
            )
    try:
        with h5py.File(images_path, "r") as images, h5py.File(labels_path, "r") as labels:
            x, y = images["x"], labels["y"]
            expected = (size, size, channels)
            if x.dtype != "uint8" or x.ndim != 4 or x.shape[1:] != expected:
                raise DataError(
                    f"{images_path}: dataset 'x' is {x.dtype} {x.shape}, expected "
                    f"uint8 (N, {size}, {size}, {channels}); check input.size and "
                    "input.channels in metadata.json"
                )
            if y.ndim != 4 or y.shape[1:] != (1, 1, 1) or y.shape[0] != x.shape[0]:
                raise DataError(
                    f"{labels_path}: dataset 'y' is {y.shape}, expected "
                    f"({x.shape[0]}, 1, 1, 1) to match {images_path.name}"
                )
            return int(x.shape[0])
    except (OSError, KeyError) as error:
        raise DataError(
            f"cannot read {images_path.name} or {labels_path.name} in {data_dir}: "
            f"{error}; the file is corrupt or not PCam HDF5, fetch it again"
        ) from error


def checked_split_size(data_dir: Path, split: str, metadata: Metadata) -> int:
    """Check one split against metadata.json and return its number of images."""
    return check_split(data_dir, split, metadata.input_size, metadata.input_channels)


def split_images(data_dir: Path, split: str, metadata: Metadata, batch_size: int):
    """Yield the uint8 images (N, H, W, C) of one split in batches, in file order."""
    images_path, _ = split_paths(data_dir, split)
    with h5py.File(images_path, "r") as file:
        images = file["x"]
        for start in range(0, images.shape[0], batch_size):
            yield images[start : start + batch_size]


def split_targets(data_dir: Path, split: str) -> torch.Tensor:
    """Return the labels of one split, shape (N,)."""
    _, labels_path = split_paths(data_dir, split)
    with h5py.File(labels_path, "r") as file:
        return torch.from_numpy(file["y"][:].reshape(-1).astype("int64"))


def meta_path(data_dir: Path, split: str) -> Path:
    """Return the CSV that records the slide (``wsi``) or region of each patch of a split."""
    return Path(data_dir) / f"{FILE_PREFIX}_{split}_meta.csv"


def split_digests(data_dir: Path, split: str) -> dict[str, str]:
    """Return the SHA-256 of a split's images, labels and, when present, meta CSV."""
    meta = meta_path(data_dir, split)
    paths = [*split_paths(data_dir, split), *([meta] if meta.is_file() else [])]
    return {path.name: file_sha256(path) for path in paths}


class PCamDataset(Dataset):
    """One PCam split: float images in [0, 1] of shape (C, H, W) and int64 labels.

    The HDF5 files are opened on first access, so that each DataLoader worker
    opens its own handles rather than sharing one across processes.
    """

    def __init__(self, data_dir: Path, split: str, transform=None):
        self.images_path, self.labels_path = split_paths(data_dir, split)
        self.transform = transform
        self._images = None
        self._labels = None
        with h5py.File(self.labels_path, "r") as labels:
            self._length = int(labels["y"].shape[0])

    def __len__(self) -> int:
        return self._length

    def _open(self) -> None:
        self._images = h5py.File(self.images_path, "r")["x"]
        self._labels = h5py.File(self.labels_path, "r")["y"]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._images is None:
            self._open()
        pixels = torch.from_numpy(self._images[index])
        image = pixels.permute(2, 0, 1).to(torch.float32).div(255)
        if self.transform is not None:
            image = self.transform(image)
        label = torch.tensor(int(self._labels[index, 0, 0, 0]), dtype=torch.int64)
        return image, label

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_images"] = None
        state["_labels"] = None
        return state


class PCamDataModule(SplitsDataModule):
    """Train, validation and test loaders over a folder in the PCam layout.

    Args:
        data_dir: Folder with the six PCam HDF5 files.
        batch_size: Patches per batch.
        num_workers: DataLoader worker processes.
        augment: Apply flips and right-angle rotations to the training split.
    """

    def __init__(
        self,
        data_dir: str = "data/sample",
        batch_size: int = 32,
        num_workers: int = 2,
        augment: bool = True,
    ):
        super().__init__(data_dir, batch_size, num_workers, augment)

    def check_splits(self, metadata: Metadata) -> None:
        for split in SPLITS:
            check_split(self.data_dir, split, metadata.input_size, metadata.input_channels)

    def dataset(self, split: str, transform: v2.Transform, metadata: Metadata) -> PCamDataset:
        return PCamDataset(self.data_dir, split, transform)
