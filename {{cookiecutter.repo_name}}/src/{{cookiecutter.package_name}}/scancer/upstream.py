"""The template this repository was made from: whether it is behind, and updating from it.

.cruft.json records the template's address, the template commit this
repository was last made or updated from, and the answers given when it was
made. `make check` prints a warning when the template has changed since that
commit, and `make update` applies those changes with cruft. An update that
meets local changes on the same lines stops with the files to resolve.

Run by ``make update``; ``make check`` prints the status.
"""

import argparse
import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .metadata import REPOSITORY_ROOT

CRUFT_FILE = ".cruft.json"
# Template paths that shape a generated repository: the project folder (its
# name contains "cookiecutter."), cookiecutter.json and the hooks.
TEMPLATE_PATHS = ("*cookiecutter.*", "hooks")
GIT_TIMEOUT = 120
UPDATE_COMMAND = "make update"


class UpdateError(RuntimeError):
    """An update that could not start, or that left conflicts to resolve."""


@dataclass(frozen=True)
class TemplateStatus:
    """How this repository stands against its template."""

    state: str  # "current", "behind" or "unknown"
    message: str
    template: str | None = None
    recorded: str | None = None
    latest: str | None = None
    behind_by: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def read_state(root: Path = REPOSITORY_ROOT) -> dict:
    path = root / CRUFT_FILE
    if not path.is_file():
        raise UpdateError(
            f"{path} is missing, so the template is unknown; link it with "
            "'.venv/bin/cruft link <template URL>' and commit .cruft.json"
        )
    return json.loads(path.read_text())


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, result.args, stderr=result.stderr)
    return result.stdout.strip()


def template_status(root: Path = REPOSITORY_ROOT) -> TemplateStatus:
    """Count the template commits since the recorded one that change generated files."""
    try:
        state = read_state(root)
    except UpdateError as error:
        return TemplateStatus("unknown", str(error))
    template, recorded = state["template"], state["commit"]
    branch = ["--branch", state["checkout"]] if state.get("checkout") else []
    with tempfile.TemporaryDirectory(prefix="template-") as clone:
        try:
            git("clone", "--quiet", "--filter=blob:none", "--no-checkout", *branch,
                template, clone)  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            reason = getattr(error, "stderr", None) or str(error)
            return TemplateStatus(
                "unknown",
                f"cannot reach the template at {template} ({reason.strip()}); "
                "template updates were not checked",
                template=template,
                recorded=recorded,
            )
        latest = git("rev-parse", "HEAD", cwd=Path(clone))
        try:
            count = git("rev-list", "--count", f"{recorded}..{latest}", "--", *TEMPLATE_PATHS,
                        cwd=Path(clone))  # fmt: skip
        except subprocess.CalledProcessError:
            return TemplateStatus(
                "unknown",
                f"commit {recorded} in {CRUFT_FILE} is not in the history of {template}; "
                "compare by hand with '.venv/bin/cruft diff'",
                template=template,
                recorded=recorded,
                latest=latest,
            )
    behind_by = int(count)
    if behind_by == 0:
        message = f"up to date with {template} at {latest[:12]}"
        return TemplateStatus("current", message, template, recorded, latest)
    plural = "s" if behind_by > 1 else ""
    message = (
        f"{behind_by} template commit{plural} behind {template} "
        f"({recorded[:12]} -> {latest[:12]}); update with '{UPDATE_COMMAND}'"
    )
    return TemplateStatus("behind", message, template, recorded, latest, behind_by)


def print_status(status: TemplateStatus) -> None:
    """One line for `make check`: a warning when behind or unknown, never a failure.

    On GitHub Actions the warning is also an annotation on the workflow run.
    """
    if status.state == "current":
        print(f"template: {status.message}")
        return
    print(f"template: WARNING: {status.message}")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::warning title=Template update::{status.message}")


def unresolved_files(root: Path) -> list[str]:
    """Files git lists as unmerged, and rejected hunks cruft left beside files."""
    unmerged = git("diff", "--name-only", "--diff-filter=U", cwd=root).splitlines()
    rejected = git("ls-files", "--others", "--exclude-standard", "--", "*.rej", cwd=root)
    return sorted(set(unmerged) | set(rejected.splitlines()))


def update(root: Path = REPOSITORY_ROOT) -> str:
    """Apply the template's changes since the recorded commit; return what to do next."""
    import cruft  # imported here: only updates need it
    from cruft.exceptions import CruftError

    state = read_state(root)
    try:
        git("rev-parse", "--is-inside-work-tree", cwd=root)
    except subprocess.CalledProcessError:
        raise UpdateError(
            f"{root} is not a git repository; cruft merges template changes through git: "
            "run 'git init && git add -A && git commit -m \"Start from the template\"' first"
        ) from None
    if git("status", "--porcelain", cwd=root):
        raise UpdateError("the work tree has changes; commit or stash them, then run it again")
    try:
        cruft.update(root, skip_apply_ask=True, checkout=state.get("checkout"))
    except CruftError as error:
        raise UpdateError(f"cruft could not update from {state['template']}: {error}") from None
    unresolved = unresolved_files(root)
    if unresolved:
        raise UpdateError(
            "the template's changes meet local changes in "
            + ", ".join(unresolved)
            + ". Resolve the <<<<<<< markers (or the hunks in *.rej files), "
            "then 'git add' the files and commit them with .cruft.json"
        )
    if not git("status", "--porcelain", cwd=root):
        return f"Nothing to update: the template has no changes since {state['commit'][:12]}"
    return (
        "Review the template's changes with 'git diff HEAD', run 'make venv test', "
        "then commit them with .cruft.json"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("status", "update"))
    args = parser.parse_args(argv)
    if args.command == "status":
        print_status(template_status())
        return
    try:
        print(update())
    except UpdateError as error:
        raise SystemExit(f"make update: {error}") from None


if __name__ == "__main__":
    main()
