"""Rows of example ids -> padded tensors. Labels hold the token id at target positions, -100 elsewhere.

Causal rows carry ``segment_ids`` (which example each token belongs to, -1 for padding) and
``position_ids`` that restart at 0 for every example; the model wrapper turns segments into the
block-diagonal causal mask. Seq2seq rows hold one example each (encoder ids, decoder labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flanlab.train.data import TokenizedMixture
from flanlab.train.packing import Row

IGNORE_INDEX = -100
PAD_SEGMENT = -1


@dataclass
class Batch:
    tensors: dict[str, torch.Tensor]
    real_tokens: int  # non-pad tokens (inputs and targets)
    total_tokens: int  # all positions, pad included
    target_tokens: int  # loss-bearing tokens
    example_ids: list[int]  # mixture rows in this batch (for the data-order log)


def causal_batch(rows: list[Row], data: TokenizedMixture, pad_id: int) -> Batch:
    width = max(sum(len(data.input_ids[e]) + len(data.target_ids[e]) for e in row) for row in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    labels = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
    positions = np.zeros((len(rows), width), dtype=np.int64)
    segments = np.full((len(rows), width), PAD_SEGMENT, dtype=np.int64)
    real = targets = 0
    for r, row in enumerate(rows):
        offset = 0
        for segment, example in enumerate(row):
            context, answer = data.input_ids[example], data.target_ids[example]
            size = len(context) + len(answer)
            span = slice(offset, offset + size)
            input_ids[r, span] = np.concatenate([context, answer])
            labels[r, offset + len(context) : offset + size] = answer
            positions[r, span] = np.arange(size)
            segments[r, span] = segment
            offset += size
            targets += len(answer)
        real += offset
    tensors = {
        "input_ids": torch.from_numpy(input_ids),
        "labels": torch.from_numpy(labels),
        "position_ids": torch.from_numpy(positions),
        "segment_ids": torch.from_numpy(segments),
    }
    return Batch(tensors, real, input_ids.size, targets, _mixture_rows(rows, data))


def seq2seq_batch(rows: list[Row], data: TokenizedMixture, pad_id: int) -> Batch:
    examples = [example for row in rows for example in row]
    source_width = max(len(data.input_ids[e]) for e in examples)
    target_width = max(len(data.target_ids[e]) for e in examples)
    input_ids = np.full((len(examples), source_width), pad_id, dtype=np.int64)
    attention = np.zeros((len(examples), source_width), dtype=np.int64)
    labels = np.full((len(examples), target_width), IGNORE_INDEX, dtype=np.int64)
    real = targets = 0
    for r, example in enumerate(examples):
        source, answer = data.input_ids[example], data.target_ids[example]
        input_ids[r, : len(source)] = source
        attention[r, : len(source)] = 1
        labels[r, : len(answer)] = answer
        real += len(source) + len(answer)
        targets += len(answer)
    tensors = {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(attention),
        "labels": torch.from_numpy(labels),
    }
    return Batch(tensors, real, input_ids.size + labels.size, targets, _mixture_rows(rows, data))


def _mixture_rows(rows: list[Row], data: TokenizedMixture) -> list[int]:
    return [int(data.source_rows[example]) for row in rows for example in row]
