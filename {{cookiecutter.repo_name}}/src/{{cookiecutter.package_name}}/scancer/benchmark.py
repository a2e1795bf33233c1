"""Measure the handler's cost against decode plus model, a stock-style path and TorchServe.

Run by ``make benchmark``; options: --rounds N, --requests N, --no-server.
It needs ``make archive`` and example images (``make sample-data``), and
prints figures only: the targets are read from them, never asserted.

- floor: Pillow decoding alone plus the traced model alone, per image;
- handler: the archive's handler in-process, bytes in, JSON out;
- stock-style: decoding and torchvision transforms per image, as TorchServe's
  stock image handlers do, then the same model (checked to give the model the
  same input as the handler);
- server: a local TorchServe with the archive, under 1 and 8 concurrent
  clients, for several serving settings.
"""

import argparse
import io
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import torch
from PIL import Image
from torchvision import transforms

from .image_handler import image_pixels
from .metadata import Metadata, load_metadata
from .paths import EXAMPLES_DIR, archive_path
from .server_load import SETTINGS, measure_server
from .serving import open_archive

BATCH_SIZES = (1, 8, 32)


def per_image_ms(paths: dict[str, Callable[[], object]], images: int, rounds: int) -> dict:
    """Return the median time per image of each path, in ms.

    The paths take turns within each round, so a slow spell of the machine
    weighs on all of them alike.
    """
    times: dict[str, list[float]] = {name: [] for name in paths}
    for work in paths.values():
        work()  # warm-up: first calls allocate and pick kernels
    for _ in range(rounds):
        for name, work in paths.items():
            start = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1000 / images for name, values in times.items()}


def batch_of(bodies: list[bytes], size: int) -> list[bytes]:
    return [bodies[index % len(bodies)] for index in range(size)]


def decode_all(bodies: list[bytes], channels: int) -> list[torch.Tensor]:
    decoded = []
    for body in bodies:
        with Image.open(io.BytesIO(body)) as image:
            image.load()
            decoded.append(image_pixels(image, channels))
    return decoded


def stock_style_preprocess(metadata: Metadata) -> Callable:
    """Return a preprocess step built the way TorchServe's stock VisionHandler's is.

    Each image is opened with Pillow and put through torchvision transforms
    on its own. The stock resize to 224 and ImageNet statistics are replaced
    by this model's input, so the output is the same.
    """
    mode = "L" if metadata.input_channels == 1 else "RGB"
    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(metadata.mean, metadata.std)]
    )

    def preprocess(data):
        images = []
        for row in data:
            image = row.get("data") or row.get("body")
            images.append(transform(Image.open(io.BytesIO(image)).convert(mode)))
        return torch.stack(images), [1] * len(data), {}

    return preprocess


class InProcessPaths:
    """The four in-process paths, timed on the same batch of encoded images."""

    def __init__(self, served, metadata: Metadata, rounds: int):
        self.served = served
        self.handler = served.handler
        self.channels = metadata.input_channels
        self.stock_preprocess = stock_style_preprocess(metadata)
        self.rounds = rounds

    def stock(self, batch: list[bytes]) -> list[dict]:
        # The same request plumbing as the handler; only preprocessing differs.
        self.handler.preprocess = self.stock_preprocess
        try:
            return [answer.body for answer in self.served.predict(batch)]
        finally:
            del self.handler.preprocess

    def without_model(
        self, work: Callable[[], object], output_shape: torch.Size
    ) -> Callable[[], object]:
        """Return work run with the model replaced by a stub, to time everything else."""

        def run():
            model = self.handler.model
            self.handler.model = lambda batch: torch.zeros(len(batch), *output_shape)
            try:
                return work()
            finally:
                self.handler.model = model

        return run

    def run_model(self, stacked: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.handler.model(stacked)

    def measure(self, batch: list[bytes]) -> dict:
        """Return ms per image of decode, model, handler and stock-style, and their difference."""
        size, rounds = len(batch), self.rounds
        stacked = self.handler.normalise(decode_all(batch, self.channels))
        stock_stacked, _, _ = self.stock_preprocess([{"body": body} for body in batch])
        output_shape = self.run_model(stacked[:1]).shape[1:]
        paths = {
            "decode": lambda: decode_all(batch, self.channels),
            "model": lambda: self.run_model(stacked),
            "handler": lambda: self.served.predict(batch),
            "stock": lambda: self.stock(batch),
            "handler_rest": self.without_model(lambda: self.served.predict(batch), output_shape),
            "stock_rest": self.without_model(lambda: self.stock(batch), output_shape),
        }
        row = per_image_ms(paths, size, rounds)
        return row | {
            "batch": size,
            "difference": (stacked - stock_stacked).abs().max().item(),
        }


def measure_in_process(archive: Path, bodies: list[bytes], metadata: Metadata, rounds: int):
    """Return one row of ms per image for each batch size."""
    with open_archive(archive, batch_size=max(BATCH_SIZES)) as served:
        paths = InProcessPaths(served, metadata, rounds)
        return [paths.measure(batch_of(bodies, size)) for size in BATCH_SIZES]


def print_in_process(rows: list[dict]) -> None:
    print("In-process, ms per image (median of rounds); floor = decode + model.")
    print("Without model: the path with the model replaced by a stub, which leaves")
    print("decoding, conversion, request handling and JSON building.")
    print("| batch | decode | model | floor | handler | handler / floor | stock-style "
          "| stock / handler | handler without model | stock-style without model "
          "| stock / handler without model |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        floor = row["decode"] + row["model"]
        handler, stock = row["handler"], row["stock"]
        rest, stock_rest = row["handler_rest"], row["stock_rest"]
        print(f"| {row['batch']} | {row['decode']:.3f} | {row['model']:.3f} | {floor:.3f} "
              f"| {handler:.3f} | {handler / floor:.2f} | {stock:.3f} | {stock / handler:.2f} "
              f"| {rest:.3f} | {stock_rest:.3f} | {stock_rest / rest:.2f} |")  # fmt: skip
    worst = max(row["difference"] for row in rows)
    print(f"Max difference of the model input, handler vs stock-style: {worst:.1e}")


def print_machine() -> None:
    print(f"Machine: {platform.machine()}, {psutil.cpu_count(logical=True)} logical CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; Python {platform.python_version()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads")  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=50, help="timed rounds per figure")
    parser.add_argument("--requests", type=int, default=400, help="requests per server run")
    parser.add_argument("--no-server", action="store_true", help="skip the TorchServe runs")
    parser.add_argument("--archive", type=Path, help="default: this version's archive")
    parser.add_argument("--examples", type=Path, default=EXAMPLES_DIR, help="folder of PNGs")
    args = parser.parse_args(argv)

    metadata = load_metadata()
    archive = args.archive or archive_path(metadata.model_name, metadata.version)
    examples = sorted(args.examples.glob("*.png"))
    if not archive.is_file():
        raise SystemExit(f"{archive} is missing; run 'make archive' first")
    if not examples:
        raise SystemExit(f"no example images in {args.examples}; run 'make sample-data'")
    bodies = [path.read_bytes() for path in examples]

    print_machine()
    print(f"Archive: {archive.name}; {len(examples)} example images from {args.examples}")
    rows = measure_in_process(archive, bodies, metadata, args.rounds)
    print_in_process(rows)
    if args.no_server:
        return
    in_process_rate = 1000 / rows[1]["handler"]  # images per second at batch 8
    with tempfile.TemporaryDirectory(prefix="benchmark-") as folder:
        measure_server(Path(folder), archive, metadata, bodies, SETTINGS, args.requests,
                       in_process_rate)  # fmt: skip


if __name__ == "__main__":
    main()
