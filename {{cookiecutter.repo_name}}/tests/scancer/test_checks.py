"""Each check of make check passes on a consistent model and fails when it should."""

import csv
import json
import warnings

import pytest
import torch
from torch.jit import TracerWarning

from {{ cookiecutter.package_name }}.model import {{ cookiecutter.__model_class }}
from {{ cookiecutter.package_name }}.scancer import checks
from {{ cookiecutter.package_name }}.scancer.archive import pack
from {{ cookiecutter.package_name }}.scancer.data import meta_path, split_digests
from {{ cookiecutter.package_name }}.scancer.export import save, trace
from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH, MetadataError, load_document
from {{ cookiecutter.package_name }}.scancer.publish import content_sha256
from {{ cookiecutter.package_name }}.scancer.upstream import TemplateStatus

from conftest import pack_version, traced_model
from task_fixtures import MAIN_SCORES


def write_meta(folder, split, groups, column="wsi"):
    with meta_path(folder, split).open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["index", column])
        writer.writerows(enumerate(groups))


@pytest.fixture
def context(tmp_path, traced_file, checkpoint, data_dir, metadata):
    """A consistent context: an archive of the checkpoint and recorded benchmark digests."""
    archive = pack(traced_file, metadata, tmp_path / "store", METADATA_PATH)
    document = load_document()
    write_meta(data_dir, "train", ["slide_1"] * 12)
    write_meta(data_dir, "test", ["slide_2"] * 12)
    document["benchmark"]["sha256"] = split_digests(data_dir, "test")
    return checks.CheckContext(document, metadata, archive, data_dir, "test", checkpoint)


def published(context, **changes):
    record = {
        "version": context.metadata.version,
        "content_sha256": content_sha256(context.archive),
        "metrics": dict.fromkeys(MAIN_SCORES, 0.0),
    }
    context.document["published"] = record | changes


def test_consistent_model_passes(context):
    for aspect in ("metadata", "data", "parity", "benchmark"):
        checks.CHECKS[aspect](context)

    assert context.report["parity"]["max_difference"][1] <= 1e-5
    assert set(context.report["benchmark"]["metrics"]) >= set(MAIN_SCORES)


def test_missing_changelog_entry_fails(context):
    context.document["changelog"] = [{"version": "0.9.0", "changes": "older"}]

    with pytest.raises(checks.CheckFailed, match="changelog has no entry for version 1.0.0"):
        checks.check_metadata(context)


def test_changed_archive_needs_new_version(context):
    published(context, content_sha256="0" * 64)

    with pytest.raises(checks.CheckFailed, match="raise version in metadata.json above 1.0.0"):
        checks.check_metadata(context)


def test_unrecorded_benchmark_data_fails(context):
    context.document["benchmark"]["sha256"] = {}

    with pytest.raises(checks.CheckFailed, match="make record-data"):
        checks.check_data(context)


def test_changed_benchmark_data_fails(context):
    name = next(iter(context.document["benchmark"]["sha256"]))
    context.document["benchmark"]["sha256"][name] = "f" * 64

    with pytest.raises(checks.CheckFailed, match=f"{name} in .* differ from the digests"):
        checks.check_data(context)


def test_leaking_split_names_first_pair(context, data_dir):
    write_meta(data_dir, "test", ["slide_2"] * 11 + ["slide_1"])
    context.document["benchmark"]["sha256"] = split_digests(data_dir, "test")

    with pytest.raises(
        checks.CheckFailed, match="the first is slide_1: train image 0 and test image 11"
    ):
        checks.check_data(context)


def test_sample_regions_are_read(context, data_dir):
    write_meta(data_dir, "train", ["cmu/train"] * 12, column="region")
    write_meta(data_dir, "test", ["cmu/test"] * 12, column="region")
    context.document["benchmark"]["sha256"] = split_digests(data_dir, "test")

    checks.check_data(context)


def test_other_normalisation_fails_parity(context, tmp_path, traced_file, metadata):
    document = json.loads(METADATA_PATH.read_text())
    document["input"]["mean"] = [value + 0.2 for value in document["input"]["mean"]]
    changed = tmp_path / "changed" / "metadata.json"
    changed.parent.mkdir()
    changed.write_text(json.dumps(document))
    context.archive = pack(traced_file, metadata, tmp_path / "other", changed)

    with pytest.raises(checks.CheckFailed, match="at batch size 1, .*normalises"):
        checks.check_parity(context)


def test_model_traced_in_train_mode_fails_parity(context, tmp_path, metadata):
    model = {{ cookiecutter.__model_class }}.load_from_checkpoint(context.checkpoint, map_location="cpu")
    network = model.network.train()
    example = torch.randn(8, metadata.input_channels, metadata.input_size, metadata.input_size)
    with warnings.catch_warnings():
        # BatchNorm in training mode checks the batch shape, which a trace fixes.
        warnings.filterwarnings("ignore", "Converting a tensor to a Python boolean", TracerWarning)
        traced = torch.jit.trace(network, example, check_trace=False)
    save(traced, tmp_path / "train-mode.pt")
    context.archive = pack(tmp_path / "train-mode.pt", metadata, tmp_path / "other", METADATA_PATH)

    with pytest.raises(checks.CheckFailed, match="at batch size 1"):
        checks.check_parity(context)


def test_worse_model_fails_benchmark(context):
    published(context, version="0.9.0", metrics=dict.fromkeys(MAIN_SCORES[:2], 1.0))

    worse = rf"{MAIN_SCORES[0]} [0-9.]+ vs published 1\.0000"
    with pytest.raises(checks.CheckFailed, match=worse) as raised:
        checks.check_benchmark(context)

    assert MAIN_SCORES[1] in str(raised.value)


def test_manifest_with_other_version_fails(context, tmp_path, traced_file):
    context.archive = pack_version(traced_file, "9.9.9", tmp_path, tmp_path)

    with pytest.raises(checks.CheckFailed, match="manifest names version 9.9.9"):
        checks.check_archive(context)


@pytest.mark.serve
def test_archive_answers_in_real_server(context, examples):
    context.examples = examples

    checks.check_archive(context)

    assert context.report["archive"]["served_examples"] == len(examples)


def test_skip_list_needs_reason(tmp_path):
    skip = tmp_path / "skip.yaml"
    skip.write_text("skip:\n  - aspect: benchmark\n")

    with pytest.raises(SystemExit, match="needs an aspect .* and a reason"):
        checks.read_skip_list(skip)

    skip.write_text("skip:\n  - benchmark\n")
    with pytest.raises(SystemExit, match="needs an aspect"):
        checks.read_skip_list(skip)

    skip.write_text("skip:\n  - aspect: benchmark\n    reason: new benchmark split\n")
    assert checks.read_skip_list(skip) == {"benchmark": "new benchmark split"}


def test_rebuilt_archive_keeps_content_digest(context, tmp_path, traced_file, metadata):
    # Tracing again gives a new serialization id, other mangled names and debug
    # paths of another folder, as 'make archive' does.
    model = {{ cookiecutter.__model_class }}.load_from_checkpoint(context.checkpoint, map_location="cpu")
    example = torch.randn(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    retraced = tmp_path / "retraced" / "model.pt"
    save(trace(model, example), retraced)
    rebuilt = pack(retraced, metadata, tmp_path / "rebuilt", METADATA_PATH)
    assert rebuilt.read_bytes() != context.archive.read_bytes()
    published(context)
    context.archive = rebuilt

    checks.check_metadata(context)

    assert content_sha256(rebuilt) == context.document["published"]["content_sha256"]


def test_other_weights_change_content_digest(context, tmp_path, metadata):
    other = traced_model(5, tmp_path / "other.pt")

    assert content_sha256(pack(other, metadata, tmp_path / "other", METADATA_PATH)) != (
        content_sha256(context.archive)
    )


def test_invalid_metadata_fails_check(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checks, "REPORT_PATH", tmp_path / "report.json")
    monkeypatch.setattr(checks, "template_status", lambda: TemplateStatus("current", "current"))
    monkeypatch.setattr(
        checks, "load_document", lambda: (_ for _ in ()).throw(MetadataError("version: 'v2'"))
    )

    with pytest.raises(SystemExit, match="make check failed: metadata"):
        checks.main([])

    assert "metadata: FAILED: version: 'v2'" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["results"]["metadata"]["status"] == "failed"


def test_template_behind_warns_without_failing(context, tmp_path, monkeypatch, capsys):
    behind = TemplateStatus("behind", "2 template commits behind; update with 'make update'")
    monkeypatch.setattr(checks, "REPORT_PATH", tmp_path / "report.json")
    monkeypatch.setattr(checks, "build_context", lambda *args: context)
    monkeypatch.setattr(checks, "template_status", lambda: behind)

    checks.main(["--aspect", "metadata"])

    output = capsys.readouterr().out.splitlines()
    assert output[0] == "template: WARNING: 2 template commits behind; update with 'make update'"
    assert "metadata: passed" in output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["template"]["state"] == "behind"
    assert report["results"]["metadata"] == {"status": "passed"}
