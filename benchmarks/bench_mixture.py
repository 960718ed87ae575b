"""Mixture building: rendered rows per second on one core, peak memory at 100k and 1M rows, weight accuracy.

Each size runs in its own subprocess pinned to one CPU (peak RSS from ``resource.getrusage`` is per
process). The tasks are made-up (tests.synthetic): 48 tasks over 12 clusters and 3
collections, 200 to 30,000 train examples each, inputs of about 30 words, some with options,
rationales and inverted templates. Run: ``python3 benchmarks/bench_mixture.py [--sizes 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import markdown_table, save_result, update_summary  # noqa: E402
from flanlab.mixture.sampling import BLOCK_ROWS  # noqa: E402

CLUSTERS = ["commonsense", "sentiment", "closed_book_qa", "math", "struct_to_text", "translation",
            "summarization", "coreference", "reading_comprehension", "misc", "nli", "paraphrase"]  # fmt: skip
SIZES = [200, 1_000, 3_000, 8_000, 30_000, 600]


def bench_tasks():
    from tests.synthetic import SyntheticTask

    tasks = []
    for number in range(48):
        shape = ("pair", "choice", "gen")[number % 3]
        tasks.append(
            SyntheticTask(
                name=f"task{number:02d}",
                cluster=CLUSTERS[number % len(CLUSTERS)],
                shape=shape,
                collection=("flan", "t0", "niv2")[number % 3 if number % 4 else 0],
                inverted=number % 2 == 0,
                rationales=shape == "gen" and number % 5 == 0,
                train=SIZES[number % len(SIZES)],
                validation=50,
                test=50,
                words=30,
            )
        )
    return tasks


def recipe_for(size: int):
    from flanlab.mixture import recipe_from_dict

    return recipe_from_dict(
        {
            "held_out": ["nli"],
            "total_size": size,
            "sources": {"flan": {"weight": 0.5}, "t0": {"weight": 0.3, "cap": 20_000}, "niv2": {"weight": 0.2, "cap": 5_000}},
        }
    )


def run_one(size: int, data: Path, out: Path, profile: bool) -> dict:
    """Inside the pinned subprocess: load the registry, build, report time and memory."""
    import pyarrow as pa

    from flanlab.mixture import build
    from tests.synthetic import write_synthetic_registry

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    registry = write_synthetic_registry(data, bench_tasks())
    marks: dict[str, float] = {}

    def on_rows(stage: str, done: int, total: int) -> None:
        if stage != "rows":
            return
        if "first_block" not in marks:
            marks.update(first_block=time.perf_counter(), first_block_cpu=time.process_time(), rss_first_block=_rss_mib())
        marks.update(last_block=time.perf_counter(), last_block_cpu=time.process_time())

    spent = _instrument() if profile else None
    start, start_cpu = time.perf_counter(), time.process_time()
    stats = build.build_mixture(recipe_for(size), registry, out, progress=on_rows)
    elapsed = time.perf_counter() - start
    rows_after_first = stats.total_rows - min(size, BLOCK_ROWS)
    result = {
        "rows": stats.total_rows,
        "seconds_total": round(elapsed, 2),
        "cpu_seconds_loading": round(marks["first_block_cpu"] - start_cpu, 2),
        "rows_per_cpu_s": round(rows_after_first / (marks["last_block_cpu"] - marks["first_block_cpu"])),
        "rows_per_wall_s": round(rows_after_first / (marks["last_block"] - marks["first_block"])),
        "rss_after_loading_mib": marks["rss_first_block"],
        "peak_rss_mib": _peak_rss_mib(),
        "max_weight_error_pp": _max_weight_error(out, stats),
        "tasks": len(stats.tasks),
    }
    if spent:
        result["hot_spots"] = {**_hot_spots(spent, stats.total_rows), **render_costs()}
    return result


def _rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _max_weight_error(out: Path, stats) -> float:
    """Largest |achieved - intended| over tasks, sources and formats, in points; tasks counted from the shards."""
    import pyarrow.parquet as pq

    counts: Counter[str] = Counter()
    for shard in stats.shards:
        counts.update(pq.read_table(out / shard, columns=["task"]).column("task").to_pylist())
    total = sum(counts.values())
    errors = [abs(counts[t.name] / total - t.intended_weight) for t in stats.tasks]
    errors += [abs(s.achieved_weight - s.intended_weight) for s in (*stats.collections, *stats.formats)]
    return round(100 * max(errors), 3)


def _instrument() -> dict[str, list[float]]:
    """Wrap the row-writing phase's parts to add up their CPU time (process_time) per call."""
    from flanlab.mixture import build, sampling, stats, writer

    spent: dict[str, list[float]] = {}

    def timed(owner, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)
        spent[label] = [0.0]

        def wrapper(*args, **kwargs):
            begin = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label][0] += time.process_time() - begin

        setattr(owner, attribute, wrapper)

    timed(build, "_write_rows", "row-writing phase")
    timed(sampling.RowRenderer, "render", "row: choices + exemplar sampling + render")
    timed(sampling, "render", "render (flanlab.prompts.formats)")
    timed(build, "rows_to_table", "rows -> Arrow table")
    timed(writer.ShardWriter, "write", "Parquet write (zstd)")
    timed(stats.StatsCounter, "add", "stats counting (incl. token estimates)")
    return spent


def _hot_spots(spent: dict[str, list[float]], rows: int) -> dict[str, float]:
    """CPU microseconds per row of each part (wrapper overhead included, about 0.3 us per call)."""
    per_row = {label: round(1e6 * seconds[0] / rows, 1) for label, seconds in spent.items()}
    row_total = per_row.pop("row: choices + exemplar sampling + render")
    per_row["choices + exemplar sampling (flanlab.mixture)"] = round(row_total - per_row["render (flanlab.prompts.formats)"], 1)
    return per_row


def render_costs() -> dict[str, float]:
    """CPU microseconds for one `render` call of a ~30-word two-field example, by format."""
    from tests.synthetic import SyntheticTask, write_synthetic_registry
    from flanlab.prompts.formats import PromptFormat, render
    from flanlab.tasks.examples import load_examples

    with tempfile.TemporaryDirectory() as folder:
        card = write_synthetic_registry(folder, [SyntheticTask("probe", "nli", words=30, train=100)]).get("probe")
        examples = load_examples(card, "train")
    template, costs = card.templates[1], {}
    for shots in (0, 2, 3, 5):
        fmt = PromptFormat(shots=shots, options_style="dash")
        calls = 5000
        begin = time.process_time()
        for number in range(calls):
            render(card, template, examples[number % 50], fmt, exemplars=examples[50 + number % 40 : 50 + number % 40 + shots])
        costs[f"render, {shots}-shot"] = round(1e6 * (time.process_time() - begin) / calls, 1)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.work / "data", args.work / f"mix{args.child}", args.profile)))
        return
    results = []
    with tempfile.TemporaryDirectory() as work:
        for size, profile in [(100_000, True)] + [(size, False) for size in args.sizes]:
            command = [sys.executable, __file__, "--child", str(size), "--work", work] + (["--profile"] if profile else [])
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
            results.append({"size": size, "profiled": profile, **json.loads(done.stdout.strip().splitlines()[-1])})
            print(json.dumps(results[-1]), flush=True)
    report(results)


def report(results: list[dict]) -> None:
    measured = [r for r in results if not r["profiled"]]
    columns = ["rows", "rows / CPU-s (1 core)", "rows / wall-s", "loading CPU-s", "RSS after loading MiB", "peak RSS MiB",
               "max weight error (pp)"]  # fmt: skip
    rows = [
        [f"{r['rows']:,}", f"{r['rows_per_cpu_s']:,}", f"{r['rows_per_wall_s']:,}", r["cpu_seconds_loading"],
         r["rss_after_loading_mib"], r["peak_rss_mib"], r["max_weight_error_pp"]]
        for r in measured
    ]  # fmt: skip
    profile = next(r for r in results if r["profiled"])
    spots = markdown_table(
        ["where the time goes (instrumented 100k-row build; render calls measured alone)", "CPU us per row / call"],
        [[k, v] for k, v in profile["hot_spots"].items()],
    )
    text = "\n\n".join(
        [
            "## Mixture building (`benchmarks/bench_mixture.py`)",
            f"{measured[0]['tasks']} made-up trainable tasks (200-30,000 train examples, ~30-word inputs), Flan 2022 "
            "source weights and caps, default formats (45% zero-shot, 45% few-shot 2/3/5, 10% CoT where rationales exist). "
            "One subprocess per size, pinned to one CPU (pyarrow limited to one thread); peak RSS from `getrusage`. "
            "Rows/s covers rendering, stats and Parquet writing, after the first block; loading the train pools and "
            "hashing the guard's evaluation inputs is the separate loading column. CPU-seconds are the process's own "
            "time (`time.process_time`), the fair one-core figure on a shared machine; wall-seconds depend on the load.",
            markdown_table(columns, rows),
            spots,
        ]
    )
    print(text)
    save_result("mixture", {"results": results})
    update_summary("mixture", text)


if __name__ == "__main__":
    main()
