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


EXPECTED_ANSWER = "a label and the probability of every class"
# Probabilities go out as JSON floats, so answers add no rounding of their own.
PROBABILITY_RESOLUTION = 0.0


def answer_decision(answer: dict) -> str:
    """Return what an answer decides: its label."""
    return answer["label"]


def answer_scores(answer: dict) -> dict[str, float]:
    """Return an answer's score per class, in label order: its probabilities."""
    return answer["probabilities"]


def answer_summary(answer: dict) -> str:
    """Return an answer in a few words, such as 'tumour (0.9871)'."""
    return f"{answer['label']} ({answer['probabilities'][answer['label']]:.4f})"


def probabilities_request(image: bytes) -> list[tuple[str, bytes, str]]:
    """Return the request parts that ask for every class's probability of one image."""
    return [("body", image, "image/png")]


def answer_probabilities(answer: dict, class_names: list[str]) -> torch.Tensor:
    """Return an answer's class probabilities in label order, shape (classes,)."""
    return torch.tensor([answer["probabilities"][name] for name in class_names])


_service = PatchClassifierHandler()


def handle(data, context):
    """TorchServe's entry point.

    A module-level function lets this file define more than one class, which
    TorchServe's loader rejects for class entry points.
    """
    return serve(_service, data, context)
