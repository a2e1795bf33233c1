"""Train the model with LightningCLI.

Run by ``make train``, which passes ``fit`` and the three files in configs/;
LightningCLI options such as --trainer.max_epochs=20 go in ARGS.
After ``fit`` it tests the best checkpoint and records its path and metrics
in ``build/best-checkpoint.json``, which ``export`` reads.
"""

import json
import logging
import warnings
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from ..model import {{ cookiecutter.__model_class }}
from .data import {{ cookiecutter.__data_module }}
from .metadata import REPOSITORY_ROOT

BEST_CHECKPOINT_RECORD = REPOSITORY_ROOT / "build" / "best-checkpoint.json"

log = logging.getLogger(__name__)
# Lightning 2.6.6 still builds torch's LeafSpec, which torch 2.14 deprecates.
LEAFSPEC_DEPRECATION = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


def plain_metrics(metrics: dict) -> dict[str, float]:
    """Return logged metrics as sorted plain floats."""
    return {name: round(float(value), 6) for name, value in sorted(metrics.items())}


class TrainingCLI(LightningCLI):
    """LightningCLI that reports and records the best checkpoint after fit."""

    def after_fit(self) -> None:
        checkpoint = self.trainer.checkpoint_callback
        if checkpoint is None or not checkpoint.best_model_path:
            log.warning("no checkpoint was saved; nothing to record")
            return
        best_path = Path(checkpoint.best_model_path).resolve()
        tested = self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=str(best_path))
        record = {
            "checkpoint": str(best_path),
            "monitor": checkpoint.monitor,
            "best_score": round(float(checkpoint.best_model_score), 6),
            "test_metrics": plain_metrics(tested[0]) if tested else {},
        }
        BEST_CHECKPOINT_RECORD.parent.mkdir(parents=True, exist_ok=True)
        BEST_CHECKPOINT_RECORD.write_text(json.dumps(record, indent=2) + "\n")
        print(f"Best checkpoint: {best_path}")
        print(f"  {checkpoint.monitor} = {record['best_score']}")
        for name, value in record["test_metrics"].items():
            print(f"  {name} = {value}")
        print(f"Recorded in {BEST_CHECKPOINT_RECORD}")


def main(args=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", LEAFSPEC_DEPRECATION, FutureWarning)
    TrainingCLI(
        {{ cookiecutter.__model_class }},
        {{ cookiecutter.__data_module }},
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":
    main()
