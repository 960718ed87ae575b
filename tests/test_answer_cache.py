"""The answer cache wraps any Backend: a repeated request never reaches the model again."""

from __future__ import annotations

from flanlab.evaluate.cache import AnswerCache, CachedBackend
from flanlab.evaluate.requests import Backend, GenerateRequest, OptionScores, RankRequest


class CountingBackend:
    """Answers from the request text alone, and remembers what it was asked."""

    is_seq2seq = False

    def __init__(self) -> None:
        self.asked: list[str] = []

    def score(self, requests, progress=lambda n: None):
        self.asked += [r.prompt for r in requests]
        ones = [tuple(1 for _ in r.options) for r in requests]
        return [OptionScores(tuple(float(len(o)) for o in r.options), n, n) for r, n in zip(requests, ones)]

    def generate(self, requests, progress=lambda n: None):
        self.asked += [r.prompt for r in requests]
        return [r.prompt.upper() for r in requests]


def test_cached_backend_asks_the_model_only_for_new_requests(tmp_path):
    model = CountingBackend()
    first, again = RankRequest("p1", ("a", "bb")), GenerateRequest("p2", (), 5)
    cache = AnswerCache(tmp_path / "answers.sqlite", model_hash="m", settings={})
    cached: Backend = CachedBackend(model, cache)
    assert cached.score([first])[0].logprob == (1.0, 2.0) and cached.generate([again]) == ["P2"]
    done: list[int] = []
    repeated = cached.generate([again, GenerateRequest("p3", (), 5)], done.append)
    cache.close()
    assert repeated == ["P2", "P3"] and model.asked == ["p1", "p2", "p3"] and sum(done) == 1
    assert cached.cache_hits == 1
