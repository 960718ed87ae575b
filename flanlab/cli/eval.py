"""`flanlab eval`: evaluate a model on held-out tasks, every template, zero- and few-shot.

Every EvalConfig field is a flag (generated from the model); --config reads a YAML file of the
same fields first, and the flags override it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from flanlab.cli.common import console, warn_tasks
from flanlab.cli.flags import config_from, with_config_flags
from flanlab.evaluate.runner import EvalConfig


def csv_items(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@with_config_flags(EvalConfig, names={"use_cache": "cache", "write_samples": "samples", "card_folders": "cards"})
def eval_command(
    overrides: dict[str, Any],
    out: Path = typer.Option(..., help="Output folder: results.json, samples.jsonl, results.md, timing.json."),
    config: Path = typer.Option(None, "--config", help="YAML file with EvalConfig fields; flags override it."),
) -> None:
    """Evaluate a model: rank classification or greedy generation, per template, with aggregates."""
    from flanlab.evaluate import evaluate

    eval_config = config_from(EvalConfig, config, "evaluation config", overrides)

    def warn(skipped: dict[str, str]) -> None:
        warn_tasks("skipped", skipped, f"{out}/results.json")

    results = evaluate(eval_config, out=out, on_skipped=warn)
    timing = results.timing
    assert timing is not None  # evaluate() always times itself
    print((out / "results.md").read_text())
    console.print(
        f"{timing.examples} examples in {timing.seconds_total:.1f} s "
        f"({timing.examples_per_second} examples/s, {timing.precision}; {timing.cache_hits} cached answers). "
        f"Wrote {out}/"
    )
