"""Run the archived handler in this process on image files and print its JSON.

The output is what the server returns for each image. Run by ``make predict``
(IMAGE=... for other files); option: --archive PATH.
"""

import argparse
import json
from pathlib import Path

from .metadata import MetadataError, load_metadata
from .paths import archive_path
from .serving import open_archive


def main(argv=None) -> None:
    try:
        metadata = load_metadata()
    except MetadataError as error:
        raise SystemExit(f"predict failed: {error}") from None
    default_archive = archive_path(metadata.model_name, metadata.version)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, nargs="+", help="image files")
    parser.add_argument("--archive", type=Path, default=default_archive)
    args = parser.parse_args(argv)
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive} is missing; run 'make archive' first")
    missing = [str(image) for image in args.images if not image.is_file()]
    if missing:
        raise SystemExit(f"image not found: {', '.join(missing)}")
    with open_archive(args.archive, batch_size=len(args.images)) as served:
        answers = served.predict([image.read_bytes() for image in args.images])
    failed = False
    for image, answer in zip(args.images, answers, strict=True):
        print(json.dumps({"image": str(image), "status": answer.status, "response": answer.body}))
        failed = failed or answer.status != 200
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
