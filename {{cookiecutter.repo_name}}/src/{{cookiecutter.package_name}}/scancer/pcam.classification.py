"""Fetch the PatchCamelyon files, or check the files already in a folder.

For each split, the ``.h5`` files are used when present. Otherwise ``.h5.gz``
files are checked against torchvision's MD5 digests and unpacked, and when
those are missing too, torchvision downloads them (this needs gdown and
network access to the PCam release). A folder with a ``provenance.json``, such as the
built-in sample, is checked against the SHA-256 digests recorded there.

Run by ``make data``; option: --data-dir DIR (default data/pcam).
"""

import argparse
import json
import logging
from pathlib import Path

from torchvision.datasets import PCAM
from torchvision.datasets.utils import (
    calculate_md5,
    download_file_from_google_drive,
    extract_archive,
)

from .data import SPLITS, DataError, check_split, split_paths
from .digests import file_sha256
from .metadata import REPOSITORY_ROOT, load_metadata

log = logging.getLogger(__name__)

# torchvision names the validation split "val", and the PCam file names use "valid".
TORCHVISION_SPLIT = {"train": "train", "valid": "val", "test": "test"}
PCAM_RELEASE = "https://github.com/basveeling/pcam"


def torchvision_entries(split: str) -> list[tuple[str, str, str]]:
    """Return (file name, Google Drive id, MD5 of the .gz) for a split's two files."""
    files = PCAM._FILES[TORCHVISION_SPLIT[split]]
    return [files["images"], files["targets"]]


def unpack(archive: Path, md5: str) -> None:
    """Check a downloaded .h5.gz against its MD5 and unpack it beside itself."""
    actual = calculate_md5(str(archive))
    if actual != md5:
        raise DataError(
            f"{archive} has MD5 {actual}, expected {md5}: the file is corrupt or "
            "incomplete; delete it and run 'make data' again"
        )
    log.info("unpacking %s", archive.name)
    extract_archive(str(archive), str(archive.parent), remove_finished=False)


def fetch_file(data_dir: Path, name: str, drive_id: str, md5: str) -> None:
    """Make data_dir/name exist: unpack its .gz, downloading that first if needed."""
    target = data_dir / name
    if target.is_file():
        return
    archive = data_dir / f"{name}.gz"
    if not archive.is_file():
        log.info("downloading %s (this is several GB for the train split)", archive.name)
        try:
            download_file_from_google_drive(drive_id, str(data_dir), archive.name, md5)
        except Exception as error:  # gdown and requests raise many error types
            raise DataError(
                f"cannot download {archive.name}: {error}. Download it from "
                f"{PCAM_RELEASE} and put it in {data_dir}, then run 'make data' again"
            ) from error
    unpack(archive, md5)


def check_recorded_digests(data_dir: Path) -> None:
    """Check the SHA-256 digests of a folder that records them in provenance.json."""
    record = json.loads((data_dir / "provenance.json").read_text())
    for name, expected in record["sha256"].items():
        path = data_dir / name
        if not path.is_file():
            raise DataError(f"missing {path}; run 'make sample-data' to write it again")
        actual = file_sha256(path)
        if actual != expected:
            raise DataError(
                f"{path} has SHA-256 {actual}, expected {expected} from provenance.json: "
                "the file changed or is corrupt; run 'make sample-data' to write it again"
            )


def prepare(data_dir: Path) -> dict[str, int]:
    """Fetch or check every split; return the patch count per split."""
    metadata = load_metadata()
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / "provenance.json").is_file():
        check_recorded_digests(data_dir)
    else:
        for split in SPLITS:
            if all(path.is_file() for path in split_paths(data_dir, split)):
                continue
            for name, drive_id, md5 in torchvision_entries(split):
                fetch_file(data_dir, name, drive_id, md5)
    return {
        split: check_split(data_dir, split, metadata.input_size, metadata.input_channels)
        for split in SPLITS
    }


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPOSITORY_ROOT / "data" / "pcam")
    args = parser.parse_args(argv)
    try:
        counts = prepare(args.data_dir)
    except DataError as error:
        raise SystemExit(f"data: {error}") from None
    summary = ", ".join(f"{split} {count}" for split, count in counts.items())
    print(f"{args.data_dir}: {summary} patches, layout checked")


if __name__ == "__main__":
    main()
