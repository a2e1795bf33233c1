"""Load a local TorchServe with concurrent clients and report throughput, latency and memory."""

import concurrent.futures
import shutil
import statistics
import threading
import time
from pathlib import Path

import psutil
import requests

from . import local_store
from .metadata import Metadata
from .store import ModelStore
from .store_auth import read_key_file

# Serving settings to compare: (workers, batch size, max batch delay in ms).
SETTINGS = ((1, 1, 0), (1, 8, 5), (2, 1, 0), (2, 8, 5))
CLIENTS = (1, 8)
OCTET_STREAM = {"Content-Type": "application/octet-stream"}


def run_clients(url: str, auth, bodies: list[bytes], requests_total: int, clients: int):
    """Send requests_total POSTs from that many client threads.

    Returns the latency of each request and the wall time, in seconds.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests_total))

    def client():
        with requests.Session() as session:
            for index in counter:
                body = bodies[index % len(bodies)]
                start = time.perf_counter()
                response = session.post(url, data=body, auth=auth, headers=OCTET_STREAM, timeout=60)
                elapsed = time.perf_counter() - start
                response.raise_for_status()
                with lock:
                    latencies.append(elapsed)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return latencies, time.perf_counter() - start


def worker_memory_mb(store: ModelStore, name: str, version: str) -> float:
    """Return the resident memory of the version's workers, summed, in MB."""
    total = 0
    for worker in store.describe(name, version).workers:
        try:
            total += psutil.Process(worker.pid).memory_info().rss
        except (psutil.Error, TypeError):
            pass
    return total / 1e6


def measure_server(folder: Path, archive: Path, metadata: Metadata, bodies: list[bytes],
                   settings, requests_total: int, in_process_rate: float) -> None:  # fmt: skip
    """Start a local TorchServe in folder and print one row per setting and client count."""
    store_dir = folder / "model-store"
    store_dir.mkdir(parents=True)
    shutil.copy(archive, store_dir / archive.name)
    server = local_store.start(folder / "serve", store_dir, ports=local_store.free_ports(3))
    try:
        auth = read_key_file(server.key_file)
        name, version = metadata.model_name, metadata.version
        print(f"TorchServe on 127.0.0.1, {requests_total} requests per row; "
              f"served / in-process compares with the handler in-process at batch 8 "
              f"({in_process_rate:.0f} images/s)")  # fmt: skip
        print("| workers | batch size | max batch delay ms | clients | requests/s | "
              "p50 ms | p99 ms | worker memory MB | served / in-process |")  # fmt: skip
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        with ModelStore(server.management_url, server.inference_url, auth) as store:
            for workers, batch_size, delay in settings:
                store.register(archive.name, name, workers, batch_size, delay)
                url = store.prediction_url(name, version)
                for clients in CLIENTS:
                    run_clients(url, auth.inference, bodies, 20, clients)  # warm-up
                    latencies, wall = run_clients(
                        url, auth.inference, bodies, requests_total, clients
                    )
                    latencies.sort()
                    rate = len(latencies) / wall
                    p50 = statistics.median(latencies) * 1000
                    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
                    memory = worker_memory_mb(store, name, version)
                    print(f"| {workers} | {batch_size} | {delay} | {clients} | {rate:.0f} | "
                          f"{p50:.1f} | {p99:.1f} | {memory:.0f} | "
                          f"{rate / in_process_rate:.2f} |")  # fmt: skip
                store.unregister(name, version)
    finally:
        local_store.stop(folder / "serve")
