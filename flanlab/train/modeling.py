"""The module the engine trains: a model (plain or PEFT) whose forward returns the summed
target-token loss and the number of target tokens, so the trainer can normalise per token across
micro-batches and processes.

Causal rows may pack several examples; the wrapper builds the 4D block-diagonal causal mask from
``segment_ids`` (a 2D mask cannot express it: transformers would treat an all-ones 2D mask as "no
padding" and let examples see each other). sdpa gets a boolean mask, eager an additive float mask
(0 / dtype minimum): a boolean mask is silently wrong under eager attention.

Prompt tuning is done here rather than in PEFT's forward (which only extends 2D masks): the soft
prompt from ``PeftModel.get_prompt`` is prepended to every row, every packed example may attend to
it, and each example's positions continue after it, which is exactly what each example would see
unpacked. Labels are shifted past the virtual tokens before the loss, so they never misalign.

On CPU with sdpa, llama-like models attend one packed example at a time (``attention.py``): the
dense mask's cost grows with the square of the row length, the per-example cost with the examples'
own lengths. The dense mask is still passed, so a layer that ignores the spans stays correct.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from flanlab.models.zoo import PLAIN_HEAD_MODEL_TYPES, has_plain_head
from flanlab.train.attention import SEGMENTED_SDPA, register_segmented_attention, segment_spans
from flanlab.train.batching import IGNORE_INDEX, PAD_SEGMENT

SHARED_SEGMENT = -2  # the soft prompt: visible to every example in the row
# For plain-head architectures (flanlab.models.zoo.PLAIN_HEAD_MODEL_TYPES) only the target positions
# go through the (large) output projection. Their attention layers also hand extra forward keyword
# arguments (the packed spans) to the attention function.
PER_EXAMPLE_ATTENTION_MODEL_TYPES = PLAIN_HEAD_MODEL_TYPES
LOGITS_CHUNK_ELEMENTS = 1 << 24  # logits computed at once in the loss (64 MiB in fp32)


def block_causal_mask(segment_ids: torch.Tensor, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """(batch, 1, seq, seq) mask: a token sees earlier tokens of its own example and the soft prompt.

    Padding queries see only themselves, so no softmax row is empty (an empty row gives NaN).
    """
    length = segment_ids.shape[1]
    query, key = segment_ids[:, :, None], segment_ids[:, None, :]
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    same_example = (query == key) & (key != PAD_SEGMENT)
    sees_prompt = (key == SHARED_SEGMENT) & (query != PAD_SEGMENT)
    diagonal = torch.eye(length, dtype=torch.bool, device=segment_ids.device)
    allowed = ((same_example | sees_prompt) & causal) | diagonal
    allowed = allowed[:, None, :, :]
    if attn_implementation == "sdpa":
        return allowed
    blocked = torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device)
    return blocked.masked_fill_(~allowed, torch.finfo(dtype).min)


def set_dropout(model: nn.Module, rate: float) -> int:
    """Use ``rate`` in every dropout layer and in attention-probability dropout (kept as a float
    ``attention_dropout`` attribute by Llama-style attention); returns how many places changed.

    Only the loaded modules change, not the config, so an exported model keeps its own setting.
    """
    changed = 0
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = rate
            changed += 1
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = rate  # type: ignore[assignment]  # a float attribute, checked above
            changed += 1
    return changed


def summed_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum (not mean) of cross-entropy over the given positions; the caller divides globally."""
    return nn.functional.cross_entropy(logits.float(), labels, reduction="sum")


def chunked_head_loss(head: nn.Module, hidden: torch.Tensor, labels: torch.Tensor, chunk: int) -> torch.Tensor:
    """``summed_token_loss(head(hidden), labels)``, ``chunk`` positions at a time.

    Each chunk's logits live only while its loss is computed: checkpointing recomputes them in the
    backward pass, so memory holds one chunk of positions x vocabulary, not all target positions
    (1,600 targets x 151,936 logits would be ~1 GB in fp32, three times over with the log-softmax
    and the gradient). The recomputation costs one more head product on the target positions.
    """
    from torch.utils.checkpoint import checkpoint

    if hidden.shape[0] <= chunk:
        return summed_token_loss(head(hidden), labels)
    piece = lambda h, y: summed_token_loss(head(h), y)  # noqa: E731
    parts = [checkpoint(piece, h, y, use_reentrant=False) for h, y in zip(hidden.split(chunk), labels.split(chunk))]
    return torch.stack(parts).sum()


class TargetLossModel(nn.Module):
    """Wraps the trained model; ``forward(**batch) -> (loss_sum, target_token_count)``."""

    def __init__(
        self,
        model: nn.Module,
        *,
        seq2seq: bool,
        attn_implementation: str = "sdpa",
        num_virtual_tokens: int = 0,
        per_example_attention: bool = True,
    ) -> None:
        """``per_example_attention=False`` keeps the dense block mask everywhere (the reference path)."""
        super().__init__()
        self.model = model  # the object whose parameters train (a PeftModel for LoRA / prompt tuning)
        self.seq2seq = seq2seq
        self.attn_implementation = attn_implementation
        self.num_virtual_tokens = num_virtual_tokens
        config = self.hf_model.config
        model_type = getattr(config, "model_type", "")
        self.plain_head = has_plain_head(config)
        self.logits_chunk_positions = max(1, LOGITS_CHUNK_ELEMENTS // max(int(getattr(config, "vocab_size", 1)), 1))
        self.per_example_attention = (
            per_example_attention
            and not seq2seq
            and not num_virtual_tokens
            and attn_implementation == "sdpa"
            and model_type in PER_EXAMPLE_ATTENTION_MODEL_TYPES
        )
        if self.per_example_attention:
            register_segmented_attention()
            self.hf_model.set_attn_implementation(SEGMENTED_SDPA)  # plain sdpa whenever no spans are passed
        # FSDP's auto-wrap policy reads this from the top module
        self._no_split_modules = getattr(self.hf_model, "_no_split_modules", None)

    @property
    def hf_model(self) -> Any:
        """The transformers model (LoRA layers are injected into it in place)."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if get_base is not None else self.model

    def forward(self, **batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.seq2seq:
            return self._seq2seq_loss(batch["input_ids"], batch["attention_mask"], batch["labels"])
        return self._causal_loss(batch["input_ids"], batch["labels"], batch["position_ids"], batch["segment_ids"])

    def _soft_prompt(self, batch_size: int) -> torch.Tensor:
        return self.model.get_prompt(batch_size)  # type: ignore[operator]  # a peft prompt-tuning model

    def _causal_loss(self, input_ids, labels, position_ids, segment_ids):
        model = self.hf_model
        embeds = model.get_input_embeddings()(input_ids)
        virtual = self.num_virtual_tokens
        if virtual:
            batch_size = input_ids.shape[0]
            embeds = torch.cat([self._soft_prompt(batch_size).to(embeds.dtype), embeds], dim=1)
            prompt_positions = torch.arange(virtual, device=input_ids.device).expand(batch_size, virtual)
            position_ids = torch.cat([prompt_positions, position_ids + virtual], dim=1)
            prompt_segments = torch.full(
                (batch_size, virtual), SHARED_SEGMENT, device=input_ids.device, dtype=segment_ids.dtype
            )
            segment_ids = torch.cat([prompt_segments, segment_ids], dim=1)
            labels = torch.cat(
                [torch.full((batch_size, virtual), IGNORE_INDEX, device=labels.device, dtype=labels.dtype), labels],
                dim=1,
            )
        mask = block_causal_mask(segment_ids, self.attn_implementation, embeds.dtype)
        # measured on CPU only; on GPUs the single masked kernel is kept
        spans = (
            {"packed_spans": segment_spans(segment_ids, PAD_SEGMENT)}
            if self.per_example_attention and embeds.device.type == "cpu"
            else {}
        )
        # position t predicts token t+1: select the positions whose NEXT token is a target
        next_labels = labels[:, 1:]
        selected = next_labels != IGNORE_INDEX
        if self.plain_head:
            hidden = model.base_model(
                inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=False, **spans
            ).last_hidden_state
            head, targets = model.get_output_embeddings(), next_labels[selected]
            loss = chunked_head_loss(head, hidden[:, :-1][selected], targets, self.logits_chunk_positions)
            return loss, selected.sum()
        logits = model(
            inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=False, **spans
        ).logits
        return summed_token_loss(logits[:, :-1][selected], next_labels[selected]), selected.sum()

    def _seq2seq_loss(self, input_ids, attention_mask, labels):
        model = self.hf_model
        decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels=labels)
        embeds = model.get_input_embeddings()(input_ids)
        if self.num_virtual_tokens:
            batch_size = input_ids.shape[0]
            embeds = torch.cat([self._soft_prompt(batch_size).to(embeds.dtype), embeds], dim=1)
            prompt_mask = torch.ones(
                batch_size, self.num_virtual_tokens, dtype=attention_mask.dtype, device=attention_mask.device
            )
            attention_mask = torch.cat([prompt_mask, attention_mask], dim=1)
        logits = model(
            inputs_embeds=embeds, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids, use_cache=False
        ).logits
        selected = labels != IGNORE_INDEX
        return summed_token_loss(logits[selected], labels[selected]), selected.sum()
