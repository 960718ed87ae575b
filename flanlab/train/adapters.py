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
    peft_config: LoraConfig | PromptTuningConfig
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
            task_type=task_type,
            num_virtual_tokens=config.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB,
        )
    peft_config.base_model_name_or_path = base_location  # what the exported adapter loads its base from
    with peft_warnings_silenced():
        return get_peft_model(model, peft_config)


def store_frozen_linears_in_bf16(model: Any) -> int:
    """Keep the frozen linear weights of an adapter run in bf16; returns the bytes saved.

    Under bf16 autocast a linear layer multiplies in bf16 whatever its weight's storage, and
    ``Tensor.to(bfloat16)`` rounds exactly as autocast's cast does, so no number changes: the
    weights take half the memory and are not cast again at every forward pass. A weight shared with
    the input embeddings (a tied output head) stays fp32, or the embeddings would become bf16.
    """
    import torch

    embeddings = model.get_input_embeddings().weight
    saved = 0
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            weight = module.weight
            if weight.requires_grad or weight is embeddings:
                continue
            if weight.dtype == torch.float32:
                module.weight.data = weight.data.to(torch.bfloat16)
                saved += weight.numel() * 2
        # loaded weights are views of the memory-mapped checkpoint: copying the rest lets the mapping
        # go, or the fp32 pages just read for the conversion would stay in this process's memory
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.dtype != torch.bfloat16:
                tensor.data = tensor.data.clone()
    return saved


def export_model(trained: Any, tokenizer: Any, config: TrainConfig, folder: Path) -> str:
    """Write the HF folder; returns what was written ("full", "merged-lora", "lora-adapter", "prompt-adapter")."""
    folder.mkdir(parents=True, exist_ok=True)
    if config.method == "full":
        trained.save_pretrained(folder)
        kind = "full"
    elif config.method == "lora" and config.merge_lora:
        _merged(trained, config).save_pretrained(folder)
        kind = "merged-lora"
    else:
        trained.save_pretrained(folder)
        kind = "lora-adapter" if config.method == "lora" else "prompt-adapter"
    tokenizer.save_pretrained(folder)
    return kind


def _merged(trained: Any, config: TrainConfig) -> Any:
    """The LoRA deltas added to the base weights, in the base's own precision.

    When training kept the frozen weights in bf16, the adapter is merged into a fresh fp32 copy of
    the base read from disk (an in-place merge would round every base weight to bf16).
    """
    import tempfile

    import torch
    from peft import PeftModel

    from flanlab.models.zoo import load_model

    if all(p.dtype != torch.bfloat16 for p in trained.parameters()):
        return trained.merge_and_unload()
    with tempfile.TemporaryDirectory() as adapter:
        trained.save_pretrained(adapter)
        base, _ = load_model(config.model)
        with peft_warnings_silenced():
            return PeftModel.from_pretrained(base, adapter).merge_and_unload()


def num_virtual_tokens(config: TrainConfig) -> int:
    return config.num_virtual_tokens if config.method == "prompt_tuning" else 0
