"""Which examples share a row, and which rows each process trains on at each step.

Packing is best-fit decreasing: examples (shuffled, then stably sorted longest first) go into the
open row with the least room that still fits them. Rows are then shuffled, so a batch mixes short
and long examples. Every process builds the same plan from the same seed, then takes its own slice:
step ``s`` uses global rows ``[s*G, (s+1)*G)`` with ``G = processes x accumulation x micro-batch``;
micro-batch ``m`` of process ``p`` is block ``m * processes + p`` of that range. The plan is a pure
function of (lengths, seed, shape), so a resumed run sees exactly the rows it would have seen.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

Row = list[int]  # example indices, in order, that share one sequence


def pack_best_fit(lengths: np.ndarray, row_length: int, seed: int) -> list[Row]:
    """Pack examples into rows of at most ``row_length`` tokens (best-fit decreasing)."""
    too_long = np.flatnonzero(lengths > row_length)
    if too_long.size:
        raise ValueError(f"example {int(too_long[0])} has {int(lengths[too_long[0]])} tokens > row length {row_length}")
    order = np.random.default_rng(seed).permutation(len(lengths))
    order = order[np.argsort(-lengths[order], kind="stable")]
    rows: list[Row] = []
    open_rows: list[tuple[int, int]] = []  # (room left, row id), sorted
    for example in order.tolist():
        size = int(lengths[example])
        slot = bisect.bisect_left(open_rows, (size, -1))
        if slot < len(open_rows):
            room, row_id = open_rows.pop(slot)
        else:
            room, row_id = row_length, len(rows)
            rows.append([])
        rows[row_id].append(example)
        if room - size > 0:
            bisect.insort(open_rows, (room - size, row_id))
    return rows


def one_per_row(count: int, seed: int) -> list[Row]:
    """No packing: one example per row, in a seeded random order."""
    return [[int(index)] for index in np.random.default_rng(seed).permutation(count)]


@dataclass
class RowPlan:
    """The infinite, deterministic stream of rows (epoch after epoch) and its per-process slices."""

    lengths: np.ndarray  # tokens an example occupies in a row
    target_lengths: np.ndarray  # loss-bearing tokens of each example
    row_length: int
    packing: bool
    seed: int
    micro_batch_size: int
    accumulation: int
    processes: int
    _epochs: list[list[Row]] = field(default_factory=list, repr=False)
    _epoch_starts: list[int] = field(default_factory=lambda: [0], repr=False)

    @property
    def rows_per_step(self) -> int:
        return self.micro_batch_size * self.accumulation * self.processes

    def micro_batch(self, step: int, micro: int, process: int) -> list[Row]:
        """The rows process ``process`` trains on in micro-batch ``micro`` of optimizer step ``step``."""
        start = step * self.rows_per_step + (micro * self.processes + process) * self.micro_batch_size
        return [self.row(index) for index in range(start, start + self.micro_batch_size)]

    def step_rows(self, step: int) -> list[Row]:
        """Every row of one optimizer step, across all processes and micro-batches."""
        start = step * self.rows_per_step
        return [self.row(index) for index in range(start, start + self.rows_per_step)]

    def step_target_tokens(self, step: int) -> int:
        """Loss-bearing tokens in the whole step: the denominator every process divides by."""
        return int(sum(self.target_lengths[example] for row in self.step_rows(step) for example in row))

    def epoch_of_row(self, index: int) -> int:
        self._cover(index)
        return bisect.bisect_right(self._epoch_starts, index) - 1

    def row(self, index: int) -> Row:
        epoch = self.epoch_of_row(index)
        return self._epochs[epoch][index - self._epoch_starts[epoch]]

    def _cover(self, index: int) -> None:
        while index >= self._epoch_starts[-1]:
            self._add_epoch()

    def _add_epoch(self) -> None:
        seed = self.seed * 100_003 + len(self._epochs)
        if self.packing:
            rows = pack_best_fit(self.lengths, self.row_length, seed)
            order = np.random.default_rng(seed + 1).permutation(len(rows))
            rows = [rows[index] for index in order]
        else:
            rows = one_per_row(len(self.lengths), seed)
        self._epochs.append(rows)
        self._epoch_starts.append(self._epoch_starts[-1] + len(rows))
