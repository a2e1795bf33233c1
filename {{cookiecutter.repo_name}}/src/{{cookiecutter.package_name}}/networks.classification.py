"""Plain ``nn.Module`` networks, kept apart from the Lightning wrapper."""

import torch
import torchvision
from torch import nn

SMALL_CNN = "small_cnn"


class SmallCNN(nn.Module):
    """A four-block convolutional network for small patches.

    Each block is conv, batch norm, ReLU and 2x2 max pooling; global average
    pooling makes the network independent of the input size.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for block in range(4):
            out_channels = width * 2**block
            layers += [
                nn.Conv2d(channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = out_channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.features(images)).flatten(1)
        return self.classifier(features)


def _replace_first_convolution(network: nn.Module, in_channels: int, name: str) -> None:
    """Replace a ResNet-style ``conv1`` to accept in_channels input channels."""
    first = getattr(network, "conv1", None)
    if not isinstance(first, nn.Conv2d):
        raise ValueError(
            f"backbone {name!r} takes 3 input channels only; use {SMALL_CNN!r} "
            "or a ResNet for greyscale input"
        )
    network.conv1 = nn.Conv2d(
        in_channels,
        first.out_channels,
        kernel_size=first.kernel_size,
        stride=first.stride,
        padding=first.padding,
        bias=first.bias is not None,
    )


def build_network(backbone: str, in_channels: int, num_classes: int) -> nn.Module:
    """Build the named network with freshly initialised weights.

    ``backbone`` is ``small_cnn`` or a torchvision classification model name
    such as ``resnet18``. No pretrained weights are downloaded.
    """
    if backbone == SMALL_CNN:
        return SmallCNN(in_channels, num_classes)
    available = torchvision.models.list_models(module=torchvision.models)
    if backbone not in available:
        raise ValueError(
            f"unknown backbone {backbone!r}; use {SMALL_CNN!r} or a torchvision "
            "classification model such as 'resnet18' or 'mobilenet_v3_small'"
        )
    network = torchvision.models.get_model(backbone, weights=None, num_classes=num_classes)
    if in_channels != 3:
        _replace_first_convolution(network, in_channels, backbone)
    return network
