import base64
import json

import pytest

from {{ cookiecutter.package_name }}.scancer.archive import pack
from {{ cookiecutter.package_name }}.scancer.handler import response_decision, response_scores
from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH
from {{ cookiecutter.package_name }}.scancer.serving import open_archive

from conftest import png_of


@pytest.fixture
def archive(tmp_path, traced_file, metadata):
    return pack(traced_file, metadata, tmp_path / "store", METADATA_PATH)


@pytest.fixture
def served(archive):
    with open_archive(archive, batch_size=8) as model:
        yield model


@pytest.fixture
def good_png(metadata):
    return png_of(metadata.input_size, metadata.input_channels)


def test_handler_scores_every_class(served, good_png, metadata):
    (answer,) = served.predict([good_png])
    assert answer.status == 200
    scores = response_scores(answer.body)
    assert list(scores) == list(metadata.class_names)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_bad_requests_get_400_others_succeed(served, good_png, metadata):
    wrong_size = png_of(metadata.input_size + 1, metadata.input_channels)
    bodies = [good_png, b"", b"plain text, not an image", good_png[: len(good_png) // 2],
              wrong_size, good_png]  # fmt: skip
    answers = served.predict(bodies)
    (alone,) = served.predict([good_png])
    assert [answer.status for answer in answers] == [200, 400, 415, 400, 400, 200]
    for index in (0, 5):
        assert response_decision(answers[index].body) == response_decision(alone.body)
        # CPU kernels may round differently at another batch size.
        assert response_scores(answers[index].body) == pytest.approx(
            response_scores(alone.body), abs=1e-6
        )
    assert "empty" in answers[1].body["message"]
    assert "not a PNG, JPEG, TIFF or WebP image" in answers[2].body["message"]
    size = metadata.input_size
    assert f"expected {size} x {size} px" in answers[4].body["message"]


def test_base64_json_body_same_answer(served, good_png):
    (raw,) = served.predict([good_png])
    document = {"data": base64.b64encode(good_png).decode()}
    (encoded,) = served.predict([document], content_type="application/json")
    assert encoded.status == 200
    assert encoded.body == raw.body


def test_unknown_option_gets_400(served, good_png):
    document = {"data": base64.b64encode(good_png).decode(), "colour": True}
    (answer,) = served.predict([document], content_type="application/json")
    assert answer.status == 400
    assert "unknown option 'colour'; options: " in answer.body["message"]


def test_json_body_without_data_field_gets_400(served):
    (answer,) = served.predict([{"image": "x"}], content_type="application/json")
    assert answer.status == 400
    assert "'data' field" in answer.body["message"]


def test_archive_carries_metadata(archive):
    import zipfile

    with zipfile.ZipFile(archive) as packed:
        names = set(packed.namelist())
        manifest = json.loads(packed.read("MAR-INF/MANIFEST.json"))
    assert {"model.pt", "handler.py", "image_handler.py", "metadata.json"} <= names
    assert manifest["model"]["handler"] == "handler.py"


def test_resize_setting_accepts_other_sizes(tmp_path, traced_file, metadata):
    document = json.loads(METADATA_PATH.read_text())
    document["serving"]["resize"] = True
    resizing = tmp_path / "resizing" / "metadata.json"
    resizing.parent.mkdir()
    resizing.write_text(json.dumps(document))
    archive = pack(traced_file, metadata, tmp_path / "store", resizing)
    larger = png_of(metadata.input_size * 2, metadata.input_channels)

    with open_archive(archive) as served:
        (answer,) = served.predict([larger])

    assert answer.status == 200
    assert list(response_scores(answer.body)) == list(metadata.class_names)
