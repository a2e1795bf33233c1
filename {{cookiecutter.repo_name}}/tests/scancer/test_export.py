import pytest
import torch
from torch import nn

from {{ cookiecutter.package_name }}.scancer.export import (
    ExportError,
    best_checkpoint,
    check_against_eager,
    load_eager_model,
    trace,
)


class DataDependentNetwork(nn.Module):
    def forward(self, images):
        if images.mean() > 0:
            return images.flatten(1)[:, :2]
        return -images.flatten(1)[:, :2]


def test_trace_matches_eager_at_batch_sizes(checkpoint, metadata):
    model = load_eager_model(checkpoint)
    example = torch.randn(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    traced = trace(model, example)
    assert check_against_eager(model, traced, metadata) <= 1e-5


def test_trace_rejects_data_dependent_control_flow():
    with pytest.raises(ExportError, match="TracerWarning"):
        trace(DataDependentNetwork(), torch.randn(2, 3, 8, 8))


def test_check_rejects_trace_of_other_weights(checkpoint, metadata):
    model = load_eager_model(checkpoint)
    other = load_eager_model(checkpoint)
    with torch.no_grad():
        list(other.parameters())[-1].add_(0.1)  # the output layer's bias
    example = torch.randn(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    traced = trace(other, example)
    with pytest.raises(ExportError, match="differ by .* at batch size 1"):
        check_against_eager(model, traced, metadata)


def test_best_checkpoint_missing_says_train_first(tmp_path):
    with pytest.raises(ExportError, match="make train"):
        best_checkpoint(tmp_path / "best-checkpoint.json")
