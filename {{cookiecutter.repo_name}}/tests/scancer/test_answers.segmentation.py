"""The segmentation response: a mask PNG, class fractions and, on request, probability maps."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from {{ cookiecutter.package_name }}.scancer.archive import pack
from {{ cookiecutter.package_name }}.scancer.handler import PROBABILITY_SCALE
from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH
from {{ cookiecutter.package_name }}.scancer.serving import open_archive

from conftest import png_of


def decode_png(text):
    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        return image.mode, np.asarray(image)


@pytest.fixture
def served(tmp_path, traced_file, metadata):
    archive = pack(traced_file, metadata, tmp_path / "store", METADATA_PATH)
    with open_archive(archive) as model:
        yield model


def test_mask_and_fractions_agree(served, metadata):
    image = png_of(metadata.input_size, metadata.input_channels)

    (answer,) = served.predict([image])

    mode, mask = decode_png(answer.body["mask"])
    size = metadata.input_size
    assert (mode, mask.shape) == ("L", (size, size))
    counts = np.bincount(mask.ravel(), minlength=metadata.num_classes)
    assert len(counts) == metadata.num_classes
    expected = dict(zip(metadata.class_names, (counts / mask.size).tolist(), strict=True))
    assert answer.body["class_fractions"] == pytest.approx(expected)
    assert "probability_maps" not in answer.body


def test_probability_maps_on_request(served, metadata):
    image = png_of(metadata.input_size, metadata.input_channels)
    document = {"data": base64.b64encode(image).decode(), "probability_maps": True}

    (answer,) = served.predict([json.dumps(document).encode()], content_type="application/json")

    maps = answer.body["probability_maps"]
    assert list(maps) == list(metadata.class_names)
    decoded = [decode_png(text) for text in maps.values()]
    assert {mode for mode, _ in decoded} == {"I;16"}
    probabilities = np.stack([pixels for _, pixels in decoded]) / PROBABILITY_SCALE
    # Each map is rounded to 1 / 65535 on its own.
    assert np.abs(probabilities.sum(axis=0) - 1).max() <= metadata.num_classes / PROBABILITY_SCALE
    _, mask = decode_png(answer.body["mask"])
    assert (probabilities.argmax(axis=0) == mask).mean() > 0.99


def test_probability_maps_option_must_be_boolean(served, metadata):
    image = png_of(metadata.input_size, metadata.input_channels)
    document = {"data": base64.b64encode(image).decode(), "probability_maps": "yes"}

    (answer,) = served.predict([json.dumps(document).encode()], content_type="application/json")

    assert answer.status == 400
    assert "option 'probability_maps' must be a JSON bool" in answer.body["message"]
