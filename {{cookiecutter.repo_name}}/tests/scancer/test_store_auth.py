import json

import pytest
import requests

from {{ cookiecutter.package_name }}.scancer.store import StoreError, check_url
from {{ cookiecutter.package_name }}.scancer.store_auth import (
    CredentialsError,
    read_key_file,
    store_auth,
)

URL = "https://models.example.org:8443"


def authorization(auth):
    """Return the Authorization header that auth adds to a request."""
    request = requests.Request("GET", URL).prepare()
    return auth(request).headers["Authorization"]


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "key_file.json"
    keys = {
        "management": {"key": "manage-key", "expiration time": "2026-12-04T21:00:00Z"},
        "inference": {"key": "infer-key", "expiration time": "2026-12-04T21:00:00Z"},
        "API": {"key": "api-key"},
    }
    path.write_text(json.dumps(keys))
    return path


@pytest.fixture
def netrc(tmp_path, monkeypatch):
    path = tmp_path / "netrc"
    path.write_text("machine models.example.org login alice password from-netrc\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    return path


def test_no_variables_means_no_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    auth = store_auth(URL, {})

    assert auth.scheme == "none"
    assert auth.management is None


def test_basic_from_environment():
    auth = store_auth(URL, {"MODEL_STORE_USER": "alice", "MODEL_STORE_PASSWORD": "s3cret"})

    assert auth.scheme == "basic"
    assert authorization(auth.management).startswith("Basic ")
    assert "s3cret" not in repr(auth)
    assert auth.redact("password s3cret") == "password ***"


def test_basic_from_netrc(netrc):
    auth = store_auth(URL, {"MODEL_STORE_AUTH": "basic"})

    assert auth.source == "~/.netrc (alice)"
    assert authorization(auth.inference).startswith("Basic ")


def test_basic_without_password_rejected():
    with pytest.raises(CredentialsError, match="needs MODEL_STORE_PASSWORD as well"):
        store_auth(URL, {"MODEL_STORE_USER": "alice"})


def test_basic_without_any_source_rejected(monkeypatch, tmp_path):
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))

    with pytest.raises(CredentialsError, match="~/.netrc entry for the host"):
        store_auth(URL, {"MODEL_STORE_AUTH": "basic"})


def test_bearer_token_for_both_apis():
    auth = store_auth(URL, {"MODEL_STORE_TOKEN": "tok-123"})

    assert authorization(auth.management) == "Bearer tok-123"
    assert authorization(auth.inference) == "Bearer tok-123"
    assert "tok-123" not in repr(auth.management)


def test_key_file_keys_per_api(key_file):
    auth = store_auth(URL, {"MODEL_STORE_KEY_FILE": str(key_file)})

    assert authorization(auth.management) == "Bearer manage-key"
    assert authorization(auth.inference) == "Bearer infer-key"
    assert auth.redact("manage-key infer-key") == "*** ***"


def test_default_key_file_of_local_store(key_file):
    auth = store_auth(URL, {}, default_key_file=key_file)

    assert auth.scheme == "bearer"
    assert str(key_file) in auth.source


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "not found"), ("{}", "expected management.key"), ("[1", "expected management.key")],
)
def test_bad_key_file_rejected(tmp_path, content, reason):
    path = tmp_path / "key_file.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(CredentialsError, match=reason):
        read_key_file(path)


def test_unknown_scheme_rejected():
    with pytest.raises(CredentialsError, match="MODEL_STORE_AUTH='digest' is not a known scheme"):
        store_auth(URL, {"MODEL_STORE_AUTH": "digest"})


def test_bearer_without_token_rejected():
    with pytest.raises(CredentialsError, match="MODEL_STORE_TOKEN or MODEL_STORE_KEY_FILE"):
        store_auth(URL, {"MODEL_STORE_AUTH": "bearer"})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://user:hunter2@127.0.0.1:8081", "contains credentials"),
        ("ftp://127.0.0.1:8081", "not an http"),
        ("127.0.0.1:8081", "not an http"),
    ],
)
def test_bad_store_url_rejected(url, reason):
    with pytest.raises(StoreError, match=reason) as raised:
        check_url(url, "MODEL_STORE_URL")

    assert "hunter2" not in str(raised.value)
