import functools
import http.server
import threading

import pytest
import torch

from {{ cookiecutter.package_name }}.scancer.cli import describe_model, unpublish
from {{ cookiecutter.package_name }}.scancer.handler import (
    PROBABILITY_RESOLUTION,
    probabilities_request,
    response_probabilities,
)
from {{ cookiecutter.package_name }}.scancer.publish import (
    PublishError,
    PublishRequest,
    publish,
    read_archive,
)
from {{ cookiecutter.package_name }}.scancer.serving import open_archive
from {{ cookiecutter.package_name }}.scancer.store import StoreError

pytestmark = pytest.mark.serve


def versions_of(store, name):
    return {each.version for each in store.versions(name)}


def keep_versions(store, archives, name, expected, default):
    """Register and unregister versions until the store contains exactly the expected ones."""
    for version in sorted(set(expected) - versions_of(store, name)):
        store.register(archives[version].name, name, workers=1)
    if default is not None:
        store.set_default(name, default)
    current = store.default_version(name)
    extra = versions_of(store, name) - set(expected)
    for version in sorted(extra, key=lambda each: current is not None and each == current.version):
        store.unregister(name, version)


def request_for(archive, examples, metadata, **options):
    options.setdefault("store_dir", archive.parent)
    return PublishRequest(read_archive(archive, metadata), examples, **options)


def in_process_probabilities(archive, examples, metadata):
    with open_archive(archive, batch_size=len(examples)) as served:
        answers = served.predict([probabilities_request(path.read_bytes()) for path in examples])
    return [response_probabilities(answer.body, list(metadata.class_names)) for answer in answers]


def served_probabilities(store, name, examples, metadata):
    probabilities = []
    for path in examples:
        ((_, body, content_type),) = probabilities_request(path.read_bytes())
        answer = store.predict(name, body, content_type=content_type)
        probabilities.append(response_probabilities(answer, list(metadata.class_names)))
    return probabilities


def same_probabilities(first, second):
    return torch.allclose(first, second, atol=1e-5 + PROBABILITY_RESOLUTION, rtol=0)


@pytest.fixture
def two_versions(store, store_archives, metadata):
    """Set up the store with versions 1.0.0 and 2.0.0, where 2.0.0 is the default."""
    keep_versions(store, store_archives, metadata.model_name, {"1.0.0", "2.0.0"}, "2.0.0")


@pytest.fixture
def hosted(tmp_path):
    """Serve tmp_path over HTTP on 127.0.0.1; return its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_publish_switches_default_version(store, store_archives, examples, metadata):
    name = metadata.model_name
    keep_versions(store, store_archives, name, set(), None)
    lines = []

    first = publish(store, request_for(store_archives["1.0.0"], examples, metadata), metadata)
    second = publish(
        store, request_for(store_archives["2.0.0"], examples, metadata), metadata, lines.append
    )

    assert first.version == "1.0.0"
    assert second.version == "2.0.0"
    assert store.default_version(name).version == "2.0.0"
    assert versions_of(store, name) == {"1.0.0", "2.0.0"}
    assert lines[-1] == f"Default version of {name}: 2.0.0, at {store.prediction_url(name)}"
    new = in_process_probabilities(store_archives["2.0.0"], examples, metadata)
    old = in_process_probabilities(store_archives["1.0.0"], examples, metadata)
    served = served_probabilities(store, name, examples, metadata)
    for served_answer, new_answer, old_answer in zip(served, new, old, strict=True):
        assert same_probabilities(served_answer, new_answer)
        assert not same_probabilities(served_answer, old_answer)


def test_publish_prints_each_step(store, store_archives, examples, metadata):
    keep_versions(store, store_archives, metadata.model_name, {"1.0.0"}, "1.0.0")
    lines = []

    publish(store, request_for(store_archives["2.0.0"], examples, metadata), metadata, lines.append)

    steps = [line.split()[0] for line in lines if line.startswith("[")]
    assert steps == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert any(examples[0].name in line for line in lines)


@pytest.mark.parametrize(
    ("version", "reason"),
    [("3.0.0", "Failed to start workers"), ("4.0.0", "depends on its batch")],
    ids=["model-does-not-load", "answers-depend-on-batch"],
)
def test_failed_publish_leaves_store_unchanged(
    store, store_archives, examples, metadata, two_versions, version, reason
):
    name = metadata.model_name

    with pytest.raises(PublishError, match=reason) as raised:
        publish(store, request_for(store_archives[version], examples, metadata), metadata)

    assert "The store is unchanged" in str(raised.value)
    assert versions_of(store, name) == {"1.0.0", "2.0.0"}
    assert store.default_version(name).version == "2.0.0"
    expected = in_process_probabilities(store_archives["2.0.0"], examples, metadata)
    served = served_probabilities(store, name, examples, metadata)
    for served_answer, expected_answer in zip(served, expected, strict=True):
        assert same_probabilities(served_answer, expected_answer)


def test_duplicate_version_rejected(store, store_archives, examples, metadata, two_versions):
    with pytest.raises(PublishError, match="already registered .* REPLACE=1"):
        publish(store, request_for(store_archives["1.0.0"], examples, metadata), metadata)
    with pytest.raises(PublishError, match=r"already registered .*'make archive'\)$"):
        publish(store, request_for(store_archives["2.0.0"], examples, metadata), metadata)

    assert versions_of(store, metadata.model_name) == {"1.0.0", "2.0.0"}


def test_replacing_default_rejected(store, store_archives, examples, metadata, two_versions):
    request = request_for(store_archives["2.0.0"], examples, metadata, replace=True)

    with pytest.raises(PublishError, match="is the default version"):
        publish(store, request, metadata)

    assert store.default_version(metadata.model_name).version == "2.0.0"


def test_replacing_other_version(store, store_archives, examples, metadata, two_versions):
    request = request_for(store_archives["1.0.0"], examples, metadata, replace=True)

    published = publish(store, request, metadata)

    assert published.version == "1.0.0"
    assert versions_of(store, metadata.model_name) == {"1.0.0", "2.0.0"}


def test_remove_previous_version(store, store_archives, examples, metadata):
    keep_versions(store, store_archives, metadata.model_name, {"1.0.0"}, "1.0.0")
    request = request_for(store_archives["2.0.0"], examples, metadata, remove_previous=True)

    publish(store, request, metadata)

    assert versions_of(store, metadata.model_name) == {"2.0.0"}


def test_hosted_archive_with_other_bytes_rejected(
    store, store_archives, examples, metadata, two_versions, hosted, tmp_path
):
    local = store_archives["5.0.0"]
    (tmp_path / local.name).write_bytes(store_archives["1.0.0"].read_bytes())
    request = request_for(local, examples, metadata, mar_url=f"{hosted}/{local.name}")

    with pytest.raises(PublishError, match="differs from"):
        publish(store, request, metadata)

    assert versions_of(store, metadata.model_name) == {"1.0.0", "2.0.0"}


def test_hosted_archive_published(
    store, store_archives, examples, metadata, two_versions, hosted, tmp_path
):
    local = store_archives["5.0.0"]
    (tmp_path / local.name).write_bytes(local.read_bytes())
    url = f"{hosted}/{local.name}"

    publish(store, request_for(local, examples, metadata, mar_url=url), metadata)

    assert store.default_version(metadata.model_name).url == url


def test_hosted_archive_missing(store, store_archives, examples, metadata, hosted):
    local = store_archives["5.0.0"]
    request = request_for(local, examples, metadata, mar_url=f"{hosted}/{local.name}")

    with pytest.raises(PublishError, match="returned HTTP 404"):
        publish(store, request, metadata)


def test_archive_of_other_model_rejected(tmp_path, store_archives, metadata):
    other = tmp_path / "other.mar"
    other.write_bytes(b"not a zip file")

    with pytest.raises(PublishError, match="not a model archive"):
        read_archive(other, metadata)
    with pytest.raises(PublishError, match="not found"):
        read_archive(tmp_path / "missing.mar", metadata)


def test_unpublish_default_version_rejected(store, metadata, two_versions):
    with pytest.raises(StoreError, match="make default VERSION=1.0.0"):
        unpublish(store, metadata.model_name, "2.0.0")
    with pytest.raises(StoreError, match=r"no version 9\.9\.9 \(registered: "):
        unpublish(store, metadata.model_name, "9.9.9")

    assert versions_of(store, metadata.model_name) == {"1.0.0", "2.0.0"}


def test_unpublish_other_version(store, metadata, two_versions):
    unpublish(store, metadata.model_name, "1.0.0")

    assert versions_of(store, metadata.model_name) == {"2.0.0"}


def test_scale_workers(store, metadata, two_versions):
    store.scale(metadata.model_name, "2.0.0", 2)
    scaled = store.describe(metadata.model_name, "2.0.0")
    store.scale(metadata.model_name, "2.0.0", 1)

    assert scaled.ready_workers == 2
    assert store.describe(metadata.model_name, "2.0.0").ready_workers == 1


def test_unknown_model(store):
    with pytest.raises(StoreError, match="no model named no-such-model"):
        describe_model(store, "no-such-model")
    with pytest.raises(StoreError, match="HTTP 404 ModelNotFoundException") as raised:
        store.set_default("no-such-model", "1.0.0")

    assert raised.value.status == 404
    assert store.versions("no-such-model") == []
    assert store.default_version("no-such-model") is None


def test_archive_copied_into_store_dir(store, store_archives, examples, metadata, two_versions):
    local = store_archives["5.0.0"]
    store_dir = store_archives["1.0.0"].parent

    publish(store, request_for(local, examples, metadata, store_dir=store_dir), metadata)
    copied = (store_dir / local.name).read_bytes()
    default = store.default_version(metadata.model_name).version
    # The hosted-archive tests need 5.0.0 absent from the store's folder.
    keep_versions(store, store_archives, metadata.model_name, {"1.0.0", "2.0.0"}, "2.0.0")
    (store_dir / local.name).unlink()

    assert copied == local.read_bytes()
    assert default == "5.0.0"


def test_other_file_in_store_dir_rejected(tmp_path, store_archives, examples, metadata, store):
    local = store_archives["5.0.0"]
    (tmp_path / local.name).write_bytes(b"an older upload")
    request = request_for(local, examples, metadata, store_dir=tmp_path)

    with pytest.raises(PublishError, match="already exists with other content"):
        publish(store, request, metadata)
