"""Tiny task cards over JSONL files written in the test, for the evaluation tests."""

from __future__ import annotations

import json
from pathlib import Path

from flanlab.tasks.card import TaskCard, card_from_dict

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]
THINGS = ["apple", "leaf", "sky", "sun", "plum", "carrot", "night", "snow"]
LABELS = ["yes", "it is not possible to tell", "no"]


def write_splits(folder: Path, records_per_split: dict[str, list[dict]]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for split, records in records_per_split.items():
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
    return str(folder / "{split}.jsonl")


def _nli_records(count: int, offset: int) -> list[dict]:
    return [
        {
            "premise": f"The {THINGS[(i + offset) % 8]} number {i + offset} is {COLOURS[(i * 3 + offset) % 8]}.",
            "hypothesis": f"The {THINGS[(i + offset) % 8]} is {COLOURS[(i + offset) % 8]}.",
            "label": LABELS[(i + offset) % 3],
        }
        for i in range(count)
    ]


def nli_card(folder: Path, *, first_template: str = "Premise: {premise}\nHypothesis: {hypothesis}\nDoes it follow?") -> TaskCard:
    locator = write_splits(
        folder / "toy_nli", {"train": _nli_records(12, 0), "validation": _nli_records(10, 100), "test": _nli_records(16, 200)}
    )
    return card_from_dict(
        {
            "name": "toy_nli",
            "collection": "test",
            "cluster": "nli",
            "source": {"kind": "jsonl", "locator": locator},
            "fields": {"answer": "label"},
            "options": LABELS,
            "metrics": ["macro_f1", "accuracy"],
            "templates": [
                {"id": "a", "input": first_template},
                {"id": "b", "input": "{premise}\nCan we say \"{hypothesis}\"?"},
                {"id": "c", "input": "Read: {premise}\nClaim: {hypothesis}\nTrue?"},
                {"id": "inv", "input": "Write something implied by: {premise}", "target": "{hypothesis}", "inverted": True},
            ],
        },
        where="test card toy_nli",
    )


def qa_card(folder: Path) -> TaskCard:
    def records(count: int, offset: int) -> list[dict]:
        return [
            {"question": f"What colour is the {THINGS[(i + offset) % 8]}?", "answer": COLOURS[(i + offset) % 8]}
            for i in range(count)
        ]

    locator = write_splits(folder / "toy_qa", {"train": records(6, 0), "validation": records(4, 10), "test": records(6, 20)})
    return card_from_dict(
        {
            "name": "toy_qa",
            "collection": "test",
            "cluster": "closed_book_qa",
            "source": {"kind": "jsonl", "locator": locator},
            "metrics": ["exact_match", "f1"],
            "templates": [{"id": "q1", "input": "Question: {question}\nAnswer:"}],
        },
        where="test card toy_qa",
    )
