"""Start and stop a local TorchServe that listens on 127.0.0.1 only.

The server writes to its serve folder (``build/serve`` by default):
``config.properties``, ``server.json`` with its PID and URLs, the
``key_file.json`` that TorchServe writes in its working folder, and logs. Its
TMPDIR is a private folder under the system's temporary folder instead,
because the workers' Unix sockets live there and a socket path is limited to
107 bytes. Token authorisation stays on, and the model API is enabled because
this store only listens on loopback.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import requests

from .store_auth import CredentialsError, read_key_file

DEFAULT_PORTS = (8080, 8081, 8082)  # inference, management, metrics
# TorchServe always opens its gRPC APIs too; there is no setting to turn them off.
DEFAULT_GRPC_PORTS = (7070, 7071)  # inference, management
START_TIMEOUT = 90.0  # seconds until /ping responds
STOP_TIMEOUT = 60.0  # seconds until the server and its workers exit
JAVA_VERSION = 17  # the version TorchServe 0.12 is built for
SERVER_CLASS = "org.pytorch.serve.ModelServer"
LOG_TAIL_LINES = 15


class ServeError(RuntimeError):
    """Failure to start or stop the local store, with the reason in the message."""


@dataclass(frozen=True)
class LocalServer:
    """A running local store: its Java process and URLs."""

    pid: int
    inference_url: str
    management_url: str
    metrics_url: str
    serve_dir: str
    tmp_dir: str
    token_auth: bool

    @property
    def key_file(self) -> Path | None:
        return Path(self.serve_dir) / "key_file.json" if self.token_auth else None


def java_command() -> str:
    """Return the java executable TorchServe will run, checking its version."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).is_file():
        where = f"JAVA_HOME={java_home}" if java_home else "PATH"
        raise ServeError(
            f"Java not found on {where}; TorchServe needs Java {JAVA_VERSION}: install it "
            "(Debian/Ubuntu: apt install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True)
    match = re.search(r'version "(\d+)', result.stderr)
    if match is None or int(match.group(1)) < JAVA_VERSION:
        found = match.group(1) if match else "unknown"
        raise ServeError(f"{java} is Java {found}; TorchServe 0.12 needs Java {JAVA_VERSION}")
    return java


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a port on 127.0.0.1 that the operating system has just handed out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_ports(count: int) -> tuple[int, ...]:
    """Return count distinct ports on 127.0.0.1 that are free now."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return tuple(ports)


def free_or_replaced(preferred: tuple[int, ...], chosen: list[int]) -> list[int]:
    """Return the preferred ports, each busy one replaced by a free port not in chosen."""
    ports = []
    for port in preferred:
        candidate = port if port_is_free(port) else free_port()
        while candidate in chosen or candidate in ports:
            candidate = free_port()
        ports.append(candidate)
    return ports


def choose_ports(requested: tuple[int, int, int] | None) -> tuple[int, ...]:
    """Return five ports: the HTTP ports for inference, management and metrics, then gRPC's.

    Requested HTTP ports must be free; without them the defaults are used and
    each busy one is replaced by a free port.
    """
    if requested is not None:
        busy_ports = [str(port) for port in requested if not port_is_free(port)]
        if busy_ports:
            raise ServeError(
                f"port {', '.join(busy_ports)} on 127.0.0.1 is taken; stop what listens there, "
                "choose other PORTS, or leave PORTS empty to pick free ports"
            )
        http = list(requested)
    else:
        http = free_or_replaced(DEFAULT_PORTS, [])
    return tuple(http + free_or_replaced(DEFAULT_GRPC_PORTS, http))


def render_config(
    ports: tuple[int, ...],
    model_store: Path,
    allowed_urls: list[str],
    token_auth: bool,
    model_api: bool,
) -> str:
    """Return config.properties for a store on loopback; see the TorchServe configuration docs."""
    inference, management, metrics, grpc_inference, grpc_management = ports
    lines = [
        f"inference_address=http://127.0.0.1:{inference}",
        f"management_address=http://127.0.0.1:{management}",
        f"metrics_address=http://127.0.0.1:{metrics}",
        "grpc_inference_address=127.0.0.1",
        f"grpc_inference_port={grpc_inference}",
        "grpc_management_address=127.0.0.1",
        f"grpc_management_port={grpc_management}",
        f"model_store={model_store}",
        # Archives in model_store register by file name without this check.
        # Any other URL must match one of these patterns.
        f"allowed_urls={','.join(allowed_urls)}",
        f"enable_model_api={str(model_api).lower()}",
        f"disable_token_authorization={str(not token_auth).lower()}",
        "install_py_dep_per_model=false",
        "enable_envvars_config=false",
        "default_workers_per_model=1",
    ]
    return "\n".join(lines) + "\n"


def log_tail(serve_dir: Path) -> str:
    """Return the last lines of the console and TorchServe logs, for error messages."""
    parts = []
    for path in (serve_dir / "console.log", serve_dir / "logs" / "ts_log.log"):
        if path.is_file():
            lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            parts.append(f"--- last lines of {path}\n" + "\n".join(lines))
    return "\n".join(parts)


def server_process(pid: int) -> psutil.Process | None:
    """Return the TorchServe Java process with this PID, or None if it has exited."""
    try:
        process = psutil.Process(pid)
        if SERVER_CLASS in process.cmdline():
            return process
    except psutil.Error:
        pass
    return None


def running(serve_dir: Path) -> LocalServer | None:
    """Return the server started in serve_dir if it still runs; clear a stale record."""
    record = Path(serve_dir) / "server.json"
    if not record.is_file():
        return None
    server = LocalServer(**json.loads(record.read_text()))
    if server_process(server.pid) is None:
        record.unlink()
        shutil.rmtree(server.tmp_dir, ignore_errors=True)
        return None
    return server


def listening_ports(process: psutil.Process) -> set[int]:
    try:
        connections = process.net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {conn.laddr.port for conn in connections if conn.status == psutil.CONN_LISTEN}


def ping(server: LocalServer) -> bool:
    """Return True once the inference API reports itself healthy on /ping."""
    auth = None
    if server.key_file is not None:
        try:
            auth = read_key_file(server.key_file).inference
        except CredentialsError:  # TorchServe has not written its key file yet
            return False
    try:
        response = requests.get(f"{server.inference_url}/ping", auth=auth, timeout=5)
    except requests.RequestException:
        return False
    return response.ok and response.json().get("status") == "Healthy"


def wait_until_ready(server: LocalServer, ports: tuple[int, ...], timeout: float) -> None:
    """Wait until this server's own process listens on its ports and /ping responds."""
    serve_dir = Path(server.serve_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process = server_process(server.pid)
        if process is None:
            raise ServeError(f"TorchServe exited while starting\n{log_tail(serve_dir)}")
        # The PID's own sockets distinguish this server from another one that
        # already listens on the same port.
        if set(ports[:2]) <= listening_ports(process) and ping(server):
            return
        time.sleep(0.5)
    raise ServeError(
        f"TorchServe (PID {server.pid}) did not respond on {server.inference_url}/ping within "
        f"{timeout:.0f} s; it is still running, so stop it with 'make stop'\n{log_tail(serve_dir)}"
    )


def start(
    serve_dir: Path,
    model_store: Path,
    ports: tuple[int, int, int] | None = None,
    allowed_urls: list[str] | None = None,
    token_auth: bool = True,
    model_api: bool = True,
    timeout: float = START_TIMEOUT,
) -> LocalServer:
    """Start TorchServe in the background and wait until it responds; return its record."""
    serve_dir = Path(serve_dir).resolve()
    model_store = Path(model_store).resolve()
    current = running(serve_dir)
    if current is not None:
        raise ServeError(
            f"a local store already runs from {serve_dir} (PID {current.pid}, "
            f"{current.management_url}); stop it first with 'make stop'"
        )

    java = java_command()
    ports = choose_ports(ports)
    for folder in (serve_dir / "logs", model_store):
        folder.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix="torchserve-"))
    (serve_dir / "key_file.json").unlink(missing_ok=True)

    config = serve_dir / "config.properties"
    urls = allowed_urls if allowed_urls is not None else [f"file://{model_store}/.*"]
    config.write_text(render_config(ports, model_store, urls, token_auth, model_api))
    environment = os.environ | {
        "TMPDIR": str(temporary),  # read by the launcher for its PID file
        "TEMP": str(temporary),  # passed to Java as java.io.tmpdir
        "LOG_LOCATION": str(serve_dir / "logs"),
        "METRICS_LOCATION": str(serve_dir / "logs"),
        "JAVA_HOME": str(Path(java).resolve().parents[1]),
    }

    command = [sys.executable, "-m", "ts.model_server", "--start", "--ncs"]
    command += ["--ts-config", str(config), "--model-store", str(model_store)]
    with open(serve_dir / "console.log", "w") as console:
        subprocess.run(
            command,
            cwd=serve_dir,
            env=environment,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the calling shell leaves the server running
            check=False,
            timeout=60,
        )

    pid_file = temporary / ".model_server.pid"
    if not pid_file.is_file():
        shutil.rmtree(temporary, ignore_errors=True)
        raise ServeError(f"TorchServe did not start\n{log_tail(serve_dir)}")

    inference, management, metrics = ports[:3]
    server = LocalServer(
        pid=int(pid_file.read_text().strip()),
        inference_url=f"http://127.0.0.1:{inference}",
        management_url=f"http://127.0.0.1:{management}",
        metrics_url=f"http://127.0.0.1:{metrics}",
        serve_dir=str(serve_dir),
        tmp_dir=str(temporary),
        token_auth=token_auth,
    )
    (serve_dir / "server.json").write_text(json.dumps(asdict(server), indent=2) + "\n")
    print(f"TorchServe started (PID {server.pid}), waiting up to {timeout:.0f} s for /ping")
    wait_until_ready(server, ports, timeout)
    return server


def stop(serve_dir: Path, timeout: float = STOP_TIMEOUT) -> LocalServer | None:
    """Stop the server started in serve_dir and its workers; return it, or None if none ran."""
    serve_dir = Path(serve_dir).resolve()
    server = running(serve_dir)
    if server is None:
        return None
    process = server_process(server.pid)
    processes = [process, *process.children(recursive=True)] if process else []
    for each in processes:
        try:
            each.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for each in alive:
        each.kill()
    psutil.wait_procs(alive, timeout=10)
    for name in ("server.json", "key_file.json"):
        (serve_dir / name).unlink(missing_ok=True)
    shutil.rmtree(server.tmp_dir, ignore_errors=True)
    return server
