"""Helpers shared by the training tests (no tests here): tiny mixtures written with pyarrow."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flanlab.train import TrainConfig, make_config


def write_mixture(folder: Path, rows: list[dict[str, Any]], shards: int = 2) -> Path:
    """``folder/shards/part-*.parquet`` with the columns a built mixture has."""
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        part = rows[shard::shards]
        full = [{"task": "add", "cluster": "math", "template_id": "t01", "format": "zeroshot", **row} for row in part]
        pq.write_table(pa.Table.from_pylist(full), folder / "shards" / f"part-{shard:05d}.parquet")
    return folder


def addition_rows(count: int, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        a, b = rng.randint(1, 60), rng.randint(1, 60)
        rows.append({"inputs": f"What is {a} plus {b}?", "targets": str(a + b)})
    return rows


def tiny_config(model: Path, mixture: Path, out: Path, **overrides: Any) -> TrainConfig:
    """Small, fast settings for the tiny random models."""
    settings: dict[str, Any] = {
        "model": str(model),
        "mixture": mixture,
        "out": out,
        "max_input_tokens": 48,
        "max_target_tokens": 8,
        "pack_length": 112,
        "micro_batch_size": 2,
        "optimizer": "adamw",
        "learning_rate": 3e-3,
        "max_steps": 6,
        "checkpoint_every": 0,
        "progress": False,
    }
    settings.update(overrides)
    return make_config(settings)
