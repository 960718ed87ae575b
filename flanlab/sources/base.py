"""The source spec a task card names, and the dispatch from a spec to its loader."""

from __future__ import annotations

from collections.abc import Callable
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
    """

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    locator: str
    config: str | None = None
    # Hub datasets: a branch, tag or commit to load (`refs/convert/parquet`: the hub's Parquet export).
    revision: str | None = None
    splits: dict[str, str] = Field(default_factory=dict)
    split_key: str = "input"  # the record field whose text decides a hash split


Loader = Callable[[SourceSpec], SplitRecords]
_LOADERS: dict[str, Loader] = {}


def register_loader(kind: str, loader: Loader) -> None:
    _LOADERS[kind] = loader


def load_split_records(spec: SourceSpec) -> SplitRecords:
    """Load every record of a source, grouped into train / validation / test."""
    if not _LOADERS:
        _register_builtin_loaders()
    try:
        loader = _LOADERS[spec.kind]
    except KeyError:
        raise FlanlabError(f"unknown source kind {spec.kind!r}; known: {sorted(_LOADERS)}") from None
    return loader(spec)


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


def split_by_hash(records: list[Record], key: str, where: str) -> SplitRecords:
    """Assign each record to a split by the hash of its ``key`` text (a key or a dotted path)."""
    grouped: SplitRecords = {name: [] for name in SPLITS}
    for index, record in enumerate(records):
        try:
            text = resolve_path(record, key)
        except KeyError:
            text = None
        if not isinstance(text, str):
            raise FlanlabError(f"record {index} has no text field {key!r} to split on", where=where)
        grouped[hash_split(text)].append(record)
    return grouped


def _register_builtin_loaders() -> None:
    from flanlab.sources import bigbench, files, huggingface, natural_instructions

    register_loader("bigbench", bigbench.load_bigbench_source)
    for kind in ("jsonl", "csv", "parquet"):
        register_loader(kind, files.load_file_source)
    register_loader("huggingface", huggingface.load_hf_source)
    register_loader("natural_instructions", natural_instructions.load_natural_instructions_source)
