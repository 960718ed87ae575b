"""The evaluation outputs: results.json and timing.json (`flanlab.evaluate.schema`), samples.jsonl,
results.md."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from flanlab.evaluate.aggregate import TemplateRun, cluster_summaries, task_summary, template_result
from flanlab.evaluate.baselines import CONSTANT_SHARE
from flanlab.evaluate.requests import OptionScores
from flanlab.evaluate.schema import EvalResults, ModelInfo, TaskResult
from flanlab.io import atomic_open, write_text
from flanlab.models.zoo import resolve_model_path


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def build_results(
    config: Any,
    runs: list[TemplateRun],
    *,
    fingerprint: str,
    model_kind: str,
    precision: str,
    skipped: dict[str, str],
) -> EvalResults:
    resamples, seed = config.bootstrap_resamples, config.seed
    templates = [template_result(run, resamples=resamples, seed=seed) for run in runs]
    tasks = []
    keys = list(dict.fromkeys((run.task, run.format) for run in runs))
    for task, fmt in keys:
        test = [
            (run, res)
            for run, res in zip(runs, templates)
            if (run.task, run.format, run.split) == (task, fmt, config.split)
        ]
        dev = [
            res
            for run, res in zip(runs, templates)
            if (run.task, run.format, run.split) == (task, fmt, config.dev_split)
        ]
        if not test:
            continue
        tasks.append(
            task_summary(
                [r for r, _ in test],
                [res for _, res in test],
                dev if config.best_dev else [],
                resamples=resamples,
                seed=seed,
            )
        )
    model = ModelInfo(
        name=config.model, path=resolve_model_path(config.model), fingerprint=fingerprint, kind=model_kind
    )
    return EvalResults(
        model=model,
        config=config.model_dump(mode="json"),
        precision=precision,
        seed=config.seed,
        git_commit=git_commit(),
        templates=templates,
        tasks=tasks,
        clusters=cluster_summaries(tasks),
        cot_direct_exemplars=sorted({run.task for run in runs if run.cot_exemplars == "direct"}),
        skipped=skipped,
    )


def write_outputs(
    out: Path, results: EvalResults, runs: list[TemplateRun], plans: list | None, answers: dict[str, Any]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results.write(out)
    write_text(out / "results.md", markdown_report(results))
    if plans is not None:
        write_samples(out / "samples.jsonl", plans, runs, answers)


def write_samples(path: Path, plans: list, runs: list[TemplateRun], answers: dict[str, Any]) -> None:
    with atomic_open(path) as handle:
        for (_, items), run in zip(plans, runs):
            for item, scored in zip(items, run.items):
                answer = answers[item.request.cache_key()]
                row = {
                    "task": run.task,
                    "format": run.format,
                    "split": run.split,
                    "template_id": run.template_id,
                    "example_index": item.example_index,
                    "prompt": item.request.prompt,  # the chat format's prompt holds the template's text
                    "options": list(item.rendered.options),
                    "scores": _scores_row(answer) if isinstance(answer, OptionScores) else None,
                    "generation": answer if isinstance(answer, str) else None,
                    "prediction": scored.prediction,
                    "predicted_index": scored.predicted_index,
                    "gold": list(scored.references),
                    "gold_index": scored.gold_index,
                }
                handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def _scores_row(scores: OptionScores) -> dict[str, list]:
    return {**scores.to_json(), "per_token": list(scores.per_token), "per_char": list(scores.per_char)}


def _fmt(value: float | None, stderr: float | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ± {stderr:.1f}" if stderr is not None else f"{value:.1f}"


def _reference_lines(tasks: list[TaskResult]) -> list[str]:
    """Classification tasks: accuracy beside balanced accuracy, chance and majority lines, top answer."""
    rows = [t for t in tasks if t.lines]
    if not rows:
        return []
    lines = ["", "### Classification: reference lines (accuracy, 0-100; template means)", ""]
    header = ["task", "format", "accuracy", "balanced accuracy", "chance", "majority (answer)"]
    header.append("most frequent answer (share)")
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for t in rows:
        means, ref, answers = t.metric_means, t.lines, t.answers
        assert ref is not None  # rows have lines
        top_share = answers.top_share if answers else 0
        flag = " constant predictor" if top_share > CONSTANT_SHARE else ""
        lines.append(
            f"| {t.task} | {t.format} | {_fmt(means.get('accuracy'))} | {_fmt(means.get('balanced_accuracy'))} | "
            f"{_fmt(ref.chance)} | {_fmt(ref.majority)} ({ref.majority_answer}) | "
            f"{answers.top_answer if answers else '-'} ({100 * top_share:.0f}%){flag} |"
        )
    return lines


def markdown_report(results: EvalResults) -> str:
    """Per-template scores, the template mean/std per task, and per-cluster means, as Markdown."""
    chat = " in its chat template" if results.config.get("chat_template") else ""
    lines = [f"## Evaluation of {results.model.name} ({results.model.fingerprint}){chat}", ""]
    lines += [
        "### Per template",
        "",
        "| task | format | template | metric | score ± se | n |",
        "|---|---|---|---|---|---|",
    ]
    for r in results.templates:
        if r.split != results.split:
            continue
        metric = r.primary_metric
        lines.append(
            f"| {r.task} | {r.format} | {r.template_id} | {metric} | "
            f"{_fmt(r.metrics[metric], r.stderr.get(metric))} | {r.n} |"
        )
    lines += ["", "### Per task (across templates)", ""]
    lines += [
        "| task | format | metric | templates | mean ± se | std | min | max | best-dev template | best-dev test |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|---|---|"]
    for t in results.tasks:
        best_id, best_test = (t.best_dev.template_id, t.best_dev.test_score) if t.best_dev else ("-", None)
        lines.append(
            f"| {t.task} | {t.format} | {t.primary_metric} | {t.n_templates} | "
            f"{_fmt(t.template_mean, t.template_mean_stderr)} | {_fmt(t.template_std)} | "
            f"{_fmt(t.template_min)} | {_fmt(t.template_max)} | {best_id} | {_fmt(best_test)} |"
        )
    lines += _reference_lines(results.tasks)
    lines += [
        "",
        "### Per cluster",
        "",
        "| cluster | format | tasks | template mean | best-dev mean |",
        "|---|---|---|---|---|",
    ]
    for c in results.clusters:
        lines.append(f"| {c.cluster} | {c.format} | {c.n_tasks} | {_fmt(c.template_mean)} | {_fmt(c.best_dev_mean)} |")
    if results.cot_direct_exemplars:
        lines += ["", cot_fallback_note(results.cot_direct_exemplars)]
    return "\n".join(lines) + "\n"


def cot_fallback_note(tasks: list[str]) -> str:
    return (
        f"Chain-of-thought few-shot fell back to direct-answer exemplars (no rationales in the train split) for: "
        f"{', '.join(tasks)}."
    )
