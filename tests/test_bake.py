import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE

TEMPLATE_PROJECT = TEMPLATE / "{{cookiecutter.repo_name}}"

EXPECTED_FILES = {
    ".cruft.json",
    ".github/workflows/ci.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "LICENSE",
    "Makefile",
    "README.md",
    "checks/skip.yaml",
    "configs/data.yaml",
    "configs/model.yaml",
    "configs/trainer.yaml",
    "constraints.txt",
    "metadata.json",
    "metadata.schema.json",
    "pyproject.toml",
    "requirements.txt",
    "src/pcam_classification/__init__.py",
    "src/pcam_classification/model.py",
    "src/pcam_classification/networks.py",
    "src/pcam_classification/scancer/__init__.py",
    "src/pcam_classification/scancer/archive.py",
    "src/pcam_classification/scancer/benchmark.py",
    "src/pcam_classification/scancer/card.py",
    "src/pcam_classification/scancer/card_figures.py",
    "src/pcam_classification/scancer/checks.py",
    "src/pcam_classification/scancer/cli.py",
    "src/pcam_classification/scancer/data.py",
    "src/pcam_classification/scancer/digests.py",
    "src/pcam_classification/scancer/evaluation.py",
    "src/pcam_classification/scancer/export.py",
    "src/pcam_classification/scancer/figures.py",
    "src/pcam_classification/scancer/handler.py",
    "src/pcam_classification/scancer/image_handler.py",
    "src/pcam_classification/scancer/local_store.py",
    "src/pcam_classification/scancer/metadata.py",
    "src/pcam_classification/scancer/paths.py",
    "src/pcam_classification/scancer/pcam.py",
    "src/pcam_classification/scancer/predict.py",
    "src/pcam_classification/scancer/publish.py",
    "src/pcam_classification/scancer/sample_data.py",
    "src/pcam_classification/scancer/sample_sources.py",
    "src/pcam_classification/scancer/sample_tissue.py",
    "src/pcam_classification/scancer/server_load.py",
    "src/pcam_classification/scancer/serving.py",
    "src/pcam_classification/scancer/splits.py",
    "src/pcam_classification/scancer/store.py",
    "src/pcam_classification/scancer/store_auth.py",
    "src/pcam_classification/scancer/train.py",
    "src/pcam_classification/scancer/upstream.py",
    "tests/conftest.py",
    "tests/scancer/image_cases.py",
    "tests/scancer/test_answers.py",
    "tests/scancer/test_archive.py",
    "tests/scancer/test_benchmark.py",
    "tests/scancer/test_card.py",
    "tests/scancer/test_checks.py",
    "tests/scancer/test_cli.py",
    "tests/scancer/test_data.py",
    "tests/scancer/test_export.py",
    "tests/scancer/test_handler.py",
    "tests/scancer/test_handler_cases.py",
    "tests/scancer/test_local_store.py",
    "tests/scancer/test_metadata.py",
    "tests/scancer/test_publish.py",
    "tests/scancer/test_store.py",
    "tests/scancer/test_store_auth.py",
    "tests/scancer/test_train.py",
    "tests/scancer/test_upstream.py",
    "tests/task_fixtures.py",
    "tests/test_model.py",
}
# A segmentation project has the same files, less the PCam download.
SEGMENTATION_FILES = {
    name.replace("pcam_classification", "pcam_segmentation")
    for name in EXPECTED_FILES - {"src/pcam_classification/scancer/pcam.py"}
}


def project_files(project):
    return {str(path.relative_to(project)) for path in project.rglob("*") if path.is_file()}


def test_bake_with_defaults_file_set(bake):
    project = bake()
    assert project.name == "ml-pcam-classification"
    assert project_files(project) == EXPECTED_FILES


def ownership_table(readme: str) -> dict[str, str]:
    """Path -> owner, from the README's table of files and who they belong to."""
    section = readme.split("## Your files and the template's")[1].split("\n## ")[0]
    owners = {}
    for row in section.splitlines():
        if row.startswith("| `"):
            paths, owner = row.strip("|").split("|")[:2]
            owners.update(dict.fromkeys(re.findall(r"`([^`]+)`", paths), owner.strip()))
    return owners


def test_segmentation_bake_has_no_classification_leftovers(bake):
    project = bake(task="segmentation")

    assert project.name == "ml-pcam-segmentation"
    assert project_files(project) == SEGMENTATION_FILES
    for name in sorted(SEGMENTATION_FILES):
        if name.endswith((".py", ".yaml", ".yml", ".toml", "Makefile")):
            text = (project / name).read_text()
            for leftover in ("PatchClassifier", "PCam", "camelyonpatch", "h5py", "auroc"):
                assert leftover not in text, (name, leftover)


def test_readme_names_the_owner_of_every_file(bake):
    project = bake()
    owners = ownership_table((project / "README.md").read_text())

    assert set(owners.values()) == {"you", "template"}
    for name in project_files(project):
        matches = [
            path for path in owners if name == path or name.startswith(f"{path.rstrip('/')}/")
        ]
        assert len(matches) == 1, f"{name} matches {matches} in the README's table"
    scancer = "src/pcam_classification/scancer/"
    for name in ("handler.py", "export.py", "archive.py", "publish.py"):
        assert (project / scancer / name).is_file()
    assert owners[scancer] == "template"
    assert owners[".github/"] == owners["Makefile"] == "template"
    assert owners["src/pcam_classification/model.py"] == owners["metadata.json"] == "you"


def test_bake_leaves_no_template_syntax(bake):
    project = bake(dataset="camelyon16", class_names="normal,tumour,necrosis")
    for path in project.rglob("*"):
        assert "cookiecutter" not in str(path.relative_to(project))
        if path.is_file():
            assert "{{ cookiecutter" not in path.read_text(), path
            assert "{{cookiecutter" not in path.read_text(), path


def test_copied_files_byte_identical(bake):
    """Files cookiecutter must not render (GitHub Actions ${{ }}, images) are copied as they are."""
    patterns = json.loads((TEMPLATE / "cookiecutter.json").read_text())["_copy_without_render"]
    copied = [
        path
        for path in TEMPLATE_PROJECT.rglob("*")
        if path.is_file()
        and any(fnmatch.fnmatch(str(path.relative_to(TEMPLATE_PROJECT)), p) for p in patterns)
    ]
    assert copied, "no template file matches _copy_without_render"
    project = bake()
    for path in copied:
        relative = path.relative_to(TEMPLATE_PROJECT)
        assert (project / relative).read_bytes() == path.read_bytes(), relative


def test_workflow_is_valid_yaml_with_expressions(bake):
    workflow_path = bake() / ".github" / "workflows" / "ci.yml"
    workflow = yaml.safe_load(workflow_path.read_text())
    assert "${{ github.ref }}" in workflow["concurrency"]["group"]
    steps = workflow["jobs"]["test"]["steps"]
    commands = [step.get("run", "") for step in steps]
    assert "make lint PYTHON=python" in commands
    assert "make test PYTHON=python" in commands
    assert "make check PYTHON=python" in commands
    uploads = [step for step in steps if step.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads[0]["with"]["path"] == "build/check/report.json"


def test_workflow_steps_are_make_targets(bake):
    """The workflow runs only targets of the baked Makefile, which the slow tests run locally."""
    project = bake()
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    targets = [
        step["run"].split()[1]
        for step in workflow["jobs"]["test"]["steps"]
        if step.get("run", "").startswith("make ")
    ]
    result = subprocess.run(["make", "-n", *targets, "PYTHON=python"], cwd=project,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert targets == ["lint", "test", "sample-data", "train", "archive", "check"]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, {"class_names": ["normal", "tumour"], "input": {"size": 96, "channels": 3}}),
        (
            {"class_names": "normal, tumour, necrosis", "input_size": "64", "input_channels": "1",
             "normalisation_mean": "0.6", "normalisation_std": "0.2"},
            {"class_names": ["normal", "tumour", "necrosis"],
             "input": {"size": 64, "channels": 1, "mean": [0.6], "std": [0.2]}},
        ),
    ],
)  # fmt: skip
def test_metadata_records_answers(bake, answers, expected):
    metadata = json.loads((bake(**answers) / "metadata.json").read_text())
    assert metadata["class_names"] == expected["class_names"]
    for key, value in expected["input"].items():
        assert metadata["input"][key] == value


@pytest.mark.parametrize("licence", ["Apache-2.0", "MIT", "BSD-3-Clause", "Proprietary"])
def test_licence_text_matches_answer(bake, licence):
    text = (bake(licence=licence) / "LICENSE").read_text()
    first_line = {
        "Apache-2.0": "Apache License",
        "MIT": "MIT License",
        "BSD-3-Clause": "BSD 3-Clause License",
        "Proprietary": "Copyright",
    }[licence]
    assert first_line in text.splitlines()[0]
    assert "Scancer contributors" in text


def test_make_help_lists_every_target(bake):
    project = bake()
    makefile = (project / "Makefile").read_text()
    targets = re.findall(r"^([a-z-]+):.*## ", makefile, flags=re.MULTILINE)
    listed = subprocess.run(["make", "help"], cwd=project, capture_output=True, text=True)
    assert listed.returncode == 0
    for target in targets:
        assert f"  {target} " in listed.stdout
    assert {"train", "export", "archive", "predict", "sample-data", "data", "test"} <= set(targets)


def test_baked_project_passes_lint(bake):
    project = bake(dataset="camelyon16")
    command = ["make", "lint", f"PYTHON={sys.executable}"]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def pre_commit(project, *arguments):
    environment = os.environ | {"PRE_COMMIT_HOME": str(project.parent / "pre-commit-home")}
    command = [sys.executable, "-m", "pre_commit", *arguments]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, env=environment)


def test_pre_commit_hooks_run_offline(bake):
    project = bake()
    # The hooks call tools from .venv, as after 'make venv'.
    (project / ".venv").symlink_to(Path(sys.prefix))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)

    clean = pre_commit(project, "run", "--all-files")

    assert clean.returncode == 0, clean.stdout + clean.stderr


@pytest.mark.parametrize(
    ("name", "content", "hook"),
    [
        ("model.mar", b"PK", "no archives, checkpoints or data files"),
        ("big.bin", b"\0" * 600_000, "no files over 500 kB"),
        (
            "analysis.ipynb",
            b'{"cells": [{"outputs": [{"text": "0.97"}]}]}\n',
            "no notebook outputs",
        ),
    ],
)
def test_pre_commit_rejects_accidents(bake, name, content, hook):
    project = bake()
    (project / ".venv").symlink_to(Path(sys.prefix))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / name).write_bytes(content)
    subprocess.run(["git", "add", "-f", name], cwd=project, check=True)

    result = pre_commit(project, "run", "--files", name)

    assert result.returncode != 0
    assert re.search(rf"{re.escape(hook)}\.+Failed", result.stdout), result.stdout
