"""Serve the model locally and manage it in a TorchServe model store.

The Makefile's serve, stop, publish, models, describe, scale, default and
unpublish targets call it. Without --store-url every command works on the local store that
'make serve' started. Credentials come from the environment, see store_auth.
"""

import argparse
import sys
from pathlib import Path

from . import local_store
from .local_store import ServeError
from .metadata import MetadataError, load_metadata
from .paths import EXAMPLES_DIR, MODEL_STORE, SERVE_DIR, archive_path
from .publish import PublishError, PublishRequest, publish, read_archive
from .store import ModelStore, StoreError
from .store_auth import CredentialsError, store_auth


def connect(args) -> tuple[ModelStore, local_store.LocalServer | None]:
    """Return a client for --store-url, or for the running local store."""
    if args.store_url:
        auth = store_auth(args.store_url)
        return ModelStore(args.store_url, args.inference_url or None, auth), None
    server = local_store.running(SERVE_DIR)
    if server is None:
        raise StoreError(
            "no local store is running; start one with 'make serve', "
            "or set MODEL_STORE_URL to the management API of a store"
        )
    auth = store_auth(server.management_url, default_key_file=server.key_file)
    return ModelStore(server.management_url, server.inference_url, auth), server


def parse_ports(text: str) -> tuple[int, int, int]:
    try:
        ports = tuple(int(port) for port in text.split(","))
    except ValueError:
        ports = ()
    if len(ports) != 3 or not all(0 < port < 65536 for port in ports):
        raise argparse.ArgumentTypeError(
            f"PORTS={text!r} is not three ports for inference, management and metrics, "
            "such as 8080,8081,8082"
        )
    return ports


def whole_number(variable: str, minimum: int = 1):
    """Return an argparse type for a whole number of at least minimum, named after variable."""

    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(
                f"{variable}={text!r} is not a whole number of at least {minimum}"
            )
        return int(text)

    return parse


def publish_request(args, server) -> PublishRequest:
    metadata = load_metadata()
    path = args.archive or archive_path(
        metadata.model_name, args.version or metadata.version, MODEL_STORE
    )
    examples = sorted(EXAMPLES_DIR.glob("*.png"))
    if not examples:
        raise PublishError(f"no example images in {EXAMPLES_DIR}; run 'make sample-data'")
    store_dir = args.store_dir or (MODEL_STORE if server is not None else None)
    return PublishRequest(
        archive=read_archive(path, metadata),
        examples=examples,
        mar_url=args.mar_url or None,
        store_dir=store_dir,
        workers=args.workers,
        batch_size=args.batch_size,
        max_batch_delay=args.max_batch_delay,
        replace=args.replace,
        remove_previous=args.remove_previous,
    )


def run_publish(args) -> None:
    store, server = connect(args)
    with store:
        publish(store, publish_request(args, server), load_metadata())


def run_serve(args) -> None:
    """Start the local store unless it runs, then publish the archive unless it is there."""
    metadata = load_metadata()
    server = local_store.running(SERVE_DIR)
    started = server is None
    if started:
        # Check the archive before spending the time to start Java.
        read_archive(
            args.archive or archive_path(metadata.model_name, metadata.version, MODEL_STORE),
            metadata,
        )
        server = local_store.start(SERVE_DIR, MODEL_STORE, ports=args.ports)
    print(f"Local store: management {server.management_url}, inference {server.inference_url}")
    print(f"  logs in {SERVE_DIR / 'logs'}; stop it with 'make stop'")
    store, _ = connect(args)
    with store:
        registered = {each.version for each in store.versions(metadata.model_name)}
        if metadata.version in registered:
            print(
                f"{metadata.model_name} {metadata.version} is already registered; to serve "
                "an archive rebuilt with the same version, run 'make stop serve'"
            )
            return
        try:
            publish(store, publish_request(args, server), metadata)
        except (PublishError, StoreError) as error:
            tail = local_store.log_tail(SERVE_DIR)
            if started:
                local_store.stop(SERVE_DIR)
                tail += "\nThe local store was stopped."
            raise PublishError(f"{error}\n{tail}") from None


def run_stop(args) -> None:
    server = local_store.stop(SERVE_DIR)
    if server is None:
        print(f"No local store runs from {SERVE_DIR}")
    else:
        print(f"Stopped the local store (PID {server.pid}) and its workers")


def run_models(args) -> None:
    store, _ = connect(args)
    with store:
        names = store.model_names()
        if not names:
            print(f"No models are registered in {store.management_url}")
        for name in names:
            describe_model(store, name)


def prediction_suffix(store: ModelStore, name: str) -> str:
    return f", at {store.prediction_url(name)}" if store.inference_url else ""


def describe_model(store: ModelStore, name: str) -> None:
    versions = store.versions(name)
    if not versions:
        raise StoreError(
            f"no model named {name} is registered in {store.management_url}; "
            "publish it with 'make publish'"
        )
    default = store.default_version(name)
    print(f"{name}{prediction_suffix(store, name)}:")
    for each in versions:
        marker = " (default)" if default is not None and each.version == default.version else ""
        states = ", ".join(f"{worker.status}" for worker in each.workers) or "no workers"
        print(f"  {each.version}{marker}: {len(each.workers)} worker(s): {states}; {each.url}")


def run_describe(args) -> None:
    store, _ = connect(args)
    with store:
        describe_model(store, load_metadata().model_name)


def version_or_default(store: ModelStore, name: str, version: str | None) -> str:
    if version:
        return version
    default = store.default_version(name)
    if default is None:
        raise StoreError(f"no model named {name} is registered in {store.management_url}")
    return default.version


def run_scale(args) -> None:
    name = load_metadata().model_name
    store, _ = connect(args)
    with store:
        version = version_or_default(store, name, args.version)
        store.scale(name, version, args.workers)
        described = store.describe(name, version)
        print(f"{name} {version}: {described.ready_workers} worker(s) READY")


def run_default(args) -> None:
    name = load_metadata().model_name
    store, _ = connect(args)
    with store:
        check_registered(store, name, args.version)
        store.set_default(name, args.version)
        print(f"Default version of {name}: {args.version}{prediction_suffix(store, name)}")


def check_registered(store: ModelStore, name: str, version: str) -> list[str]:
    """Return the model's registered versions, raising StoreError if version is not one."""
    versions = [each.version for each in store.versions(name)]
    if version not in versions:
        listed = ", ".join(versions) or "none"
        raise StoreError(f"{name} has no version {version} (registered: {listed})")
    return versions


def unpublish(store: ModelStore, name: str, version: str) -> None:
    """Unregister a version; reject the default version while others exist."""
    versions = check_registered(store, name, version)
    default = store.default_version(name)
    others = [each for each in versions if each != version]
    if default is not None and default.version == version and others:
        raise StoreError(
            f"{version} is the default version of {name}; make another version the "
            f"default first, for example 'make default VERSION={others[-1]}'"
        )
    store.unregister(name, version)


def run_unpublish(args) -> None:
    name = load_metadata().model_name
    store, _ = connect(args)
    with store:
        unpublish(store, name, args.version)
        print(f"Unregistered {name} {args.version}")
        if not store.versions(name):
            print(f"No version of {name} is registered now, so its predictions return 404")


def version_text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("VERSION is empty; give a version such as VERSION=1.0.0")
    return text.strip()


def add_serving_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=whole_number("WORKERS"), default=1, help="workers of the version"
    )
    parser.add_argument(
        "--batch-size", type=whole_number("BATCH_SIZE"), default=1, help="images per batch"
    )
    parser.add_argument(
        "--max-batch-delay", type=whole_number("MAX_BATCH_DELAY", 0), default=100,
        help="ms that TorchServe waits to fill a batch",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-url", default="", help="management API; empty: the local store")
    parser.add_argument("--inference-url", default="", help="inference API of --store-url")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the local store and publish the archive")
    serve.add_argument("--ports", type=parse_ports, help="inference,management,metrics ports")
    add_serving_options(serve)
    serve.set_defaults(
        version=None, archive=None, mar_url="", store_dir=None,
        replace=False, remove_previous=False,
    )  # fmt: skip
    commands.add_parser("stop", help="stop the local store and wait for its processes")

    publish_command = commands.add_parser("publish", help="publish the archive safely")
    publish_command.add_argument("--version", help="archive version (default: metadata.json)")
    publish_command.add_argument("--archive", type=Path, help="archive file to publish")
    publish_command.add_argument("--mar-url", default="", help="URL where the archive is hosted")
    publish_command.add_argument("--store-dir", type=Path, help="the store's model folder")
    add_serving_options(publish_command)
    publish_command.add_argument("--replace", action="store_true")
    publish_command.add_argument("--remove-previous", action="store_true")

    commands.add_parser("models", help="list the store's models and versions")
    commands.add_parser("describe", help="describe this model's versions and workers")
    scale = commands.add_parser("scale", help="set the number of workers of a version")
    scale.add_argument("--workers", type=whole_number("WORKERS"), required=True)
    scale.add_argument("--version", help="default: the default version")
    default = commands.add_parser("default", help="make a version the default")
    default.add_argument("--version", type=version_text, required=True)
    unpublish = commands.add_parser("unpublish", help="unregister a version")
    unpublish.add_argument("--version", type=version_text, required=True)
    return parser


COMMANDS = {
    "serve": run_serve,
    "stop": run_stop,
    "publish": run_publish,
    "models": run_models,
    "describe": run_describe,
    "scale": run_scale,
    "default": run_default,
    "unpublish": run_unpublish,
}


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (StoreError, PublishError, ServeError, CredentialsError, MetadataError) as error:
        print(f"{args.command} failed: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
