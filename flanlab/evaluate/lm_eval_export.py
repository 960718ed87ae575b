"""Export our tasks and templates as lm-evaluation-harness tasks over local JSON Lines files.

Each (task, template, format) becomes one lm-eval task whose data file holds the prompts exactly
as flanlab renders them (few-shot exemplars included, so lm-eval runs it with ``num_fewshot: 0``)
and the same options joined with the same delimiter (the rendered examples' layout, written as
lm-eval's ``target_delimiter``). Users can then cross-check a
flanlab score with the tool they know.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import yaml

from flanlab.evaluate.requests import GenerateRequest
from flanlab.evaluate.runner import EvalConfig, Evaluated, available_cards, plan_requests, select_cards
from flanlab.io import atomic_open, write_text
from flanlab.prompts.formats import estimate_tokens
from flanlab.tasks.registry import TaskRegistry


def lm_eval_task_name(task: str, template_id: str, fmt: str) -> str:
    return f"flanlab_{task}_{template_id}_{fmt.replace(':', '')}"


def export_lm_eval(
    registry: TaskRegistry,
    config: EvalConfig,
    out: Path,
    *,
    count_tokens: Callable[[str], int] = estimate_tokens,
    on_skipped: Callable[[dict[str, str]], None] | None = None,
) -> list[str]:
    """Write ``out/<task name>.yaml`` and ``out/data/<task name>.jsonl``; returns the task names.

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
    for run, items in plans:
        name = lm_eval_task_name(run.task, run.template_id, run.format)
        data_path = (out / "data" / f"{name}.jsonl").resolve()
        with atomic_open(data_path) as handle:
            for item in items:
                handle.write(json.dumps(_record(item), ensure_ascii=False) + "\n")
        spec = _task_yaml(name, run.task, data_path, items[0])
        write_text(out / f"{name}.yaml", yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
        names.append(name)
    return names


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
            "generation_kwargs": {"until": list(request.stop), "do_sample": False, "max_gen_toks": request.max_new_tokens},
            "metric_list": [
                {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True, "ignore_case": True,
                 "ignore_punctuation": True}
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
