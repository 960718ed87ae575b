"""Prompt rendering throughput (one core) and the cost of loading / linting the whole collection.

Target: a mixture builder renders >= 20,000 examples/s. Run: `python3 benchmarks/render_speed.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import markdown_table, save_result, update_summary  # noqa: E402
from flanlab.prompts.formats import PromptFormat, pick_exemplars, render  # noqa: E402
from flanlab.tasks.examples import load_examples  # noqa: E402
from flanlab.prompts.lint import lint_collection  # noqa: E402
from flanlab.tasks.registry import load_registry  # noqa: E402

TASKS = ("bb_epistemic_reasoning", "ni_subtask002_quoref_answer_generation")
FORMATS = ("zeroshot", "zeroshot,options_style=letter", "fewshot:3", "cot")
N = 20_000


def renders_per_second(task: str, spec: str, registry) -> float:
    card = registry.get(task)
    train = load_examples(card, "train")
    fmt = PromptFormat.parse(spec)
    start = time.process_time()  # CPU time: the machine is shared, wall time would measure the neighbours
    for i in range(N):
        example = train[i % len(train)]
        template = card.templates[i % len(card.templates)]
        shots = pick_exemplars(train, fmt.shots, seed=0, query_key=str(i), exclude_text=example["input"]) if fmt.shots else ()
        render(card, template, example, fmt, exemplars=shots)
    return N / (time.process_time() - start)


def main() -> None:
    start = time.perf_counter()
    registry = load_registry()
    load_seconds = time.perf_counter() - start
    rows = [[task, spec, f"{renders_per_second(task, spec, registry):,.0f}"] for task in TASKS for spec in FORMATS]
    start = time.perf_counter()
    report = lint_collection()
    lint_seconds = time.perf_counter() - start
    table = markdown_table(["task", "format", "renders per CPU-second (incl. exemplar picking)"], rows)
    facts = (
        f"load_registry(): {len(registry)} tasks in {load_seconds:.2f} s; "
        f"lint of the whole collection ({report.n_cards} cards, head sample): {lint_seconds:.1f} s, "
        f"{len(report.problems)} problem(s)."
    )
    print(table, "\n\n" + facts)
    save_result("render_speed", {"renders_per_second": rows, "registry_seconds": load_seconds, "n_tasks": len(registry), "lint_seconds": lint_seconds, "lint_problems": len(report.problems)})
    update_summary("render_speed", f"## Prompt rendering (`benchmarks/render_speed.py`)\n\nTarget: >= 20,000 renders/s.\n\n{table}\n\n{facts}")


if __name__ == "__main__":
    main()
