"""The model's metadata: name, version, classes and input format.

``metadata.json`` at the repository root is the single source of these
settings. Training, export, the handler and the archive all read it, and the
archive carries a copy so that the server normalises exactly as training did.
"""

import json
from dataclasses import dataclass
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
METADATA_PATH = REPOSITORY_ROOT / "metadata.json"


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
    """Read the metadata file, raising ValueError that names a missing key."""
    document = json.loads(Path(path).read_text())
    try:
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
    except KeyError as error:
        raise ValueError(f"{path}: missing key {error}; see the README") from None
