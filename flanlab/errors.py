"""User-facing errors: one line naming the file / record / field, exit code 2, no traceback."""

from __future__ import annotations

from collections.abc import Iterable

USER_ERROR_EXIT_CODE = 2


class FlanlabError(Exception):
    """A mistake in the user's input or environment that the user can fix.

    The CLI prints ``str(error)`` on one line and exits with code 2.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class DataUnavailable(FlanlabError):
    """A task's data cannot be had here (no hub and no local copy, a missing file).

    Default selections (a cluster, the default recipe, the task list) skip such tasks with a
    warning and record them; a task the user named, or --strict, makes it an error.
    """


def closest(name: str, known: Iterable[str], n: int = 3) -> str:
    """' (did you mean a, b?)' for the known names closest to ``name``, or '' when none is close."""
    import difflib

    matches = difflib.get_close_matches(name, sorted(known), n=n, cutoff=0.6)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""
