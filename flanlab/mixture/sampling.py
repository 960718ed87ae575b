"""Turning per-task row counts into a shuffled stream of rendered rows, one block at a time.

The stream is cut into blocks of ``BLOCK_ROWS``. Block ``b`` covering rows [start, end) takes
``floor(n_t * end / N) - floor(n_t * start / N)`` rows of task ``t`` (these telescope to exactly
``n_t``), shuffles them with an RNG seeded by (seed, b), and renders each. Memory is one block plus
the task pools, whatever N is. Each task serves its pool in seeded epochs, so small tasks repeat
only after every example was used once.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from flanlab.mixture.pools import TaskPool
from flanlab.mixture.recipe import FORMAT_KINDS, FormatRatios, MixtureRecipe
from flanlab.prompts.formats import InstructionPosition, PromptFormat, RenderedExample, TokenCounter, render
from flanlab.tasks.examples import Example

BLOCK_ROWS = 8192
PLAIN_KINDS = ("zero_shot", "few_shot")  # the formats an example without a rationale can take


class Weighted:
    """A fast weighted choice over fixed items (cumulative weights and bisection)."""

    def __init__(self, items: Sequence[str], weights: Sequence[float]) -> None:
        kept = [(item, weight) for item, weight in zip(items, weights) if weight > 0]
        self.items = [item for item, _ in kept]
        self.cumulative: list[float] = []
        running = 0.0
        for _, weight in kept:
            running += weight
            self.cumulative.append(running)
        self.total = running

    def pick(self, rng: random.Random) -> str:
        if len(self.items) == 1:
            return self.items[0]
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


class TaskStream:
    """A task's pool indices, epoch after epoch; epoch 0 is the pool's own (seeded) order."""

    def __init__(self, size: int, seed: int, name: str) -> None:
        self.size, self.seed, self.name = size, seed, name
        self.order: Sequence[int] = range(size)
        self.epoch = 0
        self.position = 0

    def next(self) -> int:
        if self.position == self.size:
            self.epoch += 1
            order = list(range(self.size))
            random.Random(f"{self.seed}:epoch:{self.name}:{self.epoch}").shuffle(order)
            self.order, self.position = order, 0
        index = self.order[self.position]
        self.position += 1
        return index


def block_slots(counts: Sequence[int], total: int, start: int, end: int, rng: random.Random) -> list[int]:
    """The task index of every row in [start, end), shuffled."""
    slots: list[int] = []
    for task_index, count in enumerate(counts):
        slots.extend([task_index] * (count * end // total - count * start // total))
    rng.shuffle(slots)
    return slots


def format_choices(ratios: FormatRatios) -> tuple[Weighted, Weighted]:
    """(any kind, plain kind) choosers; a source with no zero-/few-shot share renders plain rows zero-shot."""
    shares = ratios.as_dict()
    plain = [shares[kind] for kind in PLAIN_KINDS]
    any_kind = Weighted(FORMAT_KINDS, [shares[kind] for kind in FORMAT_KINDS])
    return any_kind, Weighted(PLAIN_KINDS, plain if sum(plain) else [1, 0])


class RowRenderer:
    """Draws one row's template, format, options style and exemplars, and renders it."""

    def __init__(self, recipe: MixtureRecipe, count_tokens: TokenCounter) -> None:
        self._kinds: dict[str, tuple[Weighted, Weighted]] = {}  # per collection
        self.options_style = Weighted(list(recipe.options_styles), list(recipe.options_styles.values()))
        self.separator = Weighted(list(recipe.separators), list(recipe.separators.values()))
        self.recipe = recipe
        self.count_tokens = count_tokens
        self._formats: dict[tuple, PromptFormat] = {}

    def render(self, rng: random.Random, pool: TaskPool, index: int) -> tuple[RenderedExample, str]:
        """The rendered row and its format kind (one of FORMAT_KINDS)."""
        recipe = self.recipe
        example = pool.examples[index]
        inverted = bool(pool.inverted) and (not pool.original or rng.random() < recipe.inversion_rate)
        templates = pool.inverted if inverted else pool.original
        template = templates[rng.randrange(len(templates))] if len(templates) > 1 else templates[0]
        any_kind, plain_kind = self._kind_choices(pool.task.card.collection)
        kind = (any_kind if example.get("rationale") and not inverted else plain_kind).pick(rng)
        cot = kind in ("cot", "cot_few_shot")
        shots = rng.choice(recipe.few_shot_counts) if kind in ("few_shot", "cot_few_shot") else 0
        style = "none"
        if example.get("options") and not inverted and rng.random() < recipe.options_rate:
            style = self.options_style.pick(rng)
        separator = "blank"
        position: InstructionPosition = "before"
        if shots:
            separator = self.separator.pick(rng)
            position = "after" if rng.random() < recipe.instruction_after_rate else "before"
        fmt = self._format(shots, cot, style, position, separator)
        exemplars = _exemplars(rng, pool, index, shots, cot) if shots else ()
        return render(pool.task.card, template, example, fmt, exemplars=exemplars, count_tokens=self.count_tokens), kind

    def _kind_choices(self, collection: str) -> tuple[Weighted, Weighted]:
        if collection not in self._kinds:
            self._kinds[collection] = format_choices(self.recipe.ratios_for(collection))
        return self._kinds[collection]

    def _format(self, shots: int, cot: bool, style: str, position: InstructionPosition, separator: str) -> PromptFormat:
        key = (shots, cot, style, position, separator)
        fmt = self._formats.get(key)
        if fmt is None:
            fmt = PromptFormat(
                shots=shots,
                cot=cot,
                options_style=style,
                instruction_position=position,
                separator=separator,
                max_prompt_tokens=self.recipe.max_prompt_tokens,
                instruction_mode=self.recipe.instruction_mode,
                delimiter=self.recipe.layout.delimiter,
                answer_cue=self.recipe.layout.answer_cue,
            )
            self._formats[key] = fmt
        return fmt


def _exemplars(rng: random.Random, pool: TaskPool, query: int, shots: int, cot: bool) -> list[Example]:
    """``shots`` distinct pool examples other than the query (and not sharing its text).

    Chain-of-thought exemplars come from the examples with rationales. Rejection sampling keeps
    this O(shots) instead of filtering the whole pool for every row; a tiny pool gives fewer.
    """
    candidates: Sequence[int] = pool.with_rationale if cot else range(len(pool.examples))
    if not candidates:
        return []
    signature = pool.signatures[query]
    picked: list[int] = []
    for _ in range(3 * shots + 8):
        if len(picked) == shots:
            break
        choice = candidates[rng.randrange(len(candidates))]
        if choice != query and choice not in picked and pool.signatures[choice] != signature:
            picked.append(choice)
    return [pool.examples[i] for i in picked]


@dataclass
class Block:
    """Rendered rows of one block, with the pool index and format kind of each."""

    rows: list[RenderedExample] = field(default_factory=list)
    pool_indices: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def generate_blocks(
    pools: Sequence[TaskPool], counts: Sequence[int], recipe: MixtureRecipe, count_tokens: TokenCounter
) -> Iterator[Block]:
    """The whole mixture, block by block, deterministic in (recipe, seed, pools)."""
    total = sum(counts)
    renderer = RowRenderer(recipe, count_tokens)
    streams = [TaskStream(len(pool), recipe.seed, pool.task.name) for pool in pools]
    for block_number, start in enumerate(range(0, total, BLOCK_ROWS)):
        rng = random.Random(f"{recipe.seed}:block:{block_number}")
        block = Block()
        for pool_index in block_slots(counts, total, start, min(total, start + BLOCK_ROWS), rng):
            rendered, kind = renderer.render(rng, pools[pool_index], streams[pool_index].next())
            block.rows.append(rendered)
            block.pool_indices.append(pool_index)
            block.kinds.append(kind)
        yield block
