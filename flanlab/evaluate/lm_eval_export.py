"""Export our tasks and templates as lm-evaluation-harness tasks over local JSON Lines files.

Each (task, template, format) becomes one lm-eval task whose data file holds the prompts exactly
as flanlab renders them (few-shot exemplars included, so lm-eval runs it with ``num_fewshot: 0``)
and the same options joined with the same delimiter (the rendered examples' layout, written as
lm-eval's ``target_delimiter``). Each (cluster, format) also becomes an lm-eval group (``flanlab_nli``
for zero-shot, ``flanlab_nli_fewshot3`` for 3-shot) holding all of its template tasks, so
``lm_eval --tasks flanlab_nli`` runs a whole held-out cluster. Users can then cross-check a flanlab
score with the tool they know.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flanlab.evaluate.requests import GenerateRequest
from flanlab.evaluate.runner import EvalConfig, Evaluated, available_cards, plan_requests, select_cards
from flanlab.io import atomic_open, write_text
from flanlab.prompts.formats import estimate_tokens
from flanlab.tasks.registry import TaskRegistry


@dataclass(frozen=True)
class LmEvalExport:
    tasks: list[str]  # one per (task, template, format)
    groups: list[str]  # one per (cluster, format)


def lm_eval_task_name(task: str, template_id: str, fmt: str) -> str:
    return f"flanlab_{task}_{template_id}_{fmt.replace(':', '')}"


def lm_eval_group_name(cluster: str, fmt: str) -> str:
    """Zero-shot, FLAN's headline setting, gets the plain name: ``flanlab_nli``; else ``flanlab_nli_fewshot3``."""
    return f"flanlab_{cluster}" if fmt == "zeroshot" else f"flanlab_{cluster}_{fmt.replace(':', '')}"


def export_lm_eval(
    registry: TaskRegistry,
    config: EvalConfig,
    out: Path,
    *,
    count_tokens: Callable[[str], int] = estimate_tokens,
    on_skipped: Callable[[dict[str, str]], None] | None = None,
) -> LmEvalExport:
    """Write ``out/<task name>.yaml``, ``out/data/<task name>.jsonl`` and ``out/<group name>.yaml``.

    ``count_tokens`` decides how many few-shot exemplars fit; pass the model's tokenizer count to
    get the very prompts `flanlab eval` scores for that model. Selected tasks whose data cannot be
    had are skipped as `evaluate` skips them (``on_skipped`` hears which).
    """
    config = config.model_copy(update={"best_dev": False})
    cards, skipped = available_cards(select_cards(registry, config.tasks, config.collections), config)
    if on_skipped and skipped:
        on_skipped(skipped)
    plans = plan_requests(cards, config, count_tokens)
    names = []
    members: dict[str, list[tuple[str, str]]] = {}  # group -> (task name, output type)
    for run, items in plans:
        name = lm_eval_task_name(run.task, run.template_id, run.format)
        data_path = (out / "data" / f"{name}.jsonl").resolve()
        with atomic_open(data_path) as handle:
            for item in items:
                handle.write(json.dumps(_record(item), ensure_ascii=False) + "\n")
        spec = _task_yaml(name, run.task, data_path, items[0])
        write_text(out / f"{name}.yaml", yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
        names.append(name)
        members.setdefault(lm_eval_group_name(run.cluster, run.format), []).append((name, spec["output_type"]))
    for group, tasks in members.items():
        write_text(out / f"{group}.yaml", yaml.safe_dump(_group_yaml(group, tasks), sort_keys=False))
    return LmEvalExport(names, list(members))


def _group_yaml(group: str, tasks: list[tuple[str, str]]) -> dict[str, Any]:
    """A group averaging its template tasks with equal weight (lm-eval averages leaf tasks, not datasets)."""
    metrics = {"multiple_choice": ["acc", "acc_norm"], "generate_until": ["exact_match"]}
    wanted = dict.fromkeys(metric for _, kind in tasks for metric in metrics[kind])
    return {
        "group": group,
        "task": [name for name, _ in tasks],
        "aggregate_metric_list": [{"metric": m, "aggregation": "mean", "weight_by_size": False} for m in wanted],
        "metadata": {"version": 1.0, "exported_by": "flanlab"},
    }


def _record(item: Evaluated) -> dict[str, Any]:
    rendered = item.rendered
    return {
        "example_index": item.example_index,
        "prompt": rendered.inputs,
        "options": list(rendered.options),
        "answer_index": rendered.answer_index,
        "target": (rendered.references or (rendered.targets,))[0],
        "references": list(rendered.references),
    }


def _task_yaml(name: str, task: str, data_path: Path, first: Evaluated) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "task": name,
        "tag": ["flanlab", f"flanlab_{task}"],
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_path)}},
        "test_split": "test",
        "doc_to_text": "prompt",
        "target_delimiter": first.rendered.delimiter,
        "num_fewshot": 0,
        "metadata": {"version": 1.0, "exported_by": "flanlab"},
    }
    request = first.request
    if isinstance(request, GenerateRequest):
        spec |= {
            "output_type": "generate_until",
            "doc_to_target": "target",
            "generation_kwargs": {
                "until": list(request.stop),
                "do_sample": False,
                "max_gen_toks": request.max_new_tokens,
            },
            "metric_list": [
                {
                    "metric": "exact_match",
                    "aggregation": "mean",
                    "higher_is_better": True,
                    "ignore_case": True,
                    "ignore_punctuation": True,
                }
            ],
        }
    else:
        spec |= {
            "output_type": "multiple_choice",
            "doc_to_choice": "options",
            "doc_to_target": "answer_index",
            "metric_list": [
                {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
            ],
        }
    return spec
