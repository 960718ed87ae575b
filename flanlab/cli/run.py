"""`flanlab run`: the main job. Hold out a cluster, evaluate the base model, LoRA-tune, evaluate again, report."""

from __future__ import annotations

from pathlib import Path

import typer

from flanlab.cli.common import command_line, console
from flanlab.experiments.config import ScaleName


def run(
    out: Path = typer.Option(Path("runs/default"), help="Run folder (reports, figures, every unit's output)."),
    held_out: str = typer.Option("nli", help="The cluster held out from tuning and evaluated zero-shot."),
    model: str = typer.Option("smollm2-135m", help="Model name, local folder or hub id."),
    steps: int | None = typer.Option(
        None, "--steps", min=1, help="Optimizer steps to train (default: the default config's, sized for a 2-core CPU)."
    ),
    budget: float | None = typer.Option(
        None, help="A safety cap in minutes: training stops there if the steps take longer (reported when it fires)."
    ),
    scale: ScaleName = typer.Option("default", help="tiny (random model, seconds) | default | paper."),
    chat_template: bool = typer.Option(
        False, "--chat-template", help="Train and evaluate in the model's chat template."
    ),
) -> None:
    """Run the embedded default experiment (configs/default.yaml) and print its report."""
    from flanlab.experiments.config import resolve_experiment
    from flanlab.experiments.runner import run_experiment
    from flanlab.report.build import build_report

    config = resolve_experiment("default")
    title = f"Zero-shot held-out {held_out}: base vs instruction-tuned"
    title += ", in the chat template" if chat_template else ""
    changes = {"held_out": [held_out], "model": model, "title": title, "chat_template": chat_template}
    config = config.model_copy(update=changes)
    resolved = config.at_scale(scale)
    if scale != "tiny":
        resolved.model = model
    updates = {"max_steps": steps or resolved.settings.max_steps, "max_minutes": budget}
    resolved.settings = resolved.settings.model_copy(update=updates)
    cap = f" (capped at {budget:g} min)" if budget else ""
    console.print(
        f"flanlab run: model {resolved.model}, held-out cluster {held_out}, "
        f"{resolved.settings.max_steps} training steps{cap}, output {out}"
    )
    run_experiment(resolved, out, command=command_line())
    written = build_report(out)
    console.print(f"report: {written['markdown']} · {written['html']} · figures in {out / 'figures'}")
    print(written["markdown"].read_text())
