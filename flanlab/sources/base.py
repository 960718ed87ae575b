"""The source spec a task card names, and the dispatch from a spec to its loader."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flanlab.errors import FlanlabError
from flanlab.sources.splits import SPLITS, hash_split, text_hash

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
    splits: dict[str, str] = Field(default_factory=dict)
    split_key: str = "input"  # the record field whose text decides a hash split
    # A regex whose first group of the split_key text decides the split instead of the whole text:
    # sources that wrap one question in different text (a hint line) then split it alike.
    split_pattern: str | None = None

    @field_validator("split_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            groups = re.compile(value).groups
        except re.error as error:
            raise ValueError(f"split_pattern is not a valid regex ({error})") from None
        if groups < 1:
            raise ValueError("split_pattern needs a group: the part of the text that decides the split")
        return value


Loader = Callable[[SourceSpec], SplitRecords]
# Flan 2022 (section 4): a task without a validation split holds out 1,024 training examples (here
# at most a tenth of train, so a small task keeps most of its training data).
VALIDATION_FROM_TRAIN = 1024
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
    return hold_out_validation(loader(spec), spec)


def hold_out_validation(grouped: SplitRecords, spec: SourceSpec) -> SplitRecords:
    """A source with train but no validation split gets one: ``min(1024, len(train) // 10)`` train
    records, the first by hash of their split text (the same ones whatever the record order)."""
    train = grouped.get("train") or []
    if grouped.get("validation") or len(train) < 10:
        return grouped
    count = min(VALIDATION_FROM_TRAIN, len(train) // 10)
    texts = [_split_text(record, spec.split_key, spec.split_pattern) or "" for record in train]
    order = sorted(range(len(train)), key=lambda index: (text_hash(texts[index]), index))
    chosen = set(order[:count])
    return {
        **grouped,
        "train": [record for index, record in enumerate(train) if index not in chosen],
        "validation": [train[index] for index in sorted(chosen)],
    }


def resolve_path(record: Record, path: str) -> Any:
    """``record[path]``, or a walk down a dotted path (``answers.text.0``); KeyError when absent.

    A key that itself contains dots wins over the walk, so plain keys keep working.
    """
    if path in record:
        return record[path]
    value: Any = record
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.lstrip("-").isdigit() and -len(value) <= int(step) < len(value):
            value = value[int(step)]
        else:
            raise KeyError(path)
    return value


def split_by_hash(records: list[Record], key: str, where: str, pattern: str | None = None) -> SplitRecords:
    """Assign each record to a split by the hash of its ``key`` text (a key or a dotted path), or of
    the first group of ``pattern`` in it (the whole text where the pattern does not match)."""
    grouped: SplitRecords = {name: [] for name in SPLITS}
    for index, record in enumerate(records):
        text = _split_text(record, key, pattern)
        if text is None:
            raise FlanlabError(f"record {index} has no text field {key!r} to split on", where=where)
        grouped[hash_split(text)].append(record)
    return grouped


def _split_text(record: Record, key: str, pattern: str | None) -> str | None:
    try:
        text = resolve_path(record, key)
    except KeyError:
        return None
    if not isinstance(text, str):
        return None
    match = re.search(pattern, text, flags=re.DOTALL) if pattern else None
    return match.group(1) if match else text


def _register_builtin_loaders() -> None:
    from flanlab.sources import bigbench, files, huggingface, natural_instructions

    register_loader("bigbench", bigbench.load_bigbench_source)
    for kind in ("jsonl", "csv", "parquet"):
        register_loader(kind, files.load_file_source)
    register_loader("huggingface", huggingface.load_hf_source)
    register_loader("natural_instructions", natural_instructions.load_natural_instructions_source)
