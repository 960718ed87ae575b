"""The training configuration: one pydantic object, loadable from and dumpable to YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flanlab.configio import read_yaml_mapping, validate
from flanlab.models.precision import Precision


class TrainConfig(BaseModel):
    """Everything a training run depends on; the run folder keeps the resolved copy (config.yaml)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("smollm2-135m", description="Model to train: a zoo name, a Hugging Face folder or a hub id.")
    mixture: Path = Field(description="A mixture folder holding shards/*.parquet (columns inputs, targets).")
    out: Path = Field(description="The run folder (model, logs, checkpoints).")

    # what is trained
    method: Literal["full", "lora", "prompt_tuning"] = Field("full", description="What is trained.")
    lora_rank: int = Field(16, description="LoRA rank.")
    lora_alpha: int = Field(32, description="LoRA alpha (the update is scaled by alpha / rank).")
    lora_dropout: float = Field(
        0.0, description="LoRA dropout (PEFT's default 0; on CPU 0.05 costs about a third of a LoRA step)."
    )
    lora_target_modules: list[str] | str = Field(
        "all-linear", description="Modules LoRA adapts: 'all-linear' or a list of module names."
    )
    num_virtual_tokens: int = Field(10, description="Soft prompt length for prompt tuning (FLAN's study uses 10).")
    merge_lora: bool = Field(True, description="Export a LoRA run as a plain merged model.")
    dropout: float | None = Field(
        None,
        description="Dropout while training (attention and the model's dropout layers; Flan 2022's single-task "
        "finetuning uses 0.1); unset keeps the model's own. Not saved with the model.",
    )

    # data: lengths from the FLAN paper (inputs 1024, targets 256)
    max_input_tokens: int = Field(1024, description="Inputs are cut to this many tokens.")
    max_target_tokens: int = Field(256, description="Targets are cut to this many tokens.")
    packing: bool = Field(True, description="Pack several examples into one row (attention kept apart).")
    chat_template: bool = Field(
        False, description="Train in the model's chat template: inputs as the user turn, loss on the assistant turn."
    )
    pack_length: int | None = Field(
        None, description="Packed row length (default: max_input_tokens + max_target_tokens)."
    )
    micro_batch_size: int = Field(8, description="Rows (packed sequences) per process per forward pass.")
    gradient_accumulation_steps: int = Field(1, description="Micro-batches per optimizer step.")

    # optimisation
    optimizer: Literal["adafactor", "adamw"] = Field("adafactor", description="Optimizer.")
    learning_rate: float = Field(3e-5, description="Peak learning rate.")
    weight_decay: float = Field(0.0, description="Weight decay.")
    schedule: Literal["constant", "linear", "cosine"] = Field("constant", description="Learning-rate schedule.")
    warmup_steps: int = Field(0, description="Linear warm-up steps.")
    max_grad_norm: float | None = Field(1.0, description="Gradient clipping norm (null: no clipping).")
    max_steps: int = Field(1000, description="Optimizer steps.")
    max_minutes: float | None = Field(None, description="A time budget; training stops at whichever limit comes first.")
    seed: int = Field(0, description="Seed for initialisation, data order and dropout.")
    precision: Precision = Field(
        "auto",
        description="fp32, bf16 (autocast: bf16 matrix products; fp32 master weights, gradients and optimizer state), "
        "or auto: bf16 where the device computes it natively and faster (CUDA with bf16; a CPU with AVX512-BF16/AMX "
        "whose measured bf16 matrix products beat fp32 by 1.25x), else fp32",
    )
    attn_implementation: Literal["sdpa", "eager"] = Field("sdpa", description="Attention implementation.")
    gradient_checkpointing: bool | Literal["auto"] = Field(
        "auto",
        description="recompute each layer in the backward pass instead of keeping its activations (~a third more "
        "compute, a fraction of the memory); auto: only when the memory plan needs it",
    )
    memory_limit_gb: float | None = Field(
        None,
        description="memory training may use on this machine, all processes together; default: what is available "
        "when training starts (MemAvailable, or the cgroup limit if lower). The plan lowers the micro-batch (same "
        "effective batch) or turns on checkpointing to fit, or stops with what to change",
    )

    # bookkeeping
    checkpoint_every: int = Field(100, description="Optimizer steps between checkpoints (0: none in between).")
    keep_checkpoints: int = Field(2, description="How many checkpoints to keep.")
    log_every: int = Field(1, description="Optimizer steps between log lines.")
    resume: bool = Field(False, description="Continue from the run folder's latest checkpoint.")
    progress: bool = Field(True, description="Show a progress bar.")

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
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if self.memory_limit_gb is not None and self.memory_limit_gb <= 0:
            raise ValueError("memory_limit_gb must be positive")
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
