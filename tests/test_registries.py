"""Registries are open to new names and always keep the built-ins."""

from __future__ import annotations

import pytest

from flanlab.errors import FlanlabError
from flanlab.registries import Registry
from flanlab.sources import base
from flanlab.tasks.card import card_from_dict
from flanlab.tasks.examples import load_examples


@pytest.fixture
def fresh_loaders(monkeypatch):
    monkeypatch.setattr(base, "LOADERS", Registry("source kind", base._add_builtin_loaders))


def _card(kind: str) -> dict:
    return {
        "name": "t",
        "collection": "test",
        "cluster": "misc",
        "source": {"kind": kind, "locator": "anything"},
        "templates": [{"id": "a", "input": "{input}"}],
    }


def test_a_custom_source_kind_works_in_a_card_and_keeps_the_builtins(fresh_loaders):
    records = [{"input": f"question {n}", "answer": "yes"} for n in range(40)]
    base.register_loader("my_db", lambda spec: base.RawRecords(where=spec.locator, records=records))
    card = card_from_dict(_card("my_db"), where="card")
    assert sum(len(load_examples(card, split)) for split in ("train", "validation", "test")) == 40
    assert {"jsonl", "huggingface", "bigbench", "my_db"} <= set(base.LOADERS.names())


def test_an_unknown_kind_names_the_closest(fresh_loaders):
    with pytest.raises(FlanlabError, match=r"unknown source kind 'jsnol' \(did you mean jsonl\?\)"):
        card_from_dict(_card("jsnol"), where="card")
