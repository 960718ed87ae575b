"""The contamination guard: no evaluation input of a held-out or eval-only task may reach training.

What is hashed (normalised with `normalise_text`, then sha256 via `text_hash`):

* evaluation side, for every validation and test example of every guarded task: the example's query
  (the texts of the input fields its original templates use, sorted and joined by newlines), each
  of those field texts on its own when it has at least ``min_chars`` characters, and the raw
  record ``input`` field when there is one (BIG-bench);
* training side, for every train example a mixture may use (as a training row or as a few-shot
  exemplar): the same query and raw ``input``, plus every field text any of its templates shows in
  the prompt, inverted templates included (whatever its length).

A training example is contaminated when any of its hashes is an evaluation hash. Field-level
hashing catches the same text under different field names in different datasets, which hashing
whole rendered prompts would miss; near-duplicates (a changed word) are out of scope.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.prompts.templates import as_text
from flanlab.sources.splits import text_hash
from flanlab.tasks.card import TaskCard, pattern_fields
from flanlab.tasks.examples import Example, load_examples

EVAL_SPLITS = ("validation", "test")
# Placeholders that are not part of what a prompt asks about.
_NEVER_INPUT = frozenset({"options", "answer_index", "task_name", "task_instruction"})
_NOT_EVAL_INPUT = _NEVER_INPUT | {"answer", "references", "rationale"}


def eval_input_fields(card: TaskCard) -> tuple[str, ...]:
    """The fields an evaluation prompt of this task asks about (its original templates' inputs)."""
    return _template_fields(card, inverted=False, skip=_NOT_EVAL_INPUT)


def train_input_fields(card: TaskCard) -> tuple[str, ...]:
    """Every field any template of this task shows in a prompt, inverted templates included."""
    return _template_fields(card, inverted=True, skip=_NEVER_INPUT)


def _template_fields(card: TaskCard, *, inverted: bool, skip: frozenset[str]) -> tuple[str, ...]:
    names: set[str] = set()
    for template in card.templates:
        if inverted or not template.inverted:
            names |= pattern_fields(template.input) | pattern_fields(template.instruction)
    return tuple(sorted(names - skip))


def field_text(value: Any) -> str | None:
    """A field's text when the field holds text (a string or a non-empty list of strings); None for
    numbers, labels and missing values, which match across unrelated examples."""
    is_text_list = isinstance(value, (list, tuple)) and bool(value) and all(isinstance(item, str) for item in value)
    return as_text(value) if isinstance(value, str) or is_text_list else None


def query_text(example: Example, fields: tuple[str, ...]) -> str:
    """An example's query, independent of field names and order: its field texts, sorted."""
    return "\n".join(sorted(text for name in fields if (text := field_text(example.get(name))) is not None))


def eval_hashes(example: Example, fields: tuple[str, ...], min_chars: int) -> set[str]:
    texts = [text for name in fields if (text := field_text(example.get(name))) is not None]
    units = {text for text in texts if len(text.strip()) >= min_chars}
    units.add(query_text(example, fields))
    if isinstance(example.get("input"), str):
        units.add(example["input"])
    return {text_hash(unit) for unit in units if unit.strip()}


def train_hashes(
    example: Example, fields: tuple[str, ...], query_fields: tuple[str, ...]
) -> tuple[set[str], str | None]:
    """The example's hashes, and its query's hash alone (None for an empty query)."""
    query = query_text(example, query_fields)
    units = {text for name in fields if (text := field_text(example.get(name))) is not None and text != query}
    if isinstance(example.get("input"), str) and example["input"] != query:
        units.add(example["input"])
    query_digest = text_hash(query) if query.strip() else None
    digests = {text_hash(unit) for unit in units if unit.strip()}
    return (digests | {query_digest} if query_digest else digests), query_digest


@dataclass
class EvalIndex:
    """Hashes of the evaluation inputs of the guarded tasks, each mapped to one task it came from."""

    owner: dict[str, str] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)  # guarded task -> why its data could not be read

    def add(self, card: TaskCard, examples: Iterable[Example], min_chars: int) -> None:
        fields = eval_input_fields(card)
        for example in examples:
            for digest in eval_hashes(example, fields, min_chars):
                self.owner.setdefault(digest, card.name)
        self.tasks.append(card.name)

    def find(self, digests: set[str]) -> str | None:
        """The guarded task one of ``digests`` belongs to (the alphabetically first), else None."""
        owners = sorted(self.owner[digest] for digest in digests if digest in self.owner)
        return owners[0] if owners else None


def build_eval_index(
    cards: Iterable[TaskCard],
    *,
    min_chars: int,
    on_unavailable: str,
    progress: Callable[[int, int], None] | None = None,
) -> EvalIndex:
    """Hash every evaluation input of ``cards``; a card whose data cannot be read fails unless skipped."""
    index = EvalIndex()
    ordered = sorted(cards, key=lambda c: c.name)
    for number, card in enumerate(ordered, start=1):
        if progress:
            progress(number - 1, len(ordered))  # done so far
        try:
            examples = [example for split in EVAL_SPLITS for example in load_examples(card, split)]
        except DataUnavailable as error:
            if on_unavailable != "skip":
                raise FlanlabError(f"cannot check contamination against {card.name}: {error}") from None
            index.unchecked[card.name] = error.message
            continue
        index.add(card, examples, min_chars)
    if progress:
        progress(len(ordered), len(ordered))
    return index


@dataclass
class ContaminationReport:
    """Training examples that equal an evaluation input: train task -> guarded task -> count."""

    overlaps: dict[str, Counter[str]] = field(default_factory=dict)

    def record(self, train_task: str, eval_task: str) -> None:
        self.overlaps.setdefault(train_task, Counter())[eval_task] += 1

    def total(self) -> int:
        return sum(sum(counter.values()) for counter in self.overlaps.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {task: dict(sorted(counter.items())) for task, counter in sorted(self.overlaps.items())}

    def message(self) -> str:
        parts = []
        for task, counter in sorted(self.overlaps.items()):
            others = ", ".join(f"{other}: {n}" for other, n in sorted(counter.items()))
            parts.append(f"{task} ({sum(counter.values())}, with {others})")
        return (
            f"{self.total()} training examples equal evaluation inputs of held-out or eval-only tasks: "
            + "; ".join(parts)
            + " (on_contamination: remove drops and reports them)"
        )
