"""TorchServe handler for image patch classifiers: a label and class probabilities per image.

image_handler.py, packed beside this file, reads the requests and decodes and
normalises the images; see it for the accepted images and the errors.
"""

import torch

try:  # in the archive, image_handler.py lies beside this file
    from image_handler import ImageHandler, serve
except ModuleNotFoundError:  # in the package
    from .image_handler import ImageHandler, serve


class PatchClassifierHandler(ImageHandler):
    """Name the most probable class of each patch and give every class's probability."""

    def postprocess(self, probabilities: torch.Tensor, options: list[dict]) -> list[dict]:
        """Return a label and every class's probability per image; there are no options."""
        predictions = []
        for row in probabilities.tolist():
            best = max(range(len(row)), key=row.__getitem__)
            predictions.append(
                {
                    "label": self.class_names[best],
                    "probabilities": dict(zip(self.class_names, row, strict=True)),
                }
            )
        return predictions


EXPECTED_RESPONSE = "a label and the probability of every class"
# Probabilities are sent as JSON floats, so responses add no rounding of their own.
PROBABILITY_RESOLUTION = 0.0


def response_decision(response: dict) -> str:
    """Return the prediction of a response: its label."""
    return response["label"]


def response_scores(response: dict) -> dict[str, float]:
    """Return the score of each class in label order: the class's probability."""
    return response["probabilities"]


def response_summary(response: dict) -> str:
    """Summarise a response as its label and probability, such as 'tumour (0.9871)'."""
    label = response["label"]
    return f"{label} ({response['probabilities'][label]:.4f})"


def probabilities_request(image: bytes) -> list[tuple[str, bytes, str]]:
    """Return the request parts that request every class's probability of one image."""
    return [("body", image, "image/png")]


def response_probabilities(response: dict, class_names: list[str]) -> torch.Tensor:
    """Return a response's class probabilities in label order, shape (classes,)."""
    return torch.tensor([response["probabilities"][name] for name in class_names])


_service = PatchClassifierHandler()


def handle(data, context):
    """TorchServe's entry point.

    A module-level function lets this file define more than one class, which
    TorchServe's loader rejects for class entry points.
    """
    return serve(_service, data, context)
