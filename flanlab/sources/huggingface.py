"""Hugging Face `datasets` as a source: a hub id and config, or a local dataset folder or script.

Real loading code for users with a hub; the tests point it at local files. Without a hub (see
`flanlab.hub`) a hub id loads from the local cache or is `DataUnavailable`, at once, without
network retries. Local folders load with flanlab's own datasets cache, so a local folder never
stands in for a hub dataset of the same name in the shared Hugging Face cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.hub import hub_offline_reason
from flanlab.paths import cache_dir
from flanlab.sources.base import RawRecords, SourceSpec, SplitRecords
from flanlab.sources.splits import SPLITS

# What each flanlab split is called by default in hub datasets, in order of preference.
_DEFAULT_SPLIT_NAMES = {
    "train": ("train",),
    "validation": ("validation", "dev", "valid"),
    "test": ("test",),
}


def is_local(spec: SourceSpec) -> bool:
    return Path(spec.locator).expanduser().exists()


def load_hf_source(spec: SourceSpec) -> RawRecords:
    local = is_local(spec)
    offline = None if local else hub_offline_reason()  # decided before datasets reads its settings
    import datasets

    options = {"cache_dir": str(cache_dir("datasets"))} if local else {}
    try:
        loaded = datasets.load_dataset(spec.locator, spec.config, **options)
    except Exception as error:  # datasets raises many types: network, missing config, bad files
        if offline is not None:
            raise DataUnavailable(f"no hub ({offline}) and no local copy", where=_describe(spec)) from None
        if _is_network_error(error):
            raise DataUnavailable(f"the hub could not be reached ({error})", where=_describe(spec)) from None
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
        return RawRecords(where=_describe(spec), records=grouped["train"])
    return RawRecords(where=_describe(spec), grouped=grouped)


def _is_network_error(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"ConnectionError", "ConnectError", "TimeoutError", "ConnectTimeout", "OfflineModeIsEnabled"})


def hub_copy_missing(spec: SourceSpec) -> str | None:
    """Why a hub dataset cannot be loaded here (no hub and nothing in the local caches), else None.

    A quick look at the cache folders, for listings; loading decides for real.
    """
    if is_local(spec) or hub_offline_reason() is None:
        return None
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()
    hub = Path(os.environ.get("HF_HUB_CACHE") or home / "hub").expanduser()
    processed = Path(os.environ.get("HF_DATASETS_CACHE") or home / "datasets").expanduser()
    copies = (hub / f"datasets--{spec.locator.replace('/', '--')}", processed / spec.locator.replace("/", "___"))
    if any(copy.exists() for copy in copies):
        return None
    return f"no hub ({hub_offline_reason()}) and no local copy"


def _describe(spec: SourceSpec) -> str:
    return f"huggingface:{spec.locator}" + (f"/{spec.config}" if spec.config else "")
