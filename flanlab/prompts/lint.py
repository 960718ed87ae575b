"""Template lint: catch the defects that make a prompt wrong before a model ever sees it.

Static checks read a card's patterns: braces, literal ``\\n`` text, doubled words and missing
spaces inside the written text, whitespace at the prompt/target join, unique template ids and
texts, known cluster, BIG-Bench Hard kept eval-only. Data checks render every template on a few
real examples per split: every placeholder has a value, no missing space or doubled word where a
value meets the written text, targets are non-empty, the gold answer is among the options and is
what the target says (as text, and as a label in a label style).

Cards with a hub source are checked on their offline fixture (`flanlab.tasks.fixtures`), or
statically only, with a note, when they have none.

Multiple-choice cards also get their gold-position distribution (after the option shuffle of
`flanlab.tasks.option_order`): on the sampled examples, or on every example with ``full_data``; one
position holding more than 60% of the golds is a warning (a note), not a problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flanlab.errors import FlanlabError
from flanlab.progress import track
from flanlab.prompts.formats import PromptFormat, render, template_values
from flanlab.prompts.options import OPTION_STYLES
from flanlab.prompts.templates import as_text, parse_pattern
from flanlab.sources import bigbench
from flanlab.sources.base import Record, load_split_records
from flanlab.sources.splits import SPLITS
from flanlab.tasks.card import TaskCard, Template, card_from_dict
from flanlab.tasks.clusters import CLUSTERS, EVAL_ONLY_CLUSTERS
from flanlab.tasks.examples import Example, build_example, load_examples, order_options
from flanlab.tasks.fixtures import with_fixture_source
from flanlab.tasks.generated import is_bbh
from flanlab.tasks.option_order import gold_position_counts, position_bias
from flanlab.tasks.registry import builtin_folders, card_files, covered_sources, generated_cards

CURATED_MAX_INVERTED = 3  # FLAN: of ten templates per dataset, up to three are inverted
PATTERN_FIELDS = ("instruction", "input", "target")

_DOUBLED_WORD = re.compile(r"\b([A-Za-z]+)\s+\1\b", re.IGNORECASE)
_MISSING_SPACE = re.compile(r"[a-z]{2,}[.!?,;:][A-Za-z]+")
_FIRST_WORD = re.compile(r"^[A-Za-z]+")
_LAST_WORD = re.compile(r"[A-Za-z]+$")
_ZERO_SHOT = PromptFormat()
_LABEL_STYLE = PromptFormat(options_style="letter")
_FEW_SHOT = PromptFormat(shots=2)


@dataclass(frozen=True)
class LintProblem:
    where: str  # the card file (or generated card) it is in
    template_id: str | None
    message: str

    def __str__(self) -> str:
        template = f": template {self.template_id}" if self.template_id else ""
        return f"{self.where}{template}: {self.message}"


@dataclass
class LintReport:
    problems: list[LintProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_cards: int = 0
    gold_positions: dict[str, list[int]] = field(default_factory=dict)  # task -> golds per option position

    @property
    def ok(self) -> bool:
        return not self.problems


def lint_collection(
    collections: Iterable[str] | None = None,
    extra_folders: Iterable[Path] = (),
    *,
    per_split: int = 2,
    full_data: bool = False,
    progress: bool = False,
) -> LintReport:
    """Lint every card of the built-in collections (or of ``collections``) and of ``extra_folders``.

    Card files are read one by one, so a file that does not load is reported, not fatal. BIG-bench
    cards are checked on the head of their task file unless ``full_data`` (then on examples spread
    over every split: a few seconds become a minute or two for the whole collection).
    """
    report = LintReport()
    files = [path for folder in [*builtin_folders(), *map(Path, extra_folders)] for path in card_files(folder)]
    yaml_cards: list[TaskCard] = []
    for path in files:
        card, problems = load_card_for_lint(path)
        report.problems.extend(problems)
        if card is not None:
            yaml_cards.append(card)
    report.problems.extend(_duplicate_names(yaml_cards))
    cards = [*yaml_cards, *generated_cards(covered_sources(yaml_cards))]
    if collections is not None:
        wanted = set(collections)
        cards = [card for card in cards if card.collection in wanted]
    sub = lint_cards(cards, per_split=per_split, full_data=full_data, progress=progress)
    report.problems.extend(sub.problems)
    report.notes.extend(sub.notes)
    report.n_cards = sub.n_cards
    report.gold_positions = sub.gold_positions
    return report


def load_card_for_lint(path: Path) -> tuple[TaskCard | None, list[LintProblem]]:
    """Read one card file; problems that stop it loading come back as lint problems."""
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        return None, [LintProblem(where, None, f"unreadable card ({_one_line(error)})")]
    if not isinstance(data, dict):
        return None, [LintProblem(where, None, "a task card must be a YAML mapping")]
    problems = _duplicate_ids(where, data.get("templates"))
    try:
        card = card_from_dict(data, where=where, path=path)
    except FlanlabError as error:
        if not problems:
            reason = _one_line(error).removeprefix(f"{where}: ")  # the problem line names the file already
            problems.append(LintProblem(where, None, f"card does not load: {reason}"))
        return None, problems
    return card, problems


def lint_cards(
    cards: Sequence[TaskCard], *, per_split: int = 2, full_data: bool = False, progress: bool = False
) -> LintReport:
    report = LintReport(n_cards=len(cards))
    for card in _with_progress(cards, progress):
        examples, problems, notes = _sampled(card, per_split, full_data)
        problems += lint_card(card, examples)[0]
        counts = gold_position_counts(_position_examples(card, examples, full_data))
        if counts:
            report.gold_positions[card.name] = counts
            bias = position_bias(counts)
            if bias:
                notes.append(f"{where_of(card)}: warning: {bias}")
        report.problems.extend(problems)
        report.notes.extend(notes)
    return report


def lint_card(
    card: TaskCard, examples: Sequence[Example] | None = None, *, per_split: int = 2, full_data: bool = False
) -> tuple[list[LintProblem], list[str]]:
    """Problems and notes for one card; ``examples`` defaults to a sample of its real data."""
    where = where_of(card)
    problems = [LintProblem(where, None, message) for message in card_problems(card)]
    for template in card.templates:
        problems.extend(LintProblem(where, template.id, message) for message in pattern_problems(template))
    notes: list[str] = []
    if examples is None:
        examples, load_problems, notes = _sampled(card, per_split, full_data)
        problems.extend(load_problems)
    for template in filter(_parses, card.templates):
        messages = _unique(
            message for example in examples for message in rendered_problems(card, template, example, examples)
        )
        problems.extend(LintProblem(where, template.id, message) for message in messages)
    return problems, notes


def _sampled(card: TaskCard, per_split: int, full_data: bool) -> tuple[list[Example], list[LintProblem], list[str]]:
    """A sample of the card's examples, the problems met building it, and a note when there is no data here."""
    examples, load_problems, note = sample_examples(card, per_split, full_data=full_data)
    where = where_of(card)
    problems = [LintProblem(where, None, message) for message in load_problems]
    return examples, problems, [f"{where}: {note}"] if note else []


def _position_examples(card: TaskCard, sampled: list[Example], full_data: bool) -> Sequence[Example]:
    """Every example of the card with ``full_data`` (when its data loads), else the sample."""
    data = with_fixture_source(card) if card.source.kind == "huggingface" else card
    if not full_data or data is None:
        return sampled
    try:
        return [example for split in SPLITS for example in load_examples(data, split)]
    except FlanlabError:
        return sampled  # the sample's loading problems are reported already


def _parses(template: Template) -> bool:
    try:
        for name in PATTERN_FIELDS:
            parse_pattern(getattr(template, name))
    except ValueError:
        return False
    return True


def where_of(card: TaskCard) -> str:
    return str(card.path) if card.path else f"{card.collection}:{card.name} (generated)"


# --- static checks -------------------------------------------------------------------------------


def card_problems(card: TaskCard) -> list[str]:
    problems: list[str] = []
    if card.cluster not in CLUSTERS:
        problems.append(f"unknown cluster {card.cluster!r}; known: {', '.join(CLUSTERS)}")
    if card.cluster in EVAL_ONLY_CLUSTERS and not card.eval_only:
        problems.append(f"cluster {card.cluster!r} is evaluation-only: set eval_only: true")
    if card.source.kind == "bigbench" and is_bbh(card.source.locator) and not card.eval_only:
        problems.append(f"{card.source.locator} is a BIG-Bench Hard task: set eval_only: true")
    texts = [(t.instruction, t.input, t.target) for t in card.templates]
    duplicated = sorted({t.id for t, text in zip(card.templates, texts) if texts.count(text) > 1})
    if duplicated:
        problems.append(f"templates {', '.join(duplicated)} have identical text")
    if card.curated and not card.eval_only:
        inverted = sum(t.inverted for t in card.templates)
        if inverted > CURATED_MAX_INVERTED:
            problems.append(f"curated card has {inverted} inverted templates; at most {CURATED_MAX_INVERTED}")
    if card.curated:  # written by us, so its prose is linted like a template's
        for name in ("instruction", "description"):
            problems.extend(f"card {name}: {message}" for message in text_problems(getattr(card, name)))
    return problems


def pattern_problems(template: Template) -> list[str]:
    problems: list[str] = []
    if not template.input.strip():
        problems.append("input pattern is empty")
    if template.input != template.input.rstrip():
        problems.append("input pattern ends with whitespace (the format adds the target delimiter)")
    if template.target != template.target.lstrip():
        problems.append("target pattern starts with whitespace (the format adds the target delimiter)")
    if template.inverted and template.target.strip() == "{answer}":
        problems.append("inverted template targets {answer}: an inverted template asks for the input")
    for name in PATTERN_FIELDS:
        problems.extend(f"{name} pattern: {message}" for message in _pattern_syntax(getattr(template, name)))
    return problems


def _pattern_syntax(pattern: str) -> list[str]:
    try:
        pieces = parse_pattern(pattern)
    except ValueError as error:
        return [f"stray or unbalanced brace ({error})"]
    problems = []
    for _, name, _, _ in pieces:
        if name is not None and (not name or name.isdigit() or not name.isidentifier()):
            problems.append(f"placeholder {{{name}}} must be a field name")
    written = "".join(literal for literal, _, _, _ in pieces)
    if written.count("{") != written.count("}"):
        problems.append("stray brace in the written text")
    problems.extend(message for literal, _, _, _ in pieces for message in text_problems(literal))
    return problems


def text_problems(text: str) -> list[str]:
    """Defects in written prose: literal backslash escapes, doubled words, missing spaces."""
    problems = []
    if "\\n" in text or "\\t" in text:
        problems.append("literal backslash-n/t text (write a real line break)")
    for match in _DOUBLED_WORD.finditer(text):
        problems.append(f"doubled word {match.group(0)!r}")
    for match in _MISSING_SPACE.finditer(text):
        problems.append(f"missing space in {match.group(0)!r}")
    return problems


def _duplicate_ids(where: str, templates: Any) -> list[LintProblem]:
    if not isinstance(templates, list):
        return []
    ids = [str(t.get("id")) for t in templates if isinstance(t, dict) and "id" in t]
    return [
        LintProblem(where, tid, "template id is not unique") for tid in sorted({i for i in ids if ids.count(i) > 1})
    ]


def _duplicate_names(cards: Sequence[TaskCard]) -> list[LintProblem]:
    first: dict[str, TaskCard] = {}
    problems = []
    for card in cards:
        if card.name in first:
            problems.append(
                LintProblem(
                    where_of(card), None, f"task name {card.name!r} is also used by {where_of(first[card.name])}"
                )
            )
        first.setdefault(card.name, card)
    return problems


# --- data checks ---------------------------------------------------------------------------------


def sample_examples(
    card: TaskCard, per_split: int, *, full_data: bool = False
) -> tuple[list[Example], list[str], str | None]:
    """Up to ``per_split`` evenly spaced examples of each split, the problems met building them,
    and a note when the card's data cannot be checked here."""
    if card.source.kind == "huggingface":
        fixture = with_fixture_source(card)
        if fixture is None:
            return [], [], "hub source without a fixture: data checks skipped"
        card = fixture
    try:
        if card.source.kind == "bigbench" and not full_data:
            # Reading 1.5 GB of task files just to lint templates is too slow: take the head.
            grouped = {"train": bigbench_head(card.source.locator, per_split * len(SPLITS))}
            per_split *= len(SPLITS)
        else:
            grouped = load_split_records(card.source)
    except FlanlabError as error:
        return [], [f"cannot load data: {_one_line(error)}"], None
    built: dict[str, list[Example]] = {}
    problems: list[str] = []
    tried = 0
    for split in SPLITS:
        records = grouped.get(split) or []
        built[split] = []
        for index in _spaced(len(records), per_split):
            tried += 1
            try:
                example = build_example(card, records[index], index)
            except FlanlabError as error:
                problems.append(f"{split} record {index}: {_one_line(error)}")
                continue
            if example is not None:
                built[split].append(example)
    examples = [example for split_examples in order_options(card, built).values() for example in split_examples]
    if tried and not examples and not problems:
        problems.append(f"the field rules match none of {tried} sampled records")
    return examples, problems, None


_EXAMPLES_KEY = re.compile(r'"examples"\s*:\s*\[')
_DECODER = json.JSONDecoder()


def bigbench_head(locator: str, n: int) -> list[Record]:
    """The first ``n`` usable examples of a BIG-bench task, decoded from the head of its file.

    Falls back to loading the whole task when the file does not start the usual way.
    """
    path = bigbench.ensure_bigbench(quiet=True) / locator / "task.json"
    try:
        raw = _decode_head(path, 4 * n)
    except (OSError, ValueError, IndexError):
        raw = None
    if raw is None:
        return list(bigbench.load_task_records(locator)[:n])
    normalised = (bigbench.normalise_example(example, index, str(path)) for index, example in enumerate(raw))
    records = [record for record in normalised if record is not None]
    return ([record for record in records if record["input"].strip()] or records)[:n]


def _decode_head(path: Path, n: int) -> list[Any] | None:
    """Up to ``n`` elements of the file's "examples" array, reading only as much as needed."""
    chunk = 1 << 20
    blob = b""
    with open(path, "rb") as handle:
        while True:
            more = handle.read(chunk)
            blob += more
            text = blob.decode("utf-8", errors="ignore")
            match = _EXAMPLES_KEY.search(text)
            if match is not None:
                try:
                    return _decode_elements(text, match.end(), n)
                except (json.JSONDecodeError, IndexError):
                    pass  # the head read so far ends inside an element: read on
            if not more:
                return None
            chunk *= 2


def _decode_elements(text: str, pos: int, n: int) -> list[Any]:
    items: list[Any] = []
    while len(items) < n:
        while text[pos].isspace():
            pos += 1
        if text[pos] == "]":
            break
        item, pos = _DECODER.raw_decode(text, pos)
        items.append(item)
        while text[pos].isspace():
            pos += 1
        if text[pos] == ",":
            pos += 1
    return items


def _spaced(n: int, k: int) -> list[int]:
    if n <= 0 or k <= 0:
        return []
    if k == 1 or n == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(min(k, n))})


def rendered_problems(card: TaskCard, template: Template, example: Example, pool: Sequence[Example] = ()) -> list[str]:
    values = template_values(card, example)
    missing = sorted(name for name in template.placeholders() - {"options"} if values.get(name) is None)
    if missing:
        fields = ", ".join(sorted(key for key, value in values.items() if value is not None))
        return [f"placeholder {{{name}}} is not in the task's data (fields: {fields})" for name in missing]
    try:
        rendered = render(card, template, example, _ZERO_SHOT)
    except FlanlabError as error:
        return [_one_line(error)]
    problems = _join_problems(card, template, example, values)
    if not rendered.targets.strip():
        problems.append("rendered target is empty")
    if not rendered.inputs.strip():
        problems.append("rendered input is empty")
    if rendered.inputs != rendered.inputs.rstrip() or rendered.targets != rendered.targets.lstrip():
        problems.append("whitespace at the prompt/target join (the layout's delimiter alone joins them)")
    if rendered.options:
        problems.extend(_option_problems(card, template, example, rendered.targets))
    others = [other for other in pool if other is not example][:2]
    if others:
        try:
            render(card, template, example, _FEW_SHOT, exemplars=others)
        except FlanlabError as error:
            problems.append(f"few-shot rendering fails: {_one_line(error)}")
    return problems


def _option_problems(card: TaskCard, template: Template, example: Example, target: str) -> list[str]:
    options = example["options"]
    gold = options[example["answer_index"]]
    problems = []
    if example["answer"] not in options:
        problems.append(f"gold answer {example['answer']!r} is not among the options {options}")
    if target != gold:
        problems.append(f"target {target!r} is not the gold option {gold!r}")
    labelled = render(card, template, example, _LABEL_STYLE)
    expected = OPTION_STYLES["letter"].label(example["answer_index"])
    if labelled.targets != expected or labelled.targets not in labelled.options:
        problems.append(f"in a label style the target is {labelled.targets!r}, not {expected!r}")
    return problems


def _join_problems(card: TaskCard, template: Template, example: Example, values: dict[str, Any]) -> list[str]:
    """Missing spaces and doubled words where a filled-in value meets the written text."""
    problems = []
    block = OPTION_STYLES["dash"].block(example["options"]) if example.get("options") else ""
    for pattern in (template.instruction, template.input, template.target):
        segments = []
        for literal, name, _, _ in parse_pattern(pattern):
            if literal:
                segments.append((False, literal))
            if name is not None:
                raw = block if name == "options" and block else values.get(name)
                value = as_text(raw).strip() if raw is not None else ""
                if value:
                    segments.append((True, value))
        for (left_is_value, left), (right_is_value, right) in zip(segments, segments[1:]):
            if left_is_value or right_is_value:
                problems.extend(_join_problem(left, right))
    return problems


def _join_problem(left: str, right: str) -> list[str]:
    a, b = left[-1], right[0]
    context = f"{left[-12:]}{right[:12]}"
    if a.isalnum() and b.isalnum():
        return [f"missing space at a join: {context!r}"]
    if a in ".!?,;:" and b.isalpha():
        return [f"missing space after punctuation at a join: {context!r}"]
    last, first = _LAST_WORD.search(left.rstrip()), _FIRST_WORD.search(right.lstrip())
    if last and first and last.group(0).casefold() == first.group(0).casefold():
        return [f"doubled word {last.group(0)!r} at a join"]
    return []


def _unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _with_progress(cards: Sequence[TaskCard], enabled: bool) -> Iterator[TaskCard]:
    return track(cards, "linting task cards", len(cards), show=enabled, transient=True)
