"""Request reading, image decoding and batching, shared by the handlers of every task.

A task's handler (handler.py) subclasses ImageHandler and turns the model's
class probabilities into predictions. Both files are packed into the archive
beside ``metadata.json`` and import only torch, numpy, Pillow and
TorchServe, so the archive needs nothing else. The class names, input size,
channels, normalisation and serving limits come from ``metadata.json``, the
file training read.

A request carries its images as raw bytes, as multipart form fields (one
image per field), or as JSON ``{"data": "<base64>"}`` or
``{"data": ["<base64>", ...]}``; a JSON body may add the options of the
task's handler. The response is one prediction for a single image, or a list
of predictions in request order for several. A request with any unreadable
image gets one 4xx response that names the image and the problem, while the
other requests of its batch get their predictions.

Images are PNG, JPEG, TIFF or WebP. Conversion to the model's channels:

- greyscale is repeated into three channels for an RGB model, and RGB goes to
  greyscale by ITU-R 601-2 luma (Pillow's ``convert("L")``) for a grey model;
- palette images are expanded to their colours;
- an alpha channel is dropped and the colour values are used as stored, not
  blended with a background;
- 16-bit greyscale is divided by 65535, so it spans the same [0, 1] range as
  8-bit images divided by 255. Pillow 12 reads 16-bit colour as 8-bit by
  keeping the high byte, which also keeps the full range;
- 32-bit integer and float images are rejected, because their range is not
  known.

The width and height come from the image header and are checked before any
pixel is decoded. An image of another size is rejected unless
``serving.resize`` is true in ``metadata.json``.
"""

import base64
import binascii
import io
import json
import logging
import os
import time
import warnings

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.nn.functional import interpolate
from torchvision.transforms.v2.functional import normalize
from ts.torch_handler.base_handler import BaseHandler

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")
# Defaults of the "serving" section of metadata.json.
SERVING_DEFAULTS = {"resize": False, "max_body_bytes": 4_000_000, "max_images_per_request": 32}
MAX_RESIZE_PIXELS = 4096 * 4096  # largest image that serving.resize decodes
# torch 2.14 deprecates TorchScript and warns each time a model is loaded.
TORCHSCRIPT_DEPRECATION = r"`torch\.jit\.load` is deprecated"
# Pillow warns on opening an image of over 89 megapixels. check_size rejects
# large images from the header anyway, and a filter set once costs nothing per
# request, unlike warnings.catch_warnings.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class RequestError(ValueError):
    """A request the handler cannot read, which is the client's fault (HTTP 4xx)."""

    def __init__(self, message: str, status: int = 400, phrase: str = "Bad Request"):
        super().__init__(message)
        self.status = status
        self.phrase = phrase


def drop_alpha(image: Image.Image) -> Image.Image:
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    if image.mode == "LA":
        return image.getchannel("L")
    if image.mode in ("RGBA", "RGBa"):
        return image.convert("RGB")
    return image


def image_pixels(image: Image.Image, channels: int) -> torch.Tensor:
    """Return the decoded image (C, H, W) with the model's channels.

    8-bit images stay uint8 in [0, 255], so a batch of them is converted to
    float in one pass; 16-bit ones become float in [0, 1].
    """
    image = drop_alpha(image)
    if image.mode.startswith("I;16"):
        pixels = np.asarray(image, dtype=np.uint16).astype(np.float32) / 65535
        grey = torch.from_numpy(pixels)[None]
        return grey if channels == 1 else grey.expand(3, -1, -1)
    if image.mode in ("I", "F"):
        raise RequestError(
            f"{image.mode} images (32-bit) are not supported; send 8- or 16-bit images"
        )
    if channels == 1:
        image = image if image.mode == "L" else image.convert("L")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    pixels = torch.from_numpy(np.array(image))
    return pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)


def to_unit_range(pixels: torch.Tensor) -> torch.Tensor:
    """Return pixels as float in [0, 1], from uint8 or from float already in that range."""
    return pixels.to(torch.float32).div_(255) if pixels.dtype == torch.uint8 else pixels


class ImageHandler(BaseHandler):
    """Base handler: decodes and normalises a batch of requests and responds to each one.

    Subclasses implement postprocess, which turns the class probabilities of
    each image into its prediction. They list in OPTIONS the options that a
    JSON body may add beside "data", with their JSON types.
    """

    OPTIONS: dict[str, type] = {}

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
        self.serving = SERVING_DEFAULTS | metadata.get("serving", {})
        self.scaled_mean = torch.tensor(self.mean).mul(255).view(1, -1, 1, 1)
        self.scaled_std = torch.tensor(self.std).mul(255).view(1, -1, 1, 1)
        logger.info(
            "loaded %s %s: classes %s, input %d x %d x %d, serving %s",
            metadata["model_name"], metadata["version"], self.class_names,
            self.input_channels, self.input_size, self.input_size, self.serving,
        )  # fmt: skip

    def _load_torchscript_model(self, model_pt_path):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", TORCHSCRIPT_DEPRECATION, FutureWarning)
            return super()._load_torchscript_model(model_pt_path)

    def request_images(self, request: dict, content_types: dict) -> list[tuple[str, bytes]]:
        """Return (name, bytes) of every image of one request, in order."""
        images = []
        for field, value in request.items():
            content_type = (content_types.get(field) or "").split(";")[0].strip().lower()
            images += self.field_images(field, value, content_type)
        if not images:
            raise RequestError("the request carries no image")
        limit = self.serving["max_images_per_request"]
        if len(images) > limit:
            raise RequestError(f"the request carries {len(images)} images, at most {limit}")
        return images

    def field_images(self, field: str, value, content_type: str) -> list[tuple[str, bytes]]:
        """Return the images of one request field: raw bytes, JSON with base64, or an error."""
        if isinstance(value, dict):
            return self.json_images(field, value)
        if isinstance(value, str):
            raise RequestError(
                f"{field} is text, expected image bytes or JSON",
                415,
                "Unsupported Media Type",
            )
        if content_type == "application/json":
            raise RequestError(
                f"{field}: the body is labelled application/json but is not valid UTF-8 JSON; "
                "send image bytes as application/octet-stream or image/*"
            )
        if isinstance(value, (bytes, bytearray)):
            return [(field, bytes(value))]
        raise RequestError(f"{field}: expected image bytes, got JSON {type(value).__name__}")

    def json_images(self, field: str, document: dict) -> list[tuple[str, bytes]]:
        data = document.get("data")
        items = data if isinstance(data, list) else [data]
        if data is None or not all(isinstance(item, str) for item in items):
            raise RequestError(
                f"{field}: a JSON body needs a 'data' field with base64 image data "
                "or a list of them"
            )
        images = []
        for index, item in enumerate(items):
            name = f"{field}.data[{index}]" if isinstance(data, list) else f"{field}.data"
            try:
                images.append((name, base64.b64decode(item, validate=True)))
            except binascii.Error:
                raise RequestError(f"{name} is not valid base64") from None
        return images

    def decode(self, name: str, data: bytes) -> torch.Tensor:
        """Decode one image to a tensor (C, H, W) of the input size; see image_pixels."""
        if not data:
            raise RequestError(f"{name} is empty, expected image bytes")
        limit = self.serving["max_body_bytes"]
        if len(data) > limit:
            raise RequestError(
                f"{name} has {len(data)} bytes, at most {limit}", 413, "Payload Too Large"
            )
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        except UnidentifiedImageError:
            raise RequestError(
                f"{name} is not a PNG, JPEG, TIFF or WebP image", 415, "Unsupported Media Type"
            ) from None
        except Image.DecompressionBombError:
            size = self.input_size
            raise RequestError(
                f"{name} declares more than {2 * Image.MAX_IMAGE_PIXELS} pixels, "
                f"expected {size} x {size} px"
            ) from None
        with image:
            self.check_size(name, image)
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                raise RequestError(
                    f"{name} has {frames} frames or pages; send each image on its own, "
                    "as a multipart field or in a JSON data list"
                )
            try:
                image.load()
            except (OSError, SyntaxError, ValueError) as error:
                raise RequestError(
                    f"{name} is a truncated or corrupt {image.format}: {error}"
                ) from None
            pixels = image_pixels(image, self.input_channels)
        if pixels.shape[-2:] != (self.input_size, self.input_size):
            pixels = interpolate(
                to_unit_range(pixels)[None],
                size=(self.input_size,) * 2,
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0]
        return pixels

    def check_size(self, name: str, image: Image.Image) -> None:
        """Reject a wrong size from the header, before the pixels are decoded."""
        width, height = image.size
        size = self.input_size
        if self.serving["resize"]:
            if width * height > MAX_RESIZE_PIXELS:
                raise RequestError(f"{name} is {width} x {height} px, larger than resizing allows")
        elif (width, height) != (size, size):
            raise RequestError(f"{name} is {width} x {height} px, expected {size} x {size} px")

    def preprocess(self, data):
        """Return the batch of images, the image count per request and the errors by request."""
        images, counts, errors = [], [], {}
        for index, request in enumerate(data):
            try:
                content_types = self.content_types(index, request)
                decoded = [
                    self.decode(name, body)
                    for name, body in self.request_images(request, content_types)
                ]
            except RequestError as error:
                errors[index] = error
                counts.append(0)
                continue
            images += decoded
            counts.append(len(decoded))
        if not images:
            return None, counts, errors
        return self.normalise(images).to(self.device), counts, errors

    def normalise(self, images: list[torch.Tensor]) -> torch.Tensor:
        """Stack images and normalise them as training did: pixels / 255, then mean and std."""
        if all(image.dtype == torch.uint8 for image in images):
            # (x / 255 - mean) / std is computed as (x - 255 mean) / (255 std) in one
            # pass over the batch. It differs from the two-step form by rounding only.
            batch = torch.stack(images).to(torch.float32)
            return batch.sub_(self.scaled_mean).div_(self.scaled_std)
        batch = torch.stack([to_unit_range(image) for image in images])
        return normalize(batch, mean=self.mean, std=self.std)

    def content_types(self, index: int, request: dict) -> dict:
        """Return the content type of each field of request number index."""
        if self.context is None:
            return {}
        types = {}
        for field in request:
            header = self.context.get_request_header(index, field)
            types[field] = header.get("content-type") if isinstance(header, dict) else None
        return types

    def inference(self, batch, *args, **kwargs):
        with torch.inference_mode():
            return self.model(batch).softmax(dim=1).cpu()

    def postprocess(self, probabilities: torch.Tensor, options: list[dict]) -> list:
        """Return one prediction per image from its class probabilities and request options."""
        raise NotImplementedError

    def request_options(self, request: dict) -> dict:
        """Return the options of a request's JSON bodies, checked against OPTIONS."""
        options = {}
        for field, value in request.items():
            if not isinstance(value, dict):
                continue
            for name, option in value.items():
                if name == "data":
                    continue
                if name not in self.OPTIONS:
                    known = ", ".join(self.OPTIONS) or "none"
                    raise RequestError(f"{field}: unknown option {name!r}; options: {known}")
                if not isinstance(option, self.OPTIONS[name]):
                    expected = self.OPTIONS[name].__name__
                    raise RequestError(f"{field}: option {name!r} must be a JSON {expected}")
                options[name] = option
        return options

    def handle(self, data, context):
        """Return a response per request of the batch, in order: predictions or a 4xx error."""
        start = time.time()
        self.context = context
        options, errors = {}, {}
        for index, request in enumerate(data):
            try:
                options[index] = self.request_options(request)
            except RequestError as error:
                errors[index] = error
        batch, counts, decode_errors = self.preprocess(data)
        errors |= decode_errors
        image_options = []
        for index, count in enumerate(counts):
            image_options += [options.get(index, {})] * count
        predictions = []
        if batch is not None:
            predictions = self.postprocess(self.inference(batch), image_options)
        predictions = iter(predictions)
        responses = []
        for index, count in enumerate(counts):
            context.set_response_content_type(index, "application/json")
            # A request rejected for its options still has decoded images in the batch.
            request_predictions = [next(predictions) for _ in range(count)]
            error = errors.get(index)
            if error is None:
                multiple = count > 1 or self.is_list_request(data[index])
                responses.append(request_predictions if multiple else request_predictions[0])
                continue
            request_id = context.get_request_id(index) if context else None
            logger.warning("request %s rejected (HTTP %d): %s", request_id, error.status, error)
            context.set_response_status(error.status, error.phrase, idx=index)
            responses.append(
                {"code": error.status, "type": error.phrase.replace(" ", ""), "message": str(error)}
            )
        if context.metrics is not None:
            context.metrics.add_time(
                "HandlerTime", round((time.time() - start) * 1000, 2), None, "ms"
            )
        return responses

    @staticmethod
    def is_list_request(request: dict) -> bool:
        """Return True for a request that sent images as a JSON list, even of one."""
        return any(
            isinstance(value, dict) and isinstance(value.get("data"), list)
            for value in request.values()
        )


def serve(service: ImageHandler, data, context):
    """Serve one batch; TorchServe calls the entry point with data None once, to initialise."""
    if not service.initialized:
        service.initialize(context)
    if data is None:
        return None
    return service.handle(data, context)
