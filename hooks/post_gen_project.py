"""Normalise metadata.json and print the commands that take the new repository to a served model.

metadata.json is rewritten as json.dumps with indent 2 writes it, so that
'make record-data' and 'make record-published', which write it the same way,
change only the fields they record.
"""

import json
from pathlib import Path

METADATA = Path("metadata.json")
METADATA.write_text(json.dumps(json.loads(METADATA.read_text()), indent=2) + "\n")

REPO_NAME = "{{ cookiecutter.repo_name }}"
MODEL_NAME = "{{ cookiecutter.model_name }}"

print(
    f"""
Created {REPO_NAME}. Next:

    cd {REPO_NAME}
    make venv           # pinned dependencies in .venv (about 6 GB with torch)
    make sample-data    # real H&E sample in data/sample, examples/*.png
    make train          # train; prints the best checkpoint and its metrics
    make archive        # trace, check through the handler, pack {MODEL_NAME}-<version>.mar
    make predict        # in-process, the JSON the server would return per examples/*.png
    make serve          # local TorchServe on 127.0.0.1 (Java 17), archive published
    make stop
    make record-data    # record the benchmark split's digests, then:
    make check          # metadata, data, parity, benchmark and archive checks
    make card           # the model card in README.md

`make help` lists every target.
"""
)
