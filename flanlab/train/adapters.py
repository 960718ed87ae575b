"""Full finetuning, LoRA or prompt tuning: which parameters train, and how the result is exported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flanlab.models.zoo import peft_warnings_silenced
from flanlab.train.config import TrainConfig


def apply_method(model: Any, config: TrainConfig, *, seq2seq: bool, base_location: str) -> Any:
    """The model to train: unchanged for full finetuning, else a PeftModel around it."""
    if config.method == "full":
        return model
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

    task_type = TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM
    if config.method == "lora":
        peft_config = LoraConfig(
            task_type=task_type,
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules,
        )
    else:
        # initialised from sampled vocabulary embeddings, so the prompt starts at the scale of real tokens
        peft_config = PromptTuningConfig(
            task_type=task_type, num_virtual_tokens=config.num_virtual_tokens, prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB
        )
    peft_config.base_model_name_or_path = base_location  # what the exported adapter loads its base from
    with peft_warnings_silenced():
        return get_peft_model(model, peft_config)


def export_model(trained: Any, tokenizer: Any, config: TrainConfig, folder: Path) -> str:
    """Write the HF folder; returns what was written ("full", "merged-lora", "lora-adapter", "prompt-adapter")."""
    folder.mkdir(parents=True, exist_ok=True)
    if config.method == "full":
        trained.save_pretrained(folder)
        kind = "full"
    elif config.method == "lora" and config.merge_lora:
        trained.merge_and_unload().save_pretrained(folder)
        kind = "merged-lora"
    else:
        trained.save_pretrained(folder)
        kind = "lora-adapter" if config.method == "lora" else "prompt-adapter"
    tokenizer.save_pretrained(folder)
    return kind


def num_virtual_tokens(config: TrainConfig) -> int:
    return config.num_virtual_tokens if config.method == "prompt_tuning" else 0
