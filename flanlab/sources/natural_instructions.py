"""Super-Natural-Instructions (NIv2) task files as a source (their cards: `flanlab.tasks.niv2`).

A task file (``tasks/task001_quoref_question_generation.json`` in the NIv2 repository) holds a
written ``Definition`` (the task's instruction), ``Positive Examples`` and ``Negative Examples``
(``input``, ``output``, ``explanation``) and ``Instances`` (``id``, ``input``, ``output``: a list of
acceptable answers). Instances become records split by input hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.sources.base import RawRecords, Record, SourceSpec


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
