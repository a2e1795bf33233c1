"""Check that the archive may replace the published model: ``make check``.

Each aspect is one function that raises CheckFailed with what differs and the
fix:

- metadata: the schema, a version above the published one when the archive
  changed, and a changelog entry for it;
- data: the benchmark split's SHA-256 digests match the recorded ones, and no
  benchmark patch shares a slide (a ``wsi`` column) or region (the sample's
  ``region``) with a training patch;
- parity: the archive's handler on PNG bytes matches the Lightning model on
  the benchmark split at several batch sizes;
- benchmark: the archive's metrics on the benchmark split do not fall below
  the published model's by more than ``benchmark.max_regression``;
- archive: the manifest matches the metadata, and the archive loads in a real
  TorchServe and answers the example images as it does in-process.

Aspects are skipped only through ``checks/skip.yaml``. Before the aspects, a
line reports whether the template has changes this repository lacks: a warning
with the update command, never a failure. The report goes to
``build/check/report.json``. Run by ``make check``, ``make record-data`` and
``make record-published``; options: --aspect NAME, --record-data, --record-published.
"""

import argparse
import csv
import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from . import local_store
from .archive import ArchiveError, check_handler_parity, handler_probabilities
from .data import meta_path, split_digests, split_images, split_targets
from .evaluation import benchmark_scores
from .export import best_checkpoint
from .metadata import (
    METADATA_PATH,
    REPOSITORY_ROOT,
    Metadata,
    MetadataError,
    load_document,
    load_metadata,
)
from .paths import BUILD_DIR, EXAMPLES_DIR, archive_path
from .publish import (
    SERVED_KEYS,
    PublishError,
    PublishRequest,
    content_sha256,
    publish,
    read_archive,
)
from .serving import open_archive
from .store import ModelStore
from .store_auth import read_key_file
from .upstream import TemplateStatus, print_status, template_status

ASPECTS = ("metadata", "data", "parity", "benchmark", "archive")
SKIP_LIST = REPOSITORY_ROOT / "checks" / "skip.yaml"
REPORT_PATH = BUILD_DIR / "check" / "report.json"
PARITY_BATCH_SIZES = (1, 7, 16)
# The column of a meta CSV that names each image's slide (``wsi``) or sample region.
GROUP_COLUMNS = ("wsi", "region")


class CheckFailed(Exception):
    """A failed aspect; the message names the aspect, what differs and the fix."""

    def __init__(self, aspect: str, message: str):
        super().__init__(message)
        self.aspect = aspect


@dataclass
class CheckContext:
    """Inputs of the checks (metadata, archive, checkpoint, benchmark data) and their report."""

    document: dict
    metadata: Metadata
    archive: Path
    data_dir: Path
    split: str
    checkpoint: Path | None = None
    examples: list[Path] = field(default_factory=list)
    report: dict = field(default_factory=dict)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def check_metadata(context: CheckContext) -> None:
    document = context.document
    version = document["version"]
    published = document["published"]
    if not any(entry["version"] == version for entry in document["changelog"]):
        raise CheckFailed(
            "metadata",
            f"the changelog has no entry for version {version}; add one with its changes "
            "to changelog in metadata.json",
        )
    if published is None:
        return
    changed = content_sha256(context.archive) != published["content_sha256"]
    if changed and version_tuple(version) <= version_tuple(published["version"]):
        raise CheckFailed(
            "metadata",
            f"the archive serves another model than the published {published['version']} "
            f"(its content SHA-256 differs), but version is "
            f"{version}; raise version in metadata.json above {published['version']} and add "
            "a changelog entry",
        )


def split_groups(data_dir: Path, split: str) -> dict[str, int]:
    """Return the slide or region of each image of a split, from its meta CSV, with a row."""
    path = meta_path(data_dir, split)
    if not path.is_file():
        raise CheckFailed("data", f"{path} is missing; it records where each image comes from")
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    column = next((name for name in GROUP_COLUMNS if rows and name in rows[0]), None)
    if column is None:
        raise CheckFailed("data", f"{path} has no {' or '.join(GROUP_COLUMNS)} column")
    groups: dict[str, int] = {}
    for index, row in enumerate(rows):
        groups.setdefault(row[column], index)
    return groups


def check_data(context: CheckContext) -> None:
    recorded = context.document["benchmark"]["sha256"]
    actual = split_digests(context.data_dir, context.split)
    if not recorded:
        raise CheckFailed(
            "data",
            "no SHA-256 digests are recorded for the benchmark split; check that "
            f"{context.data_dir} holds the intended data, then run 'make record-data'",
        )
    if actual != recorded:
        differing = sorted(name for name in actual if actual[name] != recorded.get(name))
        raise CheckFailed(
            "data",
            f"{', '.join(differing)} in {context.data_dir} differ from the digests recorded in "
            "metadata.json; use the recorded benchmark data, or record new data with "
            "'make record-data' in a reviewed change",
        )
    train = split_groups(context.data_dir, "train")
    benchmark = split_groups(context.data_dir, context.split)
    shared = sorted(set(train) & set(benchmark))
    if shared:
        group = shared[0]
        raise CheckFailed(
            "data",
            f"{len(shared)} slides or regions are in both train and {context.split}; the first "
            f"is {group}: train image {train[group]} and {context.split} image "
            f"{benchmark[group]}. Split by slide so that no slide is in both",
        )
    context.report["data"] = {"sha256": actual}


def check_parity(context: CheckContext) -> None:
    checkpoint = context.checkpoint or best_checkpoint()
    results = {}
    for batch_size in PARITY_BATCH_SIZES:
        try:
            count, worst = check_handler_parity(
                context.archive, checkpoint, context.data_dir, context.split, batch_size
            )
        except ArchiveError as error:
            raise CheckFailed("parity", f"at batch size {batch_size}, {error}") from None
        results[batch_size] = worst
    context.report["parity"] = {"patches": count, "max_difference": results}


def benchmark_predictions(archive: Path, data_dir: Path, split: str, metadata: Metadata):
    """Return the archive's handler probabilities on a split's PNG bytes, and the targets."""
    with open_archive(archive, batch_size=32) as served:
        probabilities = torch.cat(
            [
                handler_probabilities(served, images, metadata)
                for images in split_images(data_dir, split, metadata, 32)
            ]
        )
    return probabilities, split_targets(data_dir, split)


def benchmark_metrics(archive: Path, data_dir: Path, split: str, metadata: Metadata) -> dict:
    """Return the benchmark scores of the archive's handler on a split, rounded."""
    probabilities, targets = benchmark_predictions(archive, data_dir, split, metadata)
    scores = benchmark_scores(probabilities, targets, list(metadata.class_names))
    return {name: round(value, 6) for name, value in scores.items()}


def check_benchmark(context: CheckContext) -> None:
    metrics = benchmark_metrics(context.archive, context.data_dir, context.split, context.metadata)
    context.report["benchmark"] = {"metrics": metrics}
    published = context.document["published"]
    if published is None:
        print("benchmark: no published model is recorded, so there is nothing to compare with")
        return
    margin = context.document["benchmark"]["max_regression"]
    worse = [
        name for name, old in published["metrics"].items()
        if name in metrics and metrics[name] < old - margin
    ]  # fmt: skip
    context.report["benchmark"]["published"] = published["metrics"]
    if worse:
        table = "; ".join(
            f"{name} {metrics[name]:.4f} vs published {published['metrics'][name]:.4f}"
            for name in worse
        )
        raise CheckFailed(
            "benchmark",
            f"worse than the published {published['version']} by more than {margin}: {table}. "
            "Publish only a model that is at least as good on the benchmark split",
        )


def check_archive(context: CheckContext) -> None:
    try:
        info = read_archive(context.archive, context.metadata)
    except PublishError as error:
        raise CheckFailed("archive", str(error)) from None
    if info.version != context.metadata.version or info.handler != "handler.py":
        raise CheckFailed(
            "archive",
            f"the manifest names version {info.version} and handler {info.handler}, "
            f"metadata.json version {context.metadata.version} and handler.py; "
            "run 'make archive' again",
        )
    with zipfile.ZipFile(context.archive) as packed:
        packed_document = json.loads(packed.read("metadata.json"))
    differing = [key for key in SERVED_KEYS if packed_document.get(key) != context.document[key]]
    if differing:
        raise CheckFailed(
            "archive",
            f"{', '.join(differing)} in the metadata.json packed in the archive differ from "
            "the repository's; run 'make archive' again",
        )
    with tempfile.TemporaryDirectory(prefix="check-") as folder:
        served = served_answers(Path(folder), context, info)
    context.report["archive"] = {"sha256": info.sha256, "served_examples": served}


def served_answers(folder: Path, context: CheckContext, info) -> int:
    """Publish the archive to a fresh local TorchServe; return the examples compared."""
    store_dir = folder / "model-store"
    store_dir.mkdir()
    server = local_store.start(folder / "serve", store_dir, local_store.free_ports(3))
    try:
        auth = read_key_file(server.key_file)
        request = PublishRequest(info, context.examples, store_dir=store_dir)
        with ModelStore(server.management_url, server.inference_url, auth) as store:
            publish(store, request, context.metadata, say=lambda line: None)
    except PublishError as error:
        raise CheckFailed("archive", f"in a real TorchServe: {error}") from None
    finally:
        local_store.stop(folder / "serve")
    return len(context.examples)


CHECKS: dict[str, Callable[[CheckContext], None]] = {
    "metadata": check_metadata,
    "data": check_data,
    "parity": check_parity,
    "benchmark": check_benchmark,
    "archive": check_archive,
}


def read_skip_list(path: Path = SKIP_LIST) -> dict[str, str]:
    """Return the skipped aspects and the reason for each."""
    if not path.is_file():
        return {}
    entries = (yaml.safe_load(path.read_text()) or {}).get("skip") or []
    skipped = {}
    for entry in entries:
        aspect = entry.get("aspect") if isinstance(entry, dict) else None
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if aspect not in ASPECTS or not isinstance(reason, str) or not reason.strip():
            raise SystemExit(
                f"{path}: each entry needs an aspect (one of {', '.join(ASPECTS)}) and a reason; "
                f"got {entry}"
            )
        skipped[aspect] = reason
    return skipped


def run_checks(context: CheckContext, aspects: list[str], skipped: dict[str, str]) -> dict:
    """Run the aspects in order; return each one's status and message."""
    results = {}
    for aspect in aspects:
        if aspect in skipped:
            results[aspect] = {"status": "skipped", "message": skipped[aspect]}
            print(f"{aspect}: skipped ({skipped[aspect]})")
            continue
        print(f"{aspect}: checking")
        try:
            CHECKS[aspect](context)
        except CheckFailed as error:
            results[aspect] = {"status": "failed", "message": str(error)}
            print(f"{aspect}: FAILED: {error}")
            continue
        results[aspect] = {"status": "passed"}
        print(f"{aspect}: passed")
    return results


def record_data(context: CheckContext) -> None:
    """Write the benchmark split's digests into metadata.json."""
    document = json.loads(METADATA_PATH.read_text())
    document["benchmark"]["sha256"] = split_digests(context.data_dir, context.split)
    METADATA_PATH.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Recorded the digests of {context.data_dir} ({context.split}) in {METADATA_PATH}")


def record_published(context: CheckContext) -> None:
    """Write the archive's version, digest and benchmark metrics as the published model."""
    metrics = benchmark_metrics(context.archive, context.data_dir, context.split, context.metadata)
    document = json.loads(METADATA_PATH.read_text())
    document["published"] = {
        "version": context.metadata.version,
        "content_sha256": content_sha256(context.archive),
        "metrics": metrics,
    }
    METADATA_PATH.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Recorded {context.metadata.version} as the published model: {metrics}")


def write_report(results: dict, figures: dict, template: TemplateStatus | None) -> None:
    report = {
        "results": results,
        "figures": figures,
        "template": template.as_dict() if template else None,
    }
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps(report, indent=2))
    print(f"Report: {REPORT_PATH}")


def build_context(archive: Path | None = None, checkpoint: Path | None = None) -> CheckContext:
    document = load_document()
    metadata = load_metadata()
    benchmark = document["benchmark"]
    return CheckContext(
        document=document,
        metadata=metadata,
        archive=archive or archive_path(metadata.model_name, metadata.version),
        data_dir=REPOSITORY_ROOT / benchmark["data_dir"],
        split=benchmark["split"],
        checkpoint=checkpoint,
        examples=sorted(EXAMPLES_DIR.glob("*.png")),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aspect", action="append", choices=ASPECTS, help="default: all")
    parser.add_argument("--archive", type=Path, help="default: this version's archive")
    parser.add_argument("--checkpoint", type=Path, help="default: the best checkpoint")
    parser.add_argument("--record-data", action="store_true", help="record the split's digests")
    parser.add_argument("--record-published", action="store_true",
                        help="record this archive as the published model")  # fmt: skip
    args = parser.parse_args(argv)
    template = None
    if not (args.record_data or args.record_published):
        template = template_status()
        print_status(template)
    try:
        context = build_context(args.archive, args.checkpoint)
    except MetadataError as error:
        print(f"metadata: FAILED: {error}")
        write_report({"metadata": {"status": "failed", "message": str(error)}}, {}, template)
        raise SystemExit("make check failed: metadata") from None
    if args.record_data:
        record_data(context)
    if (args.record_published or not args.record_data) and not context.archive.is_file():
        raise SystemExit(f"{context.archive} is missing; run 'make archive' first")
    if args.record_published:
        record_published(context)
    if args.record_data or args.record_published:
        return
    results = run_checks(context, args.aspect or list(ASPECTS), read_skip_list())
    write_report(results, context.report, template)
    failed = [aspect for aspect, result in results.items() if result["status"] == "failed"]
    if failed:
        raise SystemExit(f"make check failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
