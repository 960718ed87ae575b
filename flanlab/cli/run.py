"""`flanlab run`: the main job on the embedded default (grows as the stages land)."""

from __future__ import annotations

import typer

from flanlab.cli.common import console


def run(model: str = typer.Option("smollm2-135m", help="Model name, folder or hub id.")) -> None:
    """Prepare the default model and data, then run the default experiment."""
    from flanlab.models.zoo import load_model, prepare_model
    from flanlab.sources.bigbench import ensure_bigbench, list_tasks

    console.print(f"model: {prepare_model(model) if model else '-'}")
    console.print(f"BIG-bench: {len(list_tasks())} tasks in {ensure_bigbench()}")
    loaded, tokenizer = load_model(model)
    console.print(f"loaded {model}: {sum(p.numel() for p in loaded.parameters()) / 1e6:.0f}M parameters")
