"""Aggregation the FLAN way: per template, then across templates, best-dev template, per cluster.

Every template of a task is evaluated on the same examples, so a bootstrap resample of example
indices is shared by all templates: that gives standard errors for one template and for the
template mean alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from flanlab.evaluate.baselines import answer_spread, dataset_lines
from flanlab.evaluate.metrics import METRICS, PER_EXAMPLE, Scored, compute
from flanlab.evaluate.schema import BestDev, ClusterResult, TaskResult, TemplateResult


@dataclass
class TemplateRun:
    """The evaluated examples of one (task, format, split, template)."""

    task: str
    cluster: str
    format: str
    shots: int
    split: str
    template_id: str
    metrics: list[str]  # the first is the task's primary metric
    items: list[Scored] = field(default_factory=list)
    cot_exemplars: str | None = None  # few-shot chain of thought: "rationale", or "direct" (no rationales)

    @property
    def primary(self) -> str:
        return self.metrics[0]


# Corpus metrics without a vectorised form call their library once per resample: cap the count.
LIBRARY_RESAMPLES = 100


def _macro_f1_draws(run: TemplateRun, indices: np.ndarray) -> np.ndarray:
    """Macro F1 (sklearn's definition, zero_division=0) of every resample at once, in numpy.

    Calling sklearn 1,000 times per template takes minutes; tests check this equals sklearn.
    """
    gold = np.array([item.gold_index for item in run.items])[indices]
    predicted = np.array([item.predicted_index for item in run.items])[indices]
    classes = range(max(item.num_options for item in run.items) or 1)
    scores = []
    for c in classes:
        tp = ((gold == c) & (predicted == c)).sum(axis=1)
        fp = ((gold != c) & (predicted == c)).sum(axis=1)
        fn = ((gold == c) & (predicted != c)).sum(axis=1)
        denominator = 2 * tp + fp + fn
        scores.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
    return 100.0 * np.mean(scores, axis=0)


def _balanced_accuracy_draws(run: TemplateRun, indices: np.ndarray) -> np.ndarray:
    """Balanced accuracy (sklearn's: recall averaged over the classes present in gold) of every resample."""
    gold = np.array([item.gold_index for item in run.items])[indices]
    predicted = np.array([item.predicted_index for item in run.items])[indices]
    recalls, present = [], []
    for c in np.unique(gold):
        support = (gold == c).sum(axis=1)
        recalls.append(((gold == c) & (predicted == c)).sum(axis=1) / np.maximum(support, 1))
        present.append(support > 0)
    return 100.0 * (np.array(recalls) * np.array(present)).sum(axis=0) / np.array(present).sum(axis=0)


VECTORISED = {"macro_f1": _macro_f1_draws, "balanced_accuracy": _balanced_accuracy_draws}


def _resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def resample_estimates(runs: Sequence[TemplateRun], metric: str, indices: np.ndarray) -> np.ndarray:
    """The mean over ``runs`` of ``metric`` on every resample (row of ``indices``); NaN where undefined.

    Runs share their examples (same order), so one row resamples every template together. Metrics
    that only their library computes get the first LIBRARY_RESAMPLES rows.
    """
    if metric in PER_EXAMPLE:
        per_example = PER_EXAMPLE[metric]
        values = np.array([[per_example(item) for item in run.items] for run in runs]).mean(axis=0)
        return 100.0 * values[indices].mean(axis=1)
    if metric in VECTORISED:
        return np.mean([VECTORISED[metric](run, indices) for run in runs], axis=0)
    draws = []
    for row in indices[:LIBRARY_RESAMPLES]:
        scores = [METRICS[metric]([run.items[i] for i in row]) for run in runs]
        # undefined on this resample (AUC with a single class)
        draws.append(np.nan if any(score is None for score in scores) else sum(scores) / len(scores))  # type: ignore[arg-type]
    return np.array(draws, dtype=float)


def _bootstrap(runs: Sequence[TemplateRun], metric: str, indices: np.ndarray) -> float | None:
    """Standard error of the mean over ``runs`` of ``metric``, resampling examples jointly."""
    if len(indices) < 2:
        return None
    estimates = resample_estimates(runs, metric, indices)
    estimates = estimates[~np.isnan(estimates)]
    return float(estimates.std(ddof=1)) if len(estimates) >= 2 else None


def template_result(run: TemplateRun, *, resamples: int, seed: int) -> TemplateResult:
    indices = _resample_indices(len(run.items), resamples, seed) if resamples and run.items else np.empty((0, 0))
    return TemplateResult(
        task=run.task,
        cluster=run.cluster,
        format=run.format,
        shots=run.shots,
        split=run.split,
        template_id=run.template_id,
        n=len(run.items),
        primary_metric=run.primary,
        metrics=compute(run.metrics, run.items),
        stderr={name: _bootstrap([run], name, indices) for name in run.metrics} if len(indices) else {},
    )


def task_summary(
    test_runs: Sequence[TemplateRun],
    test_results: Sequence[TemplateResult],
    dev_results: Sequence[TemplateResult],
    *,
    resamples: int,
    seed: int,
) -> TaskResult:
    """Template mean/std/min/max of the primary metric, its standard error, best-dev template, the
    template mean of every other metric, and the dataset's chance/majority lines and answer spread."""
    first = test_runs[0]
    primary = first.primary
    scores = {r.template_id: r.metrics[primary] for r in test_results}
    defined = [s for s in scores.values() if s is not None]
    same_examples = len({len(run.items) for run in test_runs}) == 1 and first.items
    indices = _resample_indices(len(first.items), resamples, seed) if resamples and same_examples else np.empty((0, 0))
    items = [item for run in test_runs for item in run.items]
    return TaskResult(
        task=first.task,
        cluster=first.cluster,
        format=first.format,
        shots=first.shots,
        primary_metric=primary,
        n_templates=len(test_results),
        n_examples=len(first.items),
        template_scores=scores,
        template_mean=statistics.fmean(defined) if defined else None,
        template_std=statistics.stdev(defined) if len(defined) > 1 else 0.0 if defined else None,
        template_min=min(defined) if defined else None,
        template_max=max(defined) if defined else None,
        template_mean_stderr=_bootstrap(test_runs, primary, indices) if len(indices) else None,
        best_dev=_best_dev(scores, dev_results, primary),
        metric_means={name: _template_mean(test_results, name) for name in first.metrics},
        lines=dataset_lines(items),
        answers=answer_spread(items),
    )


def _template_mean(results: Sequence[TemplateResult], metric: str) -> float | None:
    values = [value for r in results if (value := r.metrics.get(metric)) is not None]
    return statistics.fmean(values) if values else None


def _best_dev(
    test_scores: dict[str, float | None], dev_results: Sequence[TemplateResult], primary: str
) -> BestDev | None:
    """The template with the best validation score (first in template order on ties), scored on test."""
    candidates = [(score, r.template_id) for r in dev_results if (score := r.metrics[primary]) is not None]
    if not candidates:
        return None
    best_score = max(score for score, _ in candidates)
    template_id = next(tid for score, tid in candidates if score == best_score)
    return BestDev(template_id=template_id, dev_score=best_score, test_score=test_scores.get(template_id))


def cluster_summaries(tasks: Sequence[TaskResult]) -> list[ClusterResult]:
    """Per (cluster, format): the mean over tasks of the template mean and of the best-dev score."""
    grouped: dict[tuple[str, str], list[TaskResult]] = {}
    for task in tasks:
        grouped.setdefault((task.cluster, task.format), []).append(task)
    summaries = []
    for (cluster, fmt), members in sorted(grouped.items()):
        means = [t.template_mean for t in members if t.template_mean is not None]
        best = [t.best_dev.test_score for t in members if t.best_dev and t.best_dev.test_score is not None]
        summaries.append(
            ClusterResult(
                cluster=cluster,
                format=fmt,
                shots=members[0].shots,
                n_tasks=len(members),
                tasks=[t.task for t in members],
                template_mean=statistics.fmean(means) if means else None,
                best_dev_mean=statistics.fmean(best) if len(best) == len(members) and best else None,
            )
        )
    return summaries
