"""Finish the new repository: keep the task's files, normalise metadata.json, link the template.

Files written for one task are named <name>.<task>[.<suffix>] in the template.
The chosen task's files take their plain names, and the other tasks' files are deleted.

metadata.json is rewritten as json.dumps with indent 2 writes it, so that
'make record-data' and 'make record-published', which write it the same way,
change only the fields they record.

.cruft.json records the template's address and commit and the answers given,
in the format cruft writes, so that 'cruft check', 'cruft diff' and
'make update' (cruft update) work on a repository baked with plain cookiecutter.
cruft runs this hook too, with "_commit" in the context. It then writes
.cruft.json itself, and the hook prints nothing.
"""

import json
import os
import re
import subprocess
from pathlib import Path

from cookiecutter.config import get_user_config
from cookiecutter.repository import expand_abbreviations, is_repo_url

METADATA = Path("metadata.json")
CRUFT_FILE = Path(".cruft.json")
# Cookiecutter renders its context into the next line as a JSON string literal.
CONTEXT = json.loads({{cookiecutter | jsonify | tojson}})  # noqa: F821
# Files written for one task only: <name>.<task>[.<suffix>], e.g. data.segmentation.py.
TASK_FILE = re.compile(r"^(?P<name>[^.]+)\.(?P<task>classification|segmentation)(?P<suffix>\..+)?$")
# Context entries about this run on this machine, which are not template answers.
RUN_ENTRIES = ("_output_dir", "_repo_dir", "_checkout")


def select_task_files(task: str) -> None:
    """Give this task's files their plain names and delete the other tasks' files."""
    for path in sorted(Path(".").rglob("*")):
        match = TASK_FILE.match(path.name)
        if not (match and path.is_file()):
            continue
        if match["task"] == task:
            path.rename(path.with_name(match["name"] + (match["suffix"] or "")))
        else:
            path.unlink()


def template_address(context: dict) -> str:
    """Return the template as cruft clones it: a URL with abbreviations expanded, or a path."""
    source = context["_template"]
    expanded = expand_abbreviations(source, get_user_config()["abbreviations"])
    if is_repo_url(expanded):
        return expanded
    return str(template_folder(context))


def template_folder(context: dict) -> Path:
    """Return the folder cookiecutter read the template from (a clone for a URL)."""
    folder = Path(context["_repo_dir"]).expanduser()
    if not folder.is_absolute():
        # Hooks run inside the new project, but the shell's PWD is where cookiecutter started.
        folder = Path(os.environ.get("PWD", ".")) / folder
    return folder.resolve()


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def cruft_state(context: dict, folder: Path, commit: str) -> dict:
    """Return the content of .cruft.json, as cruft create writes it."""
    address = template_address(context)
    # The answers go in cookiecutter.json's order, as cruft writes them on update.
    order = [
        key for key in json.loads((folder / "cookiecutter.json").read_text()) if key in context
    ]
    answers = {key: context[key] for key in order + sorted(context) if key not in RUN_ENTRIES}
    answers.update(_template=address, _commit=commit)
    return {
        "template": address,
        "commit": commit,
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": answers},
        "directory": None,
        "skip": [],
    }


def link_template(context: dict) -> str:
    """Write .cruft.json and return the line that reports it."""
    folder = template_folder(context)
    try:
        commit = git(folder, "rev-parse", "HEAD")
        changed = git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return (
            f"Warning: {folder} is not a git checkout, so no .cruft.json was written and "
            "'make update' cannot take template changes. Bake from the template's git "
            "repository (cookiecutter gh:scancer-org/template) to get one."
        )

    state = cruft_state(context, folder, commit)
    CRUFT_FILE.write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n")
    line = (
        f".cruft.json links {state['template']} at {commit[:12]}; 'make update' takes its changes."
    )
    if changed:
        line += f"\nWarning: {folder} has uncommitted changes, which the recorded commit lacks."
    return line


def next_steps(link_line: str) -> str:
    repo_name = CONTEXT["repo_name"]
    model_name = CONTEXT["model_name"]
    return f"""
Created {repo_name}.
{link_line}

Next:

    cd {repo_name}
    make venv           # pinned dependencies in .venv (about 6 GB with torch)
    make sample-data    # real H&E sample in data/sample, examples/*.png
    make train          # train; prints the best checkpoint and its metrics
    make archive        # trace, check through the handler, pack {model_name}-<version>.mar
    make predict        # in-process, the JSON the server would return per examples/*.png
    make serve          # local TorchServe on 127.0.0.1 (Java 17), archive published
    make stop
    make record-data    # record the benchmark split's digests, then:
    make check          # metadata, data, parity, benchmark and archive checks
    make card           # the model card in README.md

`make help` lists every target.
"""


select_task_files(CONTEXT["task"])
METADATA.write_text(json.dumps(json.loads(METADATA.read_text()), indent=2) + "\n")
if "_commit" not in CONTEXT:
    print(next_steps(link_template(CONTEXT)))
