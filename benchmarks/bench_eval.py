"""Parity and speed of flanlab's rank classification against lm-evaluation-harness, side by side.

Both tools score the same local model (smollm2-135m, one loaded fp32 copy shared by both) on the same
prompts and options: flanlab renders them, `flanlab export lm-eval` writes them as lm-eval tasks
over local JSON Lines files (num_fewshot 0, target_delimiter " "), and lm-eval runs them offline.

Per task, four timed runs, in an order that alternates from task to task so that drifting load does
not favour one side: flanlab at its default precision (``auto``: bf16 autocast on a CPU with native
bf16, near ties settled in fp32), lm-eval at its defaults (the model's fp32), lm-eval at flanlab's
dtype (``mixed_precision_dtype=bfloat16``: the same autocast), and flanlab in fp32, the reference
every prediction is compared with. Both tools get the same batch size (lm-eval's own default is 1).

    pip install lm-eval==0.4.13
    HF_HUB_OFFLINE=1 python3 benchmarks/bench_eval.py [--limit 100] [--batch-size 16]
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

from benchmarks._report import cpu_model, machine_line, markdown_table, matmul_rates, save_result, update_summary  # noqa: E402
from flanlab.evaluate.backend import HFBackend  # noqa: E402
from flanlab.evaluate.requests import RankRequest  # noqa: E402
from flanlab.evaluate.lm_eval_export import export_lm_eval, lm_eval_task_name  # noqa: E402
from flanlab.evaluate.runner import EvalConfig, plan_requests  # noqa: E402
from flanlab.models import load_model  # noqa: E402
from flanlab.models.precision import resolve_precision  # noqa: E402
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

# (task, template, shots, examples, exemplars): a few hundred examples, short and long prompts, 2 and 3
# options; 3-shot both with exemplars drawn per example and with one set per template, whose shared
# opening flanlab computes once (lm-eval scores each prompt whole either way)
PLAN = [
    ("bb_epistemic_reasoning", "t01", 0, 1.0, "per_example"),
    ("bb_epistemic_reasoning", "t02", 0, 1.0, "per_example"),
    ("bb_epistemic_reasoning", "t01", 3, 0.5, "per_example"),
    ("bb_epistemic_reasoning", "t01", 3, 0.5, "per_template"),
    ("bench_presuppositions_nli", "t01", 0, 1.0, "per_example"),
]


def _registry() -> TaskRegistry:
    cards = list(load_registry(collections=["core"]).cards.values())
    return TaskRegistry([*cards, card_from_dict(PRESUPPOSITIONS, where="bench_eval.py")])


def _lm_eval_run(lm, task_name: str, include: Path) -> Outcome:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    output = simple_evaluate(
        model=lm, tasks=[task_name], task_manager=TaskManager(include_path=str(include)), bootstrap_iters=0,
        log_samples=True, random_seed=0,
    )
    seconds = time.perf_counter() - started
    samples = sorted(output["samples"][task_name], key=lambda s: s["doc_id"])
    return Outcome([[float(ll) for ll, _ in s["filtered_resps"]] for s in samples], seconds)


def _flanlab_run(backend: HFBackend, registry: TaskRegistry, config: EvalConfig, count) -> Outcome:
    from flanlab.evaluate.runner import select_cards

    started = time.perf_counter()
    [(_, items)] = plan_requests(select_cards(registry, config.tasks), config, count)
    before = backend.rescored_fp32
    scores = [list(s.logprob) for s in backend.score([item.request for item in items])]
    return Outcome(scores, time.perf_counter() - started, backend.rescored_fp32 - before)


class Outcome:
    """One timed run: per-example option scores, seconds, and how many near ties flanlab settled in fp32."""

    def __init__(self, scores: list[list[float]], seconds: float, rescored: int = 0) -> None:
        self.scores, self.seconds, self.rescored = scores, seconds, rescored
        self.predictions = [max(range(len(s)), key=lambda k: (s[k], -k)) for s in scores]


def _margin(scores: list[float]) -> float:
    top = sorted(scores, reverse=True)
    return top[0] - top[1]


def _compare(name: str, ours: Outcome, theirs: Outcome, reference: Outcome, dtypes: tuple[str, str]) -> dict:
    """One results row: flanlab vs one lm-eval arm, every prediction also checked against flanlab fp32."""
    differing = [k for k, (a, b) in enumerate(zip(ours.predictions, theirs.predictions)) if a != b]
    return {
        "task": name, "examples": len(ours.scores), "flanlab_dtype": dtypes[0], "lm_eval_dtype": dtypes[1],
        "flanlab_seconds": ours.seconds, "lm_eval_seconds": theirs.seconds, "differing_examples": differing,
        "flanlab_vs_fp32_differing": _differing(ours, reference), "lm_eval_vs_fp32_differing": _differing(theirs, reference),
        "max_abs_logprob_diff": max(abs(a - b) for x, y in zip(ours.scores, theirs.scores) for a, b in zip(x, y)),
        "flanlab_near_ties_rescored_fp32": ours.rescored,
        "differences": [{"index": k, "flanlab": ours.scores[k], "lm_eval": theirs.scores[k],
                         "fp32_margin": _margin(reference.scores[k])} for k in differing],
    }


def _differing(run: Outcome, reference: Outcome) -> list[int]:
    return [k for k, (a, b) in enumerate(zip(run.predictions, reference.predictions)) if a != b]


def _row(entry: dict) -> list:
    n, same = entry["examples"], entry["examples"] - len(entry["differing_examples"])
    ratio = entry["lm_eval_seconds"] / entry["flanlab_seconds"]
    return [entry["task"], n, f"{entry['flanlab_dtype']} / {entry['lm_eval_dtype']}", f"{100 * same / n:.1f}%",
            f"{entry['max_abs_logprob_diff']:.1e}", entry["flanlab_near_ties_rescored_fp32"], f"{n / entry['flanlab_seconds']:.2f}",
            f"{n / entry['lm_eval_seconds']:.2f}", f"**{ratio:.2f}x**"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=100, help="examples per task (x the task's fraction)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()

    from lm_eval.models.huggingface import HFLM

    rates = matmul_rates()
    model, tokenizer = load_model(args.model)
    count = lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)  # noqa: E731
    precision = resolve_precision("auto", "cpu")
    ours_dtype = "bfloat16 (autocast)" if precision == "bf16" else "float32"
    flanlab = HFBackend(model, tokenizer, batch_size=args.batch_size, precision=precision)
    flanlab_fp32 = HFBackend(model, tokenizer, batch_size=args.batch_size, precision="fp32")
    lm_eval_arms = {"float32": HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size)}
    if precision == "bf16":
        lm_eval_arms[ours_dtype] = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size,
                                        mixed_precision_dtype="bfloat16")
    registry = _registry()
    flanlab_fp32.score([RankRequest("Warm-up: page the weights in.", ("yes", "no"))])
    workdir = Path(tempfile.mkdtemp(prefix="bench_eval_"))
    entries = []
    for position, (task, template, shots, fraction, exemplars) in enumerate(PLAN):
        config = EvalConfig(
            model=args.model, tasks=[f"task:{task}"], templates=[template], shots=[shots], limit=int(args.limit * fraction),
            best_dev=False, exemplars=exemplars,
        )
        exported = lm_eval_task_name(task, template, config.formats()[0].name)
        name = exported + ("_shared" if exemplars == "per_template" else "")  # the row's label and folder
        export_lm_eval(registry, config, workdir / name, count_tokens=count)
        runs = {"ours": lambda config=config: _flanlab_run(flanlab, registry, config, count),
                "reference": lambda config=config: _flanlab_run(flanlab_fp32, registry, config, count),
                **{dtype: (lambda lm=lm, folder=workdir / name: _lm_eval_run(lm, exported, folder))
                   for dtype, lm in lm_eval_arms.items()}}
        order = list(runs) if position % 2 == 0 else list(reversed(runs))
        outcomes = {key: runs[key]() for key in order}
        for dtype in lm_eval_arms:
            entries.append(_compare(name, outcomes["ours"], outcomes[dtype], outcomes["reference"], (ours_dtype, dtype)))
            entries[-1]["exemplars"] = exemplars if shots else None
            print(_row(entries[-1]), flush=True)
    _report(args, entries, rates, ours_dtype)


def _report(args: argparse.Namespace, entries: list[dict], rates: dict[str, float], ours_dtype: str) -> None:
    rows = [_row(entry) for entry in entries]
    for dtype in dict.fromkeys(entry["lm_eval_dtype"] for entry in entries):
        arm = [entry for entry in entries if entry["lm_eval_dtype"] == dtype]
        n = sum(entry["examples"] for entry in arm)
        ours_s, theirs_s = sum(e["flanlab_seconds"] for e in arm), sum(e["lm_eval_seconds"] for e in arm)
        same = n - sum(len(e["differing_examples"]) for e in arm)
        rows.append([f"**all, lm-eval {dtype}**", n, "", f"{100 * same / n:.1f}%", "", sum(e["flanlab_near_ties_rescored_fp32"] for e in arm),
                     f"{n / ours_s:.2f}", f"{n / theirs_s:.2f}", f"**{theirs_s / ours_s:.2f}x** (worst task "
                     f"{min(e['lm_eval_seconds'] / e['flanlab_seconds'] for e in arm):.2f}x)"])
    columns = ["task", "examples", "dtype flanlab / lm-eval", "same prediction", "max |Δ log p|", "near ties in fp32",
               "flanlab ex/s", "lm-eval ex/s", "speed-up"]
    table = markdown_table(columns, rows)
    print(table)
    save_result("bench_eval", {"model": args.model, "batch_size": args.batch_size, "limit": args.limit, "tasks": entries,
                               "matmul_gflops": rates, "lm_eval_version": _lm_eval_version()})
    differences = [f"{e['task']} #{d['index']} (lm-eval {e['lm_eval_dtype']}): fp32 margin {d['fp32_margin']:.3f}"
                   for e in entries for d in e["differences"]]
    update_summary(
        "bench_eval",
        f"## Evaluation: flanlab vs lm-evaluation-harness (`benchmarks/bench_eval.py`), {cpu_model()}\n\n"
        f"{machine_line()} {args.model}, CPU, batch size {args.batch_size} for both, lm-eval {_lm_eval_version()}; the same "
        "rendered prompts and options (exported with `flanlab export lm-eval`), one shared fp32 model object. flanlab runs "
        f"at its default precision ({ours_dtype}{'; near ties settled in fp32' if 'bfloat16' in ours_dtype else ''}); "
        + ("lm-eval at its defaults (float32) and at flanlab's dtype (`mixed_precision_dtype=bfloat16`). "
           if "bfloat16" in ours_dtype else "lm-eval at its defaults (float32, the same dtype). ")
        + "Times are end to end per task (flanlab: render + tokenise + score; lm-eval: load "
        "the JSON task + build requests + score); the order of the runs alternates per task. The 3-shot task runs twice: "
        "with exemplars drawn per example (flanlab's default, no two prompts share an opening) and with one exemplar set "
        "per template (`--exemplars per_template`, suffix `_shared`), whose common opening flanlab computes once per "
        "template and lm-eval for every prompt. Matmul rate measured before the "
        f"runs: {rates['float32']:.0f} GFLOP/s fp32, {rates['bfloat16']:.0f} GFLOP/s bf16 (2048^3).\n\n"
        + table
        + "\n\nPredictions that differ between the two tools, with the gap between the two best options in flanlab fp32 "
        "(a near tie when small): " + ("; ".join(differences) or "none") + ".",
        per_machine=True,
    )


def _lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm-eval")


if __name__ == "__main__":
    main()
