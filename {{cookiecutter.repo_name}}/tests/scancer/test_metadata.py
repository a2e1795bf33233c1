"""metadata.json follows metadata.schema.json, and a broken file is named precisely."""

import json

import pytest

from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH, MetadataError, load_document


def write_changed(tmp_path, change):
    document = json.loads(METADATA_PATH.read_text())
    change(document)
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(document))
    return path


def test_repository_metadata_is_valid():
    document = load_document()

    assert document["diagnostic_use"].startswith("Not for diagnostic use")
    assert any(entry["version"] == document["version"] for entry in document["changelog"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda document: document.update(version="v2"), "version: 'v2' does not match"),
        (lambda document: document.pop("changelog"), "'changelog' is a required property"),
        (
            lambda document: document.update(diagnostic_use="Fine for diagnosis."),
            "diagnostic_use: 'Fine for diagnosis.' does not match",
        ),
        (lambda document: document["input"].update(channels=2), "input/channels: 2 is not one of"),
        (
            lambda document: document["benchmark"]["sha256"].update(x="abc"),
            "benchmark/sha256/x: 'abc' does not match",
        ),
    ],
    ids=["version", "changelog", "diagnostic-use", "channels", "checksum"],
)
def test_invalid_metadata_named(tmp_path, change, message):
    path = write_changed(tmp_path, change)

    with pytest.raises(MetadataError, match=message):
        load_document(path)


def test_invalid_json_named(tmp_path):
    path = tmp_path / "metadata.json"
    path.write_text("{")

    with pytest.raises(MetadataError, match="is not valid JSON"):
        load_document(path)
