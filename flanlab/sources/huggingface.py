"""Hugging Face `datasets` as a source: a hub id (config, revision), or a local dataset folder.

Real loading code for users with a hub; the tests point it at local folders. `datasets` 4+ no longer
runs loading scripts, so a dataset that exists on the hub only as a script loads from the hub's
Parquet export of it (`revision: refs/convert/parquet`) or from a maintained Parquet copy. Without a
hub (see `flanlab.hub`) a hub id loads from the local cache or is `DataUnavailable`, at once, without
network retries. Local folders load with flanlab's own datasets cache, so a local folder never
stands in for a hub dataset of the same name in the shared Hugging Face cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flanlab.errors import DataUnavailable, FlanlabError
from flanlab.hub import hub_offline_reason
from flanlab.paths import cache_dir
from flanlab.sources.base import RawRecords, Record, SourceSpec, SplitRecords
from flanlab.sources.splits import SPLITS

# The hub's automatic Parquet conversion of a dataset, kept on this branch beside `main`.
PARQUET_EXPORT = "refs/convert/parquet"
# What `datasets` 4+ says when it finds a loading script where it expected data files.
_SCRIPT_REFUSED = "Dataset scripts are no longer supported"

# What each flanlab split is called by default in hub datasets, in order of preference.
_DEFAULT_SPLIT_NAMES = {
    "train": ("train",),
    "validation": ("validation", "dev", "valid"),
    "test": ("test",),
}


class ScriptOnlyDataset(FlanlabError):
    """The dataset is only a loading script, which `datasets` 4+ refuses to run."""


class HubUnreachable(FlanlabError):
    """The hub could not be asked (offline mode, no network)."""


def is_local(spec: SourceSpec) -> bool:
    return Path(spec.locator).expanduser().exists()


def load_hf_source(spec: SourceSpec) -> RawRecords:
    available = dict(_load(spec).items())
    grouped: SplitRecords = {}
    for split, name in hub_split_names(spec, set(available)).items():
        grouped[split] = available[name].to_list() if name else []
    if not any(grouped.values()):
        message = f"none of the splits {sorted(available)} map to train/validation/test"
        raise FlanlabError(message, where=_describe(spec))
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


def first_records(spec: SourceSpec) -> tuple[dict[str, Record | None], list[str]]:
    """The first record of the hub split behind each flanlab split (None where there is none), and
    the dataset's own split names. Streams, so only a few rows are fetched from a hub."""
    loaded = _load(spec, streaming=True)
    names = hub_split_names(spec, set(loaded))
    first = {split: next(iter(loaded[name]), None) if name else None for split, name in names.items()}
    return first, sorted(loaded)


def hub_split_names(spec: SourceSpec, available: set[str]) -> dict[str, str | None]:
    """Which of the dataset's splits feeds each flanlab split (the card's mapping, else the usual names)."""
    chosen: dict[str, str | None] = {}
    for split in SPLITS:
        names = (spec.splits[split],) if split in spec.splits else _DEFAULT_SPLIT_NAMES[split]
        chosen[split] = next((candidate for candidate in names if candidate in available), None)
    return chosen


def load_arguments(spec: SourceSpec) -> dict[str, Any]:
    """The `datasets.load_dataset` arguments for a spec.

    The Parquet export keeps each config as a folder (`<config>/<split>/*.parquet`) and declares no
    configs, so there a config is picked as the data folder instead of by name.
    """
    arguments: dict[str, Any] = {"path": spec.locator}
    if spec.revision:
        arguments["revision"] = spec.revision
    if spec.config:
        arguments["data_dir" if spec.revision == PARQUET_EXPORT else "name"] = spec.config
    return arguments


def is_hub_id(locator: str) -> bool:
    """True for `name` or `owner/name`, unless a local folder of that name exists."""
    parts = locator.split("/")
    return len(parts) <= 2 and all(parts) and not locator.startswith(".") and not Path(locator).exists()


def hub_dataset_id(locator: str, revision: str | None = None) -> str | None:
    """The id the hub files a dataset under now (it differs from ``locator`` when the dataset moved),
    or None when the hub has no such dataset. A missing revision is an error naming it."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import httpx  # the HTTP client huggingface_hub itself uses

    try:
        return HfApi().dataset_info(locator, revision=revision).id
    except GatedRepoError:  # a subclass of RepositoryNotFoundError: the dataset exists
        raise FlanlabError(f"{locator} is gated: accept its terms on the hub and log in") from None
    except RevisionNotFoundError:
        raise FlanlabError(f"the hub has no revision {revision!r} of {locator}") from None
    except RepositoryNotFoundError:
        return None
    except (OfflineModeIsEnabled, httpx.TransportError) as error:  # offline mode, no network, timeouts
        raise HubUnreachable(f"cannot reach the hub ({_one_line(error)})") from None


def _load(spec: SourceSpec, *, streaming: bool = False) -> Any:
    local = is_local(spec)
    offline = None if local else hub_offline_reason()  # decided before datasets reads its settings
    import datasets

    options = {"cache_dir": str(cache_dir("datasets"))} if local else {}
    try:
        return datasets.load_dataset(**load_arguments(spec), streaming=streaming, **options)
    except Exception as error:  # datasets raises many types: network, missing config, bad files
        if _SCRIPT_REFUSED in str(error):
            raise ScriptOnlyDataset(_script_message(spec), where=_describe(spec)) from None
        if offline is not None:
            raise DataUnavailable(f"no hub ({offline}) and no local copy", where=_describe(spec)) from None
        if _is_network_error(error):
            message = f"the hub could not be reached ({_one_line(error)})"
            raise DataUnavailable(message, where=_describe(spec)) from None
        raise FlanlabError(f"could not load Hugging Face dataset ({_one_line(error)})", where=_describe(spec)) from None


def _script_message(spec: SourceSpec) -> str:
    message = "the dataset is only a loading script, which datasets 4+ does not run"
    if spec.revision != PARQUET_EXPORT:
        message += f" (try revision {PARQUET_EXPORT!r} or a Parquet copy)"
    return message


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _describe(spec: SourceSpec) -> str:
    where = f"huggingface:{spec.locator}" + (f"/{spec.config}" if spec.config else "")
    return where + (f"@{spec.revision}" if spec.revision else "")
