"""Made-up tasks (cards + JSONL files) for testing and benchmarking mixtures without real data.

Three shapes cover what a mixture must handle: ``pair`` (premise/hypothesis, fixed options, like
NLI and paraphrase), ``choice`` (a question with its own options per record) and ``gen`` (free
text answers, optionally with rationales for chain-of-thought). Any shape may get an inverted
template. Texts are random words from a small vocabulary, unique per task, split and record.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flanlab.tasks.card import TaskCard, card_from_dict, dump_card
from flanlab.tasks.registry import TaskRegistry

_WORDS = (
    "river stone lamp orange quiet seven market winter bridge candle forest silver doctor garden "
    "pencil thunder ocean castle yellow kitchen planet button mirror rabbit engine island violin "
    "shadow bottle ladder marble pepper tunnel wizard anchor basket cotton desert feather harbor"
).split()
PAIR_OPTIONS = ["yes", "it is not possible to tell", "no"]


@dataclass(frozen=True)
class SyntheticTask:
    name: str
    cluster: str
    shape: str = "pair"  # pair | choice | gen
    collection: str = "synthetic"
    family: str | None = None
    inverted: bool = False
    rationales: bool = False  # gen and choice shapes: every record carries a rationale
    eval_only: bool = False
    curated: bool = False  # hand-written templates (studies score held-in suites on curated cards only)
    train: int = 40
    validation: int = 10
    test: int = 10
    words: int = 12  # words per input text


def _sentence(rng: random.Random, tag: str, words: int, end: str = ".") -> str:
    return f"{tag} " + " ".join(rng.choices(_WORDS, k=words)) + end


def make_records(task: SyntheticTask, split: str, count: int) -> list[dict[str, Any]]:
    rng = random.Random(f"{task.name}:{split}")
    records = []
    for index in range(count):
        tag = f"{task.name} {split} {index}"
        if task.shape == "pair":
            record = {
                "premise": _sentence(rng, tag, task.words),
                "hypothesis": _sentence(rng, "so", task.words // 2),
                "label": rng.choice(PAIR_OPTIONS),
            }
        elif task.shape == "choice":
            options = [" ".join(rng.choices(_WORDS, k=2)) + f" {n}" for n in range(4)]
            record = {"question": _sentence(rng, tag, task.words, "?"), "choices": options, "label": rng.randrange(4)}
        else:
            record = {"question": _sentence(rng, tag, task.words, "?"), "answer": " ".join(rng.choices(_WORDS, k=3))}
        if task.rationales and task.shape != "pair":
            record["rationale"] = _sentence(rng, "Because", task.words // 2)
        records.append(record)
    return records


def _card_data(task: SyntheticTask, folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": task.name,
        "collection": task.collection,
        "cluster": task.cluster,
        "family": task.family,
        "eval_only": task.eval_only,
        "curated": task.curated,
        "source": {"kind": "jsonl", "locator": str(folder / task.name / "{split}.jsonl")},
        "description": f"A made-up {task.shape} task for tests.",
    }
    if task.shape == "pair":
        data.update(
            fields={"answer": "label"},
            options=PAIR_OPTIONS,
            templates=[
                {
                    "id": "p1",
                    "input": "Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise entail the hypothesis?",
                },
                {
                    "id": "p2",
                    "input": '{premise}\n\nCan we conclude that "{hypothesis}"?',
                    "instruction": "Answer the question.",
                },
            ],
        )
        inverted = {
            "id": "p_inv",
            "inverted": True,
            "input": "Write a sentence that follows from: {premise}",
            "target": "{hypothesis}",
        }
    elif task.shape == "choice":
        data.update(
            fields={"options": "choices", "answer": "label"},
            templates=[
                {"id": "c1", "input": "{question}\n\n{options}"},
                {
                    "id": "c2",
                    "input": "Question: {question}\nPick the best answer.",
                    "instruction": "Choose one option.",
                },
            ],
        )
        inverted = {
            "id": "c_inv",
            "inverted": True,
            "input": 'Write a question whose answer is "{answer}".',
            "target": "{question}",
        }
    else:
        data.update(
            templates=[
                {"id": "g1", "input": "{question}"},
                {"id": "g2", "input": "Answer this question: {question}"},
            ]
        )
        inverted = {
            "id": "g_inv",
            "inverted": True,
            "input": "Ask a question whose answer is: {answer}",
            "target": "{question}",
        }
    if task.inverted:
        data["templates"].append(inverted)
    return data


def write_synthetic_registry(
    folder: str | Path, tasks: list[SyntheticTask], extra_train: dict[str, list[dict[str, Any]]] | None = None
) -> TaskRegistry:
    """Write each task's split files and card (``folder/cards/NAME.yaml``); return a registry of the cards.

    ``extra_train`` appends hand-made records to a task's train split (to plant contamination).
    """
    folder = Path(folder)
    cards: list[TaskCard] = []
    for task in tasks:
        task_dir = folder / task.name
        task_dir.mkdir(parents=True, exist_ok=True)
        for split in ("train", "validation", "test"):
            records = make_records(task, split, getattr(task, split))
            if split == "train":
                records += (extra_train or {}).get(task.name, [])
            with open(task_dir / f"{split}.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(record) + "\n" for record in records)
        card = card_from_dict(_card_data(task, folder), where=f"synthetic task {task.name}")
        (folder / "cards").mkdir(exist_ok=True)
        (folder / "cards" / f"{task.name}.yaml").write_text(dump_card(card), encoding="utf-8")
        cards.append(card)
    return TaskRegistry(cards)


def read_split(folder: str | Path, task: str, split: str) -> list[dict[str, Any]]:
    path = Path(folder) / task / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
