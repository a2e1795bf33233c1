"""Image and mask folders: the checks name the offending file, the loaders pair them up."""

import numpy as np
import pytest
import torch
from PIL import Image

from {{ cookiecutter.package_name }}.scancer.data import (
    DataError,
    SegmentationDataset,
    check_split,
    split_digests,
    split_pairs,
)
from {{ cookiecutter.package_name }}.scancer.splits import training_augmentation

from conftest import IMAGES_PER_SPLIT


def check(data_dir, metadata):
    size, channels = metadata.input_size, metadata.input_channels
    return check_split(data_dir, "test", size, channels, metadata.num_classes)


def test_pairs_are_matched_by_name(data_dir, metadata):
    pairs = split_pairs(data_dir, "test")

    assert len(pairs) == IMAGES_PER_SPLIT == check(data_dir, metadata)
    assert all(image.stem == mask.stem for image, mask in pairs)
    assert all(mask.parent.name == "masks" for _, mask in pairs)


def test_image_without_mask_is_named(data_dir, metadata):
    (data_dir / "test" / "masks" / "image-003.png").unlink()

    with pytest.raises(DataError, match=r"test/images/image-003\.png has no mask"):
        check(data_dir, metadata)


def test_mask_without_image_is_named(data_dir, metadata):
    (data_dir / "test" / "images" / "image-004.png").unlink()

    with pytest.raises(DataError, match=r"test/masks/image-004\.png has no image"):
        check(data_dir, metadata)


def test_mask_of_another_size_is_named(data_dir, metadata):
    size = metadata.input_size
    path = data_dir / "test" / "masks" / "image-005.png"
    Image.fromarray(np.zeros((size, size + 1), dtype=np.uint8)).save(path)

    with pytest.raises(
        DataError, match=rf"image-005\.png is {size + 1} x {size} px, but its image"
    ):
        check(data_dir, metadata)


def test_unknown_mask_values_are_named(data_dir, metadata):
    size = metadata.input_size
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[0, :3] = [metadata.num_classes, 7, 255]
    Image.fromarray(mask).save(data_dir / "test" / "masks" / "image-006.png")

    with pytest.raises(
        DataError, match=r"image-006\.png has values .*255 that are not class"
    ) as raised:
        check(data_dir, metadata)
    assert "Relabel those pixels, or add the classes to class_names" in str(raised.value)


def test_jpeg_mask_is_rejected(data_dir, metadata):
    path = data_dir / "test" / "masks" / "image-008.png"
    path.rename(path.with_suffix(".jpg"))

    with pytest.raises(DataError, match=r"image-008\.jpg is a JPEG; save masks as PNG or TIFF"):
        check(data_dir, metadata)


def test_colour_mask_is_rejected(data_dir, metadata):
    size = metadata.input_size
    path = data_dir / "test" / "masks" / "image-007.png"
    Image.fromarray(np.zeros((size, size, 3), dtype=np.uint8)).save(path)

    with pytest.raises(DataError, match=r"image-007\.png is a RGB image; save masks with one"):
        check(data_dir, metadata)


def test_tiff_masks_and_16_bit_values_are_read(data_dir, metadata):
    size = metadata.input_size
    for name in ("image-000", "image-001"):
        (data_dir / "test" / "masks" / f"{name}.png").unlink()
        mask = np.full((size, size), metadata.num_classes - 1, dtype=np.uint16)
        Image.fromarray(mask).save(data_dir / "test" / "masks" / f"{name}.tif")

    dataset = SegmentationDataset(data_dir, "test", metadata.input_channels)

    _, target = dataset[0]
    assert target.dtype == torch.int64
    assert torch.equal(target, torch.full((size, size), metadata.num_classes - 1))


def test_digests_change_with_a_mask(data_dir, metadata):
    before = split_digests(data_dir, "test")
    path = data_dir / "test" / "masks" / "image-002.png"
    Image.fromarray(np.zeros((metadata.input_size,) * 2, dtype=np.uint8)).save(path)

    after = split_digests(data_dir, "test")

    assert set(before) == {"test/images", "test/masks"}
    assert after["test/images"] == before["test/images"]
    assert after["test/masks"] != before["test/masks"]


def test_augmentation_moves_image_and_mask_together(tmp_path, metadata):
    size, channels = metadata.input_size, metadata.input_channels
    for name in ("images", "masks"):
        (tmp_path / "train" / name).mkdir(parents=True)
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 2, size=(size, size), dtype=np.uint8)
    # The image's brightness is its mask, so both must move alike.
    pixels = np.repeat((mask * 200)[..., None], channels, axis=2)
    Image.fromarray(pixels if channels == 3 else pixels[..., 0]).save(
        tmp_path / "train" / "images" / "tile.png"
    )
    Image.fromarray(mask).save(tmp_path / "train" / "masks" / "tile.png")
    dataset = SegmentationDataset(tmp_path, "train", channels, training_augmentation())

    for seed in range(8):
        torch.manual_seed(seed)
        image, target = dataset[0]
        assert torch.equal((image[0] * 255).round().long(), target * 200), seed
