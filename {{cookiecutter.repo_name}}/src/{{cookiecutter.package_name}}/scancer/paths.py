"""Output locations of the build steps: archives, the local store and example images."""

from pathlib import Path

from .metadata import REPOSITORY_ROOT

BUILD_DIR = REPOSITORY_ROOT / "build"
MODEL_STORE = BUILD_DIR / "model-store"
SERVE_DIR = BUILD_DIR / "serve"
EXAMPLES_DIR = REPOSITORY_ROOT / "examples"


def archive_path(model_name: str, version: str, store: Path = MODEL_STORE) -> Path:
    """Return the archive file of one version; each version has its own file in a store."""
    return store / f"{model_name}-{version}.mar"
