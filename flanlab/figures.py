"""Figures drawn straight to files.

matplotlib's `Figure` saves without pyplot, so drawing picks no backend and keeps no global list
of open figures: importing or plotting changes nothing for a caller that uses matplotlib itself.
"""

from __future__ import annotations

from typing import Any


def new_figure(width: float, height: float) -> tuple[Any, Any]:
    """A (figure, axis) pair of ``width`` x ``height`` inches."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()
