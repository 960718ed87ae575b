"""`flanlab sources`: fetch and inspect the raw data sources."""

from __future__ import annotations

import typer

from flanlab.cli.common import print_json, print_table
from flanlab.sources.bigbench import ensure_bigbench, list_tasks

app = typer.Typer(
    help="Raw data sources (the BIG-bench archive, local files, Hugging Face datasets).", no_args_is_help=True
)


@app.command("bigbench")
def bigbench(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
    min_examples: int = typer.Option(0, help="Only tasks with at least this many examples."),
) -> None:
    """Fetch the BIG-bench archive if needed and list its tasks with example counts."""
    ensure_bigbench()
    tasks = [task for task in list_tasks() if task["n_examples"] >= min_examples]
    if as_json:
        print_json(
            [{key: task[key] for key in ("name", "n_examples", "kind", "keywords", "description")} for task in tasks]
        )
        return
    rows = [
        [task["name"], task["n_examples"], task["kind"], ", ".join(task.get("keywords") or [])[:60]] for task in tasks
    ]
    print_table(f"BIG-bench: {len(tasks)} tasks", ["task", "examples", "kind", "keywords"], rows)
