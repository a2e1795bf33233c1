"""Credentials for a TorchServe model store, read from the environment.

Secrets come from environment variables, ``~/.netrc`` or TorchServe's
``key_file.json``, never from command-line arguments, which land in shell
history and process listings. ``MODEL_STORE_AUTH`` picks the scheme:

- ``none``: send no credentials.
- ``basic``: ``MODEL_STORE_USER`` and ``MODEL_STORE_PASSWORD``, or the
  ``~/.netrc`` entry of the store's host. This is the scheme of a store behind
  an HTTPS proxy.
- ``bearer``: ``MODEL_STORE_TOKEN`` for both APIs, or ``MODEL_STORE_KEY_FILE``,
  the ``key_file.json`` that TorchServe writes, whose management and inference
  keys go to the matching API.

Left empty, the scheme is ``bearer`` when a token or key file is set,
``basic`` when a user is set, and otherwise ``none``, which still lets
requests use a ``~/.netrc`` entry.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests
from requests.auth import AuthBase, HTTPBasicAuth

SCHEMES = ("none", "basic", "bearer")


class CredentialsError(ValueError):
    """Credentials that are missing or unreadable; the message names the variable."""


class BearerAuth(AuthBase):
    """An ``Authorization: Bearer`` header; repr() never shows the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


@dataclass(frozen=True)
class StoreAuth:
    """Request auth for the management and inference APIs, and where it came from."""

    scheme: str
    source: str
    management: AuthBase | None = field(default=None, repr=False)
    inference: AuthBase | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def redact(self, text: str) -> str:
        """Replace every secret in text with ***."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def read_key_file(path: Path) -> StoreAuth:
    """Read TorchServe's key_file.json into bearer auth for both APIs."""
    try:
        keys = json.loads(Path(path).read_text())
        management = keys["management"]["key"]
        inference = keys["inference"]["key"]
    except FileNotFoundError:
        raise CredentialsError(f"key file {path} not found") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CredentialsError(
            f"key file {path} is not TorchServe's key_file.json "
            "(expected management.key and inference.key)"
        ) from None
    return StoreAuth(
        "bearer",
        f"key file {path}",
        BearerAuth(management),
        BearerAuth(inference),
        (management, inference),
    )


def basic_auth(environ: Mapping[str, str], management_url: str) -> StoreAuth:
    """Return basic auth from MODEL_STORE_USER/PASSWORD or the netrc entry of the host."""
    user = environ.get("MODEL_STORE_USER")
    password = environ.get("MODEL_STORE_PASSWORD")
    if user and password:
        auth = HTTPBasicAuth(user, password)
        return StoreAuth("basic", f"MODEL_STORE_USER ({user})", auth, auth, (password,))
    if user or password:
        missing = "MODEL_STORE_PASSWORD" if user else "MODEL_STORE_USER"
        raise CredentialsError(f"basic auth needs {missing} as well")
    netrc = requests.utils.get_netrc_auth(management_url)
    if netrc is None:
        raise CredentialsError(
            "basic auth needs MODEL_STORE_USER and MODEL_STORE_PASSWORD, "
            f"or a ~/.netrc entry for the host of {management_url}"
        )
    auth = HTTPBasicAuth(*netrc)
    return StoreAuth("basic", f"~/.netrc ({netrc[0]})", auth, auth, (netrc[1],))


def store_auth(
    management_url: str,
    environ: Mapping[str, str] = os.environ,
    default_key_file: Path | None = None,
) -> StoreAuth:
    """Build the store's auth from the environment; see the module docstring.

    default_key_file is used for bearer auth when no token or key file is set,
    as for the local store, whose key file is known.
    """
    token = environ.get("MODEL_STORE_TOKEN")
    key_file = environ.get("MODEL_STORE_KEY_FILE")
    scheme = environ.get("MODEL_STORE_AUTH", "")
    if not scheme:
        if token or key_file or default_key_file:
            scheme = "bearer"
        elif environ.get("MODEL_STORE_USER"):
            scheme = "basic"
        else:
            scheme = "none"
    if scheme not in SCHEMES:
        raise CredentialsError(
            f"MODEL_STORE_AUTH={scheme!r} is not a known scheme; use one of {', '.join(SCHEMES)}"
        )
    if scheme == "none":
        return StoreAuth("none", "no credentials")
    if scheme == "basic":
        return basic_auth(environ, management_url)
    if token:
        auth = BearerAuth(token)
        return StoreAuth("bearer", "MODEL_STORE_TOKEN", auth, auth, (token,))
    if key_file or default_key_file:
        return read_key_file(Path(key_file) if key_file else default_key_file)
    raise CredentialsError("bearer auth needs MODEL_STORE_TOKEN or MODEL_STORE_KEY_FILE")
