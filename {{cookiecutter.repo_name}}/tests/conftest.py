import h5py
import lightning as L
import numpy as np
import pytest
import torch

from {{ cookiecutter.package_name }}.data import SPLITS, split_paths
from {{ cookiecutter.package_name }}.export import save, trace
from {{ cookiecutter.package_name }}.metadata import load_metadata
from {{ cookiecutter.package_name }}.model import PatchClassifier

PATCHES_PER_SPLIT = 12


def write_pcam_split(folder, split, images, labels):
    images_path, labels_path = split_paths(folder, split)
    with h5py.File(images_path, "w") as file:
        file.create_dataset("x", data=images)
    with h5py.File(labels_path, "w") as file:
        file.create_dataset("y", data=labels.astype(np.uint8).reshape(-1, 1, 1, 1))


@pytest.fixture
def metadata():
    return load_metadata()


@pytest.fixture
def pcam_dir(tmp_path, metadata):
    """A folder in the PCam layout with random patches of the model's input shape."""
    folder = tmp_path / "pcam"
    folder.mkdir()
    rng = np.random.default_rng(0)
    shape = (PATCHES_PER_SPLIT, metadata.input_size, metadata.input_size, metadata.input_channels)
    for split in SPLITS:
        images = rng.integers(0, 256, size=shape, dtype=np.uint8)
        labels = np.arange(PATCHES_PER_SPLIT) % metadata.num_classes
        write_pcam_split(folder, split, images, labels)
    return folder


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint of an untrained model, saved as training saves it."""
    L.seed_everything(0)
    model = PatchClassifier()
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.fixture
def traced_file(tmp_path, checkpoint, metadata):
    model = PatchClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    example = torch.randn(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    path = tmp_path / "model.pt"
    save(trace(model, example), path)
    return path
