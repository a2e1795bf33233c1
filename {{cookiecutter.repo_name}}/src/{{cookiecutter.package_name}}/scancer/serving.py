"""Run an archived handler in this process, the way a TorchServe worker does.

The model folder is loaded with TorchServe's own model loader, so the handler
is found, constructed and initialised exactly as in a worker, and each batch
goes through the same context and request objects.
"""

import json
import logging
import sys
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import ts
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl
from ts.model_loader import TsModelLoader
from ts.service import Service

METRICS_CONFIG = Path(ts.__file__).parent / "configs" / "metrics.yaml"
# Loggers that report optional backends (OpenVINO, ONNX, TensorRT) and the
# index_to_name.json this handler does not use; a worker logs them too.
# The metrics cache logs every HandlerTime with all request ids of the batch.
QUIET_LOGGERS = ("ts.torch_handler.base_handler", "ts.utils.util", "ts.metrics.caching_metric")


@dataclass
class Answer:
    """One request's response: HTTP status and the handler's body."""

    status: int
    body: object


class InProcessModel:
    """A handler loaded from an unpacked archive folder."""

    def __init__(self, model_dir: Path, batch_size: int = 32):
        self.model_dir = Path(model_dir).resolve()
        manifest_path = self.model_dir / "MAR-INF" / "MANIFEST.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{manifest_path} is missing; is {model_dir} an archive?")
        manifest = json.loads(manifest_path.read_text())
        handler = manifest["model"]["handler"]
        # The worker imports the handler and the modules beside it by name from
        # the model folder; another archive's modules of the same names must go.
        for module in self.model_dir.glob("*.py"):
            sys.modules.pop(module.stem, None)
        sys.path.insert(0, str(self.model_dir))
        self.metrics = MetricsCacheYamlImpl(config_file_path=str(METRICS_CONFIG))
        self.metrics.initialize_cache()
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            self.service = TsModelLoader().load(
                manifest["model"]["modelName"],
                str(self.model_dir),
                handler,
                gpu_id=None,
                batch_size=batch_size,
                metrics_cache=self.metrics,
            )
        finally:
            sys.path.remove(str(self.model_dir))

    @property
    def handler(self):
        """The handler object behind the archive's module-level entry point."""
        return sys.modules[self.service._entry_point.__module__]._service

    def predict(self, bodies: list, content_type: str = "application/octet-stream"):
        """Send one batch of requests; return an Answer per request, in order.

        A request is a body (bytes, or a decoded JSON object) sent as content_type,
        or a list of (field, bytes, content type) parts, as a multipart form sends.
        """
        batch = []
        for body in bodies:
            parts = body if isinstance(body, list) else [("body", body, content_type)]
            parameters = [
                {"name": field, "value": worker_value(value, part_type), "contentType": part_type}
                for field, value, part_type in parts
            ]
            batch.append({"requestId": str(uuid.uuid4()).encode(), "parameters": parameters})
        headers, inputs, request_ids = Service.retrieve_data_for_inference(batch)
        context = self.service.context
        context.request_ids = request_ids
        context.request_processor = headers
        self.metrics.request_ids = request_ids
        # NOTE: _entry_point is the handler's handle method; Service.predict
        # calls it the same way but encodes the result for the worker socket.
        bodies_out = self.service._entry_point(inputs, context)
        return [
            Answer(context.get_response_status(index)[0], body)
            for index, body in enumerate(bodies_out)
        ]


def worker_value(value, content_type: str):
    """Decode a body as TorchServe 0.12's worker does before calling the handler.

    JSON bodies become objects and text bodies strings; a body that fails to
    decode is passed on as bytes.
    """
    if not isinstance(value, (bytes, bytearray)):
        return value
    try:
        if content_type == "application/json":
            return json.loads(value.decode("utf-8"))
        if content_type.startswith("text"):
            return value.decode("utf-8")
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    return value


@contextmanager
def open_archive(archive: Path, batch_size: int = 32):
    """Unpack a .mar archive into a temporary folder and load its handler."""
    with TemporaryDirectory(prefix="mar-") as folder:
        with zipfile.ZipFile(archive) as packed:
            packed.extractall(folder)
        yield InProcessModel(Path(folder), batch_size)
