"""Named registries open to user additions that always hold flanlab's built-ins.

The built-ins are added on first use, before any registration or look-up, so registering a custom
entry first never hides them; registering a built-in's name replaces that built-in on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from flanlab.errors import FlanlabError, closest

Entry = TypeVar("Entry")


class UnknownName(FlanlabError, ValueError):
    """Also a ValueError, so a pydantic validator's look-up reports it as that field's error."""


class Registry(Generic[Entry]):
    def __init__(self, what: str, add_builtins: Callable[[Registry[Entry]], None]) -> None:
        self.what = what
        self._add_builtins: Callable[[Registry[Entry]], None] | None = add_builtins
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, entry: Entry) -> None:
        self._ensure_builtins()
        self._entries[name] = entry

    def get(self, name: str) -> Entry:
        self._ensure_builtins()
        if name not in self._entries:
            known = self.names()
            raise UnknownName(f"unknown {self.what} {name!r}{closest(name, known)}; known: {', '.join(known)}")
        return self._entries[name]

    def names(self) -> list[str]:
        self._ensure_builtins()
        return sorted(self._entries)

    def _ensure_builtins(self) -> None:
        if self._add_builtins is not None:
            add, self._add_builtins = self._add_builtins, None
            add(self)
