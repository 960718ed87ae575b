"""Reading a mixture folder back: its recipe, stats and rows, and the text columns training reads.

The one reader of the format `flanlab.mixture.writer` writes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flanlab.errors import FlanlabError
from flanlab.mixture.recipe import MixtureRecipe, load_recipe
from flanlab.mixture.stats import MixtureStats
from flanlab.mixture.writer import RECIPE, STATS
from flanlab.prompts.layout import LEGACY_DELIMITER

REQUIRED_COLUMNS = ("inputs", "targets")
DELIMITER_COLUMN = "delimiter"  # optional: rows without it were written with LEGACY_DELIMITER


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


def mixture_shards(mixture: str | Path) -> list[Path]:
    """``shards/*.parquet`` in name order; a folder of bare shards (no stats.json) is enough."""
    folder = Path(mixture)
    if not folder.is_dir():
        raise FlanlabError("no such mixture folder", where=str(folder))
    shards = sorted((folder / "shards").glob("*.parquet"))
    if not shards:
        raise FlanlabError("the mixture has no shards/*.parquet (build it with `flanlab mix build`)", where=str(folder))
    return shards


def read_text_columns(mixture: str | Path) -> tuple[list[str], list[str], list[str]]:
    """The ``inputs``, ``targets`` and ``delimiter`` strings of every shard, in shard-name order
    (what training reads; any folder of shards with these columns will do)."""
    inputs: list[str] = []
    targets: list[str] = []
    delimiters: list[str] = []
    for shard in mixture_shards(mixture):
        try:
            schema = pq.read_schema(shard)
        except (OSError, pa.ArrowException) as error:
            raise FlanlabError(f"not a readable Parquet file ({error})", where=str(shard)) from None
        for column in REQUIRED_COLUMNS:
            if column not in schema.names:
                raise FlanlabError(f"missing column {column!r} (have {schema.names})", where=str(shard))
            if not pa.types.is_string(schema.field(column).type) and not pa.types.is_large_string(
                schema.field(column).type
            ):
                raise FlanlabError(
                    f"column {column!r} must hold strings, not {schema.field(column).type}", where=str(shard)
                )
        has_delimiter = DELIMITER_COLUMN in schema.names
        table = pq.read_table(shard, columns=[*REQUIRED_COLUMNS, *([DELIMITER_COLUMN] if has_delimiter else [])])
        for column, sink in (("inputs", inputs), ("targets", targets), (DELIMITER_COLUMN, delimiters)):
            if column == DELIMITER_COLUMN and not has_delimiter:
                delimiters.extend([LEGACY_DELIMITER] * table.num_rows)
                continue
            values = table.column(column).to_pylist()
            if any(value is None for value in values):
                row = values.index(None)
                raise FlanlabError(f"row {row}: column {column!r} is null", where=str(shard))
            sink.extend(values)
    return inputs, targets, delimiters
