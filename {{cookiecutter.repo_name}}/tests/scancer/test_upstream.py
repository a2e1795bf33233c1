import json
import subprocess

import pytest

from {{ cookiecutter.package_name }}.scancer.upstream import (
    CRUFT_FILE,
    TemplateStatus,
    UpdateError,
    print_status,
    template_status,
    update,
)

# A folder name that matches the template's project folder pattern.
PROJECT = "{cookiecutter.repo_name}"


@pytest.fixture(autouse=True)
def git_identity(monkeypatch):
    for variable in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{variable}_NAME", "Test")
        monkeypatch.setenv(f"{variable}_EMAIL", "test@example.org")


def git(folder, *args):
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_file(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(folder, "add", name)
    git(folder, "commit", "--quiet", "-m", f"Change {name}")
    return git(folder, "rev-parse", "HEAD")


@pytest.fixture
def template(tmp_path):
    folder = tmp_path / "template"
    folder.mkdir()
    git(folder, "init", "--quiet")
    commit_file(folder, "cookiecutter.json", "{}\n")
    return folder


def link(project, template, commit, skip=()):
    project.mkdir(exist_ok=True)
    state = {"template": str(template), "commit": commit, "checkout": None, "skip": list(skip)}
    (project / CRUFT_FILE).write_text(json.dumps(state))


def test_missing_cruft_file_names_the_fix(tmp_path):
    status = template_status(tmp_path)

    assert status.state == "unknown"
    assert "cruft link" in status.message


def test_unreachable_template_is_a_warning(tmp_path):
    link(tmp_path / "project", tmp_path / "no-such-template", "0" * 40)

    status = template_status(tmp_path / "project")

    assert status.state == "unknown"
    assert status.message.startswith(
        f"cannot reach the template at {tmp_path / 'no-such-template'}"
    )


def test_counts_only_commits_that_change_generated_files(tmp_path, template):
    recorded = git(template, "rev-parse", "HEAD")
    link(tmp_path / "project", template, recorded)
    assert template_status(tmp_path / "project").state == "current"

    commit_file(template, "hooks/post_gen_project.py", "print()\n")
    commit_file(template, f"{PROJECT}/Makefile", "all:\n")
    commit_file(template, "tests/test_cookiecutter.py", "")
    latest = commit_file(template, "README.md", "Template\n")
    status = template_status(tmp_path / "project")

    assert (status.state, status.behind_by, status.latest) == ("behind", 2, latest)
    assert status.message == (
        f"2 template commits behind {template} ({recorded[:12]} -> {latest[:12]}); "
        "update with 'make update'"
    )


def test_skipped_paths_are_not_counted(tmp_path, template):
    link(tmp_path / "project", template, git(template, "rev-parse", "HEAD"), skip=["docs/"])

    commit_file(template, f"{PROJECT}/docs/notes.md", "Notes\n")

    assert template_status(tmp_path / "project").state == "current"


def test_warning_is_an_annotation_on_github_actions(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    print_status(TemplateStatus("behind", "2 template commits behind"))

    assert capsys.readouterr().out.splitlines() == [
        "template: WARNING: 2 template commits behind",
        "::warning title=Template update::2 template commits behind",
    ]


def test_commit_outside_the_template_history(tmp_path, template):
    link(tmp_path / "project", template, "1" * 40)

    status = template_status(tmp_path / "project")

    assert status.state == "unknown"
    assert f"commit {'1' * 40} in {CRUFT_FILE} is not in the history" in status.message


def test_update_needs_a_git_repository(tmp_path, template):
    link(tmp_path / "project", template, git(template, "rev-parse", "HEAD"))

    with pytest.raises(UpdateError, match="is not a git repository; .* run 'git init"):
        update(tmp_path / "project")


def test_update_refuses_local_changes(tmp_path, template):
    project = tmp_path / "project"
    link(project, template, git(template, "rev-parse", "HEAD"))
    git(project, "init", "--quiet")
    git(project, "add", CRUFT_FILE)
    git(project, "commit", "--quiet", "-m", "Start")
    (project / "model.py").write_text("")

    with pytest.raises(UpdateError, match=r"the work tree has changes \(model.py\); commit or"):
        update(project)
