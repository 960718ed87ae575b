"""`flanlab mix`: build a training mixture from a recipe, and inspect one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from flanlab.cli.common import console, print_json, print_table, warn_tasks
from flanlab.cli.flags import config_from, with_config_flags
from flanlab.errors import FlanlabError
from flanlab.mixture.recipe import MixtureRecipe
from flanlab.progress import ProgressDisplay

BUILD_STAGES = {
    "guard": "hashing evaluation inputs (tasks)",
    "pools": "loading train pools (tasks)",
    "rows": "rendering rows",
}

app = typer.Typer(
    help="Training mixtures: caps, rates, source weights, formats, held-out clusters.", no_args_is_help=True
)


@app.command("build")
@with_config_flags(MixtureRecipe, aliases={"total_size": "size"})
def build(
    overrides: dict[str, Any],
    recipe_path: Path | None = typer.Argument(
        None, metavar="[RECIPE]", help="Recipe YAML (default: the default recipe)."
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output folder (required unless --dry-run)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the intended mixture without loading any data."),
    strict: bool = typer.Option(
        False, "--strict", help="Fail on a task whose data cannot be had (--on-unavailable error)."
    ),
    cards: list[Path] = typer.Option([], "--cards", help="Extra task card folder (repeatable)."),
    builtin: bool = typer.Option(True, "--builtin/--no-builtin", help="Include the built-in and generated cards."),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="Count tokens with this model's tokenizer (slower)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the stats as JSON."),
) -> None:
    """Build a mixture folder: shards/part-*.parquet, preview.jsonl, recipe.yaml, stats.json.

    Every recipe field is also a flag (list flags replace the recipe's list).
    """
    from flanlab.mixture import build_mixture
    from flanlab.models.tokens import load_token_counter

    if strict:
        overrides["on_unavailable"] = "error"
    recipe = config_from(MixtureRecipe, recipe_path, "recipe file", overrides)
    if not dry_run and out is None:
        raise FlanlabError("give an output folder with -o DIR (or use --dry-run)")
    registry = _registry(cards, builtin)
    counter_name = tokenizer if tokenizer and not dry_run else None
    count_tokens = load_token_counter(counter_name) if counter_name else None
    with ProgressDisplay() as display:
        stats = build_mixture(
            recipe,
            registry,
            out,
            dry_run=dry_run,
            count_tokens=count_tokens,
            token_counter_name=counter_name or "estimate",
            progress=display.stage_callback(BUILD_STAGES),
        )
    if as_json:
        print_json(stats.model_dump(mode="json"))
        return
    _print_stats(stats, top=None if dry_run else 30)
    if dry_run:
        _print_recipe_knobs(recipe)
    else:
        console.print(f"wrote {stats.total_rows:,} rows in {len(stats.shards)} shard(s) to {out}")


@app.command("export")
def export(
    folder: Path = typer.Argument(..., help="A mixture folder."),
    fmt: str = typer.Option(..., "--format", help="messages (conversational) or prompt-completion."),
    out: Path = typer.Option(
        ..., "-o", "--out", help="Output folder: train.jsonl, train.parquet, README.md, export.json."
    ),
) -> None:
    """Write a mixture for other trainers (TRL, axolotl, LLaMA-Factory), provenance columns kept."""
    from flanlab.mixture.export import EXPORT_FORMATS, export_mixture

    if fmt not in EXPORT_FORMATS:
        raise FlanlabError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    manifest = export_mixture(folder, out, fmt)  # type: ignore[arg-type]
    console.print(f"wrote {manifest['rows']:,} rows ({fmt}) to {out}/ as {', '.join(manifest['files'])}")


@app.command("stats")
def stats(
    folder: Path = typer.Argument(..., help="A mixture folder."),
    top: int = typer.Option(30, help="Show the largest N tasks (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print stats.json."),
) -> None:
    """Examples and tokens per task, cluster, source and format; intended vs achieved weights."""
    from flanlab.mixture import read_mixture

    mixture = read_mixture(folder)
    if as_json:
        print_json(mixture.stats.model_dump(mode="json"))
        return
    _print_stats(mixture.stats, top=top or None)


@app.command("show")
def show(
    folder: Path = typer.Argument(..., help="A mixture folder."),
    n: int = typer.Option(5, "--n", min=0, help="How many rows to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of readable blocks."),
) -> None:
    """The first N rows of a mixture, with their provenance."""
    from flanlab.mixture import read_mixture

    for index, row in enumerate(read_mixture(folder).iter_rows(batch_rows=max(n, 1))):
        if index >= n:
            break
        if as_json:
            typer.echo(json.dumps(row, ensure_ascii=False))
            continue
        typer.echo(
            f"--- row {index}: {row['task']} [{row['collection']}/{row['cluster']}] template {row['template_id']}, "
            f"{row['format']}, shots {row['shots']}, inverted {row['inverted']}, options {row['options_style']}"
        )
        typer.echo(f"{row['inputs']}\n>>> {row['targets']}")


def _registry(folders: list[Path], builtin: bool):
    from flanlab.tasks.registry import TaskRegistry, load_registry, read_card_folder

    if builtin:
        return load_registry(folders)
    if not folders:
        raise FlanlabError("--no-builtin needs at least one --cards folder")
    return TaskRegistry(card for folder in folders for card in read_card_folder(folder))


def _print_stats(stats, top: int | None) -> None:
    from flanlab.mixture.stats import share_table

    if stats.dry_run:
        _print_plan(stats)
        return
    say = Console().print
    say(f"mixture {stats.name}: seed {stats.seed}, {stats.total_rows:,} rows, tokens: {stats.token_counter}")
    say(f"held-out clusters: {', '.join(stats.held_out_clusters) or '-'}")
    columns, rows = share_table(stats.tasks, top)
    print_table(f"tasks ({len(rows)} of {len(stats.tasks)})", columns, rows)
    for title, shares in (("clusters", stats.clusters), ("sources", stats.collections), ("formats", stats.formats)):
        print_table(title, *share_table(shares))
    _print_guard(stats, say)


def _print_plan(stats) -> None:
    say = Console().print
    say(f"intended mixture {stats.name} (dry run: no data loaded, every task assumed to reach its rate)")
    say(f"seed {stats.seed}, {stats.total_rows:,} rows; held-out clusters: {', '.join(stats.held_out_clusters) or '-'}")
    rows = [[t.name, t.collection, t.cluster, t.cap, t.rate, _percent(t.intended_weight)] for t in stats.tasks]
    print_table(f"tasks ({len(rows)})", ["task", "collection", "cluster", "cap", "rate", "intended %"], rows)
    for title, shares in (("clusters", stats.clusters), ("sources", stats.collections)):
        print_table(title, ["name", "intended %"], [[s.name, _percent(s.intended_weight)] for s in shares])
    if stats.excluded:
        say("excluded: " + "; ".join(f"{name} ({why})" for name, why in stats.excluded.items()))
    for note in stats.notes:
        say(f"note: {note}")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _print_guard(stats, say) -> None:
    if stats.excluded:
        say("excluded: " + "; ".join(f"{name} ({why})" for name, why in stats.excluded.items()))
    for note in stats.notes:
        say(f"note: {note}")
    say(
        f"contamination guard: {stats.guard_hashes:,} evaluation hashes from {stats.guarded_tasks} "
        "held-out/eval-only tasks"
    )
    if stats.contamination_removed:
        removed = [
            f"{task} {sum(by_eval.values())} ({', '.join(f'{other}: {n}' for other, n in by_eval.items())})"
            for task, by_eval in stats.contamination_removed.items()
        ]
        total = sum(sum(by_eval.values()) for by_eval in stats.contamination_removed.values())
        say(f"removed {total} train example(s) equal to evaluation inputs: {'; '.join(removed)}", soft_wrap=True)
    warn_tasks("skipped", stats.skipped, "stats.json")
    warn_tasks("could not check against", stats.unchecked_tasks, "stats.json (unchecked_tasks)")
    if stats.options_shown_share is not None:
        say(f"options shown in {100 * stats.options_shown_share:.1f}% of classification rows")
    if stats.inverted_share is not None:
        say(f"inverted templates in {100 * stats.inverted_share:.1f}% of the rows of tasks that have them")
    _print_gold_positions(stats, say)


def _print_gold_positions(stats, say) -> None:
    """Where the gold answer sits in classification rows, per task; a warning above 60% in one place."""
    from flanlab.tasks.option_order import describe_positions, position_bias

    shown = [task for task in stats.tasks if task.gold_positions]
    rows = [[task.name, sum(task.gold_positions), describe_positions(task.gold_positions)] for task in shown]
    if rows:
        print_table("gold answer position in classification rows (1 = first option)", ["task", "rows", "share"], rows)
    for task in stats.tasks:
        bias = position_bias(task.gold_positions)
        if bias:
            say(f"[yellow]warning[/yellow]: {task.name}: {bias}", markup=True, highlight=False)


def _print_recipe_knobs(recipe) -> None:
    Console().print(
        f"format ratios {recipe.format_ratios.as_dict()}, few-shot counts {recipe.few_shot_counts}, "
        f"options rate {recipe.options_rate}, inversion rate {recipe.inversion_rate}, "
        f"instructions {recipe.instruction_mode}"
    )
