"""Super-Natural-Instructions task files as task cards (their records: `flanlab.sources.natural_instructions`).

The definition becomes the card's instruction; positive examples are the task's own few-shot
exemplars, with their explanation as a rationale (see `positive_examples`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flanlab.errors import FlanlabError
from flanlab.sources.natural_instructions import read_task_file
from flanlab.tasks.card import TaskCard, card_from_dict
from flanlab.tasks.examples import build_example

# NIv2 task categories (the file's `Categories`) -> FLAN cluster; anything else is `misc`.
CATEGORY_CLUSTERS: dict[str, str] = {
    "textual entailment": "nli",
    "question answering": "reading_comprehension",
    "answer verification": "reading_comprehension",
    "sentiment analysis": "sentiment",
    "paraphrasing": "paraphrase",
    "text matching": "paraphrase",
    "coreference resolution": "coreference",
    "commonsense classification": "commonsense",
    "summarization": "summarization",
    "title generation": "summarization",
    "translation": "translation",
    "data to text": "struct_to_text",
    "mathematics": "math",
}

NIV2_TEMPLATES: list[dict[str, Any]] = [
    {"id": "t01", "instruction": "{task_instruction}", "input": "Input: {input}\nOutput:"},
    {"id": "t02", "instruction": "{task_instruction}", "input": "{input}"},
    {
        "id": "t03",
        "instruction": "Follow the task description below.\n\n{task_instruction}",
        "input": "Now solve this instance.\n{input}",
    },
    {"id": "t04", "input": "Task: {task_instruction}\n\nInput: {input}\n\nWhat is the output?"},
]


def card_data(path: Path | str, *, collection: str = "flan2022", max_examples: int | None = None) -> dict[str, Any]:
    """A task card (as a dict, for `card_from_dict`) for one task file: its definition is the instruction."""
    task = read_task_file(path)
    data: dict[str, Any] = {
        "name": "niv2_" + re.sub(r"[^a-z0-9_]+", "_", task.name.lower()),
        "collection": collection,
        "cluster": cluster_for(task.categories),
        "family": source_dataset_family(task.name),
        "source": {"kind": "natural_instructions", "locator": str(path)},
        "description": f"Super-Natural-Instructions {task.name} ({', '.join(task.categories) or 'uncategorised'}).",
        "instruction": task.definition,
        "metrics": ["exact_match", "rougeL"],
        "templates": NIV2_TEMPLATES,
    }
    if max_examples is not None:
        data["max_examples"] = max_examples
    return data


def cards_from_folder(
    folder: Path | str, *, collection: str = "flan2022", max_examples: int | None = 5000
) -> list[TaskCard]:
    """Cards for every ``task*.json`` in a NIv2 ``tasks/`` folder (default cap: Flan 2022's 5k per task).

    Register them with ``registry.register_provider("niv2", lambda covered: cards_from_folder(path))``.
    """
    paths = sorted(Path(folder).glob("task*.json"))
    if not paths:
        raise FlanlabError("no task*.json files in this folder", where=str(folder))
    return [
        card_from_dict(card_data(p, collection=collection, max_examples=max_examples), where=str(p), path=p)
        for p in paths
    ]


def positive_examples(card: TaskCard) -> tuple[dict[str, Any], ...]:
    """The task's Positive Examples as task examples (explanation as `rationale`), for few-shot prompts."""
    if card.source.kind != "natural_instructions":
        raise FlanlabError("positive examples exist only for natural_instructions sources", where=card.where())
    task = read_task_file(card.source.locator)
    built = (build_example(card, dict(record), index) for index, record in enumerate(task.positive_examples))
    return tuple(example for example in built if example is not None)


def source_dataset_family(task_name: str) -> str:
    """One family per source dataset: ``task001_quoref_question_generation`` -> ``niv2_quoref``, so
    every task built on QuoRef is held out with the others (NIv2 names tasks ``taskNNN_<dataset>_...``)."""
    words = task_name.lower().split("_")
    return "niv2_" + re.sub(r"[^a-z0-9]+", "", words[1] if len(words) > 1 else words[0])


def cluster_for(categories: tuple[str, ...]) -> str:
    for category in categories:
        if category.lower() in CATEGORY_CLUSTERS:
            return CATEGORY_CLUSTERS[category.lower()]
    return "misc"
