"""`flanlab tasks`: list, show, lint and render the task collection."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from flanlab.cli.common import console, print_json, print_table, warn_tasks
from flanlab.errors import FlanlabError
from flanlab.tasks.card import TaskCard, Template

app = typer.Typer(
    help="The task collection: curated cards, generated BIG-bench / Natural Instructions tasks.", no_args_is_help=True
)

CardsOption = typer.Option([], "--cards", help="Extra card folder(s) to include.")


@app.command("list")
def list_tasks(
    clusters: list[str] | None = typer.Option(
        None, "--clusters", "--cluster", help="Only tasks of these clusters (repeatable; commas separate items)."
    ),
    collections: list[str] | None = typer.Option(
        None, "--collections", "--collection", help="Only tasks of these collections (repeatable; commas separate)."
    ),
    cards: list[Path] = CardsOption,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List tasks with their cluster, family, template counts and example counts.

    Without --collections, tasks whose data cannot be had here (hub datasets without a hub) are
    left out with a warning; naming their collection lists them.
    """
    from flanlab.tasks.examples import quick_unavailable
    from flanlab.tasks.registry import load_registry

    registry = load_registry(cards)
    wanted_clusters, wanted_collections = _items(clusters), _items(collections)
    for name in wanted_clusters or ():
        registry.check_cluster(name)
    registry.check_collections(wanted_collections or ())
    chosen = registry.select(clusters=wanted_clusters, collections=wanted_collections)
    unavailable = {card.name: why for card in chosen if (why := quick_unavailable(card))}
    if wanted_collections is None and unavailable:
        hidden = sorted({registry.get(name).collection for name in unavailable})
        warn_tasks("left out", unavailable, listed_in=f"`flanlab tasks list --collections {','.join(hidden)}`")
        chosen = [card for card in chosen if card.name not in unavailable]
    counts = _index_counts()
    rows = [{**task_summary(card, counts), "unavailable": unavailable.get(card.name)} for card in chosen]
    if as_json:
        print_json(rows)
        return
    columns = [
        "name",
        "collection",
        "cluster",
        "family",
        "curated",
        "eval_only",
        "n_templates",
        "n_inverted",
        "n_examples",
    ]
    print_table(f"{len(rows)} tasks", columns, [[_cell(row[column]) for column in columns] for row in rows])


def task_summary(card: TaskCard, index_counts: dict[str, int]) -> dict[str, Any]:
    """One `tasks list --json` row. ``n_examples`` comes from the BIG-bench index (null if unknown)."""
    n_examples = index_counts.get(card.source.locator) if card.source.kind == "bigbench" else None
    return {
        "name": card.name,
        "collection": card.collection,
        "cluster": card.cluster,
        "family": card.family_name,
        "curated": card.curated,
        "eval_only": card.eval_only,
        "n_templates": len(card.templates),
        "n_inverted": sum(template.inverted for template in card.templates),
        "n_examples": n_examples,
        "source": f"{card.source.kind}:{card.source.locator}",
        "metrics": list(card.metrics),
    }


def _index_counts() -> dict[str, int]:
    from flanlab.sources import bigbench
    from flanlab.tasks.generated import bigbench_index_available

    if not bigbench_index_available():
        console.print(
            "[yellow]BIG-bench is not fetched yet (`flanlab sources bigbench`): example counts unknown[/yellow]"
        )
        return {}
    return {entry["name"]: entry["n_examples"] for entry in bigbench.list_tasks()}


def _items(values: list[str] | None) -> list[str] | None:
    """Repeated values, each possibly a comma-separated list; None when none was given."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()] if values else None


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Task name (see `flanlab tasks list`)."),
    cards: list[Path] = CardsOption,
    data: bool = typer.Option(True, "--data/--no-data", help="Load the data to count examples per split."),
) -> None:
    """Print a task card as YAML, followed by its counts as YAML comments."""
    from flanlab.tasks.card import dump_card
    from flanlab.tasks.registry import load_registry

    card = load_registry(cards).get(name)
    sys.stdout.write(dump_card(card))
    inverted = sum(template.inverted for template in card.templates)
    lines = [f"# file: {card.path or '(generated)'}", f"# templates: {len(card.templates)} ({inverted} inverted)"]
    lines += _manual_lines(card)
    if data:
        from flanlab.sources.splits import SPLITS
        from flanlab.tasks.examples import load_examples

        source_card = _offline_card(card)
        if source_card is None:
            lines.append("# examples: unknown (hub source without an offline fixture)")
        else:
            sizes = ", ".join(f"{split} {len(load_examples(source_card, split))}" for split in SPLITS)
            lines.append(f"# examples: {sizes}")
    sys.stdout.write("\n".join(lines) + "\n")


def _manual_lines(card: TaskCard) -> list[str]:
    """What a card that needs a manual download asks of the user, and whether it is done."""
    if not card.manual_download:
        return []
    from flanlab.tasks.manual import manual_dir, skip_reason

    state = "skipped by default selections until it exists" if skip_reason(card) else "found: its files are read"
    return [f"# manual download: {card.manual_download}", f"# manual folder: {manual_dir(card)} ({state})"]


@app.command("check-hub")
def check_hub(
    collection: list[str] | None = typer.Option(None, "--collection", help="Only cards of this collection."),
    task: list[str] | None = typer.Option(None, "--task", help="Only this task (repeatable)."),
    cards: list[Path] = CardsOption,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """For users with a hub: stream one record of each split of every hub card and report, per card,
    ok / moved / script-only / missing-split / missing-feature (and not-found / manual / unreachable)."""
    from flanlab.progress import progress
    from flanlab.tasks.hubcheck import check_cards
    from flanlab.tasks.registry import load_registry

    chosen = [
        card
        for card in load_registry(cards).select(names=task or None, collections=collection or None)
        if card.source.kind == "huggingface"
    ]
    if not chosen:
        raise FlanlabError("no hub cards selected (hub cards are in the flan2021 and flan2022 collections)")
    results = []
    with progress("check-hub", len(chosen), transient=True) as bar:
        for result in check_cards(chosen):
            results.append(result)
            bar.advance(note=result.task)
    unreachable = [result for result in results if result.status == "unreachable"]
    if unreachable and all(result.status in ("unreachable", "manual") for result in results):
        raise FlanlabError(f"check-hub needs the hub: {unreachable[0].details[-1]}")
    if as_json:
        print_json([result.to_row() for result in results])
    else:
        rows = [[result.task, result.status, result.source, "; ".join(result.details)] for result in results]
        print_table(f"{len(results)} hub cards", ["task", "status", "source", "details"], rows)
    problems = [result for result in results if result.status != "ok"]
    console.print(f"checked {len(results)} hub cards: {len(results) - len(problems)} ok", markup=False)
    if problems:
        sys.exit(1)  # as `tasks lint`: a finding is not a usage error


@app.command("lint")
def lint(
    collection: list[str] | None = typer.Option(
        None, "--collection", help="Only cards of this collection (repeatable)."
    ),
    cards: list[Path] = CardsOption,
    full_data: bool = typer.Option(False, "--full-data", help="Sample BIG-bench examples from every split (slower)."),
    per_split: int = typer.Option(2, help="Examples checked per split."),
    positions: bool = typer.Option(False, "--positions", help="Print each multiple-choice task's gold positions."),
) -> None:
    """Check every card's templates on real examples; exit 0 only if there is no problem.

    Warnings (notes) include multiple-choice tasks whose gold answer sits in one option position in
    more than 60% of the examples checked (every example with --full-data)."""
    from flanlab.prompts.lint import lint_collection
    from flanlab.tasks.option_order import describe_positions

    report = lint_collection(collection, cards, per_split=per_split, full_data=full_data, progress=True)
    if positions:
        found = sorted(report.gold_positions.items())
        rows = [[name, sum(counts), describe_positions(counts)] for name, counts in found]
        print_table("gold answer position (1 = first option)", ["task", "examples", "share per position"], rows)
    for problem in report.problems:
        print(problem)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    verdict = "clean" if report.ok else f"{len(report.problems)} problem(s)"
    console.print(f"linted {report.n_cards} task cards: {verdict}", markup=False)
    if not report.ok:
        sys.exit(1)  # not typer.Exit: the app runs click with standalone_mode=False, which swallows its code


@app.command("render")
def render_examples(
    name: str = typer.Argument(..., help="Task name."),
    template: str = typer.Option("1", "--template", "-t", help="Template id, or its position (1 = first)."),
    fmt: str = typer.Option(
        "zeroshot", "--format", "-f", help="zeroshot, fewshot:K, cot or cot:K (plus ,key=value settings)."
    ),
    n: int = typer.Option(1, "--n", min=1, help="How many examples."),
    seed: int = typer.Option(0, help="Seed for the examples and the exemplars."),
    split: str = typer.Option("validation", help="Split the examples come from (exemplars always come from train)."),
    options_style: str | None = typer.Option(
        None, "--options-style", help="dash, bullet, letter, upper, number, inline or none."
    ),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="Count the token budget with this model's tokenizer."
    ),
    cards: list[Path] = CardsOption,
    as_json: bool = typer.Option(False, "--json", help="Print the rendered rows as JSON lines."),
) -> None:
    """Print exactly what the model sees (the inputs) and the target, for a few examples."""
    from flanlab.models.tokens import load_token_counter
    from flanlab.prompts.formats import PromptFormat, cot_exemplar_pool, estimate_tokens, pick_exemplars, render
    from flanlab.tasks.examples import load_examples
    from flanlab.tasks.registry import load_registry

    card = load_registry(cards).get(name)
    chosen = pick_template(card, template)
    overrides = {"options_style": options_style} if options_style else {}
    prompt_format = PromptFormat.parse(fmt, **overrides)
    data_card = _offline_card(card)
    if data_card is None:
        raise FlanlabError(f"task {name} reads a hub dataset and has no offline fixture to render from")
    pool = load_examples(data_card, split)
    if not pool:
        raise FlanlabError(f"task {name} has no {split} examples")
    train: Sequence[dict[str, Any]] = load_examples(data_card, "train")
    if prompt_format.cot:
        train, kind = cot_exemplar_pool(train)
        prompt_format = prompt_format.model_copy(update={"cot_exemplars": kind})
    count = load_token_counter(tokenizer) if tokenizer else estimate_tokens
    indices = random.Random(seed).sample(range(len(pool)), min(n, len(pool)))
    for number, index in enumerate(indices, start=1):
        example = pool[index]
        exemplars = pick_exemplars(
            train,
            prompt_format.shots,
            seed=seed,
            query_key=f"{card.name}:{split}:{index}",
            exclude_text=str(example.get("input", "")),
        )
        rendered = render(card, chosen, example, prompt_format, exemplars=exemplars, count_tokens=count)
        if as_json:
            sys.stdout.write(json.dumps(rendered.to_row(), ensure_ascii=False) + "\n")
            continue
        header = (
            f">>> example {number}/{len(indices)}: task {card.name}, template {chosen.id}"
            f"{' (inverted)' if chosen.inverted else ''}, format {prompt_format.spec}, {rendered.shots} shot(s),"
            f" {split} example {index}, {count(rendered.inputs)} prompt tokens"
        )
        sys.stdout.write(f"{header}\n>>> inputs\n{rendered.inputs}\n>>> target\n{rendered.targets}\n")
        if rendered.options:
            sys.stdout.write(f">>> scored options: {json.dumps(list(rendered.options), ensure_ascii=False)}\n")


def pick_template(card: TaskCard, key: str) -> Template:
    """A template by id, or by its 1-based position in the card."""
    for template in card.templates:
        if template.id == key:
            return template
    if key.isdigit() and 1 <= int(key) <= len(card.templates):
        return card.templates[int(key) - 1]
    ids = ", ".join(template.id for template in card.templates)
    raise FlanlabError(f"task {card.name} has no template {key!r}; ids: {ids} (or a position 1-{len(card.templates)})")


def _offline_card(card: TaskCard) -> TaskCard | None:
    """The card itself, or for hub sources its fixture-backed copy (None without a fixture)."""
    if card.source.kind != "huggingface":
        return card
    from flanlab.tasks.fixtures import with_fixture_source

    return with_fixture_source(card)
