"""Tiny offline stand-ins for hub datasets, so hub cards can be rendered and linted without a hub.

Convention: ``flanlab/tasks/fixture_data/<collection>/<card name>/{train,validation,test}.jsonl``, a few
records written by us with the dataset's real feature names and types. Loading goes through the
real Hugging Face `datasets` code path (a local folder instead of a hub id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flanlab.sources.base import SourceSpec
from flanlab.tasks.card import TaskCard

FIXTURES = Path(__file__).parent / "fixture_data"


def fixture_dir(card: TaskCard) -> Path:
    return FIXTURES / card.collection / card.name


def fixture_spec(card: TaskCard) -> SourceSpec | None:
    """The card's source pointed at its local fixture folder, or None if it has none."""
    folder = fixture_dir(card)
    if not folder.is_dir():
        return None
    update: dict[str, Any] = {
        "kind": "huggingface",
        "locator": str(folder),
        "config": None,
        "revision": None,
        "splits": {},
    }
    return card.source.model_copy(update=update)


def with_fixture_source(card: TaskCard) -> TaskCard | None:
    """A copy of the card that reads its fixture instead of the hub (None without a fixture)."""
    spec = fixture_spec(card)
    if spec is None:
        return None
    copy = card.model_copy(update={"source": spec, "manual_download": None})  # the fixture is the data
    copy.path = card.path
    return copy
