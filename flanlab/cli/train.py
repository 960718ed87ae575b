"""`flanlab train`: instruction-tune a model on a mixture folder (see docs/training.md).

Every TrainConfig field is a flag (generated from the model, its description the help); a YAML
file given with --config is optional and the flags override it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from flanlab.cli.common import console, print_json
from flanlab.cli.flags import config_from, with_config_flags
from flanlab.train.config import TrainConfig


@with_config_flags(TrainConfig)
def train(
    overrides: dict[str, Any],
    lora: bool = typer.Option(False, "--lora", help="Shorthand for --method lora (merged into the exported model)."),
    prompt_tuning: bool = typer.Option(False, "--prompt-tuning", help="Shorthand for --method prompt_tuning."),
    config: Path = typer.Option(None, "--config", help="YAML file with TrainConfig fields; flags override it."),
) -> None:
    """Train with targets-only loss and isolated packing; works under `accelerate launch`."""
    from flanlab.errors import FlanlabError
    from flanlab.train import train as run_training

    if lora + prompt_tuning + ("method" in overrides) > 1:
        raise FlanlabError("choose one of --lora, --prompt-tuning and --method")
    if lora or prompt_tuning:
        overrides["method"] = "lora" if lora else "prompt_tuning"
    missing = [f"--{name}" for name in ("mixture", "out") if name not in overrides]
    if config is None and missing:
        raise FlanlabError(f"missing {' and '.join(missing)} (or give --config)")
    train_config = config_from(TrainConfig, config, "training config", overrides)
    result = run_training(train_config)
    from accelerate import PartialState

    if PartialState().is_main_process:
        console.print(
            f"[green]trained[/green] {result.steps} steps, loss {result.final_loss:.4f}; model in {result.model_dir}"
        )
        print_json(result.model_dump(mode="json"))
