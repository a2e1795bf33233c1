"""Image and mask pairs as a LightningDataModule.

Each split (train, valid, test) is a folder of its own:

- ``<split>/images/<name>.png`` (or ``.tif``, ``.tiff``): 8-bit RGB or
  greyscale images of the input size;
- ``<split>/masks/<name>.png`` (or ``.tif``, ``.tiff``): one integer class
  per pixel, 0 for the background, saved as 8- or 16-bit greyscale or as a
  palette image;
- ``<split>/meta.csv`` (optional): a ``name`` column and the slide or region
  of each image, for the leakage check of ``make check``.

check_split names the first file that breaks these rules: an image without a
mask or a mask without an image, sizes that differ, or mask values that are
not class labels of metadata.json. ``make data`` runs those checks on
DATA_DIR.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from .digests import file_sha256, files_sha256
from .metadata import Metadata, load_metadata
from .splits import SPLITS, SplitsDataModule

SUFFIXES = (".png", ".tif", ".tiff")
# JPEG compression changes pixel values, so it cannot carry class labels.
LOSSY_SUFFIXES = (".jpg", ".jpeg")
MASK_MODES = ("L", "P", "I;16", "I;16B", "I;16L", "I")


class DataError(RuntimeError):
    """A data file that is missing or breaks the image and mask layout."""


def split_folder(data_dir: Path, split: str) -> Path:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return Path(data_dir) / split


def files_by_name(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(
            f"missing folder {folder}; run 'make sample-data' for the built-in sample, or "
            "point DATA_DIR (make data) or data_dir in configs/data.yaml (training) to a "
            "folder with train, valid and test"
        )
    files = sorted(folder.iterdir())
    lossy = [path for path in files if path.suffix.lower() in LOSSY_SUFFIXES]
    if lossy and folder.name == "masks":
        raise DataError(f"{lossy[0]} is a JPEG; save masks as PNG or TIFF, which keep labels exact")
    return {path.stem: path for path in files if path.suffix.lower() in SUFFIXES}


def split_pairs(data_dir: Path, split: str) -> list[tuple[Path, Path]]:
    """Return (image, mask) paths of one split, matched by file name without suffix."""
    folder = split_folder(data_dir, split)
    images = files_by_name(folder / "images")
    masks = files_by_name(folder / "masks")
    for name in images.keys() - masks.keys():
        raise DataError(f"{images[name]} has no mask; add masks/{name}.png")
    for name in masks.keys() - images.keys():
        raise DataError(f"{masks[name]} has no image; add images/{name}.png or remove the mask")
    if not images:
        raise DataError(
            f"{folder / 'images'} contains no {', '.join(SUFFIXES)} images; add the split's images"
        )
    return [(images[name], masks[name]) for name in sorted(images)]


def open_image(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read {path}: {error}; replace the file") from None


def read_image(path: Path, channels: int) -> np.ndarray:
    """Return an image as uint8 pixels of shape (H, W, channels)."""
    with open_image(path) as image:
        # A writable copy, which torch.from_numpy takes without a warning.
        pixels = np.array(image.convert("RGB" if channels == 3 else "L"))
    return pixels if channels == 3 else pixels[..., None]


def read_mask(path: Path) -> np.ndarray:
    """Return a mask as int64 class labels of shape (H, W)."""
    with open_image(path) as image:
        if image.mode not in MASK_MODES:
            raise DataError(
                f"{path} is a {image.mode} image; save masks with one integer class per "
                "pixel, as 8- or 16-bit greyscale or a palette image"
            )
        return np.asarray(image).astype(np.int64)


def check_pair(image_path: Path, mask_path: Path, size: int, num_classes: int) -> None:
    """Check one pair's sizes and mask values against metadata.json."""
    with open_image(image_path) as image:
        image_size = image.size
    if image_size != (size, size):
        raise DataError(
            f"{image_path} is {image_size[0]} x {image_size[1]} px, expected {size} x {size} "
            "(input.size in metadata.json)"
        )
    labels = read_mask(mask_path)
    if labels.shape != (size, size):
        raise DataError(
            f"{mask_path} is {labels.shape[1]} x {labels.shape[0]} px, but its image "
            f"{image_path.name} is {size} x {size}; save the mask at the image's size"
        )
    unknown = np.unique(labels[(labels < 0) | (labels >= num_classes)])
    if unknown.size:
        raise DataError(
            f"{mask_path} has values {', '.join(map(str, unknown[:5]))} that are not class "
            f"labels; metadata.json has {num_classes} classes, labels 0 to {num_classes - 1}. "
            "Relabel those pixels, or add the classes to class_names in metadata.json"
        )


def check_split(data_dir: Path, split: str, size: int, channels: int, num_classes: int) -> int:
    """Check every pair of one split and return the number of pairs."""
    pairs = split_pairs(data_dir, split)
    for image_path, mask_path in pairs:
        check_pair(image_path, mask_path, size, num_classes)
    return len(pairs)


def checked_split_size(data_dir: Path, split: str, metadata: Metadata) -> int:
    """Check one split against metadata.json and return its number of images."""
    return check_split(
        data_dir, split, metadata.input_size, metadata.input_channels, metadata.num_classes
    )


def split_images(data_dir: Path, split: str, metadata: Metadata, batch_size: int):
    """Yield the uint8 images (N, H, W, C) of one split in batches, in file name order."""
    paths = [image_path for image_path, _ in split_pairs(data_dir, split)]
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        yield np.stack([read_image(path, metadata.input_channels) for path in batch])


def split_targets(data_dir: Path, split: str) -> torch.Tensor:
    """Return the masks of one split, shape (N, H, W), in file name order."""
    masks = [read_mask(mask_path) for _, mask_path in split_pairs(data_dir, split)]
    return torch.from_numpy(np.stack(masks))


def meta_path(data_dir: Path, split: str) -> Path:
    """Return the CSV that records the slide or region of each image of a split."""
    return split_folder(data_dir, split) / "meta.csv"


def split_digests(data_dir: Path, split: str) -> dict[str, str]:
    """Return one SHA-256 over the images, one over the masks and one of meta.csv if present."""
    folder = split_folder(data_dir, split)
    pairs = split_pairs(data_dir, split)
    digests = {
        f"{split}/images": files_sha256([image for image, _ in pairs], folder),
        f"{split}/masks": files_sha256([mask for _, mask in pairs], folder),
    }
    meta = meta_path(data_dir, split)
    if meta.is_file():
        digests[f"{split}/meta.csv"] = file_sha256(meta)
    return digests


class SegmentationDataset(Dataset):
    """One split: float images in [0, 1] of shape (C, H, W) and int64 masks of shape (H, W)."""

    def __init__(self, data_dir: Path, split: str, channels: int, transform=None):
        self.pairs = split_pairs(data_dir, split)
        self.channels = channels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, mask_path = self.pairs[index]
        pixels = torch.from_numpy(read_image(image_path, self.channels))
        image = tv_tensors.Image(pixels.permute(2, 0, 1).to(torch.float32).div(255))
        mask = tv_tensors.Mask(torch.from_numpy(read_mask(mask_path)))
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)


class SegmentationDataModule(SplitsDataModule):
    """Train, validation and test loaders over image and mask folders.

    Args:
        data_dir: Folder with train, valid and test, each holding images/ and masks/.
        batch_size: Images per batch.
        num_workers: DataLoader worker processes.
        augment: Apply flips and right-angle rotations to image and mask of the training split.
    """

    def __init__(
        self,
        data_dir: str = "data/sample",
        batch_size: int = 8,
        num_workers: int = 2,
        augment: bool = True,
    ):
        super().__init__(data_dir, batch_size, num_workers, augment)

    def check_splits(self, metadata: Metadata) -> None:
        for split in SPLITS:
            checked_split_size(self.data_dir, split, metadata)

    def dataset(
        self, split: str, transform: v2.Transform, metadata: Metadata
    ) -> SegmentationDataset:
        return SegmentationDataset(self.data_dir, split, metadata.input_channels, transform)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description="Check image and mask folders against metadata.json."
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data/sample"))
    args = parser.parse_args(argv)
    metadata = load_metadata()
    try:
        counts = {split: checked_split_size(args.data_dir, split, metadata) for split in SPLITS}
    except DataError as error:
        raise SystemExit(f"data check failed: {error}") from None
    listed = ", ".join(f"{split} {count}" for split, count in counts.items())
    print(f"{args.data_dir}: image and mask pairs: {listed}")


if __name__ == "__main__":
    main()
