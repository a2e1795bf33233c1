import json

import pytest
import torch

from {{ cookiecutter.package_name }}.scancer import train

from task_fixtures import DEFAULT_BACKBONE, TRAINING_METRICS

CONFIGS = ["-c", "configs/data.yaml", "-c", "configs/model.yaml", "-c", "configs/trainer.yaml"]


@pytest.mark.slow
def test_train_records_best_checkpoint(tmp_path, data_dir, monkeypatch):
    record_path = tmp_path / "best-checkpoint.json"
    monkeypatch.setattr(train, "BEST_CHECKPOINT_RECORD", record_path)
    monkeypatch.chdir(train.REPOSITORY_ROOT)
    train.main(
        ["fit", *CONFIGS, f"--data.data_dir={data_dir}", "--data.num_workers=0",
         "--data.batch_size=4", "--trainer.max_epochs=1",
         f"--trainer.default_root_dir={tmp_path}",
         f"--trainer.logger.init_args.save_dir={tmp_path}"]
    )  # fmt: skip
    record = json.loads(record_path.read_text())
    assert record["monitor"] == "val_loss"
    assert str(tmp_path) in record["checkpoint"]
    assert set(TRAINING_METRICS) <= set(record["test_metrics"])
    state = torch.load(record["checkpoint"])
    assert state["hyper_parameters"]["backbone"] == DEFAULT_BACKBONE
