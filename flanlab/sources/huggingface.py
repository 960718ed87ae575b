"""Hugging Face `datasets` as a source: a hub id and config, or a local dataset folder or script.

Real loading code for users with a hub; the tests point it at local files.
"""

from __future__ import annotations

from flanlab.errors import FlanlabError
from flanlab.sources.base import SourceSpec, SplitRecords, split_by_hash
from flanlab.sources.splits import SPLITS

# What each flanlab split is called by default in hub datasets, in order of preference.
_DEFAULT_SPLIT_NAMES = {
    "train": ("train",),
    "validation": ("validation", "dev", "valid"),
    "test": ("test",),
}


def load_hf_source(spec: SourceSpec) -> SplitRecords:
    import datasets

    try:
        loaded = datasets.load_dataset(spec.locator, spec.config)
    except Exception as error:  # datasets raises many types: network, missing config, bad files
        raise FlanlabError(f"could not load Hugging Face dataset ({error})", where=_describe(spec)) from None
    available = dict(loaded.items())
    grouped: SplitRecords = {}
    for split in SPLITS:
        names = (spec.splits[split],) if split in spec.splits else _DEFAULT_SPLIT_NAMES[split]
        name = next((candidate for candidate in names if candidate in available), None)
        grouped[split] = available[name].to_list() if name else []
    if not any(grouped.values()):
        raise FlanlabError(f"none of the splits {sorted(available)} map to train/validation/test", where=_describe(spec))
    if not grouped["test"] and not grouped["validation"]:
        # Only a training split: carve validation and test out of it by input hash.
        return split_by_hash(grouped["train"], spec.split_key, where=_describe(spec), pattern=spec.split_pattern)
    return grouped


def _describe(spec: SourceSpec) -> str:
    return f"huggingface:{spec.locator}" + (f"/{spec.config}" if spec.config else "")
