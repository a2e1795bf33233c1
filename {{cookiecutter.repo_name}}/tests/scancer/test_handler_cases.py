"""Every accepted and unreadable request, in-process and through a real TorchServe."""

import concurrent.futures
import json
from pathlib import Path

import pytest
import requests

from {{ cookiecutter.package_name }}.scancer.handler import response_decision, response_scores
from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH, load_metadata
from {{ cookiecutter.package_name }}.scancer.serving import open_archive
from {{ cookiecutter.package_name }}.scancer.store import ModelStore
from {{ cookiecutter.package_name }}.scancer.store_auth import read_key_file

from conftest import pack_version, traced_model
from image_cases import build_cases

BATCH_SIZE = 4
BATCHED_VERSION = "0.0.1"
# CPU kernels may round differently at another batch size or batch position.
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def cases():
    metadata = load_metadata()
    limits = json.loads(METADATA_PATH.read_text())["serving"]
    return build_cases(metadata.input_size, limits["max_body_bytes"])


@pytest.fixture(scope="module")
def archive_for_cases(tmp_path_factory, store_server):
    """An archive of an untrained model in the test store's model folder."""
    folder = tmp_path_factory.mktemp("cases")
    model_file = traced_model(3, folder / "model.pt")
    store_dir = Path(store_server.serve_dir).parent / "model-store"
    return pack_version(model_file, BATCHED_VERSION, folder, store_dir)


@pytest.fixture(scope="module")
def batching_model(store_server, archive_for_cases):
    """Register the archive with batching on; yield its URL, inference auth and a PID reader."""
    name = load_metadata().model_name
    auth = read_key_file(store_server.key_file)
    with ModelStore(store_server.management_url, store_server.inference_url, auth) as store:
        store.register(archive_for_cases.name, name, workers=1, batch_size=BATCH_SIZE,
                       max_batch_delay=200)  # fmt: skip

        def worker_pids():
            return sorted(worker.pid for worker in store.describe(name, BATCHED_VERSION).workers)

        yield store.prediction_url(name, BATCHED_VERSION), auth.inference, worker_pids
        store.unregister(name, BATCHED_VERSION)


def check_response(case, status, document, metadata):
    """Check one response against its case; return the class scores of each prediction."""
    assert status == case.status, (case.name, document)
    if case.status != 200:
        assert document["code"] == case.status, case.name
        assert case.message in document["message"], (case.name, document["message"])
        return None
    predictions = document if isinstance(document, list) else [document]
    assert isinstance(document, list) == (case.images > 1), case.name
    assert len(predictions) == case.images, case.name
    for prediction in predictions:
        assert list(response_scores(prediction)) == list(metadata.class_names), case.name
        assert sum(response_scores(prediction).values()) == pytest.approx(1, abs=1e-5)
    return [list(response_scores(prediction).values()) for prediction in predictions]


def check_equal_pairs(cases, scores):
    for case in cases:
        if case.same_as is not None:
            expected = scores[case.same_as]
            actual = scores[case.name]
            assert actual == [pytest.approx(row, abs=TOLERANCE) for row in expected], case.name


def test_cases_in_process(archive_for_cases, cases, metadata):
    """All cases in one batch: readable ones get predictions, unreadable ones 4xx."""
    with open_archive(archive_for_cases, batch_size=len(cases)) as served:
        answers = served.predict([case.parts for case in cases])

    scores = {}
    for case, answer in zip(cases, answers, strict=True):
        scores[case.name] = check_response(case, answer.status, answer.body, metadata)
    check_equal_pairs(cases, scores)


def send(url, auth, case):
    """POST one case to url; return the HTTP status and the JSON response."""
    if len(case.parts) == 1 and case.parts[0][0] == "body":
        _, data, content_type = case.parts[0]
        response = requests.post(url, data=data, auth=auth, headers={"Content-Type": content_type},
                                 timeout=60)  # fmt: skip
    else:
        files = [(field, (field, data, content_type)) for field, data, content_type in case.parts]
        response = requests.post(url, files=files, auth=auth, timeout=60)
    assert response.headers["Content-Type"].startswith("application/json"), case.name
    return response.status_code, response.json()


@pytest.mark.serve
def test_cases_through_batching_server(batching_model, cases, metadata):
    url, auth, worker_pids = batching_model
    pids_before = worker_pids()
    with concurrent.futures.ThreadPoolExecutor(BATCH_SIZE * 2) as pool:
        results = list(pool.map(lambda case: send(url, auth, case), cases))

    scores = {}
    for case, (status, document) in zip(cases, results, strict=True):
        scores[case.name] = check_response(case, status, document, metadata)
    check_equal_pairs(cases, scores)
    assert worker_pids() == pids_before


@pytest.mark.serve
def test_concurrent_requests_match_single(batching_model, cases):
    url, auth, _ = batching_model
    chosen = [case for case in cases if case.name in ("png", "jpeg", "grey-png", "palette-png")]
    alone = [send(url, auth, case) for case in chosen]

    with concurrent.futures.ThreadPoolExecutor(len(chosen)) as pool:
        together = list(pool.map(lambda case: send(url, auth, case), chosen))

    for (status_alone, single), (status, batched) in zip(alone, together, strict=True):
        assert status_alone == status == 200
        assert response_decision(batched) == response_decision(single)
        assert response_scores(batched) == pytest.approx(response_scores(single), abs=TOLERANCE)
