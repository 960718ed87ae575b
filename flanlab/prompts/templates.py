"""Filling a template pattern from a task example, loudly and fast.

Patterns use ``str.format`` syntax (``{field}``; ``{{`` is a literal brace). A pattern is parsed
once and cached, because a mixture fills the same few hundred patterns millions of times.
"""

from __future__ import annotations

import functools
import string
from typing import Any

from flanlab.errors import FlanlabError

_FORMATTER = string.Formatter()

# (literal text, placeholder name or None, format spec, conversion)
Piece = tuple[str, str | None, str, str | None]


@functools.lru_cache(maxsize=8192)
def parse_pattern(pattern: str) -> tuple[Piece, ...]:
    """The pieces of a pattern; raises ValueError on a stray or unbalanced brace."""
    return tuple(
        (literal, name, spec or "", conversion) for literal, name, spec, conversion in _FORMATTER.parse(pattern)
    )


@functools.lru_cache(maxsize=8192)
def ordered_fields(pattern: str) -> tuple[str, ...]:
    """Placeholder names in order of first appearance."""
    seen: list[str] = []
    for _, name, _, _ in parse_pattern(pattern):
        if name and name not in seen:
            seen.append(name)
    return tuple(seen)


def fill(pattern: str, values: dict[str, Any], *, where: str) -> str:
    """``pattern`` with each ``{name}`` replaced by ``values[name]``; a missing name is an error.

    Values are stripped of surrounding whitespace: the pattern alone decides spacing.
    """
    try:
        pieces = parse_pattern(pattern)
    except ValueError as error:
        raise FlanlabError(f"bad template pattern {pattern!r} ({error})", where=where) from None
    out: list[str] = []
    for literal, name, spec, conversion in pieces:
        if literal:
            out.append(literal)
        if name is None:
            continue
        value = values.get(name)
        if value is None:
            raise FlanlabError(f"placeholder {{{name}}} has no value in this example", where=where)
        if conversion:
            value = _FORMATTER.convert_field(value, conversion)
        text = as_text(value).strip()
        out.append(format(text, spec) if spec else text)
    return "".join(out)


def as_text(value: Any) -> str:
    """How any field value reads in a prompt (and in the contamination guard): lists joined by commas."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)
