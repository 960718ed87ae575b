"""Each task's pool of training examples: train split only, checked against the guard, cut at a limit.

A pool is the task's train examples in a seeded order, with contaminated ones dropped (and
counted), cut at a limit. Training rows and few-shot exemplars are both drawn from it, so the guard
covers both. Pools are read lazily (`iter_examples`): a first pass reads each task up to
min(cap, rate), which fixes its mixing weight; the few tasks whose row count then exceeds that are
read again up to min(cap, rows). A task of 50,000 examples that gives 3 rows costs ~3,000 reads.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.mixture.guard import (
    ContaminationReport,
    EvalIndex,
    eval_input_fields,
    train_hashes,
    train_input_fields,
)
from flanlab.mixture.plan import PlannedTask
from flanlab.tasks.card import Template
from flanlab.tasks.examples import Example, iter_examples


@dataclass
class TaskPool:
    task: PlannedTask
    examples: list[Example]
    signatures: array  # 64-bit hash of each example's query: exemplars never repeat the query's text
    with_rationale: list[int]  # indices of examples that carry a rationale (chain-of-thought)
    original: list[Template]
    inverted: list[Template]
    complete: bool = True  # False when the limit cut the pool (the task has more train examples)
    overlaps: Counter[str] = field(default_factory=Counter)  # guarded task -> examples dropped for it

    def __len__(self) -> int:
        return len(self.examples)


def load_pool(task: PlannedTask, seed: int, guard: EvalIndex, limit: int) -> TaskPool:
    """The task's first ``limit`` usable train examples in a seeded order (contaminated ones dropped)."""
    card = task.card
    shown_fields, query_fields = train_input_fields(card), eval_input_fields(card)
    examples: list[Example] = []
    signatures = array("Q")
    overlaps: Counter[str] = Counter()
    complete = True
    for position, example in iter_examples(card, "train", f"{seed}:pool:{card.name}"):
        if len(examples) >= limit:
            complete = False
            break
        digests, query_digest = train_hashes(example, shown_fields, query_fields)
        overlap = guard.find(digests) if guard.owner else None
        if overlap is not None:
            overlaps[overlap] += 1
            continue
        examples.append(example)
        # Exemplars must not repeat the query's text; an example without a query is only itself.
        signatures.append(int(query_digest[:16], 16) if query_digest else position)
    return TaskPool(
        task=task,
        examples=examples,
        signatures=signatures,
        with_rationale=[i for i, example in enumerate(examples) if example.get("rationale")],
        original=[template for template in card.templates if not template.inverted],
        inverted=[template for template in card.templates if template.inverted],
        complete=complete,
        overlaps=overlaps,
    )


def first_limit(task: PlannedTask) -> int:
    """Enough examples to fix the task's mixing weight, min(size, cap, rate)."""
    return min(task.cap, task.rate)


def load_pools(
    tasks: list[PlannedTask],
    seed: int,
    guard: EvalIndex,
    on_unavailable: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[TaskPool], dict[str, str]]:
    """Pools of every task with data (read up to `first_limit`), and the tasks skipped with why."""
    pools: list[TaskPool] = []
    skipped: dict[str, str] = {}
    for number, task in enumerate(tasks, start=1):
        if progress:
            progress(number - 1, len(tasks))  # done so far
        try:
            pool = load_pool(task, seed, guard, first_limit(task))
        except DataUnavailable as error:
            if on_unavailable != "skip":
                raise FlanlabError(f"task {task.name}: {error}") from None
            skipped[task.name] = error.message
            continue
        if not pool.examples:
            skipped[task.name] = "no usable train examples"
            continue
        pools.append(pool)
    if progress:
        progress(len(tasks), len(tasks))
    return pools, skipped


def grown(pool: TaskPool, rows: int, seed: int, guard: EvalIndex) -> TaskPool:
    """The pool read further when the task gives more rows than it holds (up to its cap)."""
    wanted = min(pool.task.cap, rows)
    if pool.complete or wanted <= len(pool):
        return pool
    return load_pool(pool.task, seed, guard, wanted)


def contamination_report(pools: list[TaskPool]) -> ContaminationReport:
    report = ContaminationReport()
    for pool in pools:
        if pool.overlaps:
            report.overlaps[pool.task.name] = Counter(pool.overlaps)
    return report
