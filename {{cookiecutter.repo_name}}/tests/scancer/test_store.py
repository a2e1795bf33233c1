import base64
import http.server
import threading

import pytest
import requests

from {{ cookiecutter.package_name }}.scancer import local_store
from {{ cookiecutter.package_name }}.scancer.publish import (
    PublishError,
    PublishRequest,
    publish,
    read_archive,
)
from {{ cookiecutter.package_name }}.scancer.store import ModelStore, StoreError
from {{ cookiecutter.package_name }}.scancer.store_auth import StoreAuth, store_auth

from conftest import free_ports, start_store

pytestmark = pytest.mark.serve


def client_for(server, auth):
    return ModelStore(server.management_url, server.inference_url, auth)


@pytest.fixture(scope="module")
def closed_store(tmp_path_factory):
    """A TorchServe without token auth whose model API is disabled, as TorchServe ships."""
    server = start_store(tmp_path_factory.mktemp("closed"), token_auth=False, model_api=False)
    yield server
    local_store.stop(server.serve_dir)


class BasicAuthProxy(http.server.BaseHTTPRequestHandler):
    """A reverse proxy that forwards requests with the right basic credentials to a store."""

    backend = ""
    authorization = ""

    def forward(self):
        if self.headers.get("Authorization") != self.authorization:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="model store"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length) if length else None
        answer = requests.request(self.command, self.backend + self.path, data=body, timeout=60)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_DELETE = forward

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def basic_auth_store(closed_store):
    """The store behind a basic-auth proxy on 127.0.0.1, as production runs it; return its URL."""
    credentials = base64.b64encode(b"alice:correct-horse").decode()
    handler = type(
        "Proxy",
        (BasicAuthProxy,),
        {"backend": closed_store.management_url, "authorization": f"Basic {credentials}"},
    )
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{proxy.server_port}"
    proxy.shutdown()
    proxy.server_close()


def test_basic_auth_from_netrc(basic_auth_store, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password correct-horse\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    auth = store_auth(basic_auth_store, {"MODEL_STORE_AUTH": "basic"})

    with ModelStore(basic_auth_store, None, auth) as client:
        assert client.model_names() == []


def test_basic_auth_wrong_password(basic_auth_store):
    environ = {"MODEL_STORE_USER": "alice", "MODEL_STORE_PASSWORD": "wrong-horse"}
    auth = store_auth(basic_auth_store, environ)

    with ModelStore(basic_auth_store, None, auth) as client:
        with pytest.raises(StoreError, match="rejected the credentials") as raised:
            client.model_names()

    assert raised.value.status == 401
    assert "wrong-horse" not in str(raised.value)
    assert "MODEL_STORE_USER (alice)" in str(raised.value)


def test_key_file_grants_access(store):
    assert store.ping() == "Healthy"
    assert isinstance(store.model_names(), list)


def test_missing_token_rejected(store_server):
    with client_for(store_server, StoreAuth("none", "no credentials")) as client:
        with pytest.raises(StoreError, match="rejected the credentials") as raised:
            client.model_names()

    assert raised.value.status == 400
    assert raised.value.error_type == "InvalidKeyException"
    assert store_server.management_url in str(raised.value)


def test_wrong_token_not_in_message(store_server):
    secret = "wrong-token-4821"
    auth = store_auth(store_server.management_url, {"MODEL_STORE_TOKEN": secret})
    with client_for(store_server, auth) as client:
        with pytest.raises(StoreError) as raised:
            client.ping()

    assert "MODEL_STORE_TOKEN" in str(raised.value)
    assert secret not in str(raised.value)
    assert secret not in repr(auth)


def test_model_api_disabled(closed_store, store_archives, metadata):
    archive = store_archives["1.0.0"]
    with client_for(closed_store, StoreAuth("none", "no credentials")) as client:
        with pytest.raises(StoreError, match="enable_model_api=true") as raised:
            client.register(archive.name, metadata.model_name, workers=1)

        assert raised.value.status == 405
        assert client.model_names() == []


def test_publish_with_model_api_disabled(closed_store, store_archives, examples, metadata):
    archive = store_archives["1.0.0"]
    request = PublishRequest(read_archive(archive, metadata), examples, store_dir=archive.parent)
    with client_for(closed_store, StoreAuth("none", "no credentials")) as client:
        with pytest.raises(PublishError, match="model API is disabled"):
            publish(client, request, metadata)

        assert client.model_names() == []


def test_server_down():
    port = free_ports()[0]
    url = f"http://127.0.0.1:{port}"
    with ModelStore(url, url, StoreAuth("none", "no credentials")) as client:
        with pytest.raises(StoreError, match="cannot connect") as raised:
            client.model_names()

    assert f"GET {url}/models" in str(raised.value)
    assert raised.value.status is None
