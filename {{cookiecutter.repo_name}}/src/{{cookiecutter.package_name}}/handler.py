"""TorchServe handler for image patch classifiers.

Self-contained: it imports only torch, torchvision and TorchServe, so the
archive needs nothing else. It reads the class names, input size, channels
and normalisation from ``metadata.json`` packed beside the model, which is
the file training read.

Each request's body is one image (PNG, JPEG, WebP or GIF) as raw bytes, a
multipart form field, or base64 text in a JSON object's ``data`` field. A
request that cannot be read gets a 400 response naming the problem, while the
other requests of its batch get their predictions.
"""

import base64
import binascii
import json
import logging
import os
import time
import warnings

import torch
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2.functional import normalize
from ts.torch_handler.base_handler import BaseHandler

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
# torch 2.14 deprecates TorchScript and warns each time a model is loaded.
TORCHSCRIPT_DEPRECATION = r"`torch\.jit\.load` is deprecated"


class RequestError(ValueError):
    """A request the handler cannot read, which is the client's fault (HTTP 400)."""


class PatchClassifierHandler(BaseHandler):
    """Decode, normalise, classify and name the classes of image patches."""

    def initialize(self, context):
        super().initialize(context)
        model_dir = context.system_properties["model_dir"]
        with open(os.path.join(model_dir, METADATA_FILE)) as file:
            metadata = json.load(file)
        image = metadata["input"]
        self.class_names = list(metadata["class_names"])
        self.input_size = int(image["size"])
        self.input_channels = int(image["channels"])
        self.mean = [float(value) for value in image["mean"]]
        self.std = [float(value) for value in image["std"]]
        self.read_mode = ImageReadMode.GRAY if self.input_channels == 1 else ImageReadMode.RGB
        logger.info(
            "loaded %s %s: classes %s, input %d x %d x %d",
            metadata["model_name"], metadata["version"], self.class_names,
            self.input_channels, self.input_size, self.input_size,
        )  # fmt: skip

    def _load_torchscript_model(self, model_pt_path):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", TORCHSCRIPT_DEPRECATION, FutureWarning)
            return super()._load_torchscript_model(model_pt_path)

    def request_bytes(self, request) -> bytes:
        """Return the image bytes of one request, whichever body form it used."""
        body = request.get("data")
        if body is None:
            body = request.get("body")
        if isinstance(body, dict):
            body = body.get("data")
            if not isinstance(body, str):
                raise RequestError("a JSON body needs a 'data' field with base64 image data")
            try:
                body = base64.b64decode(body, validate=True)
            except binascii.Error:
                raise RequestError("the 'data' field is not valid base64") from None
        if isinstance(body, str):
            raise RequestError("the body is text, expected image bytes")
        if not body:
            raise RequestError("the request body is empty, expected image bytes")
        return bytes(body)

    def decode(self, data: bytes) -> torch.Tensor:
        """Decode image bytes to a normalised float tensor (C, H, W)."""
        # NOTE: torchvision 0.29 deprecates torchvision.io decoding in favour of
        # TorchCodec, and it reads no TIFF; a Pillow-based decoder would cover both.
        encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        try:
            pixels = decode_image(encoded, mode=self.read_mode)
        except RuntimeError as error:
            raise RequestError(f"the body is not a readable image ({error})") from None
        height, width = pixels.shape[-2:]
        if (height, width) != (self.input_size, self.input_size):
            raise RequestError(
                f"the image is {width} x {height} px, expected "
                f"{self.input_size} x {self.input_size} px"
            )
        image = pixels.to(torch.float32).div(255)
        return normalize(image, mean=self.mean, std=self.std)

    def preprocess(self, data):
        """Return the batch of readable images and a RequestError per unreadable one."""
        images, errors = [], {}
        for index, request in enumerate(data):
            try:
                images.append(self.decode(self.request_bytes(request)))
            except RequestError as error:
                errors[index] = error
        batch = torch.stack(images).to(self.device) if images else None
        return batch, errors

    def inference(self, batch, *args, **kwargs):
        with torch.inference_mode():
            return self.model(batch).softmax(dim=1).cpu()

    def postprocess(self, probabilities):
        answers = []
        for row in probabilities.tolist():
            best = max(range(len(row)), key=row.__getitem__)
            answers.append(
                {
                    "label": self.class_names[best],
                    "probabilities": dict(zip(self.class_names, row, strict=True)),
                }
            )
        return answers

    def handle(self, data, context):
        """Return a response per request of the batch, in order: a prediction or a 400 error."""
        start = time.time()
        self.context = context
        batch, errors = self.preprocess(data)
        predictions = iter(self.postprocess(self.inference(batch)) if batch is not None else [])
        answers = []
        for index in range(len(data)):
            error = errors.get(index)
            if error is None:
                answers.append(next(predictions))
                continue
            request_id = context.get_request_id(index) if context else None
            logger.warning("request %s rejected: %s", request_id, error)
            context.set_response_status(400, "Bad Request", idx=index)
            answers.append({"code": 400, "type": "BadRequest", "message": str(error)})
        if context.metrics is not None:
            context.metrics.add_time(
                "HandlerTime", round((time.time() - start) * 1000, 2), None, "ms"
            )
        return answers


_service = PatchClassifierHandler()


def handle(data, context):
    """Serve one batch; TorchServe calls this with data None once, to initialise.

    A module-level entry point lets this file define more than one class,
    which TorchServe's loader rejects for class entry points.
    """
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
