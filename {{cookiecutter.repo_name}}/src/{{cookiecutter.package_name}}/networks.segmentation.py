"""Plain ``nn.Module`` segmentation networks, kept apart from the Lightning wrapper.

Each network maps images of shape (N, C, H, W) to class logits of shape
(N, classes, H, W).
"""

import torch
import torchvision
from torch import nn

SMALL_UNET = "small_unet"
UNET_DEPTH = 3  # the input side must be a multiple of 2**UNET_DEPTH


def convolutions(in_channels: int, out_channels: int) -> nn.Sequential:
    """Return two 3x3 convolutions, each with batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallUNet(nn.Module):
    """A U-Net with UNET_DEPTH poolings: the encoder halves the size and doubles
    the width at each level, and the decoder upsamples and joins the encoder's
    features of the same size."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16):
        super().__init__()
        widths = [width * 2**level for level in range(UNET_DEPTH + 1)]
        self.encoders = nn.ModuleList()
        channels = in_channels
        for out_channels in widths[:-1]:
            self.encoders.append(convolutions(channels, out_channels))
            channels = out_channels
        self.pool = nn.MaxPool2d(2)
        self.bottom = convolutions(channels, widths[-1])
        self.upsamples = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for out_channels in reversed(widths[:-1]):
            self.upsamples.append(nn.ConvTranspose2d(out_channels * 2, out_channels, 2, stride=2))
            self.decoders.append(convolutions(out_channels * 2, out_channels))
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        skips = []
        features = images
        for encoder in self.encoders:
            features = encoder(features)
            skips.append(features)
            features = self.pool(features)
        features = self.bottom(features)
        for upsample, decoder, skip in zip(
            self.upsamples, self.decoders, reversed(skips), strict=True
        ):
            features = decoder(torch.cat([upsample(features), skip], dim=1))
        return self.head(features)


class TorchvisionSegmentation(nn.Module):
    """A torchvision segmentation model that returns its ``out`` logits as a tensor.

    torchvision's models return a dict; a tensor keeps the traced model and the
    handler the same for every backbone.
    """

    def __init__(self, name: str, in_channels: int, num_classes: int):
        super().__init__()
        self.model = torchvision.models.get_model(
            name, weights=None, weights_backbone=None, num_classes=num_classes
        )
        if in_channels != 3:
            replace_first_convolution(self.model.backbone, in_channels, name)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)["out"]


def replace_first_convolution(backbone: nn.Module, in_channels: int, name: str) -> None:
    """Replace a ResNet backbone's ``conv1`` to accept in_channels input channels."""
    first = getattr(backbone, "conv1", None)
    if not isinstance(first, nn.Conv2d):
        raise ValueError(
            f"backbone {name!r} takes 3 input channels only; use {SMALL_UNET!r} "
            "or a ResNet-based model such as 'fcn_resnet50' for greyscale input"
        )
    backbone.conv1 = nn.Conv2d(
        in_channels,
        first.out_channels,
        kernel_size=first.kernel_size,
        stride=first.stride,
        padding=first.padding,
        bias=first.bias is not None,
    )


def build_network(backbone: str, in_channels: int, num_classes: int) -> nn.Module:
    """Build the named network with freshly initialised weights.

    ``backbone`` is ``small_unet`` or a torchvision segmentation model name such
    as ``fcn_resnet50`` or ``deeplabv3_mobilenet_v3_large``. No pretrained
    weights are downloaded.
    """
    if backbone == SMALL_UNET:
        return SmallUNet(in_channels, num_classes)
    available = torchvision.models.list_models(module=torchvision.models.segmentation)
    if backbone not in available:
        raise ValueError(
            f"unknown backbone {backbone!r}; use {SMALL_UNET!r} or a torchvision "
            f"segmentation model: {', '.join(available)}"
        )
    return TorchvisionSegmentation(backbone, in_channels, num_classes)
