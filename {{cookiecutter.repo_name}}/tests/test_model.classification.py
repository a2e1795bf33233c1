import pytest
import torch

from {{ cookiecutter.package_name }}.model import PatchClassifier
from {{ cookiecutter.package_name }}.networks import build_network


@pytest.mark.parametrize("backbone", ["small_cnn", "resnet18"])
def test_network_output_shape(backbone, metadata):
    network = build_network(backbone, metadata.input_channels, metadata.num_classes).eval()
    batch = torch.zeros(3, metadata.input_channels, metadata.input_size, metadata.input_size)
    assert network(batch).shape == (3, metadata.num_classes)


def test_resnet_accepts_greyscale():
    network = build_network("resnet18", in_channels=1, num_classes=2).eval()
    assert network(torch.zeros(1, 1, 64, 64)).shape == (1, 2)


def test_unknown_backbone_names_choices():
    with pytest.raises(ValueError, match="unknown backbone 'resnet1000'.*small_cnn"):
        build_network("resnet1000", 3, 2)


def test_checkpoint_loads_with_safe_torch_load(checkpoint, metadata):
    """Hyperparameters are plain values, so torch.load's default weights_only=True reads them."""
    state = torch.load(checkpoint)
    assert state["hyper_parameters"] == {
        "backbone": "small_cnn",
        "learning_rate": 0.001,
        "weight_decay": 0.0001,
        "num_classes": metadata.num_classes,
        "in_channels": metadata.input_channels,
    }


def test_checkpoint_round_trip_same_outputs(checkpoint, metadata):
    first = PatchClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    second = PatchClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    batch = torch.rand(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    assert torch.equal(first(batch), second(batch))
