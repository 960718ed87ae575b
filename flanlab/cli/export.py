"""`flanlab export`: write flanlab tasks in other tools' formats."""

from __future__ import annotations

from pathlib import Path

import typer

from flanlab.cli.common import console, warn_tasks
from flanlab.cli.eval import csv_items
from flanlab.evaluate.runner import SplitName

app = typer.Typer(help="Export flanlab tasks for other tools.", no_args_is_help=True)


@app.command("lm-eval")
def lm_eval(
    tasks: str = typer.Option(..., help="Comma-separated cluster:NAME / task:NAME selectors."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for the task YAML files and their data."),
    shots: str = typer.Option("0", help="Comma-separated shot counts (exemplars are rendered into the prompts)."),
    templates: str = typer.Option("all", help="'all' or comma-separated template ids."),
    split: SplitName = typer.Option("test", help="The split to export."),
    limit: int = typer.Option(None, help="Examples per template (the same seeded sample `flanlab eval` uses)."),
    seed: int = typer.Option(0, help="Seed for example sampling and few-shot exemplars."),
    model: str = typer.Option(
        None, help="Count few-shot prompt tokens with this model's tokenizer (as `flanlab eval` does)."
    ),
    cards: list[Path] = typer.Option([], "--cards", help="Extra folders of task cards."),
) -> None:
    """Write lm-evaluation-harness task YAML over local JSON Lines files: a task per template and format,
    a group per cluster."""
    from flanlab.configio import validate
    from flanlab.evaluate import EvalConfig
    from flanlab.evaluate.lm_eval_export import export_lm_eval
    from flanlab.models.tokens import load_token_counter
    from flanlab.prompts.formats import estimate_tokens
    from flanlab.tasks.registry import load_registry

    fields = {"tasks": csv_items(tasks), "shots": csv_items(shots), "templates": csv_items(templates) or ["all"]}
    config = validate(EvalConfig, {**fields, "split": split, "limit": limit, "seed": seed}, where="command line")
    count_tokens = load_token_counter(model) if model else estimate_tokens
    registry = load_registry(cards)
    warn = lambda gone: warn_tasks("skipped", gone)  # noqa: E731
    exported = export_lm_eval(registry, config, out, count_tokens=count_tokens, on_skipped=warn)
    first = exported.groups[0] if exported.groups else "flanlab ..."
    console.print(
        f"wrote {len(exported.tasks)} lm-eval tasks and {len(exported.groups)} cluster groups to {out}/ "
        f"(run: lm_eval --include_path {out} --tasks {first})"
    )
    for name in exported.groups + exported.tasks:
        print(name)
