import json
import socket
from pathlib import Path

import psutil
import pytest

from {{ cookiecutter.package_name }}.scancer import local_store
from {{ cookiecutter.package_name }}.scancer.local_store import ServeError

from conftest import free_ports, start_store


def test_config_listens_on_loopback_only(tmp_path):
    ports = (9080, 9081, 9082, 9070, 9071)
    allowed = [f"file://{tmp_path}/.*"]
    config = local_store.render_config(ports, tmp_path, allowed, token_auth=True, model_api=True)
    settings = dict(line.split("=", 1) for line in config.splitlines())

    assert settings["inference_address"] == "http://127.0.0.1:9080"
    assert settings["management_address"] == "http://127.0.0.1:9081"
    assert settings["metrics_address"] == "http://127.0.0.1:9082"
    assert settings["grpc_inference_address"] == "127.0.0.1"
    assert settings["grpc_management_address"] == "127.0.0.1"
    assert settings["grpc_management_port"] == "9071"
    assert settings["allowed_urls"] == f"file://{tmp_path}/.*"
    assert settings["disable_token_authorization"] == "false"
    assert settings["enable_model_api"] == "true"


def test_busy_default_port_replaced(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        monkeypatch.setattr(local_store, "DEFAULT_PORTS", (busy_port, *free_ports()[:2]))

        ports = local_store.choose_ports(None)

    assert busy_port not in ports
    assert len(set(ports)) == 5


def test_taken_port_rejected(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        _, management, metrics = free_ports()

        with pytest.raises(ServeError, match=f"port {busy_port} on 127.0.0.1 is taken"):
            local_store.start(
                tmp_path / "serve", tmp_path / "store", (busy_port, management, metrics)
            )

    assert local_store.running(tmp_path / "serve") is None


def test_missing_java_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))

    with pytest.raises(ServeError, match="Java not found on JAVA_HOME=.*openjdk-17"):
        local_store.start(tmp_path / "serve", tmp_path / "store")

    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServeError, match="Java not found on PATH"):
        local_store.java_command()


@pytest.mark.serve
def test_start_and_stop(tmp_path):
    server = start_store(tmp_path)
    serve_dir = tmp_path / "serve"
    process = psutil.Process(server.pid)
    assert len(str(Path(server.tmp_dir) / ".ts.sock.9000")) < 108
    recorded = json.loads((serve_dir / "server.json").read_text())

    with pytest.raises(ServeError, match="already runs"):
        start_store(tmp_path)
    stopped = local_store.stop(serve_dir)

    assert recorded["pid"] == server.pid
    assert stopped == server
    assert not process.is_running()
    assert local_store.running(serve_dir) is None
    assert not (serve_dir / "key_file.json").exists()
    assert not Path(server.tmp_dir).exists()
    assert local_store.stop(serve_dir) is None
