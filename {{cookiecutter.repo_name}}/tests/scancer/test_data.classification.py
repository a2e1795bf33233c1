import json

import h5py
import numpy as np
import pytest
import torch
from torchvision.datasets import PCAM
from torchvision.transforms.functional import pil_to_tensor

from {{ cookiecutter.package_name }}.scancer.data import (
    DataError,
    PCamDataModule,
    PCamDataset,
    check_split,
    split_paths,
)
from {{ cookiecutter.package_name }}.scancer.pcam import prepare, unpack

from conftest import IMAGES_PER_SPLIT
from task_fixtures import write_pcam_split


def test_dataset_matches_torchvision_pcam(tmp_path):
    """Images and labels equal torchvision's PCAM on the same files, pixel for pixel."""
    folder = tmp_path / "pcam"
    folder.mkdir()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 96, 96, 3), dtype=np.uint8)
    labels = np.array([0, 1, 1, 0, 1])
    for split in ("train", "valid", "test"):
        write_pcam_split(folder, split, images, labels)
    ours = PCamDataset(folder, "test")
    reference = PCAM(tmp_path, split="test")
    assert len(ours) == len(reference) == 5
    for index in range(5):
        image, label = ours[index]
        reference_image, reference_label = reference[index]
        expected = pil_to_tensor(reference_image).to(torch.float32).div(255)
        assert image.dtype == torch.float32
        assert image.shape == (3, 96, 96)
        assert torch.equal(image, expected)
        assert label.dtype == torch.int64
        assert int(label) == reference_label


def test_batches_have_model_input_shape(data_dir, metadata):
    module = PCamDataModule(data_dir=str(data_dir), batch_size=4, num_workers=0)
    module.setup("fit")
    images, labels = next(iter(module.train_dataloader()))
    size, channels = metadata.input_size, metadata.input_channels
    assert images.shape == (4, channels, size, size)
    assert images.dtype == torch.float32
    assert labels.shape == (4,)
    assert labels.dtype == torch.int64


def test_workers_zero_and_two_same_samples(data_dir):
    batches = {}
    for workers in (0, 2):
        module = PCamDataModule(data_dir=str(data_dir), batch_size=5, num_workers=workers)
        module.setup("test")
        batches[workers] = list(module.test_dataloader())
    assert len(batches[0]) == len(batches[2])
    for (images_a, labels_a), (images_b, labels_b) in zip(batches[0], batches[2], strict=True):
        assert torch.equal(images_a, images_b)
        assert torch.equal(labels_a, labels_b)


def test_missing_file_names_file_and_fix(data_dir, metadata):
    images_path, _ = split_paths(data_dir, "valid")
    images_path.unlink()
    with pytest.raises(DataError, match="missing .*valid_x.h5.*make data"):
        check_split(data_dir, "valid", metadata.input_size, metadata.input_channels)


def test_corrupt_file_names_file(data_dir, metadata):
    images_path, _ = split_paths(data_dir, "train")
    images_path.write_bytes(b"not an HDF5 file")
    with pytest.raises(DataError, match="train_x.h5.*corrupt"):
        check_split(data_dir, "train", metadata.input_size, metadata.input_channels)


def test_wrong_patch_shape_names_expected_layout(tmp_path, metadata):
    images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    write_pcam_split(tmp_path, "test", images, np.zeros(3))
    with pytest.raises(DataError, match=r"expected uint8 \(N, "):
        check_split(tmp_path, "test", metadata.input_size, metadata.input_channels)


def test_label_count_mismatch_is_reported(data_dir, metadata):
    _, labels_path = split_paths(data_dir, "test")
    with h5py.File(labels_path, "w") as file:
        file.create_dataset("y", data=np.zeros((IMAGES_PER_SPLIT - 1, 1, 1, 1), np.uint8))
    with pytest.raises(DataError, match="dataset 'y'"):
        check_split(data_dir, "test", metadata.input_size, metadata.input_channels)


def test_prepare_counts_existing_files(data_dir):
    counts = prepare(data_dir)
    assert counts == {
        "train": IMAGES_PER_SPLIT,
        "valid": IMAGES_PER_SPLIT,
        "test": IMAGES_PER_SPLIT,
    }


def test_prepare_rejects_changed_recorded_file(data_dir):
    images_path, _ = split_paths(data_dir, "test")
    record = {"sha256": {images_path.name: "0" * 64}}
    (data_dir / "provenance.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match="test_x.h5 has SHA-256 .* expected 0000"):
        prepare(data_dir)


def test_unpack_rejects_wrong_md5(tmp_path):
    archive = tmp_path / "camelyonpatch_level_2_split_test_y.h5.gz"
    archive.write_bytes(b"partial download")
    with pytest.raises(DataError, match="MD5 .* expected 60a7.*delete it"):
        unpack(archive, "60a7035772fbdb7f34eb86d4420cf66a")
