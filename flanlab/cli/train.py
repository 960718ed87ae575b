"""`flanlab train`: instruction-tune a model on a mixture folder (see docs/training.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from flanlab.cli.common import console, print_json


def train(
    model: str = typer.Option(None, "--model", help="Model name (see `flanlab models list`), HF folder or hub id."),
    mixture: Path = typer.Option(None, "--mixture", help="Mixture folder holding shards/*.parquet."),
    out: Path = typer.Option(None, "--out", help="Run folder (model, logs, checkpoints)."),
    lora: bool = typer.Option(False, "--lora", help="Train LoRA adapters (merged into the exported model)."),
    prompt_tuning: bool = typer.Option(False, "--prompt-tuning", help="Train a soft prompt (10 virtual tokens by default)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Optimizer steps."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Stop after this much training time."),
    chat_template: bool | None = typer.Option(
        None, "--chat-template/--no-chat-template",
        help="Train in the model's chat template: inputs as the user turn, loss on the assistant turn.",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's latest checkpoint."),
    config: Path = typer.Option(None, "--config", help="YAML file with TrainConfig fields; flags override it."),
) -> None:
    """Train with targets-only loss and isolated packing; works under `accelerate launch`."""
    from flanlab.errors import FlanlabError
    from flanlab.train import load_train_config, make_config
    from flanlab.train import train as run_training

    if lora and prompt_tuning:
        raise FlanlabError("choose one of --lora and --prompt-tuning")
    method = "lora" if lora else "prompt_tuning" if prompt_tuning else None
    overrides = {
        "model": model, "mixture": mixture, "out": out, "method": method, "max_steps": max_steps,
        "max_minutes": max_minutes, "resume": resume or None, "chat_template": chat_template,
    }
    if config is not None:
        train_config = load_train_config(config, **overrides)
    else:
        missing = [f"--{name}" for name in ("mixture", "out") if overrides[name] is None]
        if missing:
            raise FlanlabError(f"missing {' and '.join(missing)} (or give --config)")
        train_config = make_config({key: value for key, value in overrides.items() if value is not None}, where="command line")
    result = run_training(train_config)
    from accelerate import PartialState

    if PartialState().is_main_process:
        console.print(f"[green]trained[/green] {result.steps} steps, loss {result.final_loss:.4f}; model in {result.model_dir}")
        print_json(result.model_dump(mode="json"))
