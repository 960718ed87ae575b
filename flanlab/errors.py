"""User-facing errors: one line naming the file / record / field, exit code 2, no traceback."""

from __future__ import annotations

USER_ERROR_EXIT_CODE = 2


class FlanlabError(Exception):
    """A mistake in the user's input or environment that the user can fix.

    The CLI prints ``str(error)`` on one line and exits with code 2.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
