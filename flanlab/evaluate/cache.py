"""A SQLite cache of model answers to evaluation requests.

The key hashes the model's weight fingerprint, the scoring settings that change numbers (dtype,
scorer version), the request kind, the exact prompt text and the options (or the generation
settings). Editing a template changes the prompt text, and changing the model changes the
fingerprint, so neither can ever hit a stale entry. `CachedBackend` puts the cache in front of any
`Backend`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from flanlab.evaluate.requests import Backend, GenerateRequest, OptionScores, Progress, RankRequest, no_progress
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


Req = TypeVar("Req", RankRequest, GenerateRequest)
Answer = TypeVar("Answer")


class CachedBackend:
    """A `Backend` that answers from the cache what it can and asks ``backend`` for the rest,
    storing those answers; it counts the cache hits."""

    def __init__(self, backend: Backend, cache: AnswerCache) -> None:
        self.backend, self.cache = backend, cache
        self.is_seq2seq = backend.is_seq2seq
        self.cache_hits = 0

    def score(self, requests: Sequence[RankRequest], progress: Progress = no_progress) -> list[OptionScores]:
        return self._answer(requests, self.backend.score, progress, OptionScores.from_json, OptionScores.to_json)

    def generate(self, requests: Sequence[GenerateRequest], progress: Progress = no_progress) -> list[str]:
        return self._answer(requests, self.backend.generate, progress, str, str)

    def _answer(
        self,
        requests: Sequence[Req],
        compute: Callable[[Sequence[Req], Progress], list[Answer]],
        progress: Progress,
        from_json: Callable[[Any], Answer],
        to_json: Callable[[Answer], Any],
    ) -> list[Answer]:
        keys = [request.cache_key() for request in requests]
        answers = {key: from_json(value) for key, value in self.cache.get_many(keys).items()}
        self.cache_hits += len(answers)
        progress(len(answers))
        missing = [i for i, key in enumerate(keys) if key not in answers]
        fresh = dict(zip((keys[i] for i in missing), compute([requests[i] for i in missing], progress)))
        self.cache.put_many({key: to_json(answer) for key, answer in fresh.items()})
        answers.update(fresh)
        return [answers[key] for key in keys]
