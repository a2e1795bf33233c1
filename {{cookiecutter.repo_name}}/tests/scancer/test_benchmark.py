"""The benchmark runs and prints its tables; its figures are read, never asserted."""

import re

import pytest

from {{ cookiecutter.package_name }}.scancer import benchmark, server_load

from conftest import pack_version, traced_model


@pytest.fixture
def archive(tmp_path, metadata):
    model_file = traced_model(0, tmp_path / "model.pt")
    return pack_version(model_file, metadata.version, tmp_path, tmp_path)


def test_in_process_tables(archive, examples, capsys):
    benchmark.main(["--archive", str(archive), "--examples", str(examples[0].parent),
                    "--rounds", "1", "--no-server"])  # fmt: skip
    output = capsys.readouterr().out

    for size in benchmark.BATCH_SIZES:
        assert re.search(rf"^\| {size} \| [0-9.]+ \| [0-9.]+ \|", output, re.MULTILINE)
    difference = float(re.search(r"handler vs stock-style: (\S+)", output).group(1))
    assert difference <= 1e-5


@pytest.mark.serve
def test_server_table(tmp_path, archive, examples, metadata, capsys):
    bodies = [path.read_bytes() for path in examples]

    server_load.measure_server(tmp_path / "run", archive, metadata, bodies, ((1, 2, 5),), 6, 100.0)
    output = capsys.readouterr().out

    rows = re.findall(r"^\| 1 \| 2 \| 5 \| (\d) \| (\d+) \|", output, re.MULTILINE)
    assert [clients for clients, _ in rows] == ["1", "8"]
    assert all(int(rate) > 0 for _, rate in rows)
    assert "TorchServe started" in output
