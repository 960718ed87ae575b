"""The source spec a task card names, and the dispatch from a spec to its loader."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flanlab.errors import FlanlabError
from flanlab.registries import Registry
from flanlab.sources.splits import SPLITS, hash_split, text_hash

Record = dict[str, Any]
SplitRecords = dict[str, list[Record]]


class SourceSpec(BaseModel):
    """Where a task's raw records come from.

    ``locator`` is a BIG-bench task path (``gem/xsum``), a file path or glob, a Hugging Face dataset
    id, or a Super-Natural-Instructions task file. ``splits`` maps flanlab's split names to the
    source's own (for sources that have them); sources without splits are split by input hash.
    ``split: all`` makes every record test data (an evaluation set scored whole).
    """

    model_config = ConfigDict(extra="forbid")

    kind: str  # a registered loader's name (`register_loader`)
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
    # A regex whose first group of the split_key text decides the split instead of the whole text:
    # sources that wrap one question in different text (a hint line) then split it alike.
    split_pattern: str | None = None

    @field_validator("kind")
    @classmethod
    def _registered(cls, value: str) -> str:
        LOADERS.get(value)  # raises with the closest registered kinds
        return value

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


@dataclass(frozen=True)
class RawRecords:
    """A source's records before flanlab assigns splits: the source's own splits, or one list."""

    where: str
    grouped: SplitRecords | None = None  # the source's own train / validation / test
    records: Sequence[Record] = ()  # a source without splits: split by the hash of the spec's split_key


Loader = Callable[[SourceSpec], RawRecords]
# Flan 2022 (section 4): a task without a validation split holds out 1,024 training examples (here
# at most a tenth of train, so a small task keeps most of its training data).
VALIDATION_FROM_TRAIN = 1024


def register_loader(kind: str, loader: Loader) -> None:
    """Make ``kind`` a source kind cards may name (or replace a built-in kind's loader)."""
    LOADERS.register(kind, loader)


def load_raw_records(spec: SourceSpec) -> RawRecords:
    """Every record of a source, with the source's own splits when it has them."""
    return LOADERS.get(spec.kind)(spec)


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
        return hold_out_validation(raw.grouped, spec)
    return split_by_hash(raw.records, spec.split_key, where=raw.where, pattern=spec.split_pattern)


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


def split_by_hash(records: Sequence[Record], key: str, where: str, pattern: str | None = None) -> SplitRecords:
    """Assign each record to a split by the hash of its ``key`` text (a key or a dotted path), or of
    the first group of ``pattern`` in it (the whole text where the pattern does not match)."""
    grouped: SplitRecords = {name: [] for name in SPLITS}
    for index, record in enumerate(records):
        grouped[record_split(record, key, index, where, pattern)].append(record)
    return grouped


def record_split(record: Record, key: str, index: int, where: str, pattern: str | None = None) -> str:
    """The split of one record of a source without splits: the hash of its ``key`` text decides."""
    text = _split_text(record, key, pattern)
    if text is None:
        raise FlanlabError(f"record {index} has no text field {key!r} to split on", where=where)
    return hash_split(text)


def _split_text(record: Record, key: str, pattern: str | None) -> str | None:
    try:
        text = resolve_path(record, key)
    except KeyError:
        return None
    if not isinstance(text, str):
        return None
    match = re.search(pattern, text, flags=re.DOTALL) if pattern else None
    return match.group(1) if match else text


def _add_builtin_loaders(loaders: Registry[Loader]) -> None:
    from flanlab.sources import bigbench, files, huggingface, natural_instructions

    loaders.register("bigbench", bigbench.load_bigbench_source)
    for kind in ("jsonl", "csv", "parquet"):
        loaders.register(kind, files.load_file_source)
    loaders.register("huggingface", huggingface.load_hf_source)
    loaders.register("natural_instructions", natural_instructions.load_natural_instructions_source)


LOADERS: Registry[Loader] = Registry("source kind", _add_builtin_loaders)
