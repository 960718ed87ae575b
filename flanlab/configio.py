"""Reading YAML config files and validating them into typed objects, with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from flanlab.errors import FlanlabError

Model = TypeVar("Model", bound=BaseModel)


def read_yaml_mapping(path: str | Path, what: str, *, empty_ok: bool = False) -> dict[str, Any]:
    """The YAML mapping in ``path``; a missing file, bad YAML or a non-mapping names the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FlanlabError(f"no such {what}", where=str(path)) from None
    except OSError as error:
        raise FlanlabError(f"cannot read {what} ({error.strerror})", where=str(path)) from None
    except yaml.YAMLError as error:
        raise FlanlabError(f"invalid YAML ({error})", where=str(path)) from None
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise FlanlabError(f"a {what} must be a YAML mapping of field: value", where=str(path))
    return data


def validation_message(error: ValidationError, prefix: str = "field") -> str:
    """The first problem of a pydantic error as ``field a.b: message``."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(top level)"
    # pydantic prefixes our own validators' messages with "Value error, ": the message says it all
    return f"{prefix} {location}: {first['msg'].removeprefix('Value error, ')}"


def validate(model: type[Model], data: dict[str, Any], where: str) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise FlanlabError(validation_message(error), where=where) from None
