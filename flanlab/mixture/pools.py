"""Each task's pool of training examples: train split only, capped, checked against the guard.

A pool is the task's train examples in a seeded order, with contaminated ones removed (or reported
as an error), cut at the cap. Training rows and few-shot exemplars are both drawn from it, so
the guard covers both.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.mixture.guard import ContaminationReport, EvalIndex, eval_input_fields, train_hashes, train_input_fields
from flanlab.mixture.plan import PlannedTask
from flanlab.tasks.card import Template
from flanlab.tasks.examples import Example, load_examples


@dataclass
class TaskPool:
    task: PlannedTask
    examples: list[Example]
    signatures: array  # 64-bit hash of each example's query: exemplars never repeat the query's text
    with_rationale: list[int]  # indices of examples that carry a rationale (chain-of-thought)
    original: list[Template]
    inverted: list[Template]

    def __len__(self) -> int:
        return len(self.examples)


def load_pool(task: PlannedTask, seed: int, guard: EvalIndex, report: ContaminationReport) -> TaskPool:
    """The task's usable train examples, in a seeded order, at most ``task.cap`` of them."""
    card = task.card
    train = load_examples(card, "train")
    order = list(range(len(train)))
    random.Random(f"{seed}:pool:{card.name}").shuffle(order)
    shown_fields, query_fields = train_input_fields(card), eval_input_fields(card)
    examples: list[Example] = []
    signatures = array("Q")
    for position in order:
        if len(examples) >= task.cap:
            break
        example = train[position]
        digests, query_digest = train_hashes(example, shown_fields, query_fields)
        overlap = guard.find(digests) if guard.owner else None
        if overlap is not None:
            report.record(card.name, overlap)
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
    )


def load_pools(
    tasks: list[PlannedTask],
    seed: int,
    guard: EvalIndex,
    report: ContaminationReport,
    on_unavailable: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[TaskPool], dict[str, str]]:
    """Pools of every task with data, and the tasks skipped (unreadable or no train examples) with why."""
    pools: list[TaskPool] = []
    skipped: dict[str, str] = {}
    for number, task in enumerate(tasks, start=1):
        if progress:
            progress(number - 1, len(tasks))  # done so far
        try:
            pool = load_pool(task, seed, guard, report)
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
