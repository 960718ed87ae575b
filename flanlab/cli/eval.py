"""`flanlab eval`: evaluate a model on held-out tasks, every template, zero- and few-shot."""

from __future__ import annotations

from pathlib import Path

import typer

from flanlab.cli.common import console
from flanlab.configio import validation_message
from flanlab.errors import FlanlabError


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _shots(text: str) -> list[int]:
    try:
        return [int(part) for part in _csv(text)]
    except ValueError:
        raise FlanlabError(f"--shots expects numbers separated by commas, got {text!r}") from None


def eval_command(
    model: str = typer.Option("smollm2-135m", help="Model name, folder or hub id."),
    tasks: str = typer.Option("cluster:nli", help="Comma-separated cluster:NAME / task:NAME selectors."),
    shots: str = typer.Option("0", help="Comma-separated shot counts, e.g. 0,3 (exemplars from the train split)."),
    templates: str = typer.Option("all", help="'all' or comma-separated template ids (inverted ones are never evaluated)."),
    limit: int = typer.Option(None, help="Examples per template (a seeded sample of the split)."),
    split: str = typer.Option("test", help="The split to report."),
    out: Path = typer.Option(..., help="Output folder: results.json, samples.jsonl, results.md, timing.json."),
    cot: bool = typer.Option(False, "--cot", help="Chain-of-thought formats (generate, then extract the answer)."),
    chat_template: bool = typer.Option(
        False, "--chat-template", help="Prompts as the user turn of the model's chat template; options scored as its reply."
    ),
    best_dev: bool = typer.Option(True, "--best-dev/--no-best-dev", help="Also score the validation split to pick each task's best template."),
    rank_by: str = typer.Option("sum", help="Rank options by their summed log-likelihood, per_token or per_char."),
    batch_size: int = typer.Option(16, help="Sequences per forward pass (changes speed, never scores)."),
    seed: int = typer.Option(0, help="Seed for example sampling, few-shot exemplars and the bootstrap."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse cached answers of the same model to the same prompts."),
    samples: bool = typer.Option(True, "--samples/--no-samples", help="Write samples.jsonl."),
    cards: list[Path] = typer.Option([], "--cards", help="Extra folders of task cards."),
) -> None:
    """Evaluate a model: rank classification or greedy generation, per template, with aggregates."""
    from pydantic import ValidationError

    from flanlab.evaluate import EvalConfig, evaluate

    try:
        config = EvalConfig(
            model=model, tasks=_csv(tasks), shots=_shots(shots), templates=_csv(templates) or ["all"], limit=limit,
            split=split, cot=cot, chat_template=chat_template, best_dev=best_dev, rank_by=rank_by, batch_size=batch_size, seed=seed,
            use_cache=cache, write_samples=samples, card_folders=[str(c) for c in cards],
        )
    except ValidationError as error:
        raise FlanlabError(validation_message(error, prefix="option")) from None
    results = evaluate(config, out=out)
    timing = results["timing"]
    print((out / "results.md").read_text())
    console.print(
        f"{timing['examples']} examples in {timing['seconds_total']:.1f} s "
        f"({timing['examples_per_second']} examples/s; {timing['cache_hits']} cached answers). Wrote {out}/"
    )
