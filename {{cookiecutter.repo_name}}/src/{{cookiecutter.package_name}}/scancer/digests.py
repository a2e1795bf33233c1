"""SHA-256 digests of files, read in 1 MiB blocks so a large file is never loaded whole."""

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_sha256(paths: list[Path], root: Path) -> str:
    """Return one SHA-256 digest over files: their paths relative to root and their digests."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{Path(path).relative_to(root).as_posix()} {file_sha256(path)}\n".encode())
    return digest.hexdigest()
