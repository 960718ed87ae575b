"""Which prompt layout lets the base model see where its answer begins? Measured, not chosen by taste.

The base model (smollm2-135m, untuned) rank-classifies the DEV split of multiple-choice tasks from
the core collection, in every cluster except NLI and the clusters held out with it (paraphrase), so
the choice is never tuned on the default held-out cluster. Every candidate layout scores the very
same (task, template, example) requests; per layout we report:

- option mass: the mean over requests of the summed probability of every option's full continuation
  (delimiter + option) given the prompt. Near 1: the model expects one of the options right there;
  near 0: it expected something else (the rest of an OPTIONS line, say) and the ranking is noise.
- top-answer share: per (task, template), the share of requests answered with the single most
  frequent option position; the mean over (task, template). High: the model answers by position.
- accuracy: the mean over (task, template) of rank-classification accuracy (summed log-likelihood),
  and its paired difference to today's layout (the first) over the same requests, with a paired
  bootstrap 95% interval (requests resampled, 2,000 draws, seeded).

    HF_HUB_OFFLINE=1 python3 benchmarks/layout_calibration.py [--per-cluster 2] [--limit 10] [--templates 1] [--seeds 0]

One seed (90 requests per layout) took about 15 minutes on 2 CPU cores shared with other jobs.
Each further seed draws other tasks and examples; the requests of all seeds are pooled.

Writes benchmarks/results/layout_calibration.json and its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from benchmarks._report import markdown_table, save_result, update_summary  # noqa: E402
from flanlab.evaluate.backend import HFBackend  # noqa: E402
from flanlab.evaluate.runner import EvalConfig, plan_requests  # noqa: E402
from flanlab.models import load_model  # noqa: E402
from flanlab.prompts.layout import PromptLayout  # noqa: E402
from flanlab.tasks.card import TaskCard  # noqa: E402
from flanlab.tasks.clusters import EVAL_ONLY_CLUSTERS, held_out_closure  # noqa: E402
from flanlab.tasks.examples import load_examples  # noqa: E402
from flanlab.tasks.registry import load_registry  # noqa: E402

MODEL = "smollm2-135m"
HELD_OUT = "nli"
LAYOUTS = {
    "space (before)": PromptLayout(delimiter="space", answer_cue=""),
    "newline": PromptLayout(delimiter="newline", answer_cue=""),
    "newline + Answer:": PromptLayout(delimiter="space", answer_cue="Answer:"),
}


def pick_tasks(per_cluster: int, limit: int, seed: int) -> list[TaskCard]:
    """Up to ``per_cluster`` multiple-choice core tasks per allowed cluster, with enough dev examples."""
    excluded = held_out_closure({HELD_OUT}) | EVAL_ONLY_CLUSTERS
    by_cluster: dict[str, list[TaskCard]] = defaultdict(list)
    for card in sorted(load_registry(collections=["core"]).cards.values(), key=lambda c: c.name):
        if card.cluster in excluded:
            continue
        dev = load_examples(card, "validation")
        if len(dev) >= limit and all(example.get("options") for example in dev):
            by_cluster[card.cluster].append(card)
    rng = random.Random(seed)
    chosen = [card for cluster in sorted(by_cluster) for card in _sample(rng, by_cluster[cluster], per_cluster)]
    return sorted(chosen, key=lambda card: card.name)


def _sample(rng: random.Random, cards: list[TaskCard], k: int) -> list[TaskCard]:
    return rng.sample(cards, min(k, len(cards)))


Sample = tuple[int, list[TaskCard]]  # (seed, tasks): the seed also draws the examples


def measure(samples: list[Sample], layout: PromptLayout, args: argparse.Namespace, backend: HFBackend) -> dict:
    templates = [f"t{index:02d}" for index in range(1, args.templates + 1)]
    count = lambda text: len(backend.tokenizer(text, add_special_tokens=False).input_ids)  # noqa: E731
    plans = []
    for seed, cards in samples:
        config = EvalConfig(
            tasks=[f"task:{card.name}" for card in cards], templates=templates, split="validation", best_dev=False,
            limit=args.limit, seed=seed, layout=layout,
        )
        plans += [(seed, run, items) for run, items in plan_requests(cards, config, count)]
    started = time.perf_counter()
    scores = iter(backend.score([item.request for _, _, items in plans for item in items]))
    masses, chance, correct, per_task = [], [], [], {}
    for seed, run, items in plans:
        picks = []
        for item in items:
            logprobs = next(scores).logprob
            masses.append(sum(math.exp(value) for value in logprobs))
            picks.append(max(range(len(logprobs)), key=lambda k: (logprobs[k], -k)))
            chance.append(1 / len(logprobs))
        hits = [int(pick == item.rendered.answer_index) for pick, item in zip(picks, items)]
        correct += hits
        top = Counter(picks).most_common(1)[0][1] / len(picks)
        per_task[f"{seed}:{run.task}/{run.template_id}"] = {"accuracy": _mean(hits), "top_answer_share": top}
    return {
        "layout": layout.model_dump(),
        "example_prompt_end": repr(plans[0][2][0].rendered.inputs[-40:]),
        "requests": len(correct),
        "option_mass": _mean(masses),
        "top_answer_share": _mean([task["top_answer_share"] for task in per_task.values()]),
        "accuracy": _mean([task["accuracy"] for task in per_task.values()]),
        "chance_accuracy": _mean(chance),
        "per_task": per_task,
        "correct": correct,  # per request, in a fixed order: the paired comparison reads it
        "seconds": round(time.perf_counter() - started, 1),  # wall time: depends on the machine's load
    }


def paired_difference(correct: list[int], baseline: list[int]) -> tuple[float, float, float]:
    """Accuracy difference (percentage points) to the baseline and its paired bootstrap 95% interval."""
    import numpy as np

    diff = np.array(correct, dtype=float) - np.array(baseline, dtype=float)
    draws = np.random.default_rng(0).integers(0, len(diff), size=(2000, len(diff)))
    low, high = np.percentile(diff[draws].mean(axis=1), [2.5, 97.5])
    return 100 * float(diff.mean()), 100 * float(low), 100 * float(high)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-cluster", type=int, default=2, help="tasks drawn per cluster")
    parser.add_argument("--limit", type=int, default=10, help="dev examples per template")
    parser.add_argument("--templates", type=int, default=1, help="first N templates of each task")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; each draws tasks and examples")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    samples = [(seed, pick_tasks(args.per_cluster, args.limit, seed)) for seed in map(int, args.seeds.split(","))]
    model, tokenizer = load_model(MODEL)
    backend = HFBackend(model, tokenizer, batch_size=args.batch_size)
    results = {}
    for name, layout in LAYOUTS.items():
        results[name] = measure(samples, layout, args, backend)
        baseline = next(iter(results.values()))["correct"]
        results[name]["accuracy_vs_first"] = paired_difference(results[name]["correct"], baseline)
        shown = ("option_mass", "top_answer_share", "accuracy", "accuracy_vs_first", "seconds")
        print(name, {key: results[name][key] for key in shown}, flush=True)
    tasks = {seed: [card.name for card in cards] for seed, cards in samples}
    save_result(
        "layout_calibration",
        {"model": MODEL, "held_out": HELD_OUT, "split": "validation", "tasks_per_seed": tasks, "settings": vars(args),
         "layout_order": list(LAYOUTS), "layouts": results},
    )
    update_summary("layout_calibration", _markdown(samples, args, results))


def _markdown(samples: list[Sample], args: argparse.Namespace, results: dict) -> str:
    rows = [
        [name, f"`{r['example_prompt_end']}`", f"{r['option_mass']:.3g}", f"{100 * r['top_answer_share']:.1f}%",
         f"{100 * r['accuracy']:.1f}%", _difference(*r["accuracy_vs_first"])]
        for name, r in results.items()
    ]
    first = next(iter(results.values()))
    drawn = "; ".join(f"seed {seed}: {', '.join(card.name for card in cards)}" for seed, cards in samples)
    return "\n\n".join(
        [
            "## Prompt layout calibration (`benchmarks/layout_calibration.py`)",
            f"Base {MODEL}, dev splits of multiple-choice core tasks outside {HELD_OUT} and paraphrase, up to "
            f"{args.per_cluster} per cluster ({drawn}), first {args.templates} template(s), {args.limit} examples "
            f"each: {first['requests']} requests per layout, the same ones for every layout. Chance accuracy "
            f"{100 * first['chance_accuracy']:.1f}%. Option mass: mean summed probability of the options' full "
            "continuations; top-answer share: share of a task's requests answered with its most frequent option "
            "position; accuracy: mean over tasks; its difference to the first layout with a paired bootstrap 95% CI.",
            markdown_table(
                ["layout", "prompt end", "option mass", "top-answer share", "accuracy", "accuracy vs first (95% CI)"],
                rows,
            ),
        ]
    )


def _difference(mean: float, low: float, high: float) -> str:
    return f"{mean:+.1f} pp [{low:+.1f}, {high:+.1f}]"


if __name__ == "__main__":
    main()
