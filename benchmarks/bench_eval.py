"""Parity and speed of flanlab's rank classification against lm-evaluation-harness, side by side.

Both tools score the same local model (smollm2-135m, one loaded copy shared by both) on the same
prompts and options: flanlab renders them, `flanlab export lm-eval` writes them as lm-eval tasks
over local JSON Lines files (num_fewshot 0, target_delimiter " "), and lm-eval runs them offline.
Per task we compare the predicted option of every example and time both tools, alternating
tool order per task so that drifting load on the shared machine does not favour one.

    pip install lm-eval==0.4.13
    HF_HUB_OFFLINE=1 python benchmarks/bench_eval.py [--limit 100] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from benchmarks._report import markdown_table, save_result, update_summary  # noqa: E402
from flanlab.evaluate.backend import HFBackend  # noqa: E402
from flanlab.evaluate.lm_eval_export import export_lm_eval, lm_eval_task_name  # noqa: E402
from flanlab.evaluate.runner import EvalConfig, plan_requests  # noqa: E402
from flanlab.models import load_model  # noqa: E402
from flanlab.tasks.card import card_from_dict  # noqa: E402
from flanlab.tasks.registry import TaskRegistry, load_registry  # noqa: E402

# A second NLI task with FLAN's three multi-token options, built here from BIG-bench data.
PRESUPPOSITIONS = {
    "name": "bench_presuppositions_nli",
    "collection": "bench",
    "cluster": "nli",
    "source": {"kind": "bigbench", "locator": "presuppositions_as_nli"},
    "fields": {
        "premise": {"from": "input", "regex": r"Sentence 1:\s*(?P<premise>.*?)\s*Sentence 2:"},
        "hypothesis": {"from": "input", "regex": r"Sentence 2:\s*(?P<hypothesis>.*?)\s*The answer is"},
    },
    "options": ["yes", "it is not possible to tell", "no"],
    "answer_map": {"entailment": "yes", "neutral": "it is not possible to tell", "contradiction": "no"},
    "templates": [{"id": "t01", "input": "{premise}\n\nIf that is true, is it also true that \"{hypothesis}\"?"}],
}

# (task, template, shots, examples): a few hundred examples, short and long prompts, 2 and 3 options
PLAN = [
    ("bb_epistemic_reasoning", "t01", 0, 1.0),
    ("bb_epistemic_reasoning", "t02", 0, 1.0),
    ("bb_epistemic_reasoning", "t01", 3, 0.5),
    ("bench_presuppositions_nli", "t01", 0, 1.0),
]


def _registry() -> TaskRegistry:
    cards = list(load_registry(collections=["core"]).cards.values())
    return TaskRegistry([*cards, card_from_dict(PRESUPPOSITIONS, where="bench_eval.py")])


def _lm_eval_run(lm, task_name: str, include: Path) -> tuple[list[int], list[list[float]], float]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    output = simple_evaluate(
        model=lm, tasks=[task_name], task_manager=TaskManager(include_path=str(include)), bootstrap_iters=0,
        log_samples=True, random_seed=0,
    )
    seconds = time.perf_counter() - started
    samples = sorted(output["samples"][task_name], key=lambda s: s["doc_id"])
    scores = [[float(ll) for ll, _ in s["filtered_resps"]] for s in samples]
    return [max(range(len(s)), key=s.__getitem__) for s in scores], scores, seconds


def _flanlab_run(backend: HFBackend, registry: TaskRegistry, config: EvalConfig, count) -> tuple[list[int], list[list[float]], float]:
    from flanlab.evaluate.runner import select_cards

    started = time.perf_counter()
    [(_, items)] = plan_requests(select_cards(registry, config.tasks), config, count)
    scores = [list(s.logprob) for s in backend.score([item.request for item in items])]
    seconds = time.perf_counter() - started
    return [max(range(len(s)), key=s.__getitem__) for s in scores], scores, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=100, help="examples per task (x the task's fraction)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()

    from lm_eval.models.huggingface import HFLM

    model, tokenizer = load_model(args.model)
    count = lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)  # noqa: E731
    backend = HFBackend(model, tokenizer, batch_size=args.batch_size)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size)
    registry = _registry()
    workdir = Path(tempfile.mkdtemp(prefix="bench_eval_"))
    rows, details = [], []
    totals = {"examples": 0, "same": 0, "ours_s": 0.0, "theirs_s": 0.0}
    for position, (task, template, shots, fraction) in enumerate(PLAN):
        config = EvalConfig(
            model=args.model, tasks=[f"task:{task}"], templates=[template], shots=[shots], limit=int(args.limit * fraction),
            best_dev=False,
        )
        fmt = config.formats()[0].name
        name = lm_eval_task_name(task, template, fmt)
        export_lm_eval(registry, config, workdir / name, count_tokens=count)
        runs = [lambda: _flanlab_run(backend, registry, config, count), lambda: _lm_eval_run(lm, name, workdir / name)]
        if position % 2:
            runs.reverse()
        first, second = (run() for run in runs)
        (ours, our_scores, ours_s), (theirs, their_scores, theirs_s) = (first, second) if position % 2 == 0 else (second, first)
        differing = [k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b]
        max_diff = max(abs(a - b) for x, y in zip(our_scores, their_scores) for a, b in zip(x, y))
        n = len(ours)
        totals["examples"] += n
        totals["same"] += n - len(differing)
        totals["ours_s"] += ours_s
        totals["theirs_s"] += theirs_s
        rows.append([f"{task}/{template}/{fmt}", n, f"{100 * (n - len(differing)) / n:.1f}%", f"{max_diff:.1e}",
                     f"{n / ours_s:.2f}", f"{n / theirs_s:.2f}", f"{theirs_s / ours_s:.2f}x"])
        details.append({"task": name, "examples": n, "differing_examples": differing, "max_abs_logprob_diff": max_diff,
                        "flanlab_seconds": ours_s, "lm_eval_seconds": theirs_s,
                        "differences": [{"index": k, "flanlab": our_scores[k], "lm_eval": their_scores[k]} for k in differing]})
        print(rows[-1], flush=True)
    n = totals["examples"]
    rows.append(["**all**", n, f"{100 * totals['same'] / n:.1f}%", "", f"{n / totals['ours_s']:.2f}",
                 f"{n / totals['theirs_s']:.2f}", f"{totals['theirs_s'] / totals['ours_s']:.2f}x"])
    columns = ["task / template / format", "examples", "same prediction", "max |Δ log p|", "flanlab ex/s", "lm-eval ex/s", "speed-up"]
    table = markdown_table(columns, rows)
    print(table)
    save_result("bench_eval", {"model": args.model, "batch_size": args.batch_size, "limit": args.limit, "tasks": details,
                               "totals": totals, "lm_eval_version": _lm_eval_version()})
    update_summary(
        "bench_eval",
        "## Evaluation: flanlab vs lm-evaluation-harness (`benchmarks/bench_eval.py`)\n\n"
        f"{args.model}, fp32 CPU, batch size {args.batch_size} for both, lm-eval {_lm_eval_version()}; the same rendered "
        "prompts and options (exported with `flanlab export lm-eval`), one shared model object. Times are end to end per "
        "task (flanlab: render + tokenise + score; lm-eval: load the JSON task + build requests + score). The machine's "
        "2 cores are shared with other jobs, so speeds are noisy; the order of the two tools alternates per task.\n\n"
        + table,
    )


def _lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm-eval")


if __name__ == "__main__":
    main()
