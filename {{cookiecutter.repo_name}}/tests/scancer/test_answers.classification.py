"""The classifier's response: a label and the probability of every class."""

from {{ cookiecutter.package_name }}.scancer.archive import pack
from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH
from {{ cookiecutter.package_name }}.scancer.serving import open_archive

from conftest import png_of


def test_label_is_the_most_probable_class(tmp_path, traced_file, metadata):
    archive = pack(traced_file, metadata, tmp_path / "store", METADATA_PATH)
    images = [png_of(metadata.input_size, metadata.input_channels, seed) for seed in range(4)]

    with open_archive(archive) as served:
        answers = served.predict(images)

    for answer in answers:
        probabilities = answer.body["probabilities"]
        assert answer.body["label"] == max(probabilities, key=probabilities.get)
