"""A SQLite cache of model answers to evaluation requests.

The key hashes the model's weight fingerprint, the scoring settings that change numbers (dtype,
scorer version), the request kind, the exact prompt text and the options (or the generation
settings). Editing a template changes the prompt text, and changing the model changes the
fingerprint, so neither can ever hit a stale entry.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flanlab.io import stable_hash
from flanlab.paths import cache_dir

# Bump when the backend's numbers change for the same model and request (tokenisation, masking).
SCORER_VERSION = 1


def default_cache_path() -> Path:
    return cache_dir("eval") / "answers.sqlite"


class AnswerCache:
    def __init__(self, path: Path, *, model_hash: str, settings: dict[str, Any]) -> None:
        self.path = path
        self.namespace = stable_hash({"model": model_hash, "settings": settings, "scorer": SCORER_VERSION}, length=40)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    def _key(self, request_key: str) -> str:
        return stable_hash([self.namespace, request_key], length=40)

    def get_many(self, request_keys: Iterable[str]) -> dict[str, Any]:
        """The cached answers among ``request_keys`` (request key -> answer)."""
        wanted = {self._key(k): k for k in request_keys}
        found: dict[str, Any] = {}
        keys = list(wanted)
        for start in range(0, len(keys), 500):  # SQLite limits the number of bound parameters
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk):
                found[wanted[key]] = json.loads(value)
        return found

    def put_many(self, answers: dict[str, Any]) -> None:
        rows = [(self._key(k), json.dumps(v)) for k, v in answers.items()]
        self._db.executemany("INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)", rows)
        self._db.commit()

    def close(self) -> None:
        self._db.close()
