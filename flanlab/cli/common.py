"""Helpers shared by the CLI modules: printing JSON and tables the same way everywhere."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from flanlab.progress import console


def command_line() -> str:
    """This invocation as a command a user can paste (the program name shortened to ``flanlab``)."""
    return shlex.join(["flanlab", *sys.argv[1:]])


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    Console().print(table)


def warn_tasks(verb: str, tasks: dict[str, str], listed_in: str | None = None, shown: int = 12) -> None:
    """One warning line per reason naming the tasks: all of them, or the first ``shown`` when a file
    (``listed_in``) holds the full list."""
    by_reason: dict[str, list[str]] = {}
    for name, why in sorted(tasks.items()):
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        shown = len(names) if listed_in is None else shown
        more = f" and {len(names) - shown} more (all in {listed_in})" if len(names) > shown else ""
        console.print(
            f"warning: {verb} {len(names)} task(s), {why}: {', '.join(names[:shown])}{more}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
