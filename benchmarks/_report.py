"""Shared by the benchmark scripts: save a result as JSON and update its section of BENCHMARKS.md."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from flanlab.models.precision import cpu_model, precision_reason

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SUMMARY = ROOT / "BENCHMARKS.md"


def machine() -> dict[str, Any]:
    import os

    import torch

    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git_commit": _git_commit(),
    }


def matmul_gflops(dtype: str = "float32", size: int = 2048, repeats: int = 7) -> float:
    """The machine's matrix-product rate: the median of single size^3 products after a warm-up."""
    import statistics

    import torch

    a, b = (torch.randn(size, size, dtype=getattr(torch, dtype)) for _ in range(2))
    a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times) / 1e9


def matmul_rates() -> dict[str, float]:
    """fp32 and bf16 matmul GFLOP/s, measured now (the benchmarks record them next to their timings)."""
    return {dtype: round(matmul_gflops(dtype), 1) for dtype in ("float32", "bfloat16")}


def machine_line() -> str:
    """One line on the machine a speed table was measured on: CPU, cores and what `precision: auto` chose."""
    import os

    return f"Machine: {cpu_model()}, {os.cpu_count()} cores; precision {precision_reason('auto', 'cpu')}."


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return "unknown"


def save_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, indent=2, sort_keys=True) + "\n")
    return path


def markdown_table(columns: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def update_summary(name: str, markdown: str, per_machine: bool = False) -> None:
    """Replace (or append) the section of BENCHMARKS.md that belongs to benchmark ``name``; with
    ``per_machine`` (speed tables, which depend on the CPU), one section per CPU model, so a run on
    another machine adds its table instead of replacing the last one."""
    if per_machine:
        name = f"{name}@{re.sub(r'[^a-z0-9]+', '-', cpu_model().lower()).strip('-')}"
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = SUMMARY.read_text() if SUMMARY.exists() else "# Benchmarks\n\nEach section is written by the script named in it.\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), flags=re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    SUMMARY.write_text(text)
