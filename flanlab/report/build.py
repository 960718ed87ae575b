"""Build an experiment's report: tables (Markdown + self-contained HTML) and PNG figures.

Every table states the model, held-out clusters, shots and seed; every figure has a title, axis
labels with units, and the template spread (standard deviation across templates) as error bars.
Score figures draw each classification dataset's chance and majority lines; the differences figure
draws every paired comparison with its 95% bootstrap CI (see report/comparisons.py).
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import Any

from flanlab.experiments.record import ExperimentRecord, MixtureRecord, read_experiment
from flanlab.figures import new_figure
from flanlab.io import write_text
from flanlab.report.answer import answer_markdown
from flanlab.report.collect import (
    TaskScore,
    arm_labels,
    cot_direct_exemplars,
    loss_curves,
    task_scores,
    validation_curves,
)
from flanlab.report.comparisons import comparison_markdown, plot_differences, reference_markdown

X_LABELS = {
    "num_clusters": "number of instruction-tuning clusters",
    "fewshot_share": "share of few-shot templates in the training mixture",
}


def _shots_label(shots: int) -> str:
    return "zero-shot" if shots == 0 else f"{shots}-shot"


def _context(record: ExperimentRecord) -> str:
    held = ", ".join(record.held_out) or "none"
    return f"model {record.model} · held-out: {held} · seed {record.seed} · scale {record.scale}"


def _cell(mean_value: float, std: float, best_dev: float | None = None) -> str:
    """``mean ± template std``, then the best-dev template's test score when it was selected."""
    cell = f"{mean_value:.1f} ± {std:.1f}"
    return cell if best_dev is None else f"{cell} (best-dev {best_dev:.1f})"


def summary_rows(scores: Sequence[TaskScore]) -> list[dict[str, Any]]:
    """Per (arm, shots): mean over datasets of the template means, and the mean template std."""
    grouped: dict[tuple[str, int], list[TaskScore]] = defaultdict(list)
    order: list[tuple[str, int]] = []
    for score in scores:
        key = (score.arm, score.shots)
        if key not in grouped:
            order.append(key)
        grouped[key].append(score)
    rows = []
    for key in order:
        group = grouped[key]
        rows.append(
            {
                "arm": key[0],
                "label": group[0].label,
                "series": group[0].series,
                "suite": group[0].suite,
                "x": group[0].x,
                "shots": key[1],
                "mean": mean(s.mean for s in group),
                "std": mean(s.std for s in group),
                "n_tasks": len(group),
                "best_dev": _mean_if_all([s.best_dev_test for s in group]),
            }
        )
    return rows


def _mean_if_all(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return mean(present) if len(present) == len(values) else None


def _dataset_cell(score: TaskScore | None) -> str:
    return "-" if score is None else _cell(score.mean, score.std, score.best_dev_test)


def markdown_tables(record: ExperimentRecord, scores: Sequence[TaskScore]) -> str:
    shots_list = sorted({s.shots for s in scores})
    explained = (
        "Scores are 0-100, the mean over a dataset's templates ± their standard deviation; in brackets, the test "
        "score of the template that was best on the dev split (FLAN's best-dev)."
    )
    lines = [f"**{_context(record)}**", "", explained, ""]
    header = ["arm"] + [f"{_shots_label(k)} (mean ± template std)" for k in shots_list] + ["datasets"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    summary = summary_rows(scores)
    for arm in dict.fromkeys(row["arm"] for row in summary):
        by_shots = {row["shots"]: row for row in summary if row["arm"] == arm}
        first = next(iter(by_shots.values()))
        values = [
            _cell(by_shots[k]["mean"], by_shots[k]["std"], by_shots[k]["best_dev"]) if k in by_shots else "-"
            for k in shots_list
        ]
        lines.append("| " + " | ".join([first["label"], *values, str(first["n_tasks"])]) + " |")
    lines += ["", f"Per dataset ({_context(record)}):", ""]
    columns = list(dict.fromkeys((s.arm, s.label, s.shots) for s in scores))
    header = ["dataset", "metric"] + [f"{label} {_shots_label(k)}" for _, label, k in columns] + ["chance", "majority"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_task: dict[str, dict[tuple[str, int], TaskScore]] = defaultdict(dict)
    for score in scores:
        by_task[score.task][(score.arm, score.shots)] = score
    for task, cells in by_task.items():
        metric = next(iter(cells.values())).metric
        values = [_dataset_cell(cells.get((arm, k))) for arm, _, k in columns]
        lines.append("| " + " | ".join([task, metric, *values, *_reference_cells(cells.values())]) + " |")
    lines += ["", "Chance and majority are accuracies (0-100) of input-blind answering; '-' for generation tasks."]
    return "\n".join(lines) + "\n"


def _reference_cells(cells: Any) -> list[str]:
    """A dataset's chance and majority lines (the same for every arm: they come from the split)."""
    lines = next((cell.lines for cell in cells if cell.lines is not None), None)
    return [f"{lines.chance:.1f}", f"{lines.majority:.1f}"] if lines else ["-", "-"]


def _finish(figure: Any, axis: Any, title: str, path: Path) -> Path:
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def plot_per_dataset(record: ExperimentRecord, scores: Sequence[TaskScore], path: Path) -> Path | None:
    """Grouped bars: each dataset's template-mean score per arm (and shots), template std as error bars."""
    import numpy as np

    if not scores:
        return None
    tasks = list(dict.fromkeys(s.task for s in scores))
    bars = list(dict.fromkeys((s.arm, s.label, s.shots) for s in scores))
    lookup = {(s.task, s.arm, s.shots): s for s in scores}
    width = 0.8 / len(bars)
    figure, axis = new_figure(max(6.0, 1.1 * len(tasks) * max(1, len(bars)) ** 0.5 + 2), 4.8)
    positions = np.arange(len(tasks))
    for index, (arm, label, shots) in enumerate(bars):
        heights = [lookup[(t, arm, shots)].mean if (t, arm, shots) in lookup else np.nan for t in tasks]
        errors = [lookup[(t, arm, shots)].std if (t, arm, shots) in lookup else 0.0 for t in tasks]
        name = label if len({b[2] for b in bars}) == 1 else f"{label}, {_shots_label(shots)}"
        axis.bar(positions + (index - (len(bars) - 1) / 2) * width, heights, width, yerr=errors, capsize=3, label=name)
    _draw_reference_lines(axis, tasks, scores)
    axis.set_xticks(positions, [t.removeprefix("bb_") for t in tasks], rotation=30, ha="right", fontsize=8)
    metrics = ", ".join(sorted({s.metric for s in scores}))
    axis.set_ylabel(f"score (0-100; {metrics}), mean over templates")
    axis.set_xlabel("dataset (error bars: std across templates)")
    return _finish(figure, axis, f"{record.title}\n{_context(record)}", path)


def _draw_reference_lines(axis: Any, tasks: list[str], scores: Sequence[TaskScore]) -> None:
    """Each classification dataset's chance (dashed) and majority (dotted) line across its bar group."""
    lines = {s.task: s.lines for s in scores if s.lines is not None}
    for position, task in enumerate(tasks):
        if task not in lines:
            continue
        first = position == min(tasks.index(t) for t in lines)  # one legend entry each
        axis.hlines(
            lines[task].chance,
            position - 0.45,
            position + 0.45,
            colors="black",
            linestyles="--",
            linewidth=1,
            label="chance" if first else None,
        )
        axis.hlines(
            lines[task].majority,
            position - 0.45,
            position + 0.45,
            colors="dimgray",
            linestyles=":",
            linewidth=1.5,
            label="majority class" if first else None,
        )


def _mean_chance(scores: Sequence[TaskScore]) -> float | None:
    """The summary's chance line: the mean over datasets, when every dataset is a classification one."""
    by_task = {s.task: s.lines for s in scores}
    if not by_task or any(lines is None for lines in by_task.values()):
        return None
    return mean(lines.chance for lines in by_task.values())  # type: ignore[union-attr]


def plot_summary(record: ExperimentRecord, scores: Sequence[TaskScore], path: Path) -> Path | None:
    """Line studies: held-out score vs the arm's x; other studies: one bar per arm and shots."""
    import numpy as np

    rows = summary_rows(scores)
    if not rows:
        return None
    figure, axis = new_figure(7, 4.5)
    line_study = all(row["x"] is not None for row in rows) and record.study in X_LABELS
    if line_study:
        _plot_lines(axis, rows)
        axis.set_xlabel(X_LABELS[record.study])
    else:
        labels = list(dict.fromkeys(row["label"] for row in rows))
        shots_list = sorted({row["shots"] for row in rows})
        width = 0.8 / len(shots_list)
        for index, shots in enumerate(shots_list):
            cells = {row["label"]: row for row in rows if row["shots"] == shots}
            heights = [cells[label]["mean"] if label in cells else np.nan for label in labels]
            errors = [cells[label]["std"] if label in cells else 0.0 for label in labels]
            offsets = np.arange(len(labels)) + (index - (len(shots_list) - 1) / 2) * width
            axis.bar(offsets, heights, width, yerr=errors, capsize=3, label=_shots_label(shots))
        axis.set_xticks(np.arange(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        axis.set_xlabel("arm (error bars: mean std across templates)")
    chance = _mean_chance(scores)
    if chance is not None:
        axis.axhline(chance, color="black", linestyle="--", linewidth=1, label="chance (mean over datasets)")
    axis.set_ylabel("held-out score (0-100), mean over datasets")
    return _finish(figure, axis, f"{record.title}\n{_context(record)}", path)


def _plot_lines(axis: Any, rows: list[dict[str, Any]]) -> None:
    """One line per (suite, shots) over the arms' x, template std shaded; with several suites (FLAN
    Fig. 6's held-out clusters) also their average."""
    import numpy as np

    suites = list(dict.fromkeys(row["suite"] for row in rows))
    for shots in sorted({row["shots"] for row in rows}):
        lines = {
            suite: sorted((r["x"], r["mean"], r["std"]) for r in rows if r["shots"] == shots and r["suite"] == suite)
            for suite in suites
        }
        for suite, points in lines.items():
            xs, ys, sds = (np.array(values) for values in zip(*points))
            name = _shots_label(shots) if len(suites) == 1 else f"{suite}, {_shots_label(shots)}"
            axis.plot(xs, ys, marker="o", label=name, linewidth=1 if len(suites) > 1 else 1.5)
            axis.fill_between(xs, ys - sds, ys + sds, alpha=0.15)
        if len(suites) > 1:
            shared = sorted(set.intersection(*({x for x, _, _ in points} for points in lines.values())))
            means = [mean(y for points in lines.values() for x, y, _ in points if x == at) for at in shared]
            label = f"average of held-out clusters, {_shots_label(shots)}"
            axis.plot(shared, means, marker="s", color="black", linewidth=2.5, label=label)


def plot_validation(record: ExperimentRecord, curves: dict[str, list[tuple[int, float]]], path: Path) -> Path | None:
    """Validation score vs optimizer steps (Flan 2022 single-task finetuning), best step marked."""
    if not curves:
        return None
    figure, axis = new_figure(7, 4)
    for label, points in curves.items():
        steps, scores = zip(*points)
        line = axis.plot(steps, scores, marker="o", label=label)[0]
        best = max(points, key=lambda point: (point[1], -point[0]))
        axis.plot([best[0]], [best[1]], marker="*", markersize=14, color=line.get_color())
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("optimizer step (star: the checkpoint kept and tested)")
    axis.set_ylabel("validation score (0-100), mean over templates")
    return _finish(figure, axis, f"Validation score during finetuning\n{_context(record)}", path)


def plot_losses(record: ExperimentRecord, curves: dict[str, list[tuple[int, float]]], path: Path) -> Path | None:
    curves = {label: points for label, points in curves.items() if points}
    if not curves:
        return None
    figure, axis = new_figure(7, 4)
    for label, points in curves.items():
        steps, losses = zip(*points)
        axis.plot(steps, losses, label=label, marker="." if len(points) < 30 else None)
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("training loss (nats per target token)")
    return _finish(figure, axis, f"Training loss\n{_context(record)}", path)


def build_report(folder: str | Path) -> dict[str, Path]:
    """Write report.md, report.html and figures/*.png into ``folder`` from its saved results."""
    folder = Path(folder)
    record = read_experiment(folder)
    scores = task_scores(folder, record)
    paired = record.comparisons
    figures_dir = folder / "figures"
    figures_dir.mkdir(exist_ok=True)
    maybe_figures = {
        "summary": plot_summary(record, scores, figures_dir / "summary.png"),
        "per_dataset": plot_per_dataset(record, scores, figures_dir / "per_dataset.png"),
        "differences": plot_differences(record, paired, figures_dir / "differences.png"),
        "loss": plot_losses(record, loss_curves(folder, record), figures_dir / "loss.png"),
        "validation": plot_validation(record, validation_curves(record), figures_dir / "validation.png"),
    }
    figures = {name: path for name, path in maybe_figures.items() if path is not None}
    labels = arm_labels(record)
    sections = [
        answer_markdown(record, paired, scores, labels),
        comparison_markdown(paired, labels, scores),
        markdown_tables(record, scores),
        reference_markdown(scores),
    ]
    tables = "\n".join(section for section in sections if section) + _cot_notes(cot_direct_exemplars(folder, record))
    markdown = _markdown(record, tables, figures, folder)
    write_text(folder / "report.md", markdown)
    write_text(folder / "report.html", _html(record, tables, figures))
    return {"markdown": folder / "report.md", "html": folder / "report.html", **figures}


def _cot_notes(fallbacks: dict[str, list[str]]) -> str:
    """Say where chain-of-thought few-shot had no rationale exemplars to show."""
    lines = [
        f"Note: {label}: chain-of-thought few-shot used direct-answer exemplars (no rationales in the train split) "
        f"for {', '.join(tasks)}."
        for label, tasks in fallbacks.items()
    ]
    return "\n" + "\n\n".join(lines) + "\n" if lines else ""


def _markdown(record: ExperimentRecord, tables: str, figures: dict[str, Path], folder: Path) -> str:
    parts = [f"# {record.title}", "", record.description, ""]
    if record.figure:
        parts += [f"Reproduces, in miniature: {record.figure}.", ""]
    parts += [tables, ""]
    for name, path in figures.items():
        parts += [f"![{name}]({path.relative_to(folder).as_posix()})", ""]
    parts += [_provenance(record)]
    return "\n".join(parts)


def _provenance(record: ExperimentRecord) -> str:
    lines = [
        "## Provenance",
        "",
        f"- experiment `{record.name}` (study `{record.study}`, scale `{record.scale}`)",
    ]
    for arm in record.arms:
        train, detail = arm.train, ""
        if train and train.steps:
            loss = f", final loss {train.final_loss:.3f}" if train.final_loss is not None else ""
            detail = f", trained {train.steps} steps{loss}"
        if train and train.best_step is not None and train.best_validation is not None:
            detail += f", kept step {train.best_step} (validation {train.best_validation:.1f})"
        mixture = _mixture_line(arm.mixture)
        lines.append(f"- arm `{arm.name}` ({arm.label}), from `{arm.init}`{detail}{mixture}")
    return "\n".join(lines) + "\n"


def _mixture_line(mixture: MixtureRecord | None) -> str:
    """What the arm's mixture really held: rows, chain-of-thought rows, rows per source."""
    if mixture is None:
        return ""
    cot, cot_few = mixture.formats.get("cot", 0), mixture.formats.get("cot_few_shot", 0)
    sources = ", ".join(f"{name} {count}" for name, count in mixture.collections.items())
    cot_rows = f"{cot + cot_few} CoT ({cot} zero-shot, {cot_few} few-shot)"
    return f"; mixture {mixture.rows} rows, {cot_rows}, by source: {sources}"


def _html(record: ExperimentRecord, tables: str, figures: dict[str, Path]) -> str:
    body = [f"<h1>{html.escape(record.title)}</h1>", f"<p>{html.escape(record.description)}</p>"]
    body += _markdown_tables_to_html(tables)
    for name, path in figures.items():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        body.append(
            f'<figure><img alt="{name}" src="data:image/png;base64,{encoded}"><figcaption>{name}</figcaption></figure>'
        )
    body += _markdown_tables_to_html(_provenance(record))
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%}"
    )
    head = f"<meta charset='utf-8'><title>{html.escape(record.title)}</title><style>{style}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{''.join(body)}</body></html>\n"


def _markdown_tables_to_html(text: str) -> list[str]:
    """Just enough Markdown for our own tables and paragraphs (no dependency for it)."""
    out: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                rows.append([cell.strip() for cell in line.strip("|").split("|")])
            continue
        if rows:
            head, *rest = rows
            out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rest]
            out.append("</table>")
            rows = []
        if line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("### "):
            out.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.startswith("- "):
            out.append(f"<li>{html.escape(line[2:].replace('`', ''))}</li>")
        elif line.strip():
            out.append(f"<p>{html.escape(line.strip('*'))}</p>")
    return out
