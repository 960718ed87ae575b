"""Instruction tuning on a mixture: targets-only loss, isolated packing, accelerate underneath.

Public API: ``TrainConfig``, ``load_train_config``, ``train(config) -> TrainResult``.
"""

from flanlab.train.config import TrainConfig, load_train_config, make_config
from flanlab.train.trainer import TrainingDiverged, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "load_train_config", "make_config", "train"]
