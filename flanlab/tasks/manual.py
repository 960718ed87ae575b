"""Datasets that need a manual download: where their files go, and why a card waits until then.

A card with ``manual_download: <the step>`` (a form to fill in, a licence, a TFDS export) reads its
records from ``$FLANLAB_HOME/manual/<task name>/`` once that folder exists: one file per split of
the dataset (``validation.csv``, ``test.jsonl``, ...) with the dataset's own feature names, read by
the same Hugging Face code as a hub id. Until then default selections skip it (`skip_reason`).
"""

from __future__ import annotations

from pathlib import Path

from flanlab.paths import cache_root
from flanlab.sources.base import SourceSpec
from flanlab.tasks.card import TaskCard


def manual_dir(card: TaskCard) -> Path:
    return cache_root() / "manual" / card.name


def data_source(card: TaskCard) -> SourceSpec:
    """Where the card's records come from: its filled manual folder, else its own source."""
    folder = manual_dir(card)
    if card.manual_download and folder.is_dir():
        update = {"kind": "huggingface", "locator": str(folder), "config": None, "revision": None}
        return card.source.model_copy(update=update)
    return card.source


def skip_reason(card: TaskCard) -> str | None:
    """Why a default selection leaves the card out (None when its data can be read)."""
    if card.manual_download and not manual_dir(card).is_dir():
        return f"needs a manual download into {manual_dir(card)} ({card.manual_download})"
    return None
