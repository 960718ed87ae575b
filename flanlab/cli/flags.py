"""Command-line flags generated from a config model: every field is a ``--field-name`` flag.

The help of a flag is the field's description, its default the model's, so a field added to a
config model is a flag of its command without touching the CLI (TRL's habit). Only flags the user
gives are returned, so they override a YAML file field by field. Value types:

* bool: ``--name/--no-name``; int, float, str, Path and ``Literal`` (a choice): one value;
* lists: the flag repeats, and each value may hold several items separated by commas;
* anything else (nested models, dicts): one YAML value, e.g. ``--format-ratios '{cot: 0.1}'``.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import typer
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from flanlab.configio import read_yaml_mapping, validation_message
from flanlab.errors import FlanlabError

_SCALARS = (bool, int, float, str, Path)
Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class GeneratedFlag:
    """One config field as a command-line option."""

    field: str
    parameter: inspect.Parameter
    convert: Callable[[Any], Any]


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def config_flags(
    model: type[BaseModel], *, names: Mapping[str, str] = {}, aliases: Mapping[str, str] = {}
) -> list[GeneratedFlag]:
    """A flag per field of ``model``; ``names`` renames a flag, ``aliases`` adds a second name."""
    return [
        _flag(field, info, names.get(field), aliases.get(field))
        for field, info in model.model_fields.items()
        if not info.exclude
    ]


def with_config_flags(
    model: type[BaseModel], *, names: Mapping[str, str] = {}, aliases: Mapping[str, str] = {}
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command one flag per config field; it receives the flags the user gave as ``overrides``.

    The decorated function declares its other options as usual, plus ``overrides: dict``.
    """
    flags = config_flags(model, names=names, aliases=aliases)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "overrides"]
        clashes = {p.name for p in own} & {flag.field for flag in flags}
        if clashes:
            raise TypeError(f"{command.__name__} declares options that are also config fields: {sorted(clashes)}")
        by_field = {flag.field: flag for flag in flags}

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in by_field if name in kwargs}
            overrides = {name: by_field[name].convert(value) for name, value in given.items() if value is not None}
            return command(overrides=overrides, **kwargs)

        signature = inspect.Signature([*own, *(flag.parameter for flag in flags)])
        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        wrapper.__annotations__ = {}  # typer reads the types from the signature
        del wrapper.__wrapped__  # type: ignore[attr-defined]  # or inspect would show the original signature
        return wrapper

    return decorate


def config_from(model: type[Model], path: Path | None, what: str, overrides: dict[str, Any]) -> Model:
    """The config in YAML file ``path`` (optional) with the given flags on top; errors name the flag or the file."""
    data = read_yaml_mapping(path, what, empty_ok=True) if path is not None else {}
    try:
        return model.model_validate({**data, **overrides})
    except ValidationError as error:
        first = error.errors()[0]
        location = first["loc"]
        if location and location[0] in overrides:
            item = f" (item {int(location[1]) + 1})" if len(location) > 1 and isinstance(location[1], int) else ""
            raise FlanlabError(f"option {flag_name(str(location[0]))}{item}: {first['msg']}") from None
        raise FlanlabError(validation_message(error), where=str(path) if path is not None else "command line") from None


def _flag(field: str, info: FieldInfo, name: str | None, alias: str | None) -> GeneratedFlag:
    kind, inner = _shape(info.annotation)
    declared = flag_name(name or field)
    decls = [f"{declared}/--no-{declared[2:]}"] if kind == "bool" else [declared]
    if alias:
        decls.append(flag_name(alias))
    help_text = (info.description or f"Config field {field}.").strip()
    if kind == "yaml":
        help_text += " (a YAML value)"
    elif kind in ("list", "list_or_str"):
        help_text += " (repeatable; commas separate items)"
    if not info.is_required():
        help_text += f" [default: {_shown(info.get_default(call_default_factory=True))}]"
    option = typer.Option(None, *decls, help=help_text, show_default=False, metavar=_metavar(kind, inner))
    annotation = {"bool": bool, "scalar": inner, "list": list[str], "list_or_str": list[str]}.get(kind, str) | None
    parameter = inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
    return GeneratedFlag(field, parameter, _CONVERTERS[kind])


def _shape(annotation: Any) -> tuple[str, Any]:
    """How a field type is given on the command line: bool, scalar, list, list_or_str or yaml."""
    options = [arg for arg in _union_members(annotation) if arg is not type(None)]
    if len(options) == 1:
        only = options[0]
        if only is bool:
            return "bool", bool
        if only in _SCALARS or typing.get_origin(only) is Literal:
            return "scalar", only
        if typing.get_origin(only) is list and _list_of_scalars(only):
            return "list", only
    lists = [option for option in options if typing.get_origin(option) is list and _list_of_scalars(option)]
    if len(options) == 2 and str in options and lists:
        return "list_or_str", str
    return "yaml", None


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _list_of_scalars(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return len(args) == 1 and (args[0] in _SCALARS or typing.get_origin(args[0]) is Literal)


def _items(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _list_or_str(values: list[str]) -> list[str] | str:
    items = _items(values)
    return items[0] if len(items) == 1 else items


def _yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise FlanlabError(f"not a YAML value: {text!r} ({' '.join(str(error).split())})") from None


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bool": lambda value: value,
    "scalar": lambda value: value,
    "list": _items,
    "list_or_str": _list_or_str,
    "yaml": _yaml,
}


def _shown(default: Any) -> str:
    if default is None:
        return "none"
    if isinstance(default, BaseModel):
        default = default.model_dump(mode="json")
    if isinstance(default, (list, dict)):
        return json.dumps(default, ensure_ascii=False) if default else "none"
    return str(default)


def _metavar(kind: str, inner: Any) -> str | None:
    if kind == "yaml":
        return "YAML"
    if kind in ("list", "list_or_str"):
        return "ITEMS"
    if kind == "scalar" and typing.get_origin(inner) is Literal:
        return None  # typer shows the choices
    return {int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH"}.get(inner)
