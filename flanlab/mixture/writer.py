"""Writing a mixture folder: Parquet shards, a JSONL preview, the resolved recipe and stats.

Everything is written into a staging folder beside the target and renamed into place at the end,
so a killed build leaves the previous mixture (or nothing), never a half-written one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flanlab.errors import FlanlabError
from flanlab.prompts.formats import RenderedExample

SHARDS = "shards"
PREVIEW = "preview.jsonl"
RECIPE = "recipe.yaml"
STATS = "stats.json"

_ARROW_TYPES = {
    "inputs": pa.string(),
    "targets": pa.string(),
    "task": pa.string(),
    "source": pa.string(),
    "cluster": pa.string(),
    "template_id": pa.string(),
    "format": pa.string(),
    "shots": pa.int32(),
    "inverted": pa.bool_(),
    "options_style": pa.string(),
    "options": pa.list_(pa.string()),
    "answer_index": pa.int32(),
    "references": pa.list_(pa.string()),
    "delimiter": pa.string(),  # the row's inputs/targets join (training reads it)
}
ROW_FIELDS = tuple(field.name for field in dataclasses.fields(RenderedExample))  # RenderedExample.to_row() keys
# plus `collection`: the Flan 2022 "source" a task belongs to (RenderedExample.source is its data source)
SCHEMA = pa.schema([(name, _ARROW_TYPES[name]) for name in ROW_FIELDS] + [("collection", pa.string())])


def shard_name(number: int) -> str:
    return f"part-{number:05d}.parquet"


def rows_to_table(rows: Sequence[RenderedExample], collections: Sequence[str]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [getattr(row, name) for row in rows] for name in ROW_FIELDS}
    columns["collection"] = list(collections)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


class ShardWriter:
    """Appends tables to ``part-NNNNN.parquet`` files of at most ``shard_rows`` rows each."""

    def __init__(self, folder: Path, shard_rows: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.shard_rows = folder, shard_rows
        self.names: list[str] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_shard = 0

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self._writer is None or self._rows_in_shard == self.shard_rows:
                self._open_next()
            room = self.shard_rows - self._rows_in_shard
            part, table = table.slice(0, room), table.slice(room)
            assert self._writer is not None  # opened just above
            self._writer.write_table(part, row_group_size=len(part))
            self._rows_in_shard += part.num_rows

    def _open_next(self) -> None:
        self.close()
        self.names.append(shard_name(len(self.names)))
        self._writer = pq.ParquetWriter(self.folder / self.names[-1], SCHEMA, compression="zstd")
        self._rows_in_shard = 0

    def close(self) -> list[str]:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.names


def preview_line(row: RenderedExample, collection: str) -> str:
    return json.dumps({**row.to_row(), "collection": collection}, ensure_ascii=False, sort_keys=False)


@contextmanager
def staged_folder(out_dir: Path, marker: str = RECIPE, kind: str = "mixture") -> Iterator[Path]:
    """A fresh staging folder that replaces ``out_dir`` when the block exits without error.

    An existing ``out_dir`` is replaced only when it is empty or holds ``marker`` (a file only a
    ``kind`` folder has), so a typo never wipes an unrelated folder.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not _is_replaceable(out_dir, marker):
        raise FlanlabError(f"exists and is not a {kind} folder; refusing to overwrite it", where=str(out_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        if out_dir.exists():
            retired = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            os.replace(out_dir, retired)
            os.replace(staging, out_dir)
            shutil.rmtree(retired)
        else:
            os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_replaceable(folder: Path, marker: str) -> bool:
    return folder.is_dir() and ((folder / marker).exists() or not any(folder.iterdir()))
