"""Where flanlab keeps its caches: $FLANLAB_HOME, else the XDG cache directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The root of every flanlab cache (models, source data, tokenised shards, eval answers)."""
    explicit = os.environ.get("FLANLAB_HOME")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "flanlab"


def cache_dir(*parts: str) -> Path:
    """A subdirectory of the cache root, created on demand."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
