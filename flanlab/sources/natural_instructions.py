"""Super-Natural-Instructions (NIv2) task files as a source, and as task cards.

A task file (``tasks/task001_quoref_question_generation.json`` in the NIv2 repository) holds a
written ``Definition`` (the task's instruction), ``Positive Examples`` and ``Negative Examples``
(``input``, ``output``, ``explanation``) and ``Instances`` (``id``, ``input``, ``output``: a list of
acceptable answers). Instances become records split by input hash; the definition becomes the
card's instruction; positive examples are the task's own few-shot exemplars, with their
explanation as a rationale (see `positive_examples`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.sources.base import RawRecords, Record, SourceSpec

if TYPE_CHECKING:
    from flanlab.tasks.card import TaskCard

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


@dataclass(frozen=True)
class NaturalInstructionsTask:
    name: str
    definition: str
    categories: tuple[str, ...]
    positive_examples: tuple[Record, ...]
    negative_examples: tuple[Record, ...]
    instances: tuple[Record, ...]


def read_task_file(path: Path | str) -> NaturalInstructionsTask:
    """Parse one NIv2 task file; errors name the file and the broken entry."""
    return _read_task_file_cached(str(Path(path).resolve()))


@lru_cache(maxsize=64)
def _read_task_file_cached(path: str) -> NaturalInstructionsTask:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataUnavailable("no such Natural Instructions task file", where=path) from None
    except json.JSONDecodeError as error:
        raise FlanlabError(f"invalid JSON ({error})", where=path) from None
    if not isinstance(data, dict) or "Definition" not in data or "Instances" not in data:
        raise FlanlabError("not a Natural Instructions task file (needs Definition and Instances)", where=path)
    return NaturalInstructionsTask(
        name=Path(path).stem,
        definition=_text(data["Definition"]),
        categories=tuple(_as_list(data.get("Categories", []))),
        positive_examples=_demos(data, "Positive Examples", path),
        negative_examples=_demos(data, "Negative Examples", path),
        instances=tuple(_instance(item, n, path) for n, item in enumerate(data["Instances"])),
    )


def load_natural_instructions_source(spec: SourceSpec) -> RawRecords:
    """The instances of a task file (split by the hash of their input text)."""
    task = read_task_file(spec.locator)
    return RawRecords(where=spec.locator, records=[dict(record) for record in task.instances])


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


def cards_from_folder(folder: Path | str, *, collection: str = "flan2022", max_examples: int | None = 5000) -> list[TaskCard]:
    """Cards for every ``task*.json`` in a NIv2 ``tasks/`` folder (default cap: Flan 2022's 5k per task).

    Register them with ``registry.register_provider("niv2", lambda: cards_from_folder(path))``.
    """
    from flanlab.tasks.card import card_from_dict

    paths = sorted(Path(folder).glob("task*.json"))
    if not paths:
        raise FlanlabError("no task*.json files in this folder", where=str(folder))
    return [card_from_dict(card_data(p, collection=collection, max_examples=max_examples), where=str(p), path=p) for p in paths]


def positive_examples(card: TaskCard) -> tuple[dict[str, Any], ...]:
    """The task's Positive Examples as task examples (explanation as `rationale`), for few-shot prompts."""
    from flanlab.tasks.examples import build_example

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


def _instance(item: Any, index: int, path: str) -> Record:
    if not isinstance(item, dict) or "input" not in item or "output" not in item:
        raise FlanlabError(f"Instances[{index}]: expected an object with input and output", where=path)
    outputs = [str(output) for output in _as_list(item["output"])]
    if not outputs:
        raise FlanlabError(f"Instances[{index}]: output is empty", where=path)
    return {"id": str(item.get("id", index)), "input": str(item["input"]), "answer": outputs[0], "references": outputs}


def _demos(data: dict[str, Any], section: str, path: str) -> tuple[Record, ...]:
    return tuple(_demo(item, index, path, section) for index, item in enumerate(data.get(section, [])))


def _demo(item: Any, index: int, path: str, section: str) -> Record:
    if not isinstance(item, dict) or "input" not in item or "output" not in item:
        raise FlanlabError(f"{section}[{index}]: expected an object with input and output", where=path)
    outputs = [str(output) for output in _as_list(item["output"])]
    return {
        "id": f"{section.split()[0].lower()}-{index}",
        "input": str(item["input"]),
        "answer": outputs[0] if outputs else "",
        "references": outputs,
        "rationale": str(item.get("explanation", "")),
    }


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    return "\n".join(str(part) for part in _as_list(value)).strip()
