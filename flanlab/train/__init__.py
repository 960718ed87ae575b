"""Instruction tuning on a mixture: targets-only loss, isolated packing, accelerate underneath.

Public API: ``TrainConfig``, ``load_train_config``, ``train(config) -> TrainResult``. The trainer
(and torch) load on first use, so reading a config - the CLI builds its flags from it - stays fast.
"""

from typing import Any

from flanlab.train.config import TrainConfig, load_train_config, make_config

_TRAINER_NAMES = ("TrainingDiverged", "TrainResult", "train")

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "load_train_config", "make_config", "train"]


def __getattr__(name: str) -> Any:
    if name in _TRAINER_NAMES:
        from flanlab.train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'flanlab.train' has no attribute {name!r}")
