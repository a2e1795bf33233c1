"""Bake projects and run their own tests and Makefile targets with this environment."""

import base64
import io
import json
import subprocess
import sys

import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def make(project, *arguments):
    """Run a make target of a baked project with this Python; return its stdout."""
    command = ["make", *arguments, f"PYTHON={sys.executable}"]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def test_default_project_tests_pass(bake):
    make(bake(), "test")


def test_greyscale_three_class_project_tests_pass(bake):
    project = bake(
        dataset="breast-masses",
        class_names="normal,benign,malignant",
        input_size="64",
        input_channels="1",
        normalisation_mean="0.5",
        normalisation_std="0.25",
        licence="MIT",
    )
    make(project, "test")


def test_main_job_on_real_sample(bake):
    """sample-data, train, archive, predict and serve run end to end on the real H&E sample."""
    project = bake()
    make(project, "sample-data")
    provenance = json.loads((project / "data" / "sample" / "provenance.json").read_text())
    assert set(provenance["patches"]) == {"train", "valid", "test"}
    assert all(count > 0 for count in provenance["patches"].values())
    assert "data/sample" in make(project, "data", "DATA_DIR=data/sample")

    trained = make(project, "train", "ARGS=--trainer.max_epochs=10")
    assert "Best checkpoint:" in trained
    record = json.loads((project / "build" / "best-checkpoint.json").read_text())
    # The two sample regions differ in tissue and staining, so ten seeded
    # epochs separate them; a drop here means a broken data or training path.
    assert record["test_metrics"]["test_auc"] >= 0.95
    assert record["test_metrics"]["test_acc"] >= 0.9

    archived = make(project, "archive")
    archive = project / "build" / "model-store" / "pcam-classification-1.0.0.mar"
    assert archive.is_file()
    assert f"Archive: {archive}" in archived
    assert "SHA-256" in archived

    predicted, examples = predict_examples(project)
    for answer in predicted:
        assert answer["status"] == 200
        assert set(answer["response"]["probabilities"]) == {"normal", "tumour"}
        # Example files are named <class>-<n>.png after the patch's label.
        expected_label = answer["image"].split("/")[-1].split("-")[0]
        assert answer["response"]["label"] == expected_label, answer

    report = check_and_report(project)
    assert report["figures"]["benchmark"]["metrics"]["auc"] >= 0.95

    readme = write_card_twice(project)
    assert "| auc | 1.0000 | none |" in readme
    serve_and_stop(project, "pcam-classification", examples)


def predict_examples(project):
    """Run make predict on examples/*.png; return the printed responses and the example paths."""
    output = make(project, "predict").splitlines()
    predicted = [json.loads(line) for line in output if line.startswith("{")]
    examples = sorted((project / "examples").glob("*.png"))
    assert len(predicted) == len(examples) >= 2
    return predicted, examples


def check_and_report(project):
    """Record the sample's digests, run make check; return its report."""
    assert "Recorded the digests of" in make(project, "record-data")
    checked = make(project, "check")
    for aspect in ("metadata", "data", "parity", "benchmark", "archive"):
        assert f"{aspect}: passed" in checked
    report = json.loads((project / "build" / "check" / "report.json").read_text())
    assert report["template"]["state"] == "current", report["template"]
    return report


def write_card_twice(project):
    """Run make card twice, check that the files are byte-identical; return the README."""
    make(project, "card")
    card_files = [project / "README.md", *sorted((project / "docs" / "card").glob("*.png"))]
    first = [path.read_bytes() for path in card_files]
    make(project, "card")
    assert [path.read_bytes() for path in card_files] == first
    return card_files[0].read_text()


def serve_and_stop(project, model_name, examples):
    """Publish to a local TorchServe with make serve, describe it, then stop it."""
    try:
        served = make(project, "serve")
        described = make(project, "describe")
    finally:
        stopped = make(project, "stop")
    assert "[4/4] Making 1.0.0 the default version" in served
    for example in examples:
        assert example.name in served
    last_line = [line for line in served.splitlines() if not line.startswith("make")][-1]
    assert last_line.startswith(f"Default version of {model_name}: 1.0.0, at http://")
    assert "1.0.0 (default): 1 worker(s): READY" in described
    assert "Stopped the local store" in stopped


def test_segmentation_project_tests_pass(bake):
    make(bake(task="segmentation"), "test")


def test_segmentation_main_job_on_real_sample(bake):
    """The same job for task=segmentation: tiles and tissue masks, a U-Net, masks served."""
    project = bake(task="segmentation")
    make(project, "sample-data")
    provenance = json.loads((project / "data" / "sample" / "provenance.json").read_text())
    assert set(provenance["tiles"]) == {"train", "valid", "test"}
    assert all(count > 0 for count in provenance["tiles"].values())
    assert "data/sample: image and mask pairs" in make(project, "data", "DATA_DIR=data/sample")

    make(project, "train", "ARGS=--trainer.max_epochs=10")
    record = json.loads((project / "build" / "best-checkpoint.json").read_text())
    # Tissue against background by a saturation threshold is easy to learn;
    # a drop here means a broken data or training path.
    assert record["test_metrics"]["test_dice"] >= 0.85
    make(project, "archive")
    assert (project / "build" / "model-store" / "pcam-segmentation-1.0.0.mar").is_file()

    predicted, examples = predict_examples(project)
    for answer in predicted:
        assert answer["status"] == 200
        fractions = answer["response"]["class_fractions"]
        assert set(fractions) == {"background", "tissue"}
        with Image.open(io.BytesIO(base64.b64decode(answer["response"]["mask"]))) as mask:
            assert (mask.mode, mask.size) == ("L", (128, 128))

    report = check_and_report(project)
    assert report["figures"]["benchmark"]["metrics"]["dice"] >= 0.85
    readme = write_card_twice(project)
    assert "| dice |" in readme
    assert "![tile-1 mask](docs/card/tile-1-mask.png)" in readme
    assert "| auc |" not in readme
    serve_and_stop(project, "pcam-segmentation", examples)
