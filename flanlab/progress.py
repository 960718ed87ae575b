"""Progress for every long stage: a rich bar with ETA on a terminal, plain lines everywhere else.

A redrawn bar is noise in a CI log or a piped file, so there each bar prints one line every
`PLAIN_EVERY_S` seconds and one when it finishes. Lower layers take a `show` flag and draw here;
the CLI prints through the same `console`, so its messages land above a live bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console

console = Console(stderr=True)
PLAIN_EVERY_S = 30.0

Item = TypeVar("Item")


class Bar:
    """One stage's counter: `advance` or `update` it; `note` is the latest status (a loss, a task name)."""

    def __init__(self, display: ProgressDisplay, label: str, total: int, done: int) -> None:
        self.display, self.label, self.total, self.done = display, label, total, done
        self.first, self.note = done, ""  # a resumed stage's rate counts only this run's work
        self.started = self.last_line = time.monotonic()
        self.finished = False
        self.task_id = display.rich.add_task(label, total=total, completed=done, note="") if display.rich else None

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.update(done=self.done + n, note=note)

    def update(
        self, *, done: int | None = None, total: int | None = None, label: str | None = None, note: str | None = None
    ) -> None:
        self.done = self.done if done is None else done
        self.total = self.total if total is None else total
        self.label = self.label if label is None else label
        self.note = self.note if note is None else note
        if not self.display.show:
            return
        if self.task_id is not None:
            self.display.rich.update(
                self.task_id, completed=self.done, total=self.total, description=self.label, note=self.note
            )
            return
        now = time.monotonic()
        if self.done >= self.total:
            self.finish()
        elif now - self.last_line >= PLAIN_EVERY_S:
            self.last_line = now
            self._print_line(now)

    def finish(self) -> None:
        if self.display.show and self.display.rich is None and not self.finished:
            self.finished = True
            self._print_line(time.monotonic())

    def _print_line(self, now: float) -> None:
        elapsed = now - self.started
        line = f"{self.label}: {self.done:,}/{self.total:,} in {elapsed:.0f}s"
        remaining, done_here = self.total - self.done, self.done - self.first
        if remaining > 0 and done_here > 0:
            line += f", ETA {elapsed / done_here * remaining:.0f}s"
        console.print(line + (f" ({self.note})" if self.note else ""), markup=False, highlight=False)


class ProgressDisplay:
    """Holds the stage bars of one command; silent when not ``show``, plain lines off a terminal."""

    def __init__(self, show: bool = True, *, transient: bool = False) -> None:
        self.show, self.transient = show, transient
        self.rich: Any = None
        self.bars: list[Bar] = []

    def __enter__(self) -> ProgressDisplay:
        if self.show and console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.rich = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=console, transient=self.transient,
            )  # fmt: skip
            self.rich.start()
        return self

    def bar(self, label: str, total: int, done: int = 0) -> Bar:
        bar = Bar(self, label, total, done)
        self.bars.append(bar)
        return bar

    def stage_callback(self, labels: dict[str, str]) -> Callable[[str, int, int], None]:
        """A ``(stage, done, total)`` callback drawing one bar per stage, named by ``labels``."""
        bars: dict[str, Bar] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = self.bar(labels.get(stage, stage), total)
            bars[stage].update(done=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.rich is not None:
            self.rich.stop()
        elif exc[0] is None:
            for bar in self.bars:
                bar.finish()


@contextmanager
def progress(label: str, total: int, *, show: bool = True, done: int = 0, transient: bool = False) -> Iterator[Bar]:
    """A display with a single bar."""
    with ProgressDisplay(show and total > 0, transient=transient) as display:
        yield display.bar(label, total, done)


def track(
    items: Iterable[Item], label: str, total: int, *, show: bool = True, transient: bool = False
) -> Iterator[Item]:
    """``items``, advancing a bar as each one is consumed."""
    with progress(label, total, show=show, transient=transient) as bar:
        for item in items:
            yield item
            bar.advance()


def stage_line(text: str) -> None:
    """One timestamped line when a stage starts or ends, on a terminal and in a log alike."""
    console.print(f"[{time.strftime('%H:%M:%S')}] {text}", markup=False, highlight=False, soft_wrap=True)
