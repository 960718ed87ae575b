"""Prompt formats: a rendered example is a pure function of (card, template, example, format, exemplars).

The text the model sees is ``inputs``; its answer is ``targets``. The format's `PromptLayout`
(flanlab/prompts/layout.py) closes the inputs with its answer cue and says how the two are joined;
each rendered example carries that join (``delimiter``), so training, scoring, exemplars and the
lm-eval export all join it the same way. Neither side carries whitespace at the join.

Formats (Flan 2022, section 5 of FLAN_METHOD.md):
- zero-shot: [instruction] + input (+ options block);
- few-shot: k exemplars (2, 3 or 5, from the train split, chosen by `pick_exemplars`) each shown
  as input + delimiter + target, then the query; a template's separate instruction goes once,
  before or after the exemplars; exemplars are dropped from the end until the prompt fits the
  token budget (the query is never cut);
- chain-of-thought: the query ends with a trigger (which stands in for the answer cue); targets are
  ``<rationale> So the answer is X.`` (or just the answer phrase when the data has no rationale),
  which `extract_cot_answer` reads back. With ``cot_exemplars=direct`` the exemplars are shown as
  plain question/answer pairs: for tasks whose train split has no rationales, an exemplar with the
  trigger and no reasoning would not be chain-of-thought prompting;
- options block in several styles, or none; label styles make the target the option's label;
- input inversion: inverted templates (given the answer, write the input) get no options block.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from flanlab.errors import FlanlabError
from flanlab.prompts.layout import DEFAULT_LAYOUT, PromptLayout
from flanlab.prompts.options import OPTION_STYLES, OptionStyle
from flanlab.prompts.templates import as_text, fill, ordered_fields
from flanlab.tasks.card import TaskCard, Template
from flanlab.tasks.examples import Example

COT_TRIGGER = "Let's think step by step."
ANSWER_PHRASE = "So the answer is"
INSTRUCTION_GAP = "\n\n"  # between a zero-shot instruction and its input, and before an options block
SEPARATORS = {"blank": "\n\n", "line": "\n", "rule": "\n\n---\n\n", "hash": "\n\n###\n\n"}
MAX_SHOTS = 16  # FLAN's few-shot evaluation uses at most 16 exemplars
# Placeholders that carry instruction words, not example content (left out by the no-template ablation).
INSTRUCTION_FIELDS = frozenset({"task_instruction", "task_name"})

TokenCounter = Callable[[str], int]
InstructionPosition = Literal["before", "after"]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 bytes a token) for when no tokenizer is given."""
    return len(text.encode("utf-8")) // 4 + 1


class PromptFormat(BaseModel):
    """How a templated example becomes a prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shots: int = Field(default=0, ge=0, le=MAX_SHOTS)
    cot: bool = False
    options_style: str = "dash"  # a key of OPTION_STYLES; "none" leaves the options out of the prompt
    instruction_position: InstructionPosition = "before"
    separator: str = "blank"  # a key of SEPARATORS
    max_prompt_tokens: int = Field(default=960, ge=1)  # the whole prompt (inputs), exemplars included
    instruction_mode: Literal["full", "name", "none"] = "full"  # FLAN's instruction ablation
    exemplar_options: bool = True  # show the options block in exemplars too
    delimiter: str = DEFAULT_LAYOUT.delimiter  # the layout's join (see PromptLayout)
    answer_cue: str = DEFAULT_LAYOUT.answer_cue  # the layout's last prompt line ("" for none)
    cot_exemplars: Literal["rationale", "direct"] = "rationale"  # direct: exemplars without reasoning

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

    @field_validator("delimiter", "answer_cue")
    @classmethod
    def _valid_layout(cls, value: str, info: ValidationInfo) -> str:
        PromptLayout.model_validate({info.field_name: value})  # the layout's own checks, one field at a time
        return value.strip() if info.field_name == "answer_cue" else value

    @property
    def layout(self) -> PromptLayout:
        return _layout(self.delimiter, self.answer_cue)

    @property
    def name(self) -> str:
        kind = "cot" if self.cot else ("fewshot" if self.shots else "zeroshot")
        return f"{kind}:{self.shots}" if self.shots or self.cot else kind

    @property
    def spec(self) -> str:
        """``name`` plus every non-default setting; ``PromptFormat.parse(fmt.spec) == fmt``."""
        changed = self.model_dump(exclude_defaults=True, exclude={"shots", "cot"})
        return ",".join([self.name, *(f"{key}={_spec_value(value)}" for key, value in changed.items())])

    @classmethod
    def parse(cls, text: str, **overrides: Any) -> PromptFormat:
        """``zeroshot``, ``fewshot:3``, ``cot`` or ``cot:3``, optionally followed by ``,key=value``
        settings (``fewshot:3,separator=rule,instruction_position=after``)."""
        head, *settings = text.strip().split(",")
        kind, _, count = head.partition(":")
        try:
            shots = int(count) if count else 0
        except ValueError:
            raise FlanlabError(f"bad format {text!r}: the shot count must be a number") from None
        if (
            kind not in {"zeroshot", "fewshot", "cot"}
            or (kind == "fewshot" and shots < 1)
            or (kind == "zeroshot" and shots)
        ):
            raise FlanlabError(f"bad format {text!r}; expected zeroshot, fewshot:K, cot or cot:K")
        fields: dict[str, Any] = {"shots": shots, "cot": kind == "cot"}
        for setting in settings:
            key, equals, value = setting.partition("=")
            if not equals or key.strip() not in cls.model_fields:
                raise FlanlabError(
                    f"bad format setting {setting!r} in {text!r}; "
                    f"expected key=value with a key of {sorted(cls.model_fields)}"
                )
            fields[key.strip()] = value.strip()
        fields.update(overrides)
        try:
            return cls(**fields)
        except ValueError as error:  # pydantic's ValidationError
            raise FlanlabError(f"bad format {text!r}: {_first_error(error)}") from None


def _spec_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _first_error(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if errors:
        first = errors()[0]
        return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
    return str(error)


@functools.lru_cache(maxsize=64)
def _layout(delimiter: str, answer_cue: str) -> PromptLayout:
    return PromptLayout(delimiter=delimiter, answer_cue=answer_cue)


ZERO_SHOT = PromptFormat()


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
    references: tuple[str, ...] = ()  # every accepted answer, in the form the target takes
    delimiter: str = DEFAULT_LAYOUT.separator  # the text between inputs and targets (or each option)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["options"] = list(self.options)
        row["references"] = list(self.references)
        return row


def template_values(card: TaskCard, example: Example) -> dict[str, Any]:
    """Every placeholder value a template of ``card`` may use on ``example``."""
    return {"task_name": card.name, "task_instruction": card.instruction or card.description, **example}


def render(
    card: TaskCard,
    template: Template,
    example: Example,
    fmt: PromptFormat = ZERO_SHOT,
    *,
    exemplars: Sequence[Example] = (),
    count_tokens: TokenCounter = estimate_tokens,
) -> RenderedExample:
    """Render one example; few-shot exemplars are dropped from the end until the prompt fits.

    Only the first ``fmt.shots`` exemplars are used. The query itself is never shortened, so a
    query longer than the budget is rendered whole, with no exemplars.
    """
    where = f"{card.where()}: template {template.id}"
    style = OPTION_STYLES[fmt.options_style]
    values = template_values(card, example)
    query, target, answers = _body_and_target(card, template, example, values, fmt, style, True, where)
    instruction = _instruction(template, values, fmt, where)
    shown = [_exemplar_text(card, template, shot, fmt, style, where) for shot in exemplars[: fmt.shots]]
    inputs = _assemble(instruction, shown, query, fmt)
    while shown and count_tokens(inputs) > fmt.max_prompt_tokens:
        shown.pop()
        inputs = _assemble(instruction, shown, query, fmt)
    has_options = bool(example.get("options")) and not template.inverted
    return RenderedExample(
        inputs=inputs,
        targets=target,
        task=card.name,
        source=f"{card.source.kind}:{card.source.locator}",
        cluster=card.cluster,
        template_id=template.id,
        format=fmt.name,
        shots=len(shown),
        inverted=template.inverted,
        options_style=fmt.options_style if has_options else "none",
        options=tuple(style.scored(example["options"])) if has_options else (),
        answer_index=example.get("answer_index") if has_options else None,
        references=answers,
        delimiter=fmt.layout.separator,
    )


def _body_and_target(
    card: TaskCard,
    template: Template,
    example: Example,
    values: dict[str, Any],
    fmt: PromptFormat,
    style: OptionStyle,
    show_options: bool,
    where: str,
) -> tuple[str, str, tuple[str, ...]]:
    """The example's prompt text (options block and CoT trigger included), its target, and every
    accepted answer in the form the target takes (before any chain-of-thought wrapping)."""
    options = example.get("options") if not template.inverted else None
    block = style.block(options) if options and show_options else ""
    answer = fill(template.target, values, where=where).strip()
    if template.target == "{answer}" and not template.inverted:
        answers = tuple(as_text(reference).strip() for reference in example.get("references") or (answer,))
    else:
        answers = (answer,)
    if options:
        correct = _correct_indices(card, example, options)
        if style.targets_are_labels:
            answer = style.label(example["answer_index"])
            answers = tuple(style.label(index) for index in correct)
        else:
            answers = tuple(options[index] for index in correct)
    if fmt.instruction_mode == "full":
        body = fill(template.input, {**values, "options": block} if options else values, where=where)
        if block and "options" not in ordered_fields(template.input):
            body = f"{body.rstrip()}{INSTRUCTION_GAP}{block}"
    else:
        body = _raw_input(card, template, values, where)
        if fmt.instruction_mode == "name":
            body = f"[{card.cluster}: {card.name}]\n{body}"
        if block:
            body = f"{body}{INSTRUCTION_GAP}{block}"
    body = body.strip()
    if fmt.cot and not template.inverted:
        body = f"{body}{INSTRUCTION_GAP}{COT_TRIGGER}"
        answer = _cot_target(example.get("rationale"), answer)
    else:
        body = fmt.layout.close(body)
    return body, answer.strip(), answers


def _correct_indices(card: TaskCard, example: Example, options: list[str]) -> list[int]:
    """The gold index plus any option listed among the example's references (ties in the data)."""
    gold = example["answer_index"]
    references = example.get("references") or ()
    if len(references) <= 1:
        return [gold]
    accepted = {card.answer_map.get(str(reference), str(reference)) for reference in references}
    return sorted({gold, *(index for index, option in enumerate(options) if option in accepted)})


def _cot_target(rationale: Any, answer: str) -> str:
    phrase = f"{ANSWER_PHRASE} {_sentence_end(answer.strip())}"
    return f"{_sentence_end(str(rationale).strip())} {phrase}" if rationale else phrase


def _sentence_end(text: str) -> str:
    """The text ending in sentence punctuation (a rationale such as "divide 1 by 0.04" gets a period)."""
    return text if text.endswith((".", "!", "?")) else f"{text}."


_COT_PHRASE = re.compile(re.escape(ANSWER_PHRASE), re.IGNORECASE)


def extract_cot_answer(text: str) -> str:
    """The answer after the last ``So the answer is`` in a chain-of-thought output.

    Reads to the end of that line and drops one trailing period. Without the phrase, the last
    non-empty line is taken the same way (a model that answers directly still gets scored).
    """
    matches = list(_COT_PHRASE.finditer(text))
    if matches:
        answer = text[matches[-1].end() :].lstrip(" \t:").split("\n", 1)[0]
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        answer = lines[-1] if lines else ""
    answer = answer.strip()
    return answer[:-1].rstrip() if answer.endswith(".") else answer


def _raw_input(card: TaskCard, template: Template, values: dict[str, Any], where: str) -> str:
    """FLAN's no-template ablation: only the example's input fields, no instruction words."""
    skipped = INSTRUCTION_FIELDS | {"answer", "options"}
    names = [name for name in ordered_fields(template.input) if name not in skipped]
    return "\n".join(fill("{" + name + "}", values, where=where) for name in names)


def _instruction(template: Template, values: dict[str, Any], fmt: PromptFormat, where: str) -> str:
    if fmt.instruction_mode != "full" or not template.instruction:
        return ""
    return fill(template.instruction, values, where=where).strip()


def _exemplar_text(
    card: TaskCard, template: Template, example: Example, fmt: PromptFormat, style: OptionStyle, where: str
) -> str:
    values = template_values(card, example)
    shown = fmt.model_copy(update={"cot": False}) if fmt.cot and fmt.cot_exemplars == "direct" else fmt
    body, target, _ = _body_and_target(card, template, example, values, shown, style, fmt.exemplar_options, where)
    return fmt.layout.join(body, target)


def _assemble(instruction: str, exemplars: list[str], query: str, fmt: PromptFormat) -> str:
    separator = SEPARATORS[fmt.separator]
    if not instruction:
        return separator.join([*exemplars, query]) if exemplars else query
    if not exemplars:
        return f"{instruction}{INSTRUCTION_GAP}{query}"
    if fmt.instruction_position == "before":
        return separator.join([instruction, *exemplars, query])
    return separator.join([*exemplars, instruction, query])


def pick_exemplars(
    pool: Sequence[Example], k: int, *, seed: int, query_key: str, exclude_text: str = ""
) -> list[Example]:
    """``k`` exemplars from ``pool`` (the train split), the same for the same (seed, query) every time.

    ``exclude_text`` keeps an example whose ``input`` equals the query's out of its own prompt.
    Costs O(k), not O(len(pool)). For chain-of-thought, draw from `cot_exemplar_pool(train)`.
    """
    if k <= 0 or not pool:
        return []
    rng = random.Random(f"{seed}:{query_key}")
    spare = 2  # a duplicate of the query may be drawn (and skipped)
    drawn = rng.sample(range(len(pool)), min(k + spare, len(pool)))
    chosen = [pool[index] for index in drawn if not exclude_text or str(pool[index].get("input", "")) != exclude_text]
    return chosen[:k]


def rationale_pool(pool: Sequence[Example]) -> list[Example]:
    """The examples that carry a rationale (chain-of-thought exemplars)."""
    return [example for example in pool if example.get("rationale")]


def cot_exemplar_pool(pool: Sequence[Example]) -> tuple[Sequence[Example], Literal["rationale", "direct"]]:
    """Chain-of-thought exemplars: the examples with rationales, or, when none has one, every
    example shown as a direct answer (the format's ``cot_exemplars=direct``)."""
    with_rationale = rationale_pool(pool)
    return (with_rationale, "rationale") if with_rationale else (pool, "direct")
