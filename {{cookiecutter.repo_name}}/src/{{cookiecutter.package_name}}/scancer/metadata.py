"""The model's metadata: name, version, classes and input format.

``metadata.json`` at the repository root is the single source of these
settings. Training, export, the handler and the archive all read it, and the
archive carries a copy so that the server normalises exactly as training did.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import jsonschema

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
METADATA_PATH = REPOSITORY_ROOT / "metadata.json"
SCHEMA_PATH = REPOSITORY_ROOT / "metadata.schema.json"


class MetadataError(ValueError):
    """A metadata file that does not follow metadata.schema.json."""


def load_document(path: Path = METADATA_PATH) -> dict:
    """Read a metadata file and check it against metadata.schema.json."""
    try:
        document = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise MetadataError(f"{path} is not valid JSON: {error}") from None
    schema = json.loads(SCHEMA_PATH.read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(document),
        key=lambda error: list(error.absolute_path),
    )
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(top level)"
        raise MetadataError(
            f"{path}: {where}: {first.message}; see metadata.schema.json"
            + (f" ({len(errors) - 1} more errors)" if len(errors) > 1 else "")
        )
    return document


@dataclass(frozen=True)
class Metadata:
    model_name: str
    version: str
    task: str
    dataset: str
    class_names: tuple[str, ...]
    input_size: int
    input_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_metadata(path: Path = METADATA_PATH) -> Metadata:
    """Read and check the metadata file; raise MetadataError naming the first problem."""
    document = load_document(path)
    image = document["input"]
    return Metadata(
        model_name=document["model_name"],
        version=document["version"],
        task=document["task"],
        dataset=document["dataset"],
        class_names=tuple(document["class_names"]),
        input_size=int(image["size"]),
        input_channels=int(image["channels"]),
        mean=tuple(float(value) for value in image["mean"]),
        std=tuple(float(value) for value in image["std"]),
    )
