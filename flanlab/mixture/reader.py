"""Reading a mixture folder back: its recipe, stats and rows (what the trainer and runner call)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from flanlab.errors import FlanlabError
from flanlab.mixture.recipe import MixtureRecipe, load_recipe
from flanlab.mixture.stats import MixtureStats
from flanlab.mixture.writer import RECIPE, STATS


@dataclass(frozen=True)
class Mixture:
    folder: Path
    recipe: MixtureRecipe
    stats: MixtureStats

    @property
    def shard_paths(self) -> list[Path]:
        return [self.folder / name for name in self.stats.shards]

    @property
    def num_rows(self) -> int:
        return self.stats.total_rows

    def iter_rows(self, columns: list[str] | None = None, batch_rows: int = 4096) -> Iterator[dict[str, Any]]:
        """Every row in mixture order, as dicts, reading one record batch at a time."""
        for batch in self.iter_batches(columns, batch_rows):
            yield from batch.to_pylist()

    def iter_batches(self, columns: list[str] | None = None, batch_rows: int = 4096) -> Iterator[Any]:
        """``pyarrow.RecordBatch`` objects in mixture order (bounded memory)."""
        for path in self.shard_paths:
            if not path.exists():
                raise FlanlabError("shard listed in stats.json is missing", where=str(path))
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns)


def read_mixture(folder: str | Path) -> Mixture:
    """Open a folder written by `build_mixture` (raises FlanlabError if it is not one)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FlanlabError("no such mixture folder", where=str(folder))
    stats = MixtureStats.read(folder / STATS)
    if stats.dry_run:
        raise FlanlabError("holds a dry-run plan, not a mixture", where=str(folder))
    return Mixture(folder=folder, recipe=load_recipe(folder / RECIPE), stats=stats)


def iter_mixture_rows(folder: str | Path, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Shortcut: ``read_mixture(folder).iter_rows(columns)``."""
    return read_mixture(folder).iter_rows(columns)
