"""A small typed client for the TorchServe 0.12 management and inference APIs.

Every call has a timeout. Only GET requests are retried after a read error or
a 502/503/504 response, because repeating them changes nothing. Any request is
retried when the connection could not be opened, because then nothing was
sent. Errors name the URL, the HTTP status and TorchServe's error type, and
never contain credentials.
"""

import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .store_auth import StoreAuth

TIMEOUT = 10.0  # seconds, for calls that do not load a model
LOAD_TIMEOUT = 300.0  # seconds, for register and scale, which wait for workers
RETRIES = Retry(
    total=3,
    connect=3,
    read=2,
    status=2,
    backoff_factor=0.5,
    status_forcelist=(502, 503, 504),
    allowed_methods=frozenset({"GET"}),
    raise_on_status=False,
)


class StoreError(RuntimeError):
    """A failed call to the store; status and error_type are None when no response came."""

    def __init__(self, message: str, status: int | None = None, error_type: str | None = None):
        super().__init__(message)
        self.status = status
        self.error_type = error_type


@dataclass(frozen=True)
class Worker:
    id: str
    status: str
    pid: int | None


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, as the describe API reports it."""

    name: str
    version: str
    url: str
    workers: tuple[Worker, ...]
    min_workers: int
    batch_size: int

    @property
    def ready_workers(self) -> int:
        return sum(worker.status == "READY" for worker in self.workers)

    @classmethod
    def from_description(cls, document: dict) -> "ModelVersion":
        return cls(
            name=document["modelName"],
            version=document["modelVersion"],
            url=document["modelUrl"],
            workers=tuple(
                Worker(str(worker["id"]), worker["status"], worker.get("pid"))
                for worker in document.get("workers", [])
            ),
            min_workers=int(document.get("minWorkers", 0)),
            batch_size=int(document.get("batchSize", 1)),
        )


def check_url(url: str, variable: str) -> str:
    """Return url without a trailing slash; reject other schemes and embedded credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError(f"{variable}={url!r} is not an http(s) URL such as http://127.0.0.1:8081")
    if parts.username or parts.password:
        raise StoreError(
            f"{variable} contains credentials; remove them from the URL and set "
            "MODEL_STORE_USER and MODEL_STORE_PASSWORD or a ~/.netrc entry instead"
        )
    return url.rstrip("/")


def segment(value: str) -> str:
    """Quote one URL path segment, such as a model name or version."""
    return quote(value, safe="")


class ModelStore:
    """The management API (register, describe, scale, unregister) and inference API of a store."""

    def __init__(self, management_url: str, inference_url: str | None, auth: StoreAuth):
        self.management_url = check_url(management_url, "MODEL_STORE_URL")
        self.inference_url = check_url(inference_url, "INFERENCE_URL") if inference_url else None
        self.auth = auth
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=RETRIES)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "ModelStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def request(
        self,
        method: str,
        api: str,
        path: str,
        *,
        params: dict | None = None,
        data: bytes | None = None,
        headers: dict | None = None,
        timeout: float = TIMEOUT,
    ) -> requests.Response:
        """Send one request to the "management" or "inference" API; raise StoreError unless 2xx."""
        base = self.management_url if api == "management" else self.require_inference_url()
        auth = self.auth.management if api == "management" else self.auth.inference
        url = f"{base}{path}"
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                auth=auth,
                timeout=(5.0, timeout),
            )
        except requests.ConnectionError as error:
            raise StoreError(
                f"{method} {url} failed: cannot connect ({type(error).__name__}); "
                "check that the store is running and the URL is right"
            ) from None
        except requests.Timeout:
            raise StoreError(f"{method} {url} timed out after {timeout:.0f} s") from None
        if response.ok:
            return response
        raise self.error_for(method, url, response)

    def error_for(self, method: str, url: str, response: requests.Response) -> StoreError:
        """Build the StoreError for a response that is not 2xx."""
        try:
            document = response.json()
            error_type = document.get("type")
            detail = document.get("message", "")
        except (json.JSONDecodeError, requests.JSONDecodeError, AttributeError):
            error_type, detail = None, response.text[:200]
        status = response.status_code
        message = f"{method} {url} returned HTTP {status}"
        if error_type:
            message += f" {error_type}"
        if detail:
            message += f": {detail}"
        if status == 405 and method in ("POST", "DELETE") and url.startswith(self.management_url):
            message += (
                ". The store's model API is disabled, so it cannot register or unregister "
                "models; start TorchServe with enable_model_api=true in config.properties "
                "or with --enable-model-api"
            )
        if status == 401 or error_type == "InvalidKeyException":
            message += (
                f". The store rejected the credentials ({self.auth.scheme} from "
                f"{self.auth.source}); check MODEL_STORE_AUTH and its variables in the README"
            )
        return StoreError(self.auth.redact(message), status, error_type)

    def ping(self) -> str:
        """Return the health status of the inference API."""
        return self.request("GET", "inference", "/ping").json().get("status", "")

    def model_names(self) -> list[str]:
        """Return the names of all registered models, following pagination."""
        names: list[str] = []
        token = None
        while True:
            params = {"limit": 100} | ({"next_page_token": token} if token else {})
            document = self.request("GET", "management", "/models", params=params).json()
            names += [model["modelName"] for model in document.get("models", [])]
            token = document.get("nextPageToken")
            if not token:
                return names

    def versions(self, name: str) -> list[ModelVersion]:
        """Return every registered version of a model, or [] for an unknown model."""
        try:
            response = self.request("GET", "management", f"/models/{segment(name)}/all")
        except StoreError as error:
            if error.error_type == "ModelNotFoundException":
                return []
            raise
        return [ModelVersion.from_description(document) for document in response.json()]

    def default_version(self, name: str) -> ModelVersion | None:
        """Return the version that /predictions/<name> serves, or None for an unknown model."""
        try:
            response = self.request("GET", "management", f"/models/{segment(name)}")
        except StoreError as error:
            if error.error_type == "ModelNotFoundException":
                return None
            raise
        return ModelVersion.from_description(response.json()[0])

    def describe(self, name: str, version: str) -> ModelVersion:
        path = f"/models/{segment(name)}/{segment(version)}"
        return ModelVersion.from_description(self.request("GET", "management", path).json()[0])

    def register(
        self, url: str, name: str, workers: int, batch_size: int = 1, max_batch_delay: int = 100
    ) -> None:
        """Register an archive and wait until its workers start (synchronous=true).

        max_batch_delay is how long, in ms, TorchServe waits to fill a batch.
        """
        params = {
            "url": url,
            "model_name": name,
            "initial_workers": workers,
            "batch_size": batch_size,
            "max_batch_delay": max_batch_delay,
            "synchronous": "true",
        }
        self.request("POST", "management", "/models", params=params, timeout=LOAD_TIMEOUT)

    def set_default(self, name: str, version: str) -> None:
        path = f"/models/{segment(name)}/{segment(version)}/set-default"
        self.request("PUT", "management", path)

    def scale(self, name: str, version: str, workers: int) -> None:
        """Set the version's min and max workers and wait until they run."""
        params = {"min_worker": workers, "max_worker": workers, "synchronous": "true"}
        path = f"/models/{segment(name)}/{segment(version)}"
        self.request("PUT", "management", path, params=params, timeout=LOAD_TIMEOUT)

    def unregister(self, name: str, version: str) -> None:
        path = f"/models/{segment(name)}/{segment(version)}"
        self.request("DELETE", "management", path, timeout=LOAD_TIMEOUT)

    def predict(
        self, name: str, body: bytes, version: str | None = None, content_type: str | None = None
    ) -> object:
        """Return the JSON response of /predictions/<name>[/<version>] for one request body."""
        path = f"/predictions/{segment(name)}"
        if version is not None:
            path += f"/{segment(version)}"
        headers = {"Content-Type": content_type} if content_type else None
        response = self.request("POST", "inference", path, data=body, headers=headers, timeout=60.0)
        return response.json()

    def require_inference_url(self) -> str:
        if self.inference_url is None:
            raise StoreError(
                "INFERENCE_URL is not set; give the inference API of the store "
                "(TorchServe's default port is 8080)"
            )
        return self.inference_url

    def prediction_url(self, name: str, version: str | None = None) -> str:
        url = f"{self.require_inference_url()}/predictions/{segment(name)}"
        return url if version is None else f"{url}/{segment(version)}"
