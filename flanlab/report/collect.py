"""Read an experiment folder's saved results into plain rows for tables and figures.

An experiment folder holds ``experiment.json`` (`flanlab.experiments.record`) pointing at each
arm's evaluation ``results.json`` (`flanlab.evaluate.schema`) and training log. Nothing here runs
a model: a report can always be rebuilt from these files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flanlab.evaluate.baselines import AnswerSpread, DatasetLines
from flanlab.evaluate.schema import read_results
from flanlab.experiments.record import ArmRecord, EvalRecord, ExperimentRecord


@dataclass(frozen=True)
class TaskScore:
    """One arm's score on one dataset in one format: the template mean and spread."""

    arm: str
    label: str
    series: str
    x: float | None
    task: str
    cluster: str
    format: str
    shots: int
    metric: str
    mean: float
    std: float
    n_templates: int
    n_examples: int
    best_dev_test: float | None
    metric_means: dict[str, float | None]  # template mean of every metric (balanced accuracy beside accuracy)
    lines: DatasetLines | None  # chance and majority (classification only)
    answers: AnswerSpread | None  # the arm's most frequent answer
    suite: str = "held-out"  # the evaluation suite (held-in, CoT, BBH, a held-out cluster...)
    split: str = "test"
    templates: tuple[str, ...] = ()  # the template ids scored


def task_scores(folder: Path, record: ExperimentRecord) -> list[TaskScore]:
    """Every (arm, dataset, format) score of the experiment, in arm order."""
    rows: list[TaskScore] = []
    for arm in record.arms:
        several_suites = len({evaluation.suite for evaluation in arm.evals}) > 1
        for evaluation in arm.evals:
            results = read_results(Path(folder) / evaluation.results)
            key, label = _arm_key(arm, evaluation, several_suites)
            for task in results.tasks:
                if task.template_mean is None:
                    continue
                rows.append(
                    TaskScore(
                        arm=key,
                        label=label,
                        series=arm.series or arm.label,
                        x=arm.x,
                        task=task.task,
                        cluster=task.cluster,
                        format=task.format,
                        shots=task.shots,
                        metric=task.primary_metric,
                        mean=task.template_mean,
                        std=task.template_std or 0.0,
                        n_templates=task.n_templates,
                        n_examples=task.n_examples,
                        best_dev_test=task.best_dev.test_score if task.best_dev else None,
                        metric_means=task.metric_means,
                        lines=task.lines,
                        answers=task.answers,
                        suite=evaluation.suite,
                        split=evaluation.split,
                        templates=tuple(task.template_scores),
                    )
                )
    return rows


def arm_labels(record: ExperimentRecord) -> dict[str, str]:
    """What text calls each arm: its label, or its name where arms share a label (Fig. 5's base and
    tuned arms are both labelled by their cluster, which figures use as the x position)."""
    counts = Counter(arm.label for arm in record.arms)
    return {arm.name: arm.label if counts[arm.label] == 1 else arm.name for arm in record.arms}


def score_labels(scores: Sequence[TaskScore]) -> dict[str, str]:
    """The same for score rows (keyed by ``TaskScore.arm``): the label, or the row key where shared."""
    owners: dict[str, set[str]] = {}
    for score in scores:
        owners.setdefault(score.label, set()).add(score.arm)
    return {score.arm: score.label if len(owners[score.label]) == 1 else score.arm for score in scores}


def _arm_key(arm: ArmRecord, evaluation: EvalRecord, several_suites: bool) -> tuple[str, str]:
    """The row key and label of one evaluation of an arm: the arm's, plus its suite when the arm has
    several, plus its variant (e.g. prompts with the dataset name) when it has one."""
    key, label = arm.name, arm.label
    if several_suites:
        key, label = f"{key}@{evaluation.suite}", f"{label} · {evaluation.suite}"
    if evaluation.variant:
        key, label = f"{key}/{evaluation.variant}", f"{label} ({evaluation.variant})"
    return key, label


def validation_curves(record: ExperimentRecord) -> dict[str, list[tuple[int, float]]]:
    """Each arm's (step, validation score) pairs, for arms that kept their best checkpoint."""
    return {
        arm.label: [(point.step, point.score) for point in arm.train.validation]
        for arm in record.arms
        if arm.train and arm.train.validation
    }


def cot_direct_exemplars(folder: Path, record: ExperimentRecord) -> dict[str, list[str]]:
    """Per arm label, the datasets whose chain-of-thought exemplars fell back to direct answers."""
    found: dict[str, dict[str, None]] = {}  # label -> tasks, in first-seen order
    for arm in record.arms:
        for evaluation in arm.evals:
            tasks = read_results(Path(folder) / evaluation.results).cot_direct_exemplars
            found.setdefault(arm.label, {}).update(dict.fromkeys(tasks))
    return {label: list(tasks) for label, tasks in found.items() if tasks}


def loss_curves(folder: Path, record: ExperimentRecord) -> dict[str, list[tuple[int, float]]]:
    """Each trained arm's (step, loss) pairs from its train_log.jsonl."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for arm in record.arms:
        if arm.train is None:
            continue
        log = arm.train.log
        points = []
        for line in (Path(folder) / log).read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if "loss" in entry and "step" in entry:
                points.append((int(entry["step"]), float(entry["loss"])))
        curves[arm.label if arm.label not in curves else arm.name] = points
    return curves
