"""Whether the Hugging Face hub can be reached, decided once per process and quickly.

The offline variables (HF_HUB_OFFLINE, HF_DATASETS_OFFLINE, TRANSFORMERS_OFFLINE) are honoured as
they are. Without them, one HEAD request with a short timeout decides; when it fails, the hub
libraries are switched to offline mode (their variables for later imports, their settings for
modules already imported), so they read local copies at once instead of retrying the network.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
PROBE_TIMEOUT_S = 3.0
DEFAULT_ENDPOINT = "https://huggingface.co"


def _is_set(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@functools.cache
def hub_offline_reason() -> str | None:
    """None when the hub is reachable, else why not (a few words). Probes at most once per process."""
    for name in OFFLINE_VARIABLES:
        if _is_set(os.environ.get(name)):
            return f"{name} is set"
    endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT)
    problem = _probe(endpoint)
    if problem is None:
        return None
    go_offline()
    return f"{urllib.parse.urlsplit(endpoint).netloc or endpoint} unreachable: {problem}"


def _probe(endpoint: str) -> str | None:
    """None if the endpoint answers at all (any HTTP status), else the error in a few words."""
    request = urllib.request.Request(endpoint, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None  # an HTTP answer, even an error, means the hub is there
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = str(getattr(error, "reason", error))
        return " ".join(re.sub(r"^\[Errno [^]]*\] ", "", reason).split()) or type(error).__name__


def go_offline() -> None:
    """Put the hub libraries in offline mode for the rest of this process (and its children)."""
    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"
    hub_constants: Any = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True
    datasets_config: Any = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True
        datasets_config.HF_DATASETS_OFFLINE = True
