"""A baked project takes later template changes with cruft and keeps its own work.

Each test copies the template into a git repository of its own, bakes a project
from that commit, changes both as a contributor and a template maintainer
would, and runs the project's `make update`.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE
from cookiecutter.main import cookiecutter

PROJECT_FOLDER = next(TEMPLATE.glob("*cookiecutter.repo_name*")).name
NOT_TEMPLATE = (".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ruff_cache")


@pytest.fixture(autouse=True)
def git_identity(monkeypatch):
    for variable in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{variable}_NAME", "Test")
        monkeypatch.setenv(f"{variable}_EMAIL", "test@example.org")


def git(folder, *args):
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_all(folder, message):
    git(folder, "add", "-A")
    git(folder, "commit", "--quiet", "-m", message)
    return git(folder, "rev-parse", "HEAD")


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def make(project, *args):
    return subprocess.run(
        ["make", "--no-print-directory", *args, f"PYTHON={sys.executable}"],
        cwd=project,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def template_repo(tmp_path):
    """The template's files as the first commit of a git repository."""
    folder = tmp_path / "template"
    shutil.copytree(TEMPLATE, folder, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))
    git(folder, "init", "--quiet")
    commit_all(folder, "Start the template")
    return folder


@pytest.fixture
def project(template_repo, tmp_path):
    """A project baked from the template's first commit, committed as a contributor would."""
    folder = Path(
        cookiecutter(str(template_repo), no_input=True, output_dir=str(tmp_path / "baked"))
    )
    git(folder, "init", "--quiet")
    commit_all(folder, "Start from the template")
    return folder


def template_file(template_repo, path):
    return template_repo / PROJECT_FOLDER / path


def change_as_contributor(project):
    edit(project / "src/pcam_classification/model.py", '"""', '"""Tuned for our scanner. ')
    metadata = json.loads((project / "metadata.json").read_text())
    metadata["intended_use"] = "Tumour screening of lymph node patches from our scanner."
    (project / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    edit(project / "README.md", "\n", "\nTrained on our lab's slides.\n")
    commit_all(project, "Describe our model")


def change_template(template_repo):
    edit(
        template_file(template_repo, "Makefile"),
        "lint: ##",
        "hello: ## Say hello\n\t@echo hello from the template\n\nlint: ##",
    )
    edit(template_file(template_repo, "requirements.txt"), "pyyaml==6.0.4", "pyyaml==6.0.5")
    handler = template_file(
        template_repo, "src/{{cookiecutter.package_name}}/scancer/handler.classification.py"
    )
    handler.write_text(handler.read_text() + "\nHANDLER_REVISION = 2\n")
    return commit_all(template_repo, "Add a target, raise a pin, change the handler")


def test_bake_records_template_commit(template_repo, project):
    state = json.loads((project / ".cruft.json").read_text())

    assert state["template"] == str(template_repo)
    assert state["commit"] == git(template_repo, "rev-parse", "HEAD")
    assert state["context"]["cookiecutter"]["package_name"] == "pcam_classification"
    assert "_output_dir" not in state["context"]["cookiecutter"]
    cruft = subprocess.run([sys.executable, "-m", "cruft", "check"], cwd=project)
    assert cruft.returncode == 0


def test_update_keeps_contributor_changes(template_repo, project):
    change_as_contributor(project)
    latest = change_template(template_repo)

    assert "template: WARNING: 1 template commit behind" in make(project, "check").stdout
    assert subprocess.run([sys.executable, "-m", "cruft", "check"], cwd=project).returncode == 1
    preview = subprocess.run(
        [sys.executable, "-m", "cruft", "diff", "--checkout", latest],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert "+hello: ## Say hello" in preview.stdout
    assert "-Trained on our lab's slides." in preview.stdout
    updated = make(project, "update")

    assert updated.returncode == 0, updated.stderr
    assert make(project, "hello").stdout == "hello from the template\n"
    assert "pyyaml==6.0.5" in (project / "requirements.txt").read_text()
    handler = project / "src/pcam_classification/scancer/handler.py"
    assert handler.read_text().endswith("\nHANDLER_REVISION = 2\n")
    model = (project / "src/pcam_classification/model.py").read_text()
    assert model.startswith('"""Tuned for our scanner. ')
    metadata = json.loads((project / "metadata.json").read_text())
    assert metadata["intended_use"].startswith("Tumour screening")
    assert "\nTrained on our lab's slides.\n" in (project / "README.md").read_text()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == latest
    assert git(project, "diff", "--numstat", "HEAD", "--", ".cruft.json") == "2\t2\t.cruft.json"
    commit_all(project, "Take the template's changes")
    assert "template: up to date with" in make(project, "check").stdout


def test_update_reports_conflict(template_repo, project):
    edit(project / "Makefile", "WORKERS ?= 1", "WORKERS ?= 2")
    commit_all(project, "Serve with two workers")
    edit(template_file(template_repo, "Makefile"), "WORKERS ?= 1", "WORKERS ?= 3")
    change_template(template_repo)

    updated = make(project, "update")

    assert updated.returncode != 0
    assert (
        "make update: the template's changes meet local changes: resolve the conflicts in "
        "Makefile (between <<<<<<< and ======= is yours"
    ) in updated.stderr
    makefile = (project / "Makefile").read_text()
    assert "<<<<<<<" in makefile
    assert "WORKERS ?= 2" in makefile
    assert "WORKERS ?= 3" in makefile
    assert "pyyaml==6.0.5" in (project / "requirements.txt").read_text()


def test_update_with_nothing_new(project):
    updated = make(project, "update")

    assert updated.returncode == 0, updated.stderr
    assert "Nothing to update" in updated.stdout
    assert git(project, "status", "--porcelain") == ""


def test_template_commit_outside_generated_files(template_repo, project):
    (template_repo / "tests" / "test_cookiecutter_answers.py").write_text("")
    latest = commit_all(template_repo, "Test the template only")

    assert "template: up to date with" in make(project, "check").stdout
    updated = make(project, "update")

    assert f"\nNo generated file changed; .cruft.json now records {latest[:12]}." in (
        updated.stdout
    )
    assert git(project, "diff", "--name-only", "HEAD") == ".cruft.json"


def test_bake_from_plain_folder_warns(tmp_path, capfd):
    folder = tmp_path / "copy"
    shutil.copytree(TEMPLATE, folder, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))

    project = cookiecutter(str(folder), no_input=True, output_dir=str(tmp_path / "baked"))

    assert not (tmp_path / "baked" / "ml-pcam-classification" / ".cruft.json").exists()
    assert f"Warning: {folder} is not a git checkout" in capfd.readouterr().out
    assert project
