"""Prompt formats: a rendered example is a pure function of (card, template, example, format, seed).

The text the model sees is ``inputs``; its answer is ``targets``; training and scoring join them
with ``TARGET_DELIMITER`` (one space), and exemplars inside few-shot prompts use the same join.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from flanlab.errors import FlanlabError
from flanlab.prompts.options import OPTION_STYLES, OptionStyle
from flanlab.prompts.templates import fill
from flanlab.tasks.card import Template, TaskCard
from flanlab.tasks.examples import Example

TARGET_DELIMITER = " "
COT_TRIGGER = "Let's think step by step."
ANSWER_PHRASE = "So the answer is"
SEPARATORS = {"blank": "\n\n", "line": "\n", "rule": "\n\n---\n\n", "hash": "\n\n###\n\n"}

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 bytes a token) for when no tokenizer is given."""
    return len(text.encode("utf-8")) // 4 + 1


class PromptFormat(BaseModel):
    """How a templated example becomes a prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shots: int = 0
    cot: bool = False
    options_style: str = "dash"  # "none" leaves the options out of the prompt
    instruction_position: Literal["before", "after"] = "before"
    separator: str = "blank"  # a key of SEPARATORS
    max_prompt_tokens: int = 960
    instruction_mode: Literal["full", "name", "none"] = "full"  # FLAN's instruction ablation

    @field_validator("options_style")
    @classmethod
    def _known_style(cls, value: str) -> str:
        if value not in OPTION_STYLES:
            raise ValueError(f"unknown options style {value!r}; known: {sorted(OPTION_STYLES)}")
        return value

    @field_validator("separator")
    @classmethod
    def _known_separator(cls, value: str) -> str:
        if value not in SEPARATORS:
            raise ValueError(f"unknown separator {value!r}; known: {sorted(SEPARATORS)}")
        return value

    @property
    def name(self) -> str:
        kind = "cot" if self.cot else ("fewshot" if self.shots else "zeroshot")
        return f"{kind}:{self.shots}" if self.shots or self.cot else kind

    @classmethod
    def parse(cls, text: str, **overrides: Any) -> PromptFormat:
        """``zeroshot``, ``fewshot:3``, ``cot`` or ``cot:3``."""
        kind, _, count = text.partition(":")
        try:
            shots = int(count) if count else 0
        except ValueError:
            raise FlanlabError(f"bad format {text!r}: the shot count must be a number") from None
        if kind not in {"zeroshot", "fewshot", "cot"} or (kind == "fewshot" and shots < 1) or shots < 0:
            raise FlanlabError(f"bad format {text!r}; expected zeroshot, fewshot:K, cot or cot:K")
        return cls(shots=shots, cot=kind == "cot", **overrides)


@dataclass(frozen=True)
class RenderedExample:
    """What the model sees and must answer, with provenance back to its task and template."""

    inputs: str
    targets: str
    task: str
    source: str
    cluster: str
    template_id: str
    format: str
    shots: int
    inverted: bool
    options_style: str
    options: tuple[str, ...] = ()  # scored continuations; empty for generation
    answer_index: int | None = None
    references: tuple[str, ...] = ()  # gold texts for generation metrics

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["options"] = list(self.options)
        row["references"] = list(self.references)
        return row


def render(
    card: TaskCard,
    template: Template,
    example: Example,
    fmt: PromptFormat = PromptFormat(),
    *,
    exemplars: Sequence[Example] = (),
    count_tokens: TokenCounter = estimate_tokens,
) -> RenderedExample:
    """Render one example; few-shot exemplars are dropped from the end until the prompt fits."""
    where = f"{card.where()}: template {template.id}"
    style = OPTION_STYLES[fmt.options_style]
    has_options = bool(example.get("options")) and not template.inverted
    query_body, target = _body_and_target(card, template, example, fmt, style, where)
    instruction = _instruction(card, template, example, fmt, where)
    shots = list(exemplars[: fmt.shots])
    while True:
        shown = [_exemplar_text(card, template, shot, fmt, style, where) for shot in shots]
        inputs = _assemble(instruction, shown, query_body, fmt)
        if not shots or count_tokens(inputs + TARGET_DELIMITER + target) <= fmt.max_prompt_tokens:
            break
        shots.pop()
    options = style.scored(list(example["options"])) if has_options else []
    answer_index = example.get("answer_index") if has_options else None
    return RenderedExample(
        inputs=inputs,
        targets=target,
        task=card.name,
        source=f"{card.source.kind}:{card.source.locator}",
        cluster=card.cluster,
        template_id=template.id,
        format=fmt.name,
        shots=len(shots),
        inverted=template.inverted,
        options_style=fmt.options_style if has_options else "none",
        options=tuple(options),
        answer_index=answer_index,
        references=tuple(example.get("references") or [example["answer"]]) if not template.inverted else (target,),
    )


def _values(card: TaskCard, example: Example) -> dict[str, Any]:
    return {"task_name": card.name, "task_instruction": card.instruction or card.description, **example}


def _body_and_target(
    card: TaskCard, template: Template, example: Example, fmt: PromptFormat, style: OptionStyle, where: str
) -> tuple[str, str]:
    """The example's own prompt text (options block and CoT trigger included) and its target."""
    values = _values(card, example)
    has_options = bool(example.get("options")) and not template.inverted
    block = style.block(list(example["options"])) if has_options else ""
    target = fill(template.target, values, where=where).strip()
    if has_options and style.targets_are_labels:
        target = style.label(example["answer_index"])
    if fmt.instruction_mode == "full":
        body = fill(template.input, {**values, "options": block}, where=where).strip()
        if block and "options" not in template.placeholders():
            body = f"{body}\n\n{block}"
    else:
        body = _raw_input(card, template, values, where)
        if fmt.instruction_mode == "name":
            body = f"[{card.cluster}: {card.name}]\n{body}"
        if block:
            body = f"{body}\n\n{block}"
    if fmt.cot and not template.inverted:
        body = f"{body}\n\n{COT_TRIGGER}"
        if example.get("rationale"):
            target = f"{str(example['rationale']).strip()} {ANSWER_PHRASE} {target}."
    return body, target


def _raw_input(card: TaskCard, template: Template, values: dict[str, Any], where: str) -> str:
    """FLAN's no-template ablation: only the example's input fields, no instruction words."""
    names = [name for name in _ordered_fields(template.input) if name not in {"answer", "options"}]
    return "\n".join(fill("{" + name + "}", values, where=where).strip() for name in names)


def _ordered_fields(pattern: str) -> list[str]:
    seen: list[str] = []
    for _, name, _, _ in string.Formatter().parse(pattern):
        if name and name not in seen:
            seen.append(name)
    return seen


def _instruction(card: TaskCard, template: Template, example: Example, fmt: PromptFormat, where: str) -> str:
    if fmt.instruction_mode != "full" or not template.instruction:
        return ""
    return fill(template.instruction, _values(card, example), where=where).strip()


def _exemplar_text(
    card: TaskCard, template: Template, example: Example, fmt: PromptFormat, style: OptionStyle, where: str
) -> str:
    body, target = _body_and_target(card, template, example, fmt, style, where)
    return f"{body}{TARGET_DELIMITER}{target}"


def _assemble(instruction: str, exemplars: list[str], query: str, fmt: PromptFormat) -> str:
    separator = SEPARATORS[fmt.separator]
    if not instruction:
        return separator.join([*exemplars, query])
    if not exemplars:
        return f"{instruction}\n\n{query}"
    if fmt.instruction_position == "before":
        return separator.join([instruction, *exemplars, query])
    return separator.join([*exemplars, instruction, query])


def pick_exemplars(pool: Sequence[Example], k: int, *, seed: int, query_key: str, exclude_text: str = "") -> list[Example]:
    """``k`` exemplars from the train split, the same for the same (seed, query) every time.

    For chain-of-thought, pass a pool of examples that carry rationales.
    """
    if k <= 0 or not pool:
        return []
    rng = random.Random(f"{seed}:{query_key}")
    candidates = [example for example in pool if str(example.get("input", "")) != exclude_text] or list(pool)
    return rng.sample(candidates, min(k, len(candidates)))
