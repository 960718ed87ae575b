"""`flanlab models`: list the model zoo and prepare a model once."""

from __future__ import annotations

import typer

from flanlab.cli.common import console, print_json, print_table
from flanlab.models.zoo import MODEL_ZOO, is_prepared, prepare_model, prepared_dir

app = typer.Typer(
    help="The model zoo: embedded models, tiny test models, local folders and hub ids.", no_args_is_help=True
)


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the models flanlab knows by name."""
    rows = [
        {
            "name": model.name,
            "description": model.description,
            "licence": model.licence,
            "opt_in": model.opt_in,
            "prepared": is_prepared(model.name),
            "path": str(prepared_dir(model.name)),
        }
        for model in MODEL_ZOO.values()
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        "flanlab models",
        ["name", "prepared", "licence", "description"],
        [[r["name"], r["prepared"], r["licence"], r["description"]] for r in rows],
    )


@app.command("prepare")
def prepare(
    name: str = typer.Argument(..., help="A zoo name (see `flanlab models list`)."),
    accept_licence: bool = typer.Option(
        False, "--accept-licence", help="Accept the model's licence terms (opt-in models)."
    ),
) -> None:
    """Install and convert a zoo model once into the cache (fp32 safetensors + tokenizer)."""
    path = prepare_model(name, accept_licence=accept_licence)
    console.print(f"[green]{name}[/green] ready at {path}")
    print(path)
