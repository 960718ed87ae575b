"""The order in which a multiple-choice example's options are shown and scored.

Datasets often put the gold answer in one place (first in every BIG-bench temporal_sequences
record); a model trained on that learns a position, and a model evaluated on it is scored on one.
So per-record multiple choice is shuffled, in training and evaluation alike:

- Which tasks: those whose records carry their own options that differ between records. A card's
  fixed `options`, and records that all share one option set (yes/no, entailment labels), keep
  their order: there the position is the label. A card's ``shuffle_options`` overrides either way.
- How: within each split, examples are ranked by a hash of their content and take the gold
  positions in turn (per option count), so every position holds the gold about equally often;
  the other options are shuffled by an RNG seeded with the same hash. The result depends on the
  data alone: the same in every run, batch size and process.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flanlab.io import stable_hash

Example = dict[str, Any]
MAX_GOLD_SHARE = 0.6  # lint and mixture stats warn above this share of golds in one position
MIN_GOLDS = 10  # fewer golds than this say nothing about a position bias


def shuffles_options(setting: bool | None, fixed_options: bool, examples: Iterable[Example]) -> bool:
    """Whether a task's options are shuffled: the card's ``shuffle_options``, else per-record options
    that differ between records."""
    if setting is not None:
        return setting
    if fixed_options:
        return False
    option_sets = {frozenset(example["options"]) for example in examples if example.get("options")}
    return len(option_sets) > 1


def arrange_options(grouped: Mapping[str, Sequence[Example]], shuffle: bool) -> dict[str, tuple[Example, ...]]:
    """Each split's examples with their options in the order shown (a new dict where changed)."""
    if not shuffle:
        return {split: tuple(examples) for split, examples in grouped.items()}
    return {split: _shuffled_split(examples) for split, examples in grouped.items()}


def _shuffled_split(examples: Sequence[Example]) -> tuple[Example, ...]:
    keys = [stable_hash(example) for example in examples]
    placed = list(examples)
    turns: dict[int, int] = {}  # option count -> examples placed so far
    for index in sorted(range(len(examples)), key=keys.__getitem__):
        example = examples[index]
        options = example.get("options")
        if not options or len(options) < 2:
            continue
        count = len(options)
        slot = turns.get(count, 0) % count
        turns[count] = turns.get(count, 0) + 1
        placed[index] = _placed(example, slot, random.Random(keys[index]))
    return tuple(placed)


def placed_by_own_hash(example: Example) -> Example:
    """One example with its gold moved to a position drawn from its own hash (no split to balance)."""
    options = example.get("options")
    if not options or len(options) < 2 or example.get("answer_index") is None:
        return example
    rng = random.Random(stable_hash(example))
    return _placed(example, rng.randrange(len(options)), rng)


def _placed(example: Example, slot: int, rng: random.Random) -> Example:
    """The example with its gold option moved to ``slot`` and the others in a seeded order."""
    options, gold = example["options"], example["answer_index"]
    others = [index for index in range(len(options)) if index != gold]
    rng.shuffle(others)
    order = [*others[:slot], gold, *others[slot:]]
    return {**example, "options": [options[index] for index in order], "answer_index": slot}


def gold_position_counts(examples: Iterable[Example]) -> list[int]:
    """How many examples have their gold answer in each option position (index 0 first)."""
    counts: list[int] = []
    for example in examples:
        if example.get("options") and example.get("answer_index") is not None:
            add_position(counts, example["answer_index"])
    return counts


def add_position(counts: list[int], position: int) -> None:
    counts.extend([0] * (position + 1 - len(counts)))
    counts[position] += 1


def describe_positions(counts: Sequence[int]) -> str:
    """``1: 26%, 2: 25%, ...``: positions counted from 1, as a reader numbers options; empty ones left out."""
    total = sum(counts)
    return ", ".join(f"{position}: {count / total:.0%}" for position, count in enumerate(counts, start=1) if count)


def position_bias(counts: Sequence[int]) -> str | None:
    """A warning when one position holds more than MAX_GOLD_SHARE of at least MIN_GOLDS golds."""
    total = sum(counts)
    if total < MIN_GOLDS:
        return None
    top = max(range(len(counts)), key=counts.__getitem__)
    share = counts[top] / total
    if share <= MAX_GOLD_SHARE:
        return None
    return f"the gold answer is option {top + 1} in {share:.0%} of {total} examples ({describe_positions(counts)})"
