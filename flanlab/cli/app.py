"""The `flanlab` command line. Subcommands are registered here, explicitly, one module each."""

from __future__ import annotations

import sys

import typer

from flanlab.cli import eval, experiment, export, mix, models, run, sources, tasks
from flanlab.cli import train as train_cli
from flanlab.errors import USER_ERROR_EXIT_CODE, FlanlabError

app = typer.Typer(
    help="Instruction tuning the FLAN way: task collection, templated mixtures, tuning, held-out evaluation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(mix.app, name="mix")
app.add_typer(models.app, name="models")
app.add_typer(sources.app, name="sources")
app.add_typer(tasks.app, name="tasks")
app.command("run")(run.run)
app.add_typer(experiment.app, name="experiment")
app.command("report")(experiment.report)
app.command("train")(train_cli.train)
app.command("eval")(eval.eval_command)
app.add_typer(export.app, name="export")


def main() -> None:
    """Entry point: a user mistake prints one line and exits 2, never a traceback."""
    try:
        code = app(standalone_mode=False)  # without standalone mode click returns typer.Exit codes
        if isinstance(code, int) and code:
            sys.exit(code)
    except FlanlabError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT_CODE)
    except typer.Abort:
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except Exception as error:  # click's usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(USER_ERROR_EXIT_CODE)
        raise
