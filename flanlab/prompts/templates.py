"""Filling a template pattern from a task example, loudly."""

from __future__ import annotations

import string
from typing import Any

from flanlab.errors import FlanlabError

_FORMATTER = string.Formatter()


def fill(pattern: str, values: dict[str, Any], *, where: str) -> str:
    """``pattern`` with each ``{name}`` replaced by ``values[name]``; a missing name is an error."""
    pieces = []
    for literal, name, spec, conversion in _FORMATTER.parse(pattern):
        pieces.append(literal)
        if name is None:
            continue
        if name not in values or values[name] is None:
            raise FlanlabError(f"placeholder {{{name}}} has no value in this example", where=where)
        value = values[name]
        if conversion:
            value = _FORMATTER.convert_field(value, conversion)
        pieces.append(format(_as_text(value), spec or ""))
    return "".join(pieces)


def _as_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)
