"""A study's results page (docs/results/<name>.md) and the summary table of every page.

A page says what the paper found, what this run measured (each expected comparison with its paired
95% CI and n) and a verdict that follows from those CIs alone:

- reproduced: every comparison the paper makes differs measurably in the paper's direction;
- not reproduced: at least one differs measurably against it, and none with it;
- inconclusive at this scale: anything else (most often, every CI spans zero).

Next to each page a small JSON file holds the same verdict for programs and for the summary table.
A hand-written `notes/<name>.md` in the same folder, if there is one, is included as "Reading this
result" (what the numbers mean), so regenerating a page never loses it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from flanlab.evaluate.compare import Comparison, PairedDifference
from flanlab.experiments.record import ExperimentRecord, Finding, read_experiment
from flanlab.io import write_json, write_text
from flanlab.report.answer import what_ran
from flanlab.report.build import markdown_tables
from flanlab.report.collect import TaskScore, arm_labels, score_labels, task_scores
from flanlab.report.comparisons import comparison_markdown, format_label

Outcome = Literal["as the paper found", "against the paper", "no measurable difference", "undefined"]
Verdict = Literal["reproduced", "not reproduced", "inconclusive at this scale"]
RESOLUTION_PP = 3.0  # the paired difference a study's evaluation should be able to resolve


class CheckedComparison(BaseModel):
    """One comparison the paper makes, in one format, as this run measured it."""

    a: str
    b: str
    format: str
    expected: Literal["improvement", "drop"]
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    outcome: Outcome


class PageSummary(BaseModel):
    """What the summary table needs of one page (docs/results/<name>.json)."""

    name: str
    title: str
    figure: str
    finding: str
    verdict: Verdict
    why: str
    checks: list[CheckedComparison]
    page: str


def _outcome(difference: PairedDifference, expected: str) -> Outcome:
    if difference.ci_low is None or difference.ci_high is None:
        return "undefined"
    sign = 1 if expected == "improvement" else -1
    if (difference.ci_low > 0 and sign > 0) or (difference.ci_high < 0 and sign < 0):
        return "as the paper found"
    if difference.ci_low > 0 or difference.ci_high < 0:
        return "against the paper"
    return "no measurable difference"


def check_finding(finding: Finding, comparisons: Sequence[Comparison]) -> list[CheckedComparison]:
    """Each comparison the paper makes (``finding.expect``), per format, over all datasets."""
    checks = []
    for comparison in comparisons:
        expected = finding.expect.get(comparison.a)
        if expected is None:
            continue
        for overall in comparison.overall():
            checks.append(
                CheckedComparison(
                    a=comparison.a,
                    b=comparison.b,
                    format=format_label(overall.format, overall.shots),
                    expected=expected,
                    difference=overall.difference,
                    ci_low=overall.ci_low,
                    ci_high=overall.ci_high,
                    n=overall.n,
                    outcome=_outcome(overall, expected),
                )
            )
    return checks


def study_verdict(checks: Sequence[CheckedComparison]) -> tuple[Verdict, str]:
    """The verdict and one sentence saying why, from the checked comparisons alone."""
    if not checks:
        return "inconclusive at this scale", "no comparison the paper makes was measured"
    found = sum(check.outcome == "as the paper found" for check in checks)
    against = sum(check.outcome == "against the paper" for check in checks)
    widths = [(c.ci_high - c.ci_low) / 2 for c in checks if c.ci_low is not None and c.ci_high is not None]
    spread = "no CI"
    if widths:
        low, high = min(widths), max(widths)
        spread = f"95% CI half-width {low:.1f} pp" if low == high else f"95% CI half-widths {low:.1f}-{high:.1f} pp"
    if found == len(checks):
        return "reproduced", f"all {len(checks)} comparisons differ measurably in the paper's direction ({spread})"
    if against and not found:
        return "not reproduced", (
            f"{against} of {len(checks)} comparisons differ measurably against the paper's direction, none with it "
            f"({spread})"
        )
    if found or against:
        return "inconclusive at this scale", (
            f"mixed: {found} of {len(checks)} comparisons differ measurably in the paper's direction, {against} "
            f"against it, the rest inside their CIs ({spread})"
        )
    if len(checks) == 1:
        return "inconclusive at this scale", f"no measurable difference: the 95% CI spans zero ({spread})"
    return "inconclusive at this scale", (
        f"no measurable difference in any of the {len(checks)} comparisons: every 95% CI spans zero ({spread})"
    )


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def _checks_table(checks: Sequence[CheckedComparison], labels: dict[str, str]) -> list[str]:
    lines = [
        "| comparison | format | difference (pp) | 95% CI | half-width | n | paper's sign | outcome |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for check in checks:
        width = "n/a"
        interval = "n/a"
        if check.ci_low is not None and check.ci_high is not None:
            interval = f"[{check.ci_low:+.1f}, {check.ci_high:+.1f}]"
            width = f"{(check.ci_high - check.ci_low) / 2:.1f}"
        names = f"{labels.get(check.a, check.a)} - {labels.get(check.b, check.b)}"
        lines.append(
            f"| {names} | {check.format} | {_signed(check.difference)} | {interval} | {width} | {check.n:,} | "
            f"{check.expected} | {check.outcome} |"
        )
    return lines


def _against_chance(scores: Sequence[TaskScore]) -> list[str]:
    """Each arm's mean over datasets per suite and format, beside the mean chance and majority lines."""
    names = score_labels(scores)
    groups: dict[tuple[str, str, str], list[TaskScore]] = {}
    for score in scores:
        groups.setdefault((names[score.arm], score.suite, format_label(score.format, score.shots)), []).append(score)
    rows, below = [], 0
    for (label, suite, fmt), members in groups.items():
        average = sum(s.mean for s in members) / len(members)
        lines = [s.lines for s in members if s.lines is not None]
        chance = majority = "-"
        if len(lines) == len(members):
            chance = f"{sum(line.chance for line in lines) / len(lines):.1f}"
            top = sum(line.majority for line in lines) / len(lines)
            majority = f"{top:.1f}"
            below += average <= top
        rows.append(f"| {label} | {suite} | {fmt} | {len(members)} | {average:.1f} | {chance} | {majority} |")
    return [
        f"Scores against input-blind answering (mean over datasets; {below} of {len(rows)} rows at or below the "
        "majority-class line, where a model answering one option always would score):",
        "",
        "| arm | suite | format | datasets | mean score | chance | majority |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _copy_summaries(folder: Path, record: ExperimentRecord, figures: dict[str, Path], target: Path) -> list[Path]:
    """Copy the figures, experiment.json and each evaluation's results.json (no weights, no samples).

    Returns the copied figures."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(folder / "experiment.json", target / "experiment.json")
    for evaluation in (evaluation for arm in record.arms for evaluation in arm.evals):
        destination = target / evaluation.results
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / evaluation.results, destination)
    return [Path(shutil.copy2(path, target / path.name)) for path in figures.values() if path.suffix == ".png"]


def _notes(notes: str | None) -> list[str]:
    return ["## Reading this result", "", notes.strip(), ""] if notes else []


def _page_markdown(
    record: ExperimentRecord,
    scores: Sequence[TaskScore],
    labels: dict[str, str],
    summary: PageSummary,
    details: str,
    figures: list[Path],
    command: str,
    notes: str | None,
) -> str:
    lines = [
        f"# {record.figure}: {record.title}",
        "",
        f"**Verdict: {summary.verdict}.** {summary.why[0].upper()}{summary.why[1:]}.",
        "",
        "## The paper's finding",
        "",
        summary.finding,
        "",
        *_notes(notes),
        "## What this run measured",
        "",
        *([record.description, ""] if record.description else []),
        f"Each comparison the paper makes, as a paired difference over all evaluated datasets (arms answered the "
        f"same requests; 95% CI by paired bootstrap over examples). A study at this scale aims to resolve "
        f"{RESOLUTION_PP:.0f} points: a half-width above that cannot.",
        "",
        *_checks_table(summary.checks, labels),
        "",
        *_against_chance(scores),
        *what_ran(record, scores),
        f"Page: `{command}`",
        "",
        "## Figures",
        "",
        *[f"![{path.stem}]({path.parent.name}/{path.name})\n" for path in figures],
        details,
    ]
    return "\n".join(lines).rstrip() + "\n"


def publish_page(folder: Path, out: Path, command: str, figures: dict[str, Path]) -> PageSummary:
    """Write out/<name>.md (with its figures in out/<name>/) and out/<name>.json from one experiment folder.

    ``figures``: what `build_report` wrote for that folder (the page copies its figures)."""
    folder, out = Path(folder), Path(out)
    record = read_experiment(folder)
    scores = task_scores(folder, record)
    finding = record.finding or Finding(text="(the config states no finding)")
    checks = check_finding(finding, record.comparisons)
    verdict, why = study_verdict(checks)
    summary = PageSummary(
        name=record.name,
        title=record.title,
        figure=record.figure,
        finding=finding.text,
        verdict=verdict,
        why=why,
        checks=checks,
        page=f"{record.name}.md",
    )
    labels = arm_labels(record)
    details = comparison_markdown(record.comparisons, labels, scores) + "\n" + markdown_tables(record, scores)
    copied = _copy_summaries(folder, record, figures, out / record.name)
    notes_file = out / "notes" / f"{record.name}.md"  # a person's reading of the numbers, kept across regenerations
    notes = notes_file.read_text(encoding="utf-8") if notes_file.exists() else None
    write_text(out / summary.page, _page_markdown(record, scores, labels, summary, details, copied, command, notes))
    write_json(out / f"{record.name}.json", summary.model_dump(mode="json"))
    return summary


def read_summaries(out: Path) -> list[PageSummary]:
    return [PageSummary.model_validate(json.loads(path.read_text())) for path in sorted(Path(out).glob("*.json"))]


def _measured_cell(summary: PageSummary) -> str:
    if not summary.checks:
        return "no comparison the paper makes"
    cells = []
    for check in summary.checks:
        interval = (
            "n/a" if check.ci_low is None or check.ci_high is None else f"[{check.ci_low:+.1f}, {check.ci_high:+.1f}]"
        )
        cells.append(f"{check.a} - {check.b} ({check.format}): {_signed(check.difference)} {interval}, n = {check.n:,}")
    return "<br>".join(cells)


def index_markdown(summaries: Sequence[PageSummary], studies: Sequence[tuple[str, str, str]], commands: str) -> str:
    """docs/results/README.md: one row per study (name, figure, title), with or without a page yet."""
    by_name = {summary.name: summary for summary in summaries}
    lines = [
        "# Results: the papers' studies in miniature",
        "",
        "One row per study of FLAN_METHOD section 7, each run at its `default` scale on a 2-core CPU with",
        "SmolLM2-135M. Differences are paired (arm minus the arm it is compared with, the same requests), in",
        "points, with 95% bootstrap CIs and n = paired predictions (examples x templates). The verdict",
        "follows from the CIs alone: reproduced (every comparison the paper makes differs measurably in its",
        "direction), not reproduced (measurably against it), inconclusive at this scale (anything else).",
        "",
        "| study | verdict | measured (pp, 95% CI) | page |",
        "|---|---|---|---|",
    ]
    for name, figure, title in studies:
        summary = by_name.get(name)
        if summary is None:
            lines.append(f"| {figure}: {title} | not yet run at default scale | - | - |")
            continue
        lines.append(
            f"| {figure}: {title} | **{summary.verdict}** | {_measured_cell(summary)} | [{name}]({summary.page}) |"
        )
    lines += ["", "## Regenerating every page", "", commands.rstrip(), ""]
    return "\n".join(lines)
