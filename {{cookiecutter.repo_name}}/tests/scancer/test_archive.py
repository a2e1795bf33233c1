import json

import pytest

from {{ cookiecutter.package_name }}.scancer.archive import ArchiveError, check_handler_parity, pack
from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH


def test_handler_parity_on_test_split(tmp_path, traced_file, checkpoint, data_dir, metadata):
    archive = pack(traced_file, metadata, tmp_path / "store", METADATA_PATH)
    count, worst = check_handler_parity(archive, checkpoint, data_dir)
    assert count > 0
    assert worst <= 1e-5


def test_parity_fails_on_other_normalisation(tmp_path, traced_file, checkpoint, data_dir, metadata):
    document = json.loads(METADATA_PATH.read_text())
    document["input"]["mean"] = [value + 0.2 for value in document["input"]["mean"]]
    changed = tmp_path / "metadata.json"
    changed.write_text(json.dumps(document))
    archive = pack(traced_file, metadata, tmp_path / "store", changed)
    with pytest.raises(ArchiveError, match="normalises as training does"):
        check_handler_parity(archive, checkpoint, data_dir)
