"""TorchServe handler for segmentation models: a class mask and class fractions per image.

Each answer has:

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
        answers = []
        classes = len(self.class_names)
        for maps, image_options in zip(probabilities, options, strict=True):
            labels = maps.argmax(dim=0)
            counts = torch.bincount(labels.flatten(), minlength=classes).tolist()
            answer = {
                "mask": png_base64(labels.to(torch.uint8).numpy()),
                "class_fractions": {
                    name: count / labels.numel()
                    for name, count in zip(self.class_names, counts, strict=True)
                },
            }
            if image_options.get("probability_maps"):
                scaled = maps.mul(PROBABILITY_SCALE).round().to(torch.int32).numpy()
                answer["probability_maps"] = {
                    name: png_base64(scaled[index].astype(np.uint16))
                    for index, name in enumerate(self.class_names)
                }
            answers.append(answer)
        return answers


EXPECTED_ANSWER = "a mask, class fractions and the probability map of every class"
# Probability maps are 16-bit PNGs: two answers of nearly equal probabilities
# may round to neighbouring steps.
PROBABILITY_RESOLUTION = 1 / PROBABILITY_SCALE


def answer_decision(answer: dict) -> str:
    """Return what an answer decides: its mask."""
    return answer["mask"]


def answer_scores(answer: dict) -> dict[str, float]:
    """Return an answer's score per class, in label order: its pixel fractions."""
    return answer["class_fractions"]


def answer_summary(answer: dict) -> str:
    """Return an answer in a few words, such as 'tissue 71.2% of pixels'."""
    name, fraction = max(answer["class_fractions"].items(), key=lambda item: item[1])
    return f"{name} {fraction:.1%} of pixels"


def probabilities_request(image: bytes) -> list[tuple[str, bytes, str]]:
    """Return the request parts that ask for every class's probability map of one image."""
    body = {"data": base64.b64encode(image).decode("ascii"), "probability_maps": True}
    return [("body", json.dumps(body).encode(), "application/json")]


def answer_probabilities(answer: dict, class_names: list[str]) -> torch.Tensor:
    """Return an answer's probability maps in label order, shape (classes, H, W)."""
    maps = []
    for name in class_names:
        with Image.open(io.BytesIO(base64.b64decode(answer["probability_maps"][name]))) as image:
            maps.append(np.asarray(image, dtype=np.float32) / PROBABILITY_SCALE)
    return torch.from_numpy(np.stack(maps))


_service = PatchSegmenterHandler()


def handle(data, context):
    """TorchServe's entry point.

    A module-level function lets this file define more than one class, which
    TorchServe's loader rejects for class entry points.
    """
    return serve(_service, data, context)
