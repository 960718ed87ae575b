"""Attention over packed rows, one example at a time.

A dense block-diagonal mask makes attention cost grow with the square of the ROW length, whatever
the examples in it: a row of 1280 tokens holding six examples of ~200 tokens computes (and, on
CPU, stores for the backward pass) a 1280 x 1280 score matrix per head and layer although only
six 200 x 200 causal blocks are used. Here each example's slice of the queries, keys and values
goes through ``scaled_dot_product_attention`` with ``is_causal=True`` and no mask, so the cost
follows the examples' own lengths, and each example is computed exactly as it would be alone.

The function is registered with transformers under ``SEGMENTED_SDPA`` (with sdpa's own mask
builder), so a model set to it behaves exactly like ``sdpa`` unless a forward call passes
``packed_spans``: evaluation, generation or any caller that does not know about packing gets
plain sdpa. Models whose attention does not forward extra keyword arguments simply fall back to
the dense mask the caller passes, which is still correct.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional

SEGMENTED_SDPA = "flanlab_segmented_sdpa"

Spans = list[list[tuple[int, int]]]  # per row: (start, end) of each packed example, in order


def register_segmented_attention() -> None:
    """Make ``SEGMENTED_SDPA`` a valid ``attn_implementation`` (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(SEGMENTED_SDPA, segmented_sdpa_forward)
    AttentionMaskInterface.register(SEGMENTED_SDPA, sdpa_mask)


def segment_spans(segment_ids: torch.Tensor, padding_segment: int) -> Spans:
    """Per row, the (start, end) of each example; examples sit back to back from position 0,
    padding (``padding_segment``) only at the end, as ``batching.causal_batch`` lays them out."""
    spans: Spans = []
    for row in segment_ids.cpu():
        values, counts = torch.unique_consecutive(row, return_counts=True)
        row_spans, start = [], 0
        for value, count in zip(values.tolist(), counts.tolist()):
            if value == padding_segment:
                break
            row_spans.append((start, start + count))
            start += count
        if start < row.numel() and bool((row[start:] != padding_segment).any()):
            raise ValueError("packed rows must hold their examples first and padding only at the end")
        spans.append(row_spans)
    return spans


def segmented_sdpa_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    packed_spans: Spans | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature; (batch, heads, seq, dim) in, (batch, seq, heads, dim) out.

    Padding positions get a zero output: nothing attends to them and they carry no loss.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if packed_spans is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    heads, length, head_dim = query.shape[1:]
    grouped = heads != key.shape[1]  # grouped-query attention: fewer key/value heads
    rows = []
    for row_query, row_key, row_value, spans in zip(query.split(1), key.split(1), value.split(1), packed_spans):
        # 4D pieces keep the CPU flash kernel; split (not slicing) has one concatenation as its
        # backward instead of a zero-filled full-size tensor per example
        sizes = [end - start for start, end in spans]
        used = sum(sizes)
        tail = [length - used] if used < length else []
        parts = (tensor.split(sizes + tail, dim=2)[: len(sizes)] for tensor in (row_query, row_key, row_value))
        pieces = [
            functional.scaled_dot_product_attention(
                q, k, v, dropout_p=dropout, scale=scaling, is_causal=True, enable_gqa=grouped
            )
            for q, k, v in zip(*parts)
        ]
        pieces += [row_query.new_zeros(1, heads, size, head_dim) for size in tail]
        rows.append(torch.cat(pieces, dim=2))
    return torch.cat(rows).transpose(1, 2).contiguous(), None
