"""TorchServe handler for segmentation models: a class mask and class fractions per image.

Each response has:

- ``mask``: a base64 PNG of the image's size, 8-bit greyscale, whose pixel
  values are class labels (0 is the first class, the background);
- ``class_fractions``: the fraction of pixels in each class, by class name;
- ``probability_maps``, when the JSON body sets ``"probability_maps": true``:
  a base64 16-bit greyscale PNG per class, probability times 65535.

image_handler.py, packed beside this file, reads the requests and decodes and
normalises the images; see it for the accepted images and the errors.
"""

import base64
import io
import json

import numpy as np
import torch
from PIL import Image

try:  # in the archive, image_handler.py lies beside this file
    from image_handler import ImageHandler, serve
except ModuleNotFoundError:  # in the package
    from .image_handler import ImageHandler, serve

PROBABILITY_SCALE = 65535


def png_base64(pixels: np.ndarray) -> str:
    """Encode a 2-D uint8 or uint16 array as a base64 PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class PatchSegmenterHandler(ImageHandler):
    """Label every pixel with its most probable class."""

    OPTIONS = {"probability_maps": bool}

    def postprocess(self, probabilities: torch.Tensor, options: list[dict]) -> list[dict]:
        """Return a mask and class fractions per image, and probability maps when requested."""
        responses = []
        classes = len(self.class_names)
        for maps, image_options in zip(probabilities, options, strict=True):
            labels = maps.argmax(dim=0)
            counts = torch.bincount(labels.flatten(), minlength=classes).tolist()
            response = {
                "mask": png_base64(labels.to(torch.uint8).numpy()),
                "class_fractions": {
                    name: count / labels.numel()
                    for name, count in zip(self.class_names, counts, strict=True)
                },
            }
            if image_options.get("probability_maps"):
                scaled = maps.mul(PROBABILITY_SCALE).round().to(torch.int32).numpy()
                response["probability_maps"] = {
                    name: png_base64(scaled[index].astype(np.uint16))
                    for index, name in enumerate(self.class_names)
                }
            responses.append(response)
        return responses


EXPECTED_RESPONSE = "a mask, class fractions and the probability map of every class"
# Probability maps are 16-bit PNGs, so two responses of nearly equal
# probabilities may round to neighbouring steps.
PROBABILITY_RESOLUTION = 1 / PROBABILITY_SCALE


def response_decision(response: dict) -> str:
    """Return the prediction of a response: its mask."""
    return response["mask"]


def response_scores(response: dict) -> dict[str, float]:
    """Return the score of each class in label order: the class's fraction of pixels."""
    return response["class_fractions"]


def response_summary(response: dict) -> str:
    """Summarise a response as its largest class, such as 'tissue 71.2% of pixels'."""
    name, fraction = max(response["class_fractions"].items(), key=lambda item: item[1])
    return f"{name} {fraction:.1%} of pixels"


def probabilities_request(image: bytes) -> list[tuple[str, bytes, str]]:
    """Return the request parts that request every class's probability map of one image."""
    body = {"data": base64.b64encode(image).decode("ascii"), "probability_maps": True}
    return [("body", json.dumps(body).encode(), "application/json")]


def response_probabilities(response: dict, class_names: list[str]) -> torch.Tensor:
    """Decode a response's probability maps in label order, shape (classes, H, W)."""
    maps = []
    for name in class_names:
        data = base64.b64decode(response["probability_maps"][name])
        with Image.open(io.BytesIO(data)) as image:
            maps.append(np.asarray(image, dtype=np.float32) / PROBABILITY_SCALE)
    return torch.from_numpy(np.stack(maps))


_service = PatchSegmenterHandler()


def handle(data, context):
    """TorchServe's entry point.

    A module-level function lets this file define more than one class, which
    TorchServe's loader rejects for class entry points.
    """
    return serve(_service, data, context)
