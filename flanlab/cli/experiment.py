"""`flanlab experiment run` and `flanlab report`: the paper's studies, and reports from saved results."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from flanlab.cli.common import command_line, console
from flanlab.experiments.config import ScaleName

app = typer.Typer(
    help="Run the paper's studies (configs/*.yaml) as cached, resumable experiments.", no_args_is_help=True
)


@app.command("run")
def run_cmd(
    config: str = typer.Argument(..., help="A config file, or a built-in name (see `flanlab experiment list`)."),
    scale: ScaleName = typer.Option(
        "default", help="tiny (CI, random model) | default (embedded model) | paper (GPU cluster)."
    ),
    out: Path = typer.Option(None, help="Experiment folder (default: runs/<config name>-<scale>)."),
    chat_template: bool | None = typer.Option(
        None,
        "--chat-template/--no-chat-template",
        help="Train and evaluate in the model's chat template (overrides the config).",
    ),
) -> None:
    """Run every arm of an experiment; a rerun skips finished units. Writes the report at the end."""
    from flanlab.experiments.config import resolve_experiment
    from flanlab.experiments.runner import run_experiment
    from flanlab.report.build import build_report

    experiment = resolve_experiment(config)
    if chat_template is not None:
        experiment = experiment.model_copy(update={"chat_template": chat_template})
    folder = out or Path("runs") / f"{experiment.name}-{scale}"
    run_experiment(experiment.at_scale(scale), folder, command=command_line())
    written = build_report(folder)
    console.print(f"report: {written['markdown']} and {written['html']}")
    print(written["markdown"].read_text())


@app.command("list")
def list_cmd() -> None:
    """The built-in experiment configs."""
    from flanlab.experiments.config import (
        BUILTIN_CONFIGS,
        builtin_config_names,
        load_experiment,
    )

    for name in builtin_config_names():
        config = load_experiment(BUILTIN_CONFIGS / f"{name}.yaml")
        print(f"{name:36s} {config.study:24s} {config.title}")


def report(
    folders: list[Path] = typer.Argument(..., help="Experiment folders holding experiment.json."),
    publish: Path | None = typer.Option(
        None,
        "--publish",
        help="Also write each study's results page (DIR/<name>.md, its figures and verdict) and the summary "
        "table DIR/README.md over every page in DIR.",
    ),
) -> None:
    """Rebuild tables and figures from saved results alone (no model is run)."""
    from flanlab.report.build import build_report
    from flanlab.report.page import publish_page

    for folder in folders:
        written = build_report(folder)
        console.print(f"{folder}: " + ", ".join(str(path) for path in written.values()))
        if publish is not None:
            summary = publish_page(folder, publish, command_line(), written)
            console.print(f"{publish / summary.page}: {summary.verdict} ({summary.why})")
    if publish is not None:
        _write_index(publish)


def _write_index(out: Path) -> None:
    """DIR/README.md: the summary table over every page in DIR, one row per built-in study."""
    from flanlab.experiments.config import builtin_config_names, resolve_experiment
    from flanlab.io import write_text
    from flanlab.report.page import index_markdown, read_summaries

    names = sorted(
        builtin_config_names(), key=lambda name: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
    )
    studies = [(config.name, config.figure, config.title) for config in map(resolve_experiment, names)]
    studies = [study for study in studies if study[0] != "default"]  # the main job has its own README section
    runs = "\n".join(
        f"flanlab experiment run configs/{name}.yaml --scale default --out runs/{name}-default"
        for name, _, _ in studies
    )
    commands = (
        "From the project root, after the README setup (offline; a rerun reuses every finished unit):\n\n"
        f"```\n{runs}\nflanlab report runs/*-default --publish {out}\n```\n"
    )
    write_text(out / "README.md", index_markdown(read_summaries(out), studies, commands))
    console.print(f"{out / 'README.md'}: the summary table")
