"""The LightningModule: a patch classifier with AUC, accuracy and F1."""

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassF1Score,
)

from .networks import build_network
from .scancer.metadata import load_metadata


def classification_metrics(num_classes: int) -> MetricCollection:
    """Return AUC, accuracy and F1: binary on the second class when there are two."""
    if num_classes == 2:
        return MetricCollection(
            {"auc": BinaryAUROC(), "acc": BinaryAccuracy(), "f1": BinaryF1Score()}
        )
    return MetricCollection(
        {
            "auc": MulticlassAUROC(num_classes),
            "acc": MulticlassAccuracy(num_classes),
            "f1": MulticlassF1Score(num_classes),
        }
    )


class PatchClassifier(L.LightningModule):
    """Classify normalised image patches into the classes of metadata.json.

    Args:
        backbone: ``small_cnn`` or a torchvision model name such as ``resnet18``.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        num_classes: Output classes; defaults to the classes in metadata.json.
        in_channels: Input channels; defaults to input.channels in metadata.json.
    """

    def __init__(
        self,
        backbone: str = "small_cnn",
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        num_classes: int | None = None,
        in_channels: int | None = None,
    ):
        super().__init__()
        metadata = load_metadata()
        num_classes = num_classes or metadata.num_classes
        in_channels = in_channels or metadata.input_channels
        # Only plain values go into the checkpoint, so torch.load reads it
        # with its default weights_only=True.
        self.save_hyperparameters(
            {
                "backbone": backbone,
                "learning_rate": float(learning_rate),
                "weight_decay": float(weight_decay),
                "num_classes": int(num_classes),
                "in_channels": int(in_channels),
            }
        )
        self.network = build_network(backbone, in_channels, num_classes)
        metrics = classification_metrics(num_classes)
        self.val_metrics = metrics.clone(prefix="val_")
        self.test_metrics = metrics.clone(prefix="test_")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def _scores(self, logits: torch.Tensor) -> torch.Tensor:
        probabilities = logits.softmax(dim=1)
        return probabilities[:, 1] if self.hparams.num_classes == 2 else probabilities

    def training_step(self, batch, batch_idx):
        images, labels = batch
        loss = F.cross_entropy(self(images), labels)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def _evaluate(self, batch, metrics: MetricCollection, prefix: str) -> None:
        images, labels = batch
        logits = self(images)
        self.log(f"{prefix}loss", F.cross_entropy(logits, labels), prog_bar=True)
        metrics.update(self._scores(logits), labels)
        self.log_dict(metrics, prog_bar=True)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, self.val_metrics, "val_")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, self.test_metrics, "test_")

    def predict_step(self, batch, batch_idx):
        images, _ = batch
        return self(images).softmax(dim=1)

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.parameters(),
            lr=self.hparams.learning_rate,
            weight_decay=self.hparams.weight_decay,
        )
