"""The source spec a task card names, and the dispatch from a spec to its loader."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flanlab.errors import FlanlabError
from flanlab.sources.splits import SPLITS, hash_split

Record = dict[str, Any]
SplitRecords = dict[str, list[Record]]
SourceKind = Literal["bigbench", "jsonl", "csv", "parquet", "huggingface", "natural_instructions"]


class SourceSpec(BaseModel):
    """Where a task's raw records come from.

    ``locator`` is a BIG-bench task path (``gem/xsum``), a file path or glob, a Hugging Face dataset
    id, or a Super-Natural-Instructions task file. ``splits`` maps flanlab's split names to the
    source's own (for sources that have them); sources without splits are split by input hash.
    ``split: all`` makes every record test data (an evaluation set scored whole).
    """

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    locator: str
    config: str | None = None
    # Hub datasets: a branch, tag or commit to load (`refs/convert/parquet`: the hub's Parquet export).
    revision: str | None = None
    splits: dict[str, str] = Field(default_factory=dict)
    split_key: str = "input"  # the record field whose text decides a hash split
    split: Literal["auto", "all"] = Field(
        default="auto",
        description="auto: the source's own splits, else 80/10/10 by input hash; all: every record is test data.",
    )


@dataclass(frozen=True)
class RawRecords:
    """A source's records before flanlab assigns splits: the source's own splits, or one list."""

    where: str
    grouped: SplitRecords | None = None  # the source's own train / validation / test
    records: Sequence[Record] = ()  # a source without splits: split by the hash of the spec's split_key


Loader = Callable[[SourceSpec], RawRecords]
_LOADERS: dict[str, Loader] = {}


def register_loader(kind: str, loader: Loader) -> None:
    _LOADERS[kind] = loader


def load_raw_records(spec: SourceSpec) -> RawRecords:
    """Every record of a source, with the source's own splits when it has them."""
    if not _LOADERS:
        _register_builtin_loaders()
    try:
        loader = _LOADERS[spec.kind]
    except KeyError:
        raise FlanlabError(f"unknown source kind {spec.kind!r}; known: {sorted(_LOADERS)}") from None
    return loader(spec)


def load_split_records(spec: SourceSpec, *, unsplit_is_test: bool = False) -> SplitRecords:
    """Load every record of a source, grouped into train / validation / test.

    With ``split: all``, and with ``unsplit_is_test`` for a source without splits of its own
    (evaluation-only tasks), every record is test data.
    """
    raw = load_raw_records(spec)
    if spec.split == "all" or (unsplit_is_test and raw.grouped is None):
        everything = [r for split in SPLITS for r in raw.grouped.get(split, [])] if raw.grouped else list(raw.records)
        return {"train": [], "validation": [], "test": everything}
    if raw.grouped is not None:
        return raw.grouped
    return split_by_hash(raw.records, spec.split_key, where=raw.where)


def resolve_path(record: Record, path: str) -> Any:
    """``record[path]``, or a walk down a dotted path (``answers.text.0``); KeyError when absent.

    A key that itself contains dots wins over the walk, so plain keys keep working. A key step on a
    list of mappings takes that key from every item, so ``pairs.value`` reads the same whether a
    sequence of records is stored as a list of dicts (TFDS exports) or as a dict of lists (`datasets`).
    """
    if path in record:
        return record[path]
    value: Any = record
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.lstrip("-").isdigit() and -len(value) <= int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, list) and value and all(isinstance(item, dict) and step in item for item in value):
            value = [item[step] for item in value]
        else:
            raise KeyError(path)
    return value


def split_by_hash(records: Sequence[Record], key: str, where: str) -> SplitRecords:
    """Assign each record to a split by the hash of its ``key`` text (a key or a dotted path)."""
    grouped: SplitRecords = {name: [] for name in SPLITS}
    for index, record in enumerate(records):
        grouped[record_split(record, key, index, where)].append(record)
    return grouped


def record_split(record: Record, key: str, index: int, where: str) -> str:
    """The split of one record of a source without splits: the hash of its ``key`` text decides."""
    try:
        text = resolve_path(record, key)
    except KeyError:
        text = None
    if not isinstance(text, str):
        raise FlanlabError(f"record {index} has no text field {key!r} to split on", where=where)
    return hash_split(text)


def _register_builtin_loaders() -> None:
    from flanlab.sources import bigbench, files, huggingface, natural_instructions

    register_loader("bigbench", bigbench.load_bigbench_source)
    for kind in ("jsonl", "csv", "parquet"):
        register_loader(kind, files.load_file_source)
    register_loader("huggingface", huggingface.load_hf_source)
    register_loader("natural_instructions", natural_instructions.load_natural_instructions_source)
