"""Publish an archive to a TorchServe model store without disturbing what it serves.

1. Check the archive: its manifest, model name, version and SHA-256, and, for
   an archive hosted at a URL, that the hosted bytes are the local ones.
2. Register it as a new version, with synchronous=true, and wait until its
   workers are READY.
3. Send each example image to that exact version and compare the answers with
   the archive's handler run in this process.
4. Make it the default version, then optionally unregister the previous one.

If a step fails, the new version is unregistered, so the previous default
keeps serving and no version is left behind.
"""

import hashlib
import io
import json
import shutil
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
import torch

from .digests import file_sha256
from .handler import (
    EXPECTED_RESPONSE,
    PROBABILITY_RESOLUTION,
    probabilities_request,
    response_decision,
    response_probabilities,
    response_summary,
)
from .metadata import Metadata
from .serving import open_archive
from .store import ModelStore, ModelVersion, StoreError

SMOKE_TOLERANCE = 1e-5  # max absolute difference of probabilities
READY_TIMEOUT = 120.0  # seconds until the new version's workers are READY


class PublishError(RuntimeError):
    """A failed publish step, with what failed and what to do in the message."""


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    model_name: str
    version: str
    handler: str
    sha256: str


def read_archive(path: Path, metadata: Metadata) -> ArchiveInfo:
    """Read and check an archive's manifest against the repository's metadata."""
    if not path.is_file():
        raise PublishError(f"archive {path} not found; run 'make archive' first")
    try:
        with zipfile.ZipFile(path) as packed:
            manifest = json.loads(packed.read("MAR-INF/MANIFEST.json"))
            packed_metadata = json.loads(packed.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise PublishError(
            f"{path} is not a model archive made by 'make archive': {error}"
        ) from None
    model = manifest.get("model", {})
    name, version = model.get("modelName"), model.get("modelVersion")
    if name != metadata.model_name:
        raise PublishError(
            f"{path} contains model {name!r}, but this repository publishes {metadata.model_name!r}"
        )
    if (packed_metadata.get("model_name"), packed_metadata.get("version")) != (name, version):
        raise PublishError(
            f"{path}: the manifest names {name} {version} but the packed metadata.json "
            f"names {packed_metadata.get('model_name')} {packed_metadata.get('version')}; "
            "run 'make archive' again"
        )
    return ArchiveInfo(path, name, version, model.get("handler", ""), file_sha256(path))


# Metadata that the handler reads from the archive's copy.
SERVED_KEYS = ("model_name", "version", "class_names", "input", "serving")
# The manifest's timestamp changes on every build.
VOLATILE_MANIFEST_KEYS = ("createdOn",)
# torch 2.14 deprecates TorchScript and warns each time a model is loaded.
TORCHSCRIPT_DEPRECATION = r"`torch\.jit\.load` is deprecated"


def torchscript_digest(data: bytes) -> str:
    """Return the SHA-256 of a TorchScript model's parameters and buffers, by name.

    The file's own bytes change on every trace: a random serialization id,
    debug tables with the folder it was saved from, and TorchScript's mangled
    class names, which count up within a process.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", TORCHSCRIPT_DEPRECATION, FutureWarning)
        model = torch.jit.load(io.BytesIO(data), map_location="cpu")
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().contiguous()
        digest.update(f"{name} {values.dtype} {tuple(values.shape)}".encode())
        digest.update(values.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def content_sha256(path: Path) -> str:
    """Return the SHA-256 of what an archive serves, the same for every rebuild of one model.

    It covers the manifest without its timestamp, the handler, the metadata the
    handler reads and the model's parameters and buffers.
    """
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as packed:
        for name in sorted(packed.namelist()):
            data = packed.read(name)
            if name == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                for key in VOLATILE_MANIFEST_KEYS:
                    manifest.pop(key, None)
                data = json.dumps(manifest, sort_keys=True).encode()
            elif name == "metadata.json":
                document = json.loads(data)
                data = json.dumps({key: document.get(key) for key in SERVED_KEYS}).encode()
            elif name.endswith(".pt"):
                data = torchscript_digest(data).encode()
            digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()


def hosted_sha256(url: str) -> str:
    """Download url in chunks and return the SHA-256 of its bytes."""
    digest = hashlib.sha256()
    try:
        with requests.get(url, stream=True, timeout=(5.0, 60.0)) as response:
            if not response.ok:
                raise PublishError(f"GET {url} returned HTTP {response.status_code}")
            for chunk in response.iter_content(chunk_size=1 << 20):
                digest.update(chunk)
    except requests.RequestException as error:
        raise PublishError(f"GET {url} failed: {type(error).__name__}") from None
    return digest.hexdigest()


def check_hosted(url: str, archive: ArchiveInfo) -> None:
    hosted = hosted_sha256(url)
    if hosted != archive.sha256:
        raise PublishError(
            f"the archive at {url} (SHA-256 {hosted}) differs from {archive.path} "
            f"(SHA-256 {archive.sha256}); upload {archive.path.name} again or fix MAR_URL"
        )


def place_in_store_dir(archive: ArchiveInfo, store_dir: Path) -> str:
    """Copy the archive into the store's model folder; return the file name to register."""
    target = Path(store_dir) / archive.path.name
    if target.exists() and target.resolve() == archive.path.resolve():
        return target.name
    if target.exists():
        if file_sha256(target) != archive.sha256:
            raise PublishError(
                f"{target} already exists with other content; remove it, or publish under "
                "a new version (change version in metadata.json, then 'make archive')"
            )
        return target.name
    partial = target.with_name(target.name + ".partial")
    try:
        shutil.copyfile(archive.path, partial)
        partial.rename(target)
    except OSError as error:
        raise PublishError(
            f"cannot write {target}: {error.strerror}; check MODEL_STORE_DIR, or host the "
            "archive and set MAR_URL instead"
        ) from None
    return target.name


def wait_until_ready(store: ModelStore, name: str, version: str, workers: int) -> ModelVersion:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        described = store.describe(name, version)
        if described.ready_workers >= workers:
            return described
        if time.monotonic() > deadline:
            states = ", ".join(worker.status for worker in described.workers) or "none"
            raise PublishError(
                f"{name} {version} has {described.ready_workers} of {workers} workers READY "
                f"after {READY_TIMEOUT:.0f} s (worker states: {states}); see the store's model log"
            )
        time.sleep(1.0)


@dataclass(frozen=True)
class SmokeRow:
    example: str
    store: dict
    in_process: dict
    difference: float


def checked_probabilities(answer: object, metadata: Metadata, where: str) -> torch.Tensor:
    """Return an answer's class probabilities after checking that it has the task's fields."""
    try:
        return response_probabilities(answer, list(metadata.class_names))
    except (KeyError, TypeError, ValueError, AttributeError, OSError):
        raise PublishError(
            f"{where} returned {json.dumps(answer)[:200]}, expected {EXPECTED_RESPONSE} "
            f"for the classes {', '.join(metadata.class_names)}"
        ) from None


def smoke_test(
    store: ModelStore, archive: ArchiveInfo, examples: list[Path], metadata: Metadata
) -> list[SmokeRow]:
    """Compare the store's responses for the examples with the archive's in this process.

    Both get the request for every class's probabilities. The in-process
    handler gets all examples in one batch and the store gets them one request
    at a time, so a model whose output depends on its batch fails here too.
    """
    requests = [probabilities_request(example.read_bytes()) for example in examples]
    with open_archive(archive.path, batch_size=len(requests)) as served:
        expected = served.predict(requests)
    rows = []
    for example, parts, reference in zip(examples, requests, expected, strict=True):
        if reference.status != 200:
            raise PublishError(f"the archive's handler rejected {example}: {reference.body}")
        local = checked_probabilities(reference.body, metadata, "the in-process handler")
        (_, body, content_type), *_ = parts
        try:
            answer = store.predict(archive.model_name, body, archive.version, content_type)
        except StoreError as error:
            raise PublishError(f"the smoke prediction for {example} failed: {error}") from None
        remote = checked_probabilities(answer, metadata, f"the store for {example}")
        difference = (remote - local).abs().max().item()
        rows.append(SmokeRow(example.name, answer, reference.body, difference))
        tolerance = SMOKE_TOLERANCE + PROBABILITY_RESOLUTION
        if response_decision(answer) != response_decision(reference.body) or difference > tolerance:
            raise PublishError(
                f"the store returned {response_summary(answer)} for {example} where the archive "
                f"in this process returns {response_summary(reference.body)}; the probabilities "
                f"differ by {difference:.3g} (tolerance {tolerance:.3g}). The store may run "
                "other library versions, or the model's output depends on its batch "
                "(for example BatchNorm traced in training mode)"
            )
    return rows


def format_rows(rows: list[SmokeRow]) -> list[str]:
    """Return the smoke test as a table: example, store answer, in-process answer."""
    width = max(len("example"), *(len(row.example) for row in rows))
    lines = [f"  {'example':<{width}}  {'store':<28}  {'in-process':<28}  max difference"]
    for row in rows:
        lines.append(
            f"  {row.example:<{width}}  {response_summary(row.store):<28}  "
            f"{response_summary(row.in_process):<28}  {row.difference:.1e}"
        )
    return lines


@dataclass(frozen=True)
class PublishRequest:
    """An archive to publish, with its examples, its source and the publish options.

    The store gets the archive from mar_url, or else by file name from store_dir.
    """

    archive: ArchiveInfo
    examples: list[Path]
    mar_url: str | None = None
    store_dir: Path | None = None
    workers: int = 1
    batch_size: int = 1
    max_batch_delay: int = 100  # ms that TorchServe waits to fill a batch
    replace: bool = False
    remove_previous: bool = False


def check_version_is_new(store: ModelStore, request: PublishRequest, say) -> None:
    """Reject an already registered version, or unregister it when asked to replace it."""
    name, version = request.archive.model_name, request.archive.version
    if version not in {each.version for each in store.versions(name)}:
        return
    default = store.default_version(name)
    is_default = default is not None and default.version == version
    if not request.replace:
        hint = "" if is_default else ", or set REPLACE=1 to replace it"
        raise PublishError(
            f"{name} {version} is already registered in {store.management_url}; publish "
            f"under a new version (change version in metadata.json, then 'make archive'){hint}"
        )
    if is_default:
        raise PublishError(
            f"{name} {version} is the default version, which serves "
            f"{store.prediction_url(name)}, so it cannot be replaced in place; publish "
            "under a new version instead"
        )
    say(f"      unregistering the registered {version}, which is not the default, to replace it")
    store.unregister(name, version)


def roll_back(store: ModelStore, name: str, version: str, error: BaseException) -> None:
    """Unregister the new version after a failed step; re-raise with what happened."""
    try:
        if version in {each.version for each in store.versions(name)}:
            store.unregister(name, version)
    except StoreError as cleanup_error:
        raise PublishError(
            f"{error}\nUnregistering {name} {version} failed as well: {cleanup_error}. "
            f"The default version is unchanged; remove {version} with "
            f"'make unpublish VERSION={version}'"
        ) from None
    raise PublishError(
        f"{error}\nThe store is unchanged: {name} {version} was unregistered and the "
        "previous default version still serves"
    ) from None


def publish(
    store: ModelStore,
    request: PublishRequest,
    metadata: Metadata,
    say: Callable[[str], None] = print,
) -> ModelVersion:
    """Run the four publish steps; return the version that is now the default."""
    archive = request.archive
    name, version = archive.model_name, archive.version
    store.require_inference_url()
    say(f"[1/4] Checking {archive.path.name}: {name} {version}, SHA-256 {archive.sha256}")
    if request.mar_url:
        check_hosted(request.mar_url, archive)
        say(f"      the archive at {request.mar_url} has the same SHA-256")
        source = request.mar_url
    elif request.store_dir is not None:
        source = place_in_store_dir(archive, request.store_dir)
        say(f"      registering {source} from the store's model folder {request.store_dir}")
    else:
        raise PublishError(
            f"publishing to {store.management_url} needs MAR_URL, the URL where the store "
            "can download the archive, or MODEL_STORE_DIR, the store's model folder if you "
            "can write to it"
        )
    check_version_is_new(store, request, say)
    previous = store.default_version(name)

    say(f"[2/4] Registering {name} {version} at {store.management_url} "
        f"with {request.workers} worker(s), batch size {request.batch_size}, "
        f"max batch delay {request.max_batch_delay} ms")  # fmt: skip
    try:
        store.register(source, name, request.workers, request.batch_size, request.max_batch_delay)
        wait_until_ready(store, name, version, request.workers)
        say(f"[3/4] Smoke test of {store.prediction_url(name, version)}")
        for line in format_rows(smoke_test(store, archive, request.examples, metadata)):
            say(line)
        say(f"[4/4] Making {version} the default version")
        store.set_default(name, version)
    except (StoreError, PublishError, KeyboardInterrupt) as error:
        roll_back(store, name, version, error)

    if request.remove_previous and previous is not None and previous.version != version:
        say(f"      unregistering the previous default version {previous.version}")
        try:
            store.unregister(name, previous.version)
        except StoreError as error:
            raise PublishError(
                f"{version} is now the default version, but unregistering {previous.version} "
                f"failed: {error}. Remove it with 'make unpublish VERSION={previous.version}'"
            ) from None
    default = store.default_version(name)
    say(f"Default version of {name}: {default.version}, at {store.prediction_url(name)}")
    return default
