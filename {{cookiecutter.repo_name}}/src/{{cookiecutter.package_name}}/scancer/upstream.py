"""Status of and updates from the template that this repository was made from.

.cruft.json records the template's address, the template commit this
repository was last made or updated from, and the answers to cookiecutter's
questions. `make check` prints a warning when the template has changed since that
commit, and `make update` applies those changes with cruft. An update that
meets local changes on the same lines stops with the files to resolve.

Run by ``make update``; ``make check`` prints the status.
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .metadata import REPOSITORY_ROOT

CRUFT_FILE = ".cruft.json"
# The template's project folder: the top-level folder named "{...cookiecutter....}".
PROJECT_FOLDER = "{*cookiecutter.*}"
GIT_TIMEOUT = 120
UPDATE_COMMAND = "make update"


class UpdateError(RuntimeError):
    """An update that could not start, or that left conflicts to resolve."""


@dataclass(frozen=True)
class TemplateStatus:
    """Comparison of this repository's recorded template commit with the template's latest."""

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
    # A private template must fail here rather than wait for a password.
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, result.args, stderr=result.stderr)
    return result.stdout.strip()


def template_paths(skipped: list[str]) -> list[str]:
    """Return git pathspecs of the files that shape a generated repository, less skipped paths."""
    paths = [f":(glob){PROJECT_FOLDER}/**", ":(glob)cookiecutter.json", ":(glob)hooks/**"]
    for path in skipped:
        path = path.strip("/")
        paths += [
            f":(glob,exclude){PROJECT_FOLDER}/{path}",
            f":(glob,exclude){PROJECT_FOLDER}/{path}/**",
        ]
    return paths


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
            paths = template_paths(state.get("skip", []))
            count = git(
                "rev-list", "--count", f"{recorded}..{latest}", "--", *paths, cwd=Path(clone)
            )
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
    """Print the status line of `make check`: a warning when behind or unknown, never a failure.

    On GitHub Actions the warning is also an annotation on the workflow run.
    """
    if status.state == "current":
        print(f"template: {status.message}")
        return
    print(f"template: WARNING: {status.message}")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::warning title=Template update::{status.message}")


def changed_files(root: Path) -> list[str]:
    """Return the files that differ from HEAD, staged or not, and the untracked files."""
    changed = git("diff", "--name-only", "HEAD", cwd=root).splitlines()
    untracked = git("ls-files", "--others", "--exclude-standard", cwd=root).splitlines()
    return sorted(set(changed) | set(untracked))


def conflict_message(root: Path) -> str | None:
    """Return how to resolve the files git left unmerged and the hunks cruft rejected, if any."""
    unmerged = git("diff", "--name-only", "--diff-filter=U", cwd=root).split()
    rejected = git("ls-files", "--others", "--exclude-standard", "--", "*.rej", cwd=root).split()
    steps = []
    if unmerged:
        steps.append(
            f"resolve the conflicts in {', '.join(unmerged)} (between <<<<<<< and ======= "
            "is yours, between ======= and >>>>>>> the template's), then 'git add' them"
        )
    if rejected:
        steps.append(f"apply the hunks in {', '.join(rejected)} by hand, then delete those files")
    if not steps:
        return None
    return (
        "the template's changes meet local changes: "
        + "; ".join(steps)
        + ". Everything else is applied; commit it all with .cruft.json"
    )


def run_cruft_update(root: Path, state: dict) -> None:
    """Run cruft update without prompts, and drop cruft's summary, which update() replaces."""
    import cruft  # imported here because only updates need it
    from cruft.exceptions import CruftError

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cruft.update(root, skip_apply_ask=True, checkout=state.get("checkout"))
    except CruftError as error:
        detail = str(error).splitlines()[0]
        raise UpdateError(
            f"cannot take changes from the template at {state['template']} ({detail}); "
            f'correct "template" in {CRUFT_FILE} if it has moved'
        ) from None


def check_work_tree(root: Path) -> None:
    """Reject an update outside git or over uncommitted changes, so nothing mixes with them."""
    try:
        git("rev-parse", "--is-inside-work-tree", cwd=root)
    except subprocess.CalledProcessError:
        raise UpdateError(
            f"{root} is not a git repository; cruft merges template changes through git: "
            "run 'git init && git add -A && git commit -m \"Start from the template\"' first"
        ) from None
    changed = changed_files(root)
    if changed:
        listed = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
        raise UpdateError(
            f"the work tree has changes ({listed}); commit or stash them, then run it again"
        )


def update(root: Path = REPOSITORY_ROOT) -> str:
    """Apply the template's changes since the recorded commit; return what to do next."""
    state = read_state(root)
    check_work_tree(root)
    run_cruft_update(root, state)

    conflicts = conflict_message(root)
    if conflicts:
        raise UpdateError(conflicts)
    changed = changed_files(root)
    latest = json.loads((root / CRUFT_FILE).read_text())["commit"]
    if not changed:
        return f"Nothing to update: the template has no changes since {state['commit'][:12]}"
    if changed == [CRUFT_FILE]:
        return (
            f"No generated file changed; {CRUFT_FILE} now records {latest[:12]}. "
            f"Commit {CRUFT_FILE}"
        )
    return (
        f"Took the template's changes up to {latest[:12]} in {', '.join(changed)}. Review them "
        "with 'git diff HEAD', run the tests ('make venv test', which rebuilds .venv when the "
        f"pins changed), then commit them with {CRUFT_FILE}"
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
