"""Local JSONL, CSV and Parquet files as sources.

``locator`` names one file (every record is split by input hash) or a pattern with ``{split}``
(``data/{split}.jsonl``) when the files carry their own splits.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.sources.base import RawRecords, Record, SourceSpec, SplitRecords
from flanlab.sources.splits import SPLITS


def read_records(path: Path, kind: str) -> list[Record]:
    if not path.exists():
        raise DataUnavailable(f"no such {kind} file", where=str(path))
    readers = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}
    return readers[kind](path)


def _read_jsonl(path: Path) -> list[Record]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise FlanlabError(f"invalid JSON ({error.msg})", where=f"{path}:{line_number}") from None
            if not isinstance(record, dict):
                raise FlanlabError("expected a JSON object per line", where=f"{path}:{line_number}")
            records.append(record)
    return records


def _read_csv(path: Path) -> list[Record]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _read_parquet(path: Path) -> list[Record]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise FlanlabError(f"unreadable Parquet file ({error})", where=str(path)) from None


def load_file_source(spec: SourceSpec) -> RawRecords:
    if "{split}" in spec.locator:
        grouped: SplitRecords = {}
        for split in SPLITS:
            path = Path(spec.locator.format(split=spec.splits.get(split, split)))
            grouped[split] = read_records(path, spec.kind) if path.exists() else []
        if not any(grouped.values()):
            raise DataUnavailable(f"no split files found for pattern {spec.locator!r}")
        return RawRecords(where=spec.locator, grouped=grouped)
    return RawRecords(where=spec.locator, records=read_records(Path(spec.locator), spec.kind))
