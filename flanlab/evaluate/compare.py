"""Paired comparison of two evaluations of the same requests: the difference and its bootstrap CI.

Two models (arms) answered the same prompts, so their scores differ by less noise than two
independent samples would: the paired bootstrap resamples *examples* and scores both arms on the
same resample. An example keeps all its templates together (a template's prompts of one example
are not independent draws). A cluster (or all datasets) is the mean of its datasets' template means,
as in the results tables, so its resample draws each dataset's examples separately and averages
the datasets' differences. Resamples are seeded per (seed, dataset, format): same inputs, same CI.

Inputs are the evaluator's own files: ``results.json`` (split, ranking, primary metrics) and
``samples.jsonl`` (one row per answered request).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from flanlab.errors import FlanlabError
from flanlab.evaluate.aggregate import TemplateRun, resample_estimates
from flanlab.evaluate.metrics import METRICS, Scored
from flanlab.evaluate.schema import EvalResults, TaskResult, read_results
from flanlab.io import stable_hash

CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000
ALL_DATASETS = "all datasets"
_RANK_KEYS = {"sum": "logprob", "per_token": "per_token", "per_char": "per_char"}
Scope = Literal["dataset", "cluster", "all"]


class PairedDifference(BaseModel):
    """Arm a minus arm b on one dataset, one cluster or all datasets of one format (0-100 points)."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    name: str  # the dataset, the cluster, or ALL_DATASETS
    format: str
    shots: int
    metric: str  # the primary metric (a cluster's datasets may use several: joined by ", ")
    n_datasets: int
    n: int  # paired predictions: examples x templates, summed over datasets
    score_a: float | None  # None where the metric is undefined (AUC on one class)
    score_b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    resamples: int  # resamples the CI rests on (fewer for metrics only their library computes)


class Comparison(BaseModel):
    """Every paired difference between two arms; stored in experiment.json, read by the report."""

    model_config = ConfigDict(extra="forbid")

    a: str  # arm names: differences are a - b
    b: str
    seed: int
    confidence: float = CONFIDENCE
    differences: list[PairedDifference] = Field(default_factory=list)
    unpaired: list[str] = Field(default_factory=list)  # datasets only one arm has, or with no shared request

    def overall(self) -> list[PairedDifference]:
        return [d for d in self.differences if d.scope == "all"]


@dataclass
class PairedDataset:
    """One dataset in one format: both arms' scored requests, aligned template by template."""

    task: str
    cluster: str
    format: str
    shots: int
    metric: str
    a: list[list[Scored]]  # [template][example]
    b: list[list[Scored]]

    @property
    def n_examples(self) -> int:
        return len(self.a[0])

    @property
    def n(self) -> int:
        return len(self.a) * self.n_examples


@dataclass
class _Draws:
    """A dataset's (or cluster's) point estimates and the differences on each resample."""

    score_a: float
    score_b: float
    differences: np.ndarray  # one per resample; NaN where the metric is undefined


def _runs(side: list[list[Scored]], dataset: PairedDataset) -> list[TemplateRun]:
    return [
        TemplateRun(dataset.task, dataset.cluster, dataset.format, dataset.shots, "", "", [dataset.metric], items)
        for items in side
    ]


def _mean_score(runs: list[TemplateRun], metric: str) -> float:
    scores = [METRICS[metric](run.items) for run in runs]
    defined = [s for s in scores if s is not None]
    return float(np.mean(defined)) if defined else float("nan")


def dataset_draws(dataset: PairedDataset, indices: np.ndarray) -> _Draws:
    """Both arms scored on every row of ``indices`` (example indices; every template kept)."""
    runs_a, runs_b = _runs(dataset.a, dataset), _runs(dataset.b, dataset)
    metric = dataset.metric
    differences = resample_estimates(runs_a, metric, indices) - resample_estimates(runs_b, metric, indices)
    return _Draws(_mean_score(runs_a, metric), _mean_score(runs_b, metric), differences)


def resample_indices(dataset: PairedDataset, resamples: int, seed: int) -> np.ndarray:
    """Example indices of every resample, seeded by (seed, dataset, format) only."""
    key = int(stable_hash([seed, dataset.task, dataset.format], 16), 16)
    return np.random.default_rng(key).integers(0, dataset.n_examples, size=(resamples, dataset.n_examples))


def percentile_interval(draws: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, int]:
    """The percentile bootstrap interval of ``draws`` (NaN draws dropped) and how many draws it used."""
    kept = draws[~np.isnan(draws)]
    if len(kept) == 0:
        return float("nan"), float("nan"), 0
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(kept, [tail, 100 - tail])
    return float(low), float(high), len(kept)


def _defined(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _difference(scope: Scope, name: str, members: list[PairedDataset], draws: _Draws) -> PairedDifference:
    low, high, used = percentile_interval(draws.differences)
    return PairedDifference(
        scope=scope,
        name=name,
        format=members[0].format,
        shots=members[0].shots,
        metric=", ".join(dict.fromkeys(d.metric for d in members)),
        n_datasets=len(members),
        n=sum(d.n for d in members),
        score_a=_defined(draws.score_a),
        score_b=_defined(draws.score_b),
        difference=_defined(draws.score_a - draws.score_b),
        ci_low=_defined(low),
        ci_high=_defined(high),
        resamples=used,
    )


def _average(parts: list[_Draws]) -> _Draws:
    """The mean over datasets, resample by resample (each dataset resampled on its own)."""
    width = min(len(p.differences) for p in parts)  # library-only metrics have fewer resamples
    stacked = np.stack([p.differences[:width] for p in parts])
    score_a, score_b = float(np.mean([p.score_a for p in parts])), float(np.mean([p.score_b for p in parts]))
    return _Draws(score_a, score_b, stacked.mean(axis=0))


def paired_differences(datasets: list[PairedDataset], *, resamples: int, seed: int) -> list[PairedDifference]:
    """Per dataset, per (cluster, format) and per format over all datasets."""
    draws = {id(d): dataset_draws(d, resample_indices(d, resamples, seed)) for d in datasets}
    results = [_difference("dataset", d.task, [d], draws[id(d)]) for d in datasets]
    scopes: tuple[tuple[Scope, Callable[[PairedDataset], str]], ...] = (
        ("cluster", lambda d: d.cluster),
        ("all", lambda d: ALL_DATASETS),
    )
    for scope, key in scopes:
        groups: dict[tuple[str, str], list[PairedDataset]] = defaultdict(list)
        for d in datasets:
            groups[(d.format, key(d))].append(d)
        for (_, name), members in groups.items():
            results.append(_difference(scope, name, members, _average([draws[id(d)] for d in members])))
    return results


# ---- reading two evaluations and pairing their requests ----


@dataclass
class _Evaluation:
    results: EvalResults
    # (task, format) -> template id -> example index -> (prompt, scored)
    requests: dict[tuple[str, str], dict[str, dict[int, tuple[str, Scored]]]]


def _scored(row: dict[str, Any], rank_by: str) -> Scored:
    options = tuple(row["options"])
    scores = tuple(row["scores"][_RANK_KEYS[rank_by]]) if row.get("scores") else ()
    gold = tuple(row["gold"])
    return Scored(row["prediction"], gold, row["predicted_index"], row["gold_index"], scores, len(options), options)


def read_evaluation(folder: Path) -> _Evaluation:
    """results.json and the reported split's rows of samples.jsonl of one evaluation folder."""
    folder = Path(folder)
    try:
        lines = (folder / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FlanlabError("a paired comparison needs samples.jsonl", where=str(folder)) from None
    results = read_results(folder / "results.json")
    split, rank_by = results.split, results.rank_by
    requests: dict[tuple[str, str], dict[str, dict[int, tuple[str, Scored]]]] = defaultdict(lambda: defaultdict(dict))
    for line in lines:
        row = json.loads(line)
        if row["split"] == split:
            by_example = requests[(row["task"], row["format"])][row["template_id"]]
            by_example[row["example_index"]] = (row["prompt"], _scored(row, rank_by))
    return _Evaluation(results, requests)


_Side = dict[str, dict[int, tuple[str, Scored]]]  # template id -> example index -> (prompt, scored)


def _aligned(task: TaskResult, side_a: _Side, side_b: _Side, same_prompt: bool) -> PairedDataset | None:
    """Both sides' answers on the templates they share and the examples every one of those templates
    asked of both (with identical prompts where ``same_prompt``); None when nothing is shared."""
    templates = sorted(set(side_a) & set(side_b))
    shared = set.intersection(*(set(side_a[t]) & set(side_b[t]) for t in templates)) if templates else set()
    if same_prompt:
        shared = {i for i in shared if all(side_a[t][i][0] == side_b[t][i][0] for t in templates)}
    if not shared:
        return None
    examples = sorted(shared)
    return PairedDataset(
        task.task,
        task.cluster,
        task.format,
        task.shots,
        task.primary_metric,
        [[side_a[t][i][1] for i in examples] for t in templates],
        [[side_b[t][i][1] for i in examples] for t in templates],
    )


def pair(a: _Evaluation, b: _Evaluation) -> tuple[list[PairedDataset], list[str]]:
    """The datasets both evaluations answered, restricted to requests with identical prompts.

    An example counts only if every shared template asked both arms the same prompt, so each
    resampled example carries the same templates for both.
    """
    tasks_b = {(t.task, t.format): t for t in b.results.tasks}
    paired, unpaired = [], []
    for task in a.results.tasks:
        key = (task.task, task.format)
        other = tasks_b.get(key)
        dataset = None
        if other is not None and other.primary_metric == task.primary_metric:
            dataset = _aligned(task, a.requests[key], b.requests[key], same_prompt=True)
        if dataset is None:
            unpaired.append(f"{key[0]} ({key[1]})")
        else:
            paired.append(dataset)
    return paired, unpaired


def pair_shots(evaluation: _Evaluation, shots_a: int, shots_b: int) -> tuple[list[PairedDataset], list[str]]:
    """One evaluation's ``shots_a`` answers against its ``shots_b`` answers to the same examples and templates.

    The prompts differ by the exemplars only, so requests pair by (template, example), not by prompt.
    """
    by_shots = {(t.task, t.shots): t for t in evaluation.results.tasks}
    paired, unpaired = [], []
    for (task_name, shots), task in sorted(by_shots.items()):
        if shots != shots_a:
            continue
        other = by_shots.get((task_name, shots_b))
        dataset = None
        if other is not None and other.primary_metric == task.primary_metric:
            side_a, side_b = (
                evaluation.requests[(task_name, task.format)],
                evaluation.requests[(task_name, other.format)],
            )
            dataset = _aligned(task, side_a, side_b, same_prompt=False)
        if dataset is None:
            unpaired.append(f"{task_name} ({task.format})")
        else:
            paired.append(dataset)
    return paired, unpaired


def compare_shots(
    folders: list[Path], *, arm: str, shots_a: int, shots_b: int, seed: int, resamples: int = DEFAULT_RESAMPLES
) -> Comparison:
    """One arm's ``shots_a``-shot scores minus its ``shots_b``-shot scores (FLAN Fig. 9), paired per request."""
    pairings = (pair_shots(read_evaluation(folder), shots_a, shots_b) for folder in folders)
    a, b = shots_arm_name(arm, shots_a), shots_arm_name(arm, shots_b)
    return _comparison(pairings, a=a, b=b, seed=seed, resamples=resamples)


def shots_arm_name(arm: str, shots: int) -> str:
    """How a comparison between one arm's shot counts names its sides ("tuned@3-shot")."""
    return f"{arm}@{shots}-shot"


def compare_evaluations(
    a_folders: list[Path], b_folders: list[Path], *, a: str, b: str, seed: int, resamples: int = DEFAULT_RESAMPLES
) -> Comparison:
    """Arm ``a`` minus arm ``b`` over their evaluation folders (matched in order)."""
    pairings = (
        pair(read_evaluation(folder_a), read_evaluation(folder_b))
        for folder_a, folder_b in zip(a_folders, b_folders, strict=True)
    )
    return _comparison(pairings, a=a, b=b, seed=seed, resamples=resamples)


def _comparison(
    pairings: Iterable[tuple[list[PairedDataset], list[str]]], *, a: str, b: str, seed: int, resamples: int
) -> Comparison:
    """The paired differences over every pairing's datasets, with what could not be paired."""
    datasets, unpaired = [], []
    for found, missing in pairings:
        datasets += found
        unpaired += missing
    differences = paired_differences(datasets, resamples=resamples, seed=seed) if datasets else []
    return Comparison(a=a, b=b, seed=seed, differences=differences, unpaired=unpaired)
