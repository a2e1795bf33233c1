"""The splits, their transforms and loaders, shared by the data modules of both tasks."""

from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from .metadata import Metadata, load_metadata

SPLITS = ("train", "valid", "test")


def training_augmentation() -> v2.Transform:
    """Return flips and right-angle rotations, which keep tissue semantics.

    torchvision applies them alike to an image and its mask when both are given.
    """
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            v2.RandomChoice([v2.RandomRotation((angle, angle)) for angle in (0, 90, 180, 270)]),
        ]
    )


def normalisation() -> v2.Normalize:
    """Return the normalisation recorded in metadata.json; masks pass through unchanged."""
    metadata = load_metadata()
    return v2.Normalize(mean=list(metadata.mean), std=list(metadata.std))


class SplitsDataModule(L.LightningDataModule):
    """Train, validation and test loaders; a subclass checks the splits and builds each dataset."""

    def __init__(self, data_dir: str, batch_size: int, num_workers: int, augment: bool):
        super().__init__()
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.augment = augment
        self.datasets: dict[str, Dataset] = {}

    def check_splits(self, metadata: Metadata) -> None:
        raise NotImplementedError

    def dataset(self, split: str, transform: v2.Transform, metadata: Metadata) -> Dataset:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        metadata = load_metadata()
        self.check_splits(metadata)
        normalise = normalisation()
        train_transform = normalise
        if self.augment:
            train_transform = v2.Compose([training_augmentation(), normalise])
        self.datasets = {
            "train": self.dataset("train", train_transform, metadata),
            "valid": self.dataset("valid", normalise, metadata),
            "test": self.dataset("test", normalise, metadata),
        }

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
