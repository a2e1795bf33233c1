"""The LightningModule: a segmentation model with Dice and IoU per class."""

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassJaccardIndex
from torchmetrics.segmentation import DiceScore

from .networks import build_network
from .scancer.metadata import load_metadata


class SegmentationMetrics(nn.Module):
    """Dice and IoU per class over every pixel seen since the last reset.

    A class that appears in neither the masks nor the predictions has no score
    (NaN) and is left out of the means ``dice`` and ``iou``.
    """

    def __init__(self, class_names: list[str]):
        super().__init__()
        self.class_names = list(class_names)
        classes = len(class_names)
        self.dice = DiceScore(
            classes, average="none", input_format="index", aggregation_level="global"
        )
        self.iou = MulticlassJaccardIndex(classes, average="none", zero_division=float("nan"))

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        self.dice.update(predicted, target)
        self.iou.update(predicted, target)

    def compute(self) -> dict[str, torch.Tensor]:
        scores = {"dice": self.dice.compute(), "iou": self.iou.compute()}
        result = {name: values.nanmean() for name, values in scores.items()}
        for name, values in scores.items():
            for class_name, value in zip(self.class_names, values, strict=True):
                result[f"{name}_{class_name}"] = value
        return result

    def reset(self) -> None:
        self.dice.reset()
        self.iou.reset()


class PatchSegmenter(L.LightningModule):
    """Label every pixel of normalised images with the classes of metadata.json.

    Args:
        backbone: ``small_unet`` or a torchvision segmentation model name such
            as ``fcn_resnet50``.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        num_classes: Output classes; defaults to the classes in metadata.json.
        in_channels: Input channels; defaults to input.channels in metadata.json.
    """

    def __init__(
        self,
        backbone: str = "small_unet",
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
        class_names = list(metadata.class_names[:num_classes])
        class_names += [f"class_{index}" for index in range(len(class_names), num_classes)]
        self.val_metrics = SegmentationMetrics(class_names)
        self.test_metrics = SegmentationMetrics(class_names)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def training_step(self, batch, batch_idx):
        images, masks = batch
        loss = F.cross_entropy(self(images), masks)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def _evaluate(self, batch, metrics: SegmentationMetrics, prefix: str) -> None:
        images, masks = batch
        logits = self(images)
        self.log(f"{prefix}loss", F.cross_entropy(logits, masks), prog_bar=True)
        metrics.update(logits.argmax(dim=1), masks)

    def _log_metrics(self, metrics: SegmentationMetrics, prefix: str) -> None:
        values = {f"{prefix}{name}": value for name, value in metrics.compute().items()}
        means = {name: values.pop(name) for name in (f"{prefix}dice", f"{prefix}iou")}
        self.log_dict(means, prog_bar=True)
        self.log_dict(values)
        metrics.reset()

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, self.val_metrics, "val_")

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(self.val_metrics, "val_")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, self.test_metrics, "test_")

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics, "test_")

    def predict_step(self, batch, batch_idx):
        images, _ = batch
        return self(images).softmax(dim=1)

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.parameters(),
            lr=self.hparams.learning_rate,
            weight_decay=self.hparams.weight_decay,
        )
