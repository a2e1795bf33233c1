"""Export the model, check it through the handler and pack the TorchServe archive.

Steps:

1. Trace the best checkpoint (see ``export``).
2. Pack a candidate archive with ``torch-model-archiver``.
3. Run the candidate's handler in this process on PNG bytes of every test
   patch and compare its probabilities with the Lightning model's.
4. Move the archive into ``build/model-store`` as ``<model>-<version>.mar``.

Run by ``make archive``; options: --checkpoint PATH, --data-dir DIR.
"""

import argparse
import io
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image
from torchvision.transforms.v2.functional import normalize

from .data import checked_split_size, split_images
from .digests import file_sha256
from .export import ExportError, best_checkpoint, export, load_eager_model
from .handler import PROBABILITY_RESOLUTION, probabilities_request, response_probabilities
from .metadata import METADATA_PATH, REPOSITORY_ROOT, Metadata, MetadataError, load_metadata
from .paths import BUILD_DIR, MODEL_STORE, archive_path
from .serving import open_archive

log = logging.getLogger(__name__)

HANDLER_PATH = Path(__file__).with_name("handler.py")
# The handler imports this file, which the archive carries beside it.
SHARED_HANDLER_PATH = Path(__file__).with_name("image_handler.py")
PARITY_TOLERANCE = 1e-5
PARITY_BATCH_SIZE = 16


class ArchiveError(RuntimeError):
    """An archive whose handler does not reproduce the trained model."""


def configured_data_dir() -> Path:
    """Return data.data_dir of configs/data.yaml, relative to the repository."""
    config = yaml.safe_load((REPOSITORY_ROOT / "configs" / "data.yaml").read_text())
    return REPOSITORY_ROOT / config["data"]["data_dir"]


def archiver_command() -> str:
    """Return the torch-model-archiver of this Python environment."""
    beside_python = Path(sys.executable).parent / "torch-model-archiver"
    found = str(beside_python) if beside_python.is_file() else shutil.which("torch-model-archiver")
    if found is None:
        raise ArchiveError(
            "torch-model-archiver not found; run 'make venv' or install "
            "torch-model-archiver from requirements.txt"
        )
    return found


def pack(
    model_file: Path, metadata: Metadata, export_dir: Path, metadata_path: Path = METADATA_PATH
) -> Path:
    """Run torch-model-archiver and return the path of the .mar file."""
    export_dir.mkdir(parents=True, exist_ok=True)
    command = [
        archiver_command(),
        "--model-name", metadata.model_name,
        "--version", metadata.version,
        "--serialized-file", str(model_file),
        "--handler", str(HANDLER_PATH),
        "--extra-files", f"{metadata_path},{SHARED_HANDLER_PATH}",
        "--export-path", str(export_dir),
        "--force",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ArchiveError(f"torch-model-archiver failed: {result.stderr.strip()}")
    return export_dir / f"{metadata.model_name}.mar"


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an (H, W, C) uint8 patch as PNG, which is lossless."""
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def eager_probabilities(model, patches: np.ndarray, metadata: Metadata) -> torch.Tensor:
    """Return the Lightning model's probabilities, with training's preprocessing."""
    images = torch.from_numpy(patches).permute(0, 3, 1, 2).to(torch.float32).div(255)
    images = normalize(images, mean=list(metadata.mean), std=list(metadata.std))
    with torch.no_grad():
        return model(images).softmax(dim=1)


def handler_probabilities(served, patches: np.ndarray, metadata: Metadata) -> torch.Tensor:
    """Return the handler's probabilities for PNG bytes of each image."""
    answers = served.predict([probabilities_request(png_bytes(patch)) for patch in patches])
    results = []
    for index, answer in enumerate(answers):
        if answer.status != 200:
            raise ArchiveError(f"the handler rejected test image {index}: {answer.body}")
        results.append(response_probabilities(answer.body, list(metadata.class_names)))
    return torch.stack(results)


def check_handler_parity(
    archive: Path,
    checkpoint: Path,
    data_dir: Path,
    split: str = "test",
    batch_size: int = PARITY_BATCH_SIZE,
) -> tuple[int, float]:
    """Compare the archive's handler with the Lightning model on a split, in batches.

    Returns the number of patches compared and the max absolute difference.
    """
    metadata = load_metadata()
    count = checked_split_size(data_dir, split, metadata)
    model = load_eager_model(checkpoint)
    worst, start = 0.0, 0
    tolerance = PARITY_TOLERANCE + PROBABILITY_RESOLUTION
    with open_archive(archive, batch_size) as served:
        for patches in split_images(data_dir, split, metadata, batch_size):
            expected = eager_probabilities(model, patches, metadata)
            actual = handler_probabilities(served, patches, metadata)
            difference = (expected - actual).abs().max().item()
            if difference > tolerance:
                raise ArchiveError(
                    f"the handler's probabilities differ from the Lightning model's by "
                    f"{difference:.3g} on {split} images {start} to {start + len(patches) - 1} "
                    f"(tolerance {tolerance:.3g}); check that the handler decodes and "
                    "normalises as training does"
                )
            worst = max(worst, difference)
            start += len(patches)
    return count, worst


def build_archive(checkpoint: Path, data_dir: Path, store: Path = MODEL_STORE) -> Path:
    """Export, pack, check and publish the archive into store; return its path."""
    metadata = load_metadata()
    model_file = BUILD_DIR / "model.pt"
    export(checkpoint, model_file)
    with tempfile.TemporaryDirectory(prefix="archive-", dir=BUILD_DIR) as candidate_dir:
        log.info("packing %s %s with torch-model-archiver", metadata.model_name, metadata.version)
        candidate = pack(model_file, metadata, Path(candidate_dir))
        log.info("checking the archive's handler against the Lightning model on %s", data_dir)
        count, worst = check_handler_parity(candidate, checkpoint, data_dir)
        log.info("handler matches on %d test images (max difference %.2g)", count, worst)
        store.mkdir(parents=True, exist_ok=True)
        archive = archive_path(metadata.model_name, metadata.version, store)
        shutil.move(candidate, archive)
    return archive


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=Path, help="default: the best checkpoint of 'make train'"
    )
    parser.add_argument("--data-dir", type=Path, help="default: data.data_dir of configs/data.yaml")
    args = parser.parse_args(argv)
    try:
        archive = build_archive(
            args.checkpoint or best_checkpoint(), args.data_dir or configured_data_dir()
        )
    except (ArchiveError, ExportError, MetadataError) as error:
        raise SystemExit(f"archive failed: {error}") from None
    size_mb = archive.stat().st_size / 1e6
    print(f"Archive: {archive}")
    print(f"  size {size_mb:.2f} MB, SHA-256 {file_sha256(archive)}")


if __name__ == "__main__":
    main()
