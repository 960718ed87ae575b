"""Packing isolation: inside a packed row each example's loss and gradient equal running it alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flanlab.train.attention import SEGMENTED_SDPA, segment_spans
from flanlab.train.batching import PAD_SEGMENT, causal_batch
from flanlab.train.data import TokenizedMixture
from flanlab.train.modeling import TargetLossModel
from flanlab.train.packing import RowPlan, pack_best_fit

TOLERANCE = 1e-4


def _mixture(rng: np.random.Generator, sizes: list[tuple[int, int]], vocab: int) -> TokenizedMixture:
    inputs = [rng.integers(5, vocab, size=n).astype(np.int32) for n, _ in sizes]
    targets = [rng.integers(5, vocab, size=n).astype(np.int32) for _, n in sizes]
    return TokenizedMixture(inputs, targets, np.arange(len(sizes)), {})


def _loss_and_grads(wrapper: TargetLossModel, tensors: dict[str, torch.Tensor]) -> tuple[float, list[torch.Tensor]]:
    wrapper.zero_grad()
    loss, _ = wrapper(**tensors)
    loss.backward()
    grads = [p.grad.detach().clone() for p in wrapper.parameters() if p.requires_grad]
    return float(loss.detach()), grads


def _only_example(tensors: dict[str, torch.Tensor], row: int, segment: int) -> dict[str, torch.Tensor]:
    """The same packed batch with loss on one example's targets only."""
    labels = tensors["labels"].clone()
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[row] = tensors["segment_ids"][row] == segment
    labels[~keep] = -100
    return {**tensors, "labels": labels}


def _assert_isolated(wrapper: TargetLossModel, data: TokenizedMixture, rows: list[list[int]], pad_id: int) -> None:
    packed = causal_batch(rows, data, pad_id).tensors
    for r, row in enumerate(rows):
        for segment, example in enumerate(row):
            packed_loss, packed_grads = _loss_and_grads(wrapper, _only_example(packed, r, segment))
            alone_loss, alone_grads = _loss_and_grads(wrapper, causal_batch([[example]], data, pad_id).tensors)
            assert abs(packed_loss - alone_loss) <= TOLERANCE, (example, packed_loss, alone_loss)
            worst = max(float((a - b).abs().max()) for a, b in zip(packed_grads, alone_grads))
            assert worst <= TOLERANCE, (example, worst)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_losses_and_gradients_equal_one_by_one(tiny_causal, attn):
    from flanlab.models.zoo import load_model

    model, tokenizer = load_model(tiny_causal, attn_implementation=attn)
    model.train()
    data = _mixture(np.random.default_rng(0), [(7, 3), (12, 5), (4, 2), (9, 6), (5, 1)], len(tokenizer))
    # two rows of different lengths, so the second has padding at its end
    rows = [[0, 1, 2], [3, 4]]
    wrapper = TargetLossModel(model, seq2seq=False, attn_implementation=attn)
    _assert_isolated(wrapper, data, rows, tokenizer.pad_token_id)


def test_packing_without_block_mask_would_leak(tiny_causal):
    """Guard for the test above: restarting positions alone does NOT isolate examples."""
    from flanlab.models.zoo import load_model

    model, tokenizer = load_model(tiny_causal, attn_implementation="sdpa")
    data = _mixture(np.random.default_rng(1), [(8, 4), (8, 4)], len(tokenizer))
    packed = causal_batch([[0, 1]], data, tokenizer.pad_token_id).tensors
    alone = causal_batch([[1]], data, tokenizer.pad_token_id).tensors
    with torch.no_grad():
        leaky = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"]).logits[0, 12:]
        reference = model(input_ids=alone["input_ids"]).logits[0]
    assert float((leaky - reference).abs().max()) > 1e-3


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_prompt_tuning_packed_matches_peft_forward(tiny_causal, attn):
    """Soft prompt + packing: each example's loss equals PEFT's own (unpacked) prompt-tuning loss."""
    from peft import PromptTuningConfig, TaskType, get_peft_model

    from flanlab.models.zoo import load_model, peft_warnings_silenced

    model, tokenizer = load_model(tiny_causal, attn_implementation=attn)
    torch.manual_seed(0)
    with peft_warnings_silenced():
        peft_model = get_peft_model(model, PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4))
    peft_model.train()
    data = _mixture(np.random.default_rng(2), [(6, 3), (10, 4), (5, 2)], len(tokenizer))
    wrapper = TargetLossModel(peft_model, seq2seq=False, attn_implementation=attn, num_virtual_tokens=4)
    _assert_isolated(wrapper, data, [[0, 1, 2]], tokenizer.pad_token_id)
    for example in range(3):
        alone = causal_batch([[example]], data, tokenizer.pad_token_id).tensors
        ours, count = wrapper(**alone)
        theirs = peft_model(input_ids=alone["input_ids"], labels=alone["labels"]).loss  # mean over targets
        assert abs(float(ours) / int(count) - float(theirs)) <= TOLERANCE


def test_per_example_attention_matches_the_dense_block_mask(tiny_causal):
    """The CPU fast path (one sdpa call per packed example) gives the dense mask's loss and gradients."""
    from flanlab.models.zoo import load_model

    model, tokenizer = load_model(tiny_causal, attn_implementation="sdpa")
    model.train()
    data = _mixture(np.random.default_rng(3), [(7, 3), (12, 5), (4, 2), (9, 6), (5, 1)], len(tokenizer))
    packed = causal_batch([[0, 1, 2], [3, 4]], data, tokenizer.pad_token_id).tensors
    fast = TargetLossModel(model, seq2seq=False)
    assert fast.per_example_attention and model.config._attn_implementation == SEGMENTED_SDPA
    dense = TargetLossModel(model, seq2seq=False, per_example_attention=False)
    fast_loss, fast_grads = _loss_and_grads(fast, packed)
    dense_loss, dense_grads = _loss_and_grads(dense, packed)
    assert abs(fast_loss - dense_loss) <= TOLERANCE
    assert max(float((a - b).abs().max()) for a, b in zip(fast_grads, dense_grads)) <= TOLERANCE


def test_per_example_attention_reads_the_spans(tiny_causal):
    """Guard for the test above: the spans reach the attention layers (merging two examples changes the output)."""
    from flanlab.models.zoo import load_model

    model, tokenizer = load_model(tiny_causal, attn_implementation="sdpa")
    TargetLossModel(model, seq2seq=False)  # switches the model to the per-example attention
    data = _mixture(np.random.default_rng(4), [(8, 4), (8, 4)], len(tokenizer))
    packed = causal_batch([[0, 1]], data, tokenizer.pad_token_id).tensors
    inputs = {"input_ids": packed["input_ids"], "position_ids": packed["position_ids"]}
    with torch.no_grad():
        apart = model(**inputs, packed_spans=[[(0, 12), (12, 24)]]).logits
        merged = model(**inputs, packed_spans=[[(0, 24)]]).logits
    assert torch.allclose(apart[:, :12], merged[:, :12], atol=1e-5) and float((apart[:, 12:] - merged[:, 12:]).abs().max()) > 1e-3


def test_segment_spans_follow_the_packed_layout():
    segments = torch.tensor([[0, 0, 0, 1, 1, PAD_SEGMENT], [0, 0, 0, 0, 0, 0]])
    assert segment_spans(segments, PAD_SEGMENT) == [[(0, 3), (3, 5)], [(0, 6)]]
    with pytest.raises(ValueError, match="padding only at the end"):
        segment_spans(torch.tensor([[0, PAD_SEGMENT, 1]]), PAD_SEGMENT)


def test_best_fit_packs_densely_and_keeps_every_example():
    lengths = np.random.default_rng(0).integers(20, 300, size=2000)
    rows = pack_best_fit(lengths, 1280, seed=0)
    assert sorted(e for row in rows for e in row) == list(range(2000))
    assert all(lengths[row].sum() <= 1280 for row in rows)
    assert lengths.sum() / (len(rows) * 1280) >= 0.95


def test_row_plan_gives_each_process_and_micro_batch_distinct_rows():
    lengths = np.full(64, 10)
    plan = RowPlan(lengths, np.full(64, 2), row_length=40, packing=True, seed=3, micro_batch_size=2, accumulation=2, processes=2)
    seen = [tuple(r) for m in range(2) for p in range(2) for r in plan.micro_batch(0, m, p)]
    assert len(seen) == len(set(seen)) == plan.rows_per_step
    assert sorted(seen) == sorted(tuple(r) for r in plan.step_rows(0))
    assert plan.step_target_tokens(0) == 2 * sum(len(r) for r in seen)
    # the stream continues into a reshuffled second epoch (16 rows an epoch)
    assert plan.epoch_of_row(17) == 1 and plan.row(17) != plan.row(1)
