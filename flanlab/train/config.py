"""The training configuration: one pydantic object, loadable from and dumpable to YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flanlab.configio import read_yaml_mapping, validate


class TrainConfig(BaseModel):
    """Everything a training run depends on; the run folder keeps the resolved copy (config.yaml)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "smollm2-135m"  # zoo name, HF folder or hub id
    mixture: Path  # a mixture folder holding shards/*.parquet (columns inputs, targets)
    out: Path  # the run folder

    # what is trained
    method: Literal["full", "lora", "prompt_tuning"] = "full"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0  # PEFT's default; on CPU, 0.05 spends ~a third of a LoRA step drawing dropout masks
    lora_target_modules: list[str] | str = "all-linear"
    num_virtual_tokens: int = 10  # FLAN's prompt tuning study uses a soft prompt of length 10
    merge_lora: bool = True  # export the LoRA run as a plain merged model

    # data: lengths from the FLAN paper (inputs 1024, targets 256)
    max_input_tokens: int = 1024
    max_target_tokens: int = 256
    packing: bool = True
    chat_template: bool = Field(
        False, description="Train in the model's chat template: inputs as the user turn, loss on the assistant turn."
    )
    pack_length: int | None = None  # packed row length; default max_input_tokens + max_target_tokens
    micro_batch_size: int = 8  # rows (packed sequences) per process per forward pass
    gradient_accumulation_steps: int = 1

    # optimisation
    optimizer: Literal["adafactor", "adamw"] = "adafactor"
    learning_rate: float = 3e-5
    weight_decay: float = 0.0
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = 0
    max_grad_norm: float | None = 1.0
    max_steps: int = 1000
    max_minutes: float | None = None  # a time budget; training stops at whichever limit comes first
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on a GPU that supports it, else fp32
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"
    gradient_checkpointing: bool = False

    # bookkeeping
    checkpoint_every: int = 100  # optimizer steps; 0 disables intermediate checkpoints
    keep_checkpoints: int = 2
    log_every: int = 1
    resume: bool = False
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        positive = {
            "max_input_tokens": self.max_input_tokens,
            "max_target_tokens": self.max_target_tokens,
            "micro_batch_size": self.micro_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "max_steps": self.max_steps,
            "num_virtual_tokens": self.num_virtual_tokens,
            "log_every": self.log_every,
            "keep_checkpoints": self.keep_checkpoints,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1 (got {value})")
        if self.pack_length is not None and self.pack_length < 2:
            raise ValueError("pack_length must be at least 2")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError("max_minutes must be positive")
        return self

    @property
    def row_length(self) -> int:
        """The length of one packed row (a causal example of maximal length always fits)."""
        return self.pack_length or self.max_input_tokens + self.max_target_tokens

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_train_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """A config from YAML, with non-None keyword overrides applied on top (the CLI's flags)."""
    data = read_yaml_mapping(path, "training config", empty_ok=True)
    data.update({key: value for key, value in overrides.items() if value is not None})
    return make_config(data, where=str(path))


def make_config(data: dict[str, Any], where: str = "train config") -> TrainConfig:
    """Validate a plain dict; a bad field becomes a one-line FlanlabError naming it."""
    return validate(TrainConfig, data, where)
