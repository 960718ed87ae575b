"""The report's first section: what the comparison says, and what was run to get it.

A reader should learn from its first lines whether the arms differ measurably (the paired
difference and its CI decide, never the sign alone), on how many examples, against which model,
after how much training, at what cost in wall time, and how to run it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from flanlab.evaluate.compare import Comparison, PairedDifference
from flanlab.experiments.record import ArmRecord, EvalRecord, ExperimentRecord, MixtureRecord, TrainRecord
from flanlab.models.zoo import MODEL_ZOO
from flanlab.report.collect import TaskScore, arm_labels, score_labels
from flanlab.report.comparisons import format_label, paired_line


def verdict(difference: PairedDifference) -> str:
    """A difference counts only when its CI excludes zero, whatever its sign."""
    if difference.ci_low is None or difference.ci_high is None:
        return "undefined"
    if difference.ci_low > 0:
        return "a measurable improvement"
    if difference.ci_high < 0:
        return "a measurable drop"
    return "no measurable difference"


def answer_markdown(
    record: ExperimentRecord, comparisons: Sequence[Comparison], scores: Sequence[TaskScore], labels: dict[str, str]
) -> str:
    lines = ["## The answer", ""]
    for comparison in comparisons:
        for overall in comparison.overall():
            names = labels.get(comparison.a, comparison.a), labels.get(comparison.b, comparison.b)
            scope = f"{overall.n_datasets} dataset{'s' if overall.n_datasets != 1 else ''}"
            lines += [
                f"**{names[0]} vs {names[1]}, {format_label(overall.format, overall.shots)}, mean over {scope}: "
                f"{verdict(overall)}.**",
                "",
                paired_line(comparison, overall),
                "",
            ]
    lines += what_ran(record, scores)
    return "\n".join(lines) + "\n"


def what_ran(record: ExperimentRecord, scores: Sequence[TaskScore]) -> list[str]:
    items = [_model_line(record)]
    labels = arm_labels(record)
    items += [line for arm in record.arms if (line := _training_line(arm, labels[arm.name]))]
    items += _evaluated_lines(scores)
    if small := record.too_small_to_evaluate:
        names = ", ".join(f"{name} ({size})" for name, size in small.items())
        items.append(
            f"Not evaluated: held-out datasets with too few test examples to resolve a difference "
            f"(test examples in brackets): {names}"
        )
    items += _warning_lines(scores)
    if timing := _timing_line(record):
        items.append(timing)
    if record.command:
        items.append(f"Reproduce: `{record.command}`")
    return [f"- {item}" for item in items] + [""]


def _model_line(record: ExperimentRecord) -> str:
    zoo = MODEL_ZOO.get(record.model)
    if zoo is None:
        return f"Model: {record.model} (not a zoo model: check whether it was instruction-tuned before)"
    return f"Model: {record.model}, {zoo.description}; {zoo.training}"


def _training_line(arm: ArmRecord, name: str) -> str | None:
    train = arm.train
    if not train:
        return None
    steps = f"{train.steps} optimizer steps"
    if train.stopped_by == "max_minutes":
        steps += f" of {train.max_steps} (the minutes cap fired: results depend on this machine's speed)"
    tokens = f", {train.target_tokens:,} target tokens" if train.target_tokens else ""
    loss = f", final loss {train.final_loss:.3f}" if train.final_loss is not None else ""
    rows = f" on a {arm.mixture.rows:,}-row mixture" if arm.mixture else ""
    return f"Training ({name}): {steps}{tokens}{loss}{rows}"


def _evaluated_lines(scores: Sequence[TaskScore]) -> list[str]:
    """Per format: held-out examples and templates per dataset (and which), arms that saw the same
    requests named together."""
    names = score_labels(scores)
    groups: dict[tuple[str, str, int], list[TaskScore]] = defaultdict(list)
    for score in scores:
        groups[(names[score.arm], score.format, score.shots)].append(score)
    described: dict[str, list[str]] = defaultdict(list)
    for (label, fmt, shots), members in groups.items():
        examples = sum(s.n_examples for s in members)
        requests = sum(s.n_examples * s.n_templates for s in members)
        per_dataset = ", ".join(f"{s.task} {s.n_examples}x{s.n_templates} ({'/'.join(s.templates)})" for s in members)
        text = (
            f"{format_label(fmt, shots)}: {examples:,} {members[0].split} examples x their templates = "
            f"{requests:,} predictions; per dataset, examples x templates (template ids): {per_dataset}"
        )
        described[text].append(label)
    return [f"Evaluated ({', '.join(labels)}), {text}" for text, labels in described.items()]


def _warning_lines(scores: Sequence[TaskScore]) -> list[str]:
    """One warning per arm that answers a classification dataset almost constantly; a dataset scored in
    several formats is named once, with the formats in which it is constant."""
    constant: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    datasets: dict[str, set[str]] = defaultdict(set)
    names = score_labels(scores)
    for score in scores:
        if score.answers is not None:
            datasets[names[score.arm]].add(score.task)
            if score.answers.constant:
                constant[names[score.arm]][score.task].append(format_label(score.format, score.shots))
    lines = []
    for label, tasks in constant.items():
        named = "; ".join(f"{task} ({', '.join(formats)})" for task, formats in tasks.items())
        lines.append(
            f"Warning: {label} gives one answer on more than 90% of the requests of {len(tasks)} of its "
            f"{len(datasets[label])} classification datasets ({named}): those scores say little about the task"
        )
    return lines


def _timing_line(record: ExperimentRecord) -> str | None:
    names = arm_labels(record)
    stages = []
    for arm in record.arms:
        units: list[tuple[str, MixtureRecord | TrainRecord | EvalRecord | None]] = [
            ("mixture", arm.mixture),
            ("training", arm.train),
        ]
        units += [("evaluation", evaluation) for evaluation in arm.evals]
        for stage, unit in units:
            if unit is not None and unit.seconds is not None:
                cached = " (cached: from an earlier run)" if unit.reused else ""
                stages.append(f"{stage} ({names[arm.name]}) {_duration(unit.seconds)}{cached}")
    if not stages:
        return None
    total = f"; this invocation {_duration(record.elapsed_s)}" if record.elapsed_s is not None else ""
    return f"Wall time per stage: {' · '.join(stages)}{total}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
