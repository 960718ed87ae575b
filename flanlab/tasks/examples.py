"""From a card and its source's raw records to task examples that templates can render.

A task example is a dict holding every placeholder a template may use: the mapped fields, the
record's own keys, and the standard ones (`answer`, `options`, `answer_index`, `references`,
`rationale`). Classification tasks carry `options` and `answer_index`, in the order shown and
scored (per-record multiple choice is shuffled: flanlab/tasks/option_order.py).
"""

from __future__ import annotations

import re
from typing import Any

from flanlab.errors import FlanlabError
from flanlab.sources.base import Record, load_split_records, resolve_path
from flanlab.sources.splits import SPLITS
from flanlab.tasks.card import FieldRule, TaskCard
from flanlab.tasks.option_order import arrange_options, shuffles_options

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
            raise FlanlabError(f"record {index} has no field {path!r} (needed for {{{name}}})", where=card.where()) from None
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


_EXAMPLE_CACHE: dict[str, dict[str, tuple[Example, ...]]] = {}


def _split_examples(card: TaskCard) -> dict[str, tuple[Example, ...]]:
    grouped = load_split_records(card.source)
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


def load_examples(card: TaskCard, split: str) -> tuple[Example, ...]:
    """The examples of one split of a task (cached per card content)."""
    if split not in SPLITS:
        raise FlanlabError(f"unknown split {split!r}; expected one of {SPLITS}")
    key = card.model_dump_json()
    if key not in _EXAMPLE_CACHE:
        _EXAMPLE_CACHE[key] = _split_examples(card)
    return _EXAMPLE_CACHE[key][split]
