"""Trace the best checkpoint to TorchScript and check it against the eager model.

The model is traced in eval mode on the CPU with an example batch of 2.
Export fails when the tracer warns (data-dependent control flow makes a trace
that is only right for the example input) and when the traced model differs
from the eager model by more than TOLERANCE at any of CHECK_BATCH_SIZES.

Run by ``make export``; options: --checkpoint PATH, --output PATH
(default build/model.pt).
"""

import argparse
import json
import logging
import warnings
from pathlib import Path

import lightning as L
import torch
from torch import nn

from ..model import {{ cookiecutter.__model_class }}
from .metadata import REPOSITORY_ROOT, Metadata, load_metadata
from .train import BEST_CHECKPOINT_RECORD

log = logging.getLogger(__name__)

DEFAULT_OUTPUT = REPOSITORY_ROOT / "build" / "model.pt"
EXAMPLE_BATCH_SIZE = 2
CHECK_BATCH_SIZES = (1, 2, 7, 32)
TOLERANCE = 1e-5
# torch 2.14 deprecates TorchScript and warns on every trace, save and load;
# Lightning 2.6 warns likewise on to_torchscript.
TORCHSCRIPT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"
LIGHTNING_TORCHSCRIPT_DEPRECATION = r"`LightningModule\.to_torchscript` has been deprecated"
# Tracing reads every attribute of the model's torchmetrics 1.9 metrics,
# including the deprecated Metric.update_called.
METRIC_PROPERTY_DEPRECATION = r"This property will be removed in 2\.0\.0\. Use `Metric\.updated"


class ExportError(RuntimeError):
    """A trace that cannot be trusted to behave as the eager model."""


def best_checkpoint(record_path: Path = BEST_CHECKPOINT_RECORD) -> Path:
    """Return the best checkpoint that training recorded."""
    if not record_path.is_file():
        raise ExportError(f"{record_path} is missing; run 'make train' first")
    checkpoint = Path(json.loads(record_path.read_text())["checkpoint"])
    if not checkpoint.is_file():
        raise ExportError(
            f"the recorded best checkpoint {checkpoint} is missing; run 'make train' again"
        )
    return checkpoint


def load_eager_model(checkpoint: Path) -> {{ cookiecutter.__model_class }}:
    """Load a checkpoint on the CPU in eval mode."""
    model = {{ cookiecutter.__model_class }}.load_from_checkpoint(checkpoint, map_location="cpu")
    return model.eval()


def random_batch(metadata: Metadata, batch_size: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size, metadata.input_channels, metadata.input_size, metadata.input_size)
    return torch.randn(shape, generator=generator)


def trace(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """Trace model on example, raising ExportError on any tracer warning."""
    model = model.to("cpu").eval()
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", TORCHSCRIPT_DEPRECATION, FutureWarning)
        warnings.filterwarnings("ignore", LIGHTNING_TORCHSCRIPT_DEPRECATION)
        warnings.filterwarnings("ignore", METRIC_PROPERTY_DEPRECATION, DeprecationWarning)
        if isinstance(model, L.LightningModule):
            # Lightning's own tracing entry point detaches the Trainer property,
            # which a plain torch.jit.trace would read and fail on.
            traced = model.to_torchscript(method="trace", example_inputs=example)
        else:
            traced = torch.jit.trace(model, example)
    tracer_warnings = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    for other in caught:
        if other not in tracer_warnings:
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if tracer_warnings:
        first = tracer_warnings[0]
        raise ExportError(
            f"tracing emitted {len(tracer_warnings)} TracerWarning(s), so the trace may "
            f"only be right for the example input; first, at {first.filename}:"
            f"{first.lineno}: {first.message}. Remove data-dependent Python control "
            "flow from forward()"
        )
    return traced


def check_against_eager(
    model: nn.Module, traced: torch.jit.ScriptModule, metadata: Metadata
) -> float:
    """Compare traced and eager outputs at several batch sizes; return the max difference."""
    worst = 0.0
    for batch_size in CHECK_BATCH_SIZES:
        batch = random_batch(metadata, batch_size, seed=batch_size)
        with torch.no_grad():
            difference = (model(batch) - traced(batch)).abs().max().item()
        if difference > TOLERANCE:
            raise ExportError(
                f"traced and eager outputs differ by {difference:.3g} at batch size "
                f"{batch_size}, above the tolerance {TOLERANCE}; check that forward() "
                "behaves the same in eval mode for every batch size"
            )
        worst = max(worst, difference)
    return worst


def save(traced: torch.jit.ScriptModule, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", TORCHSCRIPT_DEPRECATION, FutureWarning)
        torch.jit.save(traced, str(output))


def export(checkpoint: Path, output: Path) -> float:
    """Trace checkpoint, check the trace and save it; return the max difference."""
    metadata = load_metadata()
    log.info("loading %s", checkpoint)
    model = load_eager_model(checkpoint)
    log.info("tracing on the CPU in eval mode with a batch of %d", EXAMPLE_BATCH_SIZE)
    traced = trace(model, random_batch(metadata, EXAMPLE_BATCH_SIZE, seed=0))
    worst = check_against_eager(model, traced, metadata)
    log.info("traced model matches eager at batch sizes %s (max difference %.2g)",
             CHECK_BATCH_SIZES, worst)  # fmt: skip
    save(traced, output)
    return worst


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=Path, help="default: the best checkpoint of 'make train'"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        export(args.checkpoint or best_checkpoint(), args.output)
    except ExportError as error:
        raise SystemExit(f"export failed: {error}") from None
    print(f"TorchScript model: {args.output}")


if __name__ == "__main__":
    main()
