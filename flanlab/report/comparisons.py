"""The parts of a report that say how far to trust a number: paired differences with their CIs,
chance and majority lines, balanced accuracy, and constant-predictor warnings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flanlab.evaluate.compare import Comparison, PairedDifference
from flanlab.experiments.record import ExperimentRecord
from flanlab.figures import new_figure
from flanlab.report.collect import TaskScore

MAX_FIGURE_ROWS = 40  # beyond this the differences figure keeps cluster and overall rows only


def format_label(fmt: str, shots: int) -> str:
    kind = "CoT " if fmt.startswith("cot") else ""
    return f"{kind}{'zero-shot' if shots == 0 else f'{shots}-shot'}"


def _signed(value: float) -> str:
    return f"{value:+.1f}"


def paired_line(comparison: Comparison, difference: PairedDifference) -> str:
    """``paired difference (tuned - base): +1.2 pp, 95% CI [-0.8, +3.1], n = 1311``"""
    head = f"paired difference ({comparison.a} - {comparison.b}):"
    if difference.difference is None or difference.ci_low is None or difference.ci_high is None:
        return f"{head} undefined ({difference.metric} is undefined on these requests), n = {difference.n}"
    interval = f"[{_signed(difference.ci_low)}, {_signed(difference.ci_high)}]"
    return f"{head} {_signed(difference.difference)} pp, {comparison.confidence:.0%} CI {interval}, n = {difference.n}"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _row(difference: PairedDifference, reference: tuple[float | None, float | None]) -> str:
    change, low, high = difference.difference, difference.ci_low, difference.ci_high
    interval = "-" if low is None or high is None else f"[{_signed(low)}, {_signed(high)}]"
    change_text = "-" if change is None else _signed(change)
    return (
        f"| {difference.scope} | {difference.name} | {difference.metric} | {_value(difference.score_b)} | "
        f"{_value(difference.score_a)} | {change_text} | {interval} | {difference.n} | "
        f"{_value(reference[0])} | {_value(reference[1])} |"
    )


def _reference(difference: PairedDifference, scores: Sequence[TaskScore]) -> tuple[float | None, float | None]:
    """Chance and majority of a dataset, or their means over a cluster's (or every) dataset."""
    members = {
        s.task: s.lines
        for s in scores
        if s.format == difference.format
        and s.shots == difference.shots
        and s.lines is not None
        and (difference.scope == "all" or (s.cluster if difference.scope == "cluster" else s.task) == difference.name)
    }
    if not members:
        return None, None
    lines = list(members.values())
    return sum(x.chance for x in lines) / len(lines), sum(x.majority for x in lines) / len(lines)


def comparison_markdown(
    comparisons: Sequence[Comparison], labels: dict[str, str], scores: Sequence[TaskScore] = ()
) -> str:
    """One block per compared pair and format: the paired line, then clusters and datasets."""
    if not comparisons:
        return ""
    first = comparisons[0]
    lines = [
        "## Paired comparisons",
        "",
        f"Both arms answered the same requests. Differences are in points of each dataset's primary metric "
        f"(pp), with a paired bootstrap {first.confidence:.0%} CI: examples are resampled with all their "
        f"templates ({first.differences[0].resamples if first.differences else 0} resamples, seed {first.seed}); "
        "a cluster or all datasets is the mean of its datasets, each resampled on its own. "
        "n counts paired predictions (examples x templates). Chance and majority: accuracy of input-blind "
        "answering (a cluster's: the mean over its datasets).",
        "",
    ]
    for comparison in comparisons:
        names = (labels.get(comparison.b, comparison.b), labels.get(comparison.a, comparison.a))
        for overall in comparison.overall():
            same_format = [d for d in comparison.differences if d.format == overall.format and d.scope != "all"]
            title = f"{names[1]} vs {names[0]}, {format_label(overall.format, overall.shots)}"
            count = f"{overall.n_datasets} dataset{'s' if overall.n_datasets != 1 else ''}"
            lines += [f"### {title} (mean over {count}; its paired line leads the report)", ""]
            header = (
                f"| scope | name | metric | {names[0]} | {names[1]} | difference | 95% CI | n | chance | majority |"
            )
            lines += [header, "|---" * 10 + "|"]
            ordered = sorted(same_format, key=lambda d: (d.scope != "cluster", d.name))
            lines += [_row(d, _reference(d, scores)) for d in ordered]
            lines.append("")
        if comparison.unpaired:
            lines += [f"Not paired (one arm only, or no identical prompt): {', '.join(comparison.unpaired)}", ""]
    return "\n".join(lines)


def reference_markdown(scores: Sequence[TaskScore]) -> str:
    """Classification datasets: accuracy beside balanced accuracy, each arm's most frequent answer,
    and a warning for every constant predictor."""
    rows = [s for s in scores if s.lines is not None]
    if not rows:
        return ""
    lines = [
        "## Classification: reference lines and answer spread",
        "",
        "Chance: a uniform guess among each request's options. Majority: always giving the most frequent gold "
        "answer of the evaluated split (an option's text when every request shows the same options, else its "
        "position).",
        "",
        "| dataset | arm | format | accuracy | balanced accuracy | chance | majority (answer) "
        "| most frequent answer (share) |",
        "|---" * 8 + "|",
    ]
    warnings = []
    for s in rows:
        ref, answers = s.lines, s.answers
        assert ref is not None
        top = f"{answers.top_answer} ({answers.top_share:.0%})" if answers else "-"
        lines.append(
            f"| {s.task} | {s.label} | {format_label(s.format, s.shots)} | {_value(s.metric_means.get('accuracy'))} | "
            f"{_value(s.metric_means.get('balanced_accuracy'))} | {ref.chance:.1f} | {ref.majority:.1f} "
            f"({ref.majority_answer}) | {top} |"
        )
        if answers and answers.constant:
            warnings.append(
                f"- warning: {s.label} answers {answers.top_answer} on {answers.top_share:.0%} of {s.task} requests "
                f"({format_label(s.format, s.shots)}): a constant predictor, its score says nothing about the task"
            )
    return "\n".join(lines + [""] + warnings) + "\n"


def _figure_rows(comparisons: Sequence[Comparison]) -> list[tuple[str, PairedDifference]]:
    rows = [
        (f"{c.a} - {c.b} · {d.name} ({format_label(d.format, d.shots)})", d)
        for c in comparisons
        for d in c.differences
        if d.difference is not None and d.ci_low is not None
    ]
    if len(rows) > MAX_FIGURE_ROWS:
        rows = [(label, d) for label, d in rows if d.scope != "dataset"]
    return rows


def plot_differences(record: ExperimentRecord, comparisons: Sequence[Comparison], path: Path) -> Path | None:
    """Each paired difference as a point with its 95% CI; zero (no difference) as a line."""
    rows = _figure_rows(comparisons)
    if not rows:
        return None
    figure, axis = new_figure(8, 1.2 + 0.32 * len(rows))
    colours = {"dataset": "tab:blue", "cluster": "tab:orange", "all": "tab:red"}
    for position, (_, d) in enumerate(rows):
        low, high = d.difference - d.ci_low, d.ci_high - d.difference  # type: ignore[operator]
        axis.errorbar(d.difference, position, xerr=[[low], [high]], fmt="o", capsize=3, color=colours[d.scope])
    for scope, colour in colours.items():
        axis.plot([], [], "o", color=colour, label=scope)  # legend entries only
    axis.axvline(0.0, color="black", linewidth=0.8, linestyle="--")
    axis.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=7)
    axis.invert_yaxis()
    axis.set_xlabel("paired difference (points of the primary metric), 95% bootstrap CI")
    axis.set_title(f"Paired differences\n{record.title}", fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path
