"""From a card and its source's raw records to task examples that templates can render.

A task example is a dict holding every placeholder a template may use: the mapped fields, the
record's own keys, and the standard ones (`answer`, `options`, `answer_index`, `references`,
`rationale`). Classification tasks carry `options` and `answer_index`, in the order shown and
scored (per-record multiple choice is shuffled: flanlab/tasks/option_order.py).
"""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from flanlab.errors import FlanlabError
from flanlab.sources.base import (
    Record,
    load_raw_records,
    load_split_records,
    record_split,
    resolve_path,
)
from flanlab.sources.splits import SPLITS
from flanlab.tasks.card import FieldRule, TaskCard
from flanlab.tasks.manual import data_source, skip_reason
from flanlab.tasks.option_order import arrange_options, placed_by_own_hash, shuffles_options

Example = dict[str, Any]


class _Dropped(Exception):
    """The record is left out of the task (a regex did not match, or a raw value is not listed)."""


def build_example(card: TaskCard, record: Record, index: int) -> Example | None:
    """One record as a task example; None when a field rule leaves the record out."""
    example: Example = dict(record)
    try:
        for name, rule in card.compiled_fields.items():
            value = _field_value(card, name, rule, record, index)
            example[name] = value.strip() if isinstance(value, str) else value
    except _Dropped:
        return None
    _resolve_answer(card, example, index)
    return example


def _field_value(card: TaskCard, name: str, rule: FieldRule, record: Record, index: int) -> Any:
    values = [_lookup(card, name, rule, record, index, path) for path in rule.paths]
    value = values[0] if isinstance(rule.source, str) else values
    if rule.values is not None:
        if str(value) not in rule.values:
            raise _Dropped
        value = rule.values[str(value)]
    if rule.regex is not None:
        match = re.search(rule.regex, str(value), flags=re.DOTALL)
        if match is None:
            raise _Dropped
        value = match.groupdict().get(name) or match.group(1)
    if rule.remove is not None:
        value = re.sub(rule.remove, "", str(value))
    if rule.join is not None and isinstance(value, list):
        value = rule.join.join(", ".join(map(str, item)) if isinstance(item, list) else str(item) for item in value)
    return value


def _lookup(card: TaskCard, name: str, rule: FieldRule, record: Record, index: int, path: str) -> Any:
    try:
        value = resolve_path(record, path)
    except KeyError:
        if rule.default is None:
            raise FlanlabError(
                f"record {index} has no field {path!r} (needed for {{{name}}})", where=card.where()
            ) from None
        return rule.default
    if rule.default is not None and value in (None, "", []):
        return rule.default
    return value


def _resolve_answer(card: TaskCard, example: Example, index: int) -> None:
    if "answer" not in example:
        raise FlanlabError(f"record {index} has no answer (map a field to 'answer')", where=card.where())
    options = card.options if card.options is not None else example.get("options")
    answer = example["answer"]
    if options is not None:
        # Source option texts sometimes carry stray whitespace (BIG-bench timedial); the shown and
        # scored option must equal the stripped target text.
        options = [card.answer_map.get(str(option), str(option)).strip() for option in options]
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(options):
                raise FlanlabError(f"record {index}: label {answer} is not an index into {options}", where=card.where())
            answer_index = answer
        else:
            shown = card.answer_map.get(str(answer), str(answer)).strip()
            if shown not in options:
                raise FlanlabError(f"record {index}: answer {shown!r} is not one of {options}", where=card.where())
            answer_index = options.index(shown)
        example.update(options=options, answer_index=answer_index, answer=options[answer_index])
    else:
        example["answer"] = str(answer)
    example.setdefault("references", [example["answer"]])


# The built examples of the most recently used tasks, by card content. Bounded: a mixture over
# thousands of tasks reads each once and must not keep them all.
EXAMPLE_CACHE_TASKS = 128
_example_cache: OrderedDict[str, dict[str, tuple[Example, ...]]] = OrderedDict()


def _split_examples(card: TaskCard) -> dict[str, tuple[Example, ...]]:
    # An evaluation-only task without splits of its own is scored whole: every record is test data.
    grouped = load_split_records(data_source(card), unsplit_is_test=card.eval_only)
    result: dict[str, list[Example]] = {}
    for split in SPLITS:
        records = grouped.get(split, [])
        if card.max_examples is not None:
            records = records[: card.max_examples]
        built = (build_example(card, record, index) for index, record in enumerate(records))
        result[split] = [example for example in built if example is not None]
    return order_options(card, result)


def order_options(card: TaskCard, grouped: dict[str, list[Example]]) -> dict[str, tuple[Example, ...]]:
    """The examples of every split with their options in the order shown (shuffled or the card's)."""
    every = (example for examples in grouped.values() for example in examples)
    return arrange_options(grouped, shuffles_options(card.shuffle_options, card.options is not None, every))


def quick_unavailable(card: TaskCard) -> str | None:
    """Why a task's data surely cannot be had here, from a quick look (no data is read); else None.

    Manual downloads not yet made, and hub datasets with no hub and nothing in the local caches;
    loading decides for real.
    """
    manual = skip_reason(card)
    if manual is not None:
        return manual
    if card.source.kind == "huggingface":
        from flanlab.sources.huggingface import hub_copy_missing

        return hub_copy_missing(card.source)
    return None


def iter_examples(card: TaskCard, split: str, order_seed: str) -> Iterator[tuple[int, Example]]:
    """(position, example) for the examples of one split, in an order seeded by ``order_seed``.

    For a source without splits of its own, the records are visited in a seeded order and each one
    is hash-split and built only when reached, so a caller that stops early (a mixture pool that
    needs 3,000 of 50,000 examples) pays for what it reads. Other sources shuffle the loaded split.
    """
    spec = card.source
    raw = load_raw_records(spec)
    if raw.grouped is not None or spec.split == "all" or card.eval_only or card.max_examples is not None:
        examples = load_examples(card, split)
        order = list(range(len(examples)))
        random.Random(order_seed).shuffle(order)
        yield from ((position, examples[position]) for position in order)
        return
    # Read lazily, a split is never seen whole, so per-record options are shuffled example by example
    # (each gold placed by the example's own hash) rather than balanced across the split.
    may_shuffle = card.shuffle_options is not False and card.options is None
    order = list(range(len(raw.records)))
    random.Random(order_seed).shuffle(order)
    for position in order:
        record = raw.records[position]
        if record_split(record, spec.split_key, position, raw.where, spec.split_pattern) == split:
            example = build_example(card, record, position)
            if example is not None:
                yield position, placed_by_own_hash(example) if may_shuffle else example


def load_examples(card: TaskCard, split: str) -> tuple[Example, ...]:
    """The examples of one split of a task (cached per card content)."""
    if split not in SPLITS:
        raise FlanlabError(f"unknown split {split!r}; expected one of {SPLITS}")
    key = card.model_dump_json()
    if key in _example_cache:
        _example_cache.move_to_end(key)
    else:
        _example_cache[key] = _split_examples(card)
        if len(_example_cache) > EXAMPLE_CACHE_TASKS:
            _example_cache.popitem(last=False)
    return _example_cache[key][split]
