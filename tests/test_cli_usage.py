"""Usage errors on every command: one line, exit code 2, no traceback; flags generated from config models."""

from __future__ import annotations

import sys
import typing

import pytest
import typer

from flanlab.cli.app import app, main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _commands() -> list[tuple[tuple[str, ...], typing.Any]]:
    """Every leaf command of the app with its click command, found by walking the tree."""
    found = []

    def walk(path: tuple[str, ...], command: typing.Any) -> None:
        children = getattr(command, "commands", None)
        if children is None:
            found.append((path, command))
            return
        for name, child in sorted(children.items()):
            walk((*path, name), child)

    walk((), typer.main.get_command(app))
    return found


COMMANDS = _commands()
IDS = [" ".join(path) for path, _ in COMMANDS]


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["flanlab", *args])
    with pytest.raises(SystemExit) as done:
        main()
    return done.value.code, capsys.readouterr().err


def _assert_one_line_usage_error(code: int, err: str, path: tuple[str, ...]) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: flanlab {' '.join(path)}: "), err


def _option_of(command: typing.Any, wanted: typing.Callable[[typing.Any], bool]) -> str | None:
    """The first option whose (typer) annotation passes ``wanted``."""
    for param in command.params:
        if param.param_type_name == "option" and not param.is_flag:
            annotation = param.type_descriptor.annotation
            union = typing.get_origin(annotation) is typing.Union
            for member in typing.get_args(annotation) if union else (annotation,):
                if wanted(member):
                    return param.opts[0]
    return None


def _is_choice(annotation: typing.Any) -> bool:
    return typing.get_origin(annotation) is typing.Literal


def _is_number(annotation: typing.Any) -> bool:
    return annotation in (int, float)


def test_the_walk_finds_every_command():
    assert {"train", "eval", "run", "mix build", "tasks list", "experiment run", "export lm-eval"} <= set(IDS)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_unknown_option_is_one_line_exit_2(path, command, monkeypatch, capsys):
    code, err = _run(monkeypatch, capsys, *path, "--bogus")
    _assert_one_line_usage_error(code, err, path)
    assert "--bogus" in err


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_bad_choice_and_bad_number_are_one_line_exit_2(path, command, monkeypatch, capsys):
    choice, number = _option_of(command, _is_choice), _option_of(command, _is_number)
    if choice is None and number is None:
        pytest.skip(f"flanlab {' '.join(path)} has no choice or numeric option")
    for option, value in ((choice, "no-such-choice"), (number, "not-a-number")):
        if option is not None:
            code, err = _run(monkeypatch, capsys, *path, option, value)
            _assert_one_line_usage_error(code, err, path)
            assert f"'{option}'" in err


@pytest.mark.parametrize("args", [("run", "--scale", "bogus"), ("experiment", "run", "default", "--scale", "bogus")])
def test_scale_is_a_declared_choice(args, monkeypatch, capsys):
    code, err = _run(monkeypatch, capsys, *args)
    _assert_one_line_usage_error(code, err, args[:-3] if args[0] == "experiment" else args[:1])
    assert "'tiny', 'default', 'paper'" in err


def _help(monkeypatch, capsys, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["flanlab", *args, "--help"])
    monkeypatch.setenv("COLUMNS", "80")
    main()  # --help prints and returns
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "model_path"),
    [
        (("train",), "flanlab.train.config:TrainConfig"),
        (("mix", "build"), "flanlab.mixture.recipe:MixtureRecipe"),
        (("eval",), "flanlab.evaluate.runner:EvalConfig"),
    ],
)
def test_every_config_field_is_a_flag_with_its_description(args, model_path, monkeypatch, capsys):
    import importlib

    module, name = model_path.split(":")
    model = getattr(importlib.import_module(module), name)
    shown = _help(monkeypatch, capsys, *args)
    renamed = {"use_cache": "cache", "write_samples": "samples", "card_folders": "cards"}
    for field, info in model.model_fields.items():
        assert f"--{renamed.get(field, field).replace('_', '-')}" in shown, field
        if info.description:
            assert " ".join(info.description.split()[:3]) in " ".join(shown.split()), field


def test_generated_flags_convert_and_only_given_ones_override():
    from flanlab.cli.flags import with_config_flags
    from flanlab.train.config import TrainConfig

    seen = {}

    @with_config_flags(TrainConfig)
    def command(overrides: dict) -> None:
        seen.update(overrides)

    typer_app = typer.Typer()
    typer_app.command()(command)
    args = ["--micro-batch-size", "2", "--learning-rate", "1e-4", "--no-packing", "--method", "lora"]
    typer.main.get_command(typer_app).main([*args, "--lora-target-modules", "q_proj,v_proj"], standalone_mode=False)
    assert seen == {"micro_batch_size": 2, "learning_rate": 1e-4, "packing": False,
                    "lora_target_modules": ["q_proj", "v_proj"], "method": "lora"}  # fmt: skip
    config = TrainConfig(mixture="m", out="o", **seen)
    assert config.micro_batch_size == 2 and config.lora_target_modules == ["q_proj", "v_proj"]


def test_yaml_valued_flag_and_recipe_file_override(tmp_path):
    from flanlab.cli.flags import config_from
    from flanlab.errors import FlanlabError
    from flanlab.mixture.recipe import MixtureRecipe

    path = tmp_path / "recipe.yaml"
    path.write_text("seed: 3\ntotal_size: 10\nheld_out: [nli]\n")
    ratios = {"zero_shot": 1.0, "few_shot": 0.0, "cot": 0, "cot_few_shot": 0}
    recipe = config_from(MixtureRecipe, path, "recipe file", {"total_size": 99, "format_ratios": ratios})
    assert (recipe.seed, recipe.total_size, recipe.held_out) == (3, 99, ["nli"])
    assert recipe.format_ratios.zero_shot == 1.0
    with pytest.raises(FlanlabError, match=r"^option --few-shot-counts \(item 2\): Input should be a valid integer"):
        config_from(MixtureRecipe, path, "recipe file", {"few_shot_counts": ["2", "x"]})
    path.write_text("seed: nope\n")
    with pytest.raises(FlanlabError, match=r"recipe.yaml: field seed: Input should be a valid integer"):
        config_from(MixtureRecipe, path, "recipe file", {"total_size": 5})
