"""Mixture statistics: examples and tokens per task, cluster, source and format, intended vs achieved.

Achieved figures are counted from the rows actually written, never copied from the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, Field

from flanlab.errors import FlanlabError
from flanlab.mixture.recipe import FORMAT_KINDS
from flanlab.prompts.formats import RenderedExample, TokenCounter
from flanlab.tasks.option_order import add_position


class Share(BaseModel):
    """One group of rows (a task, cluster, source or format)."""

    name: str
    examples: int = 0
    input_tokens: int = 0
    target_tokens: int = 0
    intended_weight: float | None = None  # None: unknown (dry run without data)
    achieved_weight: float | None = None


class TaskShare(Share):
    collection: str
    cluster: str
    family: str
    cap: int
    rate: int
    pool: int | None = None  # train examples read into the pool (up to min(cap, max(rate, rows))); None: dry run
    epochs: float | None = None  # rows / pool: above 1 means examples repeat (with other templates/formats)
    gold_positions: list[int] = Field(default_factory=list)  # classification rows per gold option position


class MixtureStats(BaseModel):
    name: str
    seed: int
    dry_run: bool = False
    total_rows: int
    token_counter: str = "estimate"  # "estimate" (flanlab.prompts.formats.estimate_tokens) or a tokenizer name
    shards: list[str] = Field(default_factory=list)
    held_out_clusters: list[str] = Field(default_factory=list)
    tasks: list[TaskShare] = Field(default_factory=list)
    clusters: list[Share] = Field(default_factory=list)
    collections: list[Share] = Field(default_factory=list)
    formats: list[Share] = Field(default_factory=list)
    options_shown_share: float | None = None  # among rows of classification examples with original templates
    inverted_share: float | None = None  # among rows of tasks that have inverted templates
    excluded: dict[str, str] = Field(default_factory=dict)  # task -> why it may not be trained on
    notes: list[str] = Field(default_factory=list)  # what the plan decided that a reader should know
    skipped: dict[str, str] = Field(default_factory=dict)  # task -> why it had no usable data
    contamination_removed: dict[str, dict[str, int]] = Field(default_factory=dict)  # train task -> eval task -> rows
    guarded_tasks: int = 0  # held-out and eval-only tasks whose evaluation inputs were hashed
    guard_hashes: int = 0
    unchecked_tasks: dict[str, str] = Field(default_factory=dict)  # guarded tasks whose data could not be read

    def write(self, path: Path) -> None:
        from flanlab.io import write_json

        write_json(path, self.model_dump(mode="json"))

    @classmethod
    def read(cls, path: Path) -> MixtureStats:
        try:
            return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FlanlabError("no stats.json: not a mixture folder", where=str(path.parent)) from None
        except ValueError as error:
            raise FlanlabError(f"unreadable stats ({error.__class__.__name__})", where=str(path)) from None


class StatsCounter:
    """Running counts per task and format kind while rows stream past."""

    def __init__(self, n_tasks: int) -> None:
        self.examples = [0] * n_tasks
        self.input_tokens = [0] * n_tasks
        self.target_tokens = [0] * n_tasks
        self.kind_examples = {kind: 0 for kind in FORMAT_KINDS}
        self.kind_input_tokens = {kind: 0 for kind in FORMAT_KINDS}
        self.kind_target_tokens = {kind: 0 for kind in FORMAT_KINDS}
        self.options_eligible = self.options_shown = 0
        self.inversion_eligible = self.inverted = 0
        self.gold_positions: list[list[int]] = [[] for _ in range(n_tasks)]

    def add(self, task: int, kind: str, row: RenderedExample, can_invert: bool, count_tokens: TokenCounter) -> None:
        input_tokens, target_tokens = count_tokens(row.inputs), count_tokens(row.targets)
        self.examples[task] += 1
        self.input_tokens[task] += input_tokens
        self.target_tokens[task] += target_tokens
        self.kind_examples[kind] += 1
        self.kind_input_tokens[kind] += input_tokens
        self.kind_target_tokens[kind] += target_tokens
        if row.options:
            self.options_eligible += 1
            self.options_shown += row.options_style != "none"
            if row.answer_index is not None:
                add_position(self.gold_positions[task], row.answer_index)
        if can_invert:
            self.inversion_eligible += 1
            self.inverted += row.inverted


def group_shares(tasks: Iterable[TaskShare], key: Callable[[TaskShare], str], total: int) -> list[Share]:
    groups: dict[str, Share] = {}
    for task in tasks:
        group = groups.setdefault(
            key(task), Share(name=key(task), intended_weight=0.0 if task.intended_weight is not None else None)
        )
        group.examples += task.examples
        group.input_tokens += task.input_tokens
        group.target_tokens += task.target_tokens
        if task.intended_weight is not None and group.intended_weight is not None:
            group.intended_weight += task.intended_weight
    for group in groups.values():
        group.achieved_weight = group.examples / total if total else None
    return [groups[name] for name in sorted(groups)]


def format_shares(counter: StatsCounter | None, intended: Mapping[str, float] | None, total: int) -> list[Share]:
    return [
        Share(
            name=kind,
            examples=counter.kind_examples[kind] if counter else 0,
            input_tokens=counter.kind_input_tokens[kind] if counter else 0,
            target_tokens=counter.kind_target_tokens[kind] if counter else 0,
            intended_weight=intended[kind] if intended is not None else None,
            achieved_weight=(counter.kind_examples[kind] / total) if counter and total else None,
        )
        for kind in FORMAT_KINDS
    ]


def share_table(shares: list[Share], limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Columns and rows for printing (largest groups first)."""
    ordered = sorted(shares, key=lambda s: (-(s.intended_weight or 0), -s.examples, s.name))
    if limit is not None:
        ordered = ordered[:limit]
    columns = ["name", "examples", "input tokens", "target tokens", "intended %", "achieved %"]
    rows = [
        [
            s.name,
            f"{s.examples:,}",
            f"{s.input_tokens:,}",
            f"{s.target_tokens:,}",
            _percent(s.intended_weight),
            _percent(s.achieved_weight),
        ]
        for s in ordered
    ]
    return columns, rows


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"
