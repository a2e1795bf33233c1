import pytest
import torch

from {{ cookiecutter.package_name }}.model import PatchSegmenter, SegmentationMetrics
from {{ cookiecutter.package_name }}.networks import build_network


@pytest.mark.parametrize("backbone", ["small_unet", "fcn_resnet50"])
def test_network_output_shape(backbone, metadata):
    network = build_network(backbone, metadata.input_channels, metadata.num_classes).eval()
    batch = torch.zeros(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    size = metadata.input_size
    assert network(batch).shape == (2, metadata.num_classes, size, size)


def test_resnet_backbone_accepts_greyscale():
    network = build_network("fcn_resnet50", in_channels=1, num_classes=3).eval()
    assert network(torch.zeros(1, 1, 64, 64)).shape == (1, 3, 64, 64)


def test_unknown_backbone_names_choices():
    with pytest.raises(ValueError, match="unknown backbone 'unet9000'; use 'small_unet'.*fcn_"):
        build_network("unet9000", 3, 2)


def test_metrics_per_class_and_mean():
    metrics = SegmentationMetrics(["background", "tumour", "stroma"])
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2] = 1
    predicted = target.clone()
    predicted[0, 0, :2] = 0  # two of eight tumour pixels called background

    metrics.update(predicted, target)
    values = metrics.compute()

    assert values["dice_tumour"].item() == pytest.approx(2 * 6 / (6 + 8))
    assert values["dice_background"].item() == pytest.approx(2 * 8 / (10 + 8))
    assert values["iou_tumour"].item() == pytest.approx(6 / 8)
    assert torch.isnan(values["dice_stroma"])
    expected_mean = (values["dice_tumour"] + values["dice_background"]) / 2
    assert values["dice"].item() == pytest.approx(expected_mean.item())


def test_checkpoint_loads_with_safe_torch_load(checkpoint, metadata):
    """Hyperparameters are plain values, so torch.load's default weights_only=True reads them."""
    state = torch.load(checkpoint)
    assert state["hyper_parameters"] == {
        "backbone": "small_unet",
        "learning_rate": 0.001,
        "weight_decay": 0.0001,
        "num_classes": metadata.num_classes,
        "in_channels": metadata.input_channels,
    }


def test_checkpoint_round_trip_same_outputs(checkpoint, metadata):
    first = PatchSegmenter.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    second = PatchSegmenter.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    batch = torch.rand(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    assert torch.equal(first(batch), second(batch))
