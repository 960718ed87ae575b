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
    rich_markup_mode=None,  # plain help: full option names at any terminal width
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
        code = app(standalone_mode=False, prog_name="flanlab")  # so click returns typer.Exit codes
        if isinstance(code, int) and code:
            sys.exit(code)
    except FlanlabError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT_CODE)
    except typer.Abort:
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as error:  # typer's own copy of click's usage errors
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
            error.show()  # type: ignore[attr-defined]
        else:
            print(usage_error_line(error), file=sys.stderr)
        sys.exit(USER_ERROR_EXIT_CODE)


def usage_error_line(error: typer.TyperException) -> str:
    """A usage error (unknown option, bad choice, bad value) as one line naming the command."""
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "flanlab"
    message = " ".join(error.format_message().split())
    return f"error: {command}: {message} (see `{command} --help`)"
