"""Evaluation requests: what the model backend is asked, independent of tasks and templates.

A rank-classification request scores every option as a continuation of one prompt; a generation
request decodes greedily from a prompt until a stop sequence or the token limit. A ``chat`` request's
prompt is already wrapped in the model's chat template (`flanlab.prompts.chat`): it is tokenised
as it stands and its options are the assistant's reply, with no delimiter in front.

`Backend` is what answers them: the Hugging Face backend (`flanlab.evaluate.backend`), or any
backend behind the answer cache (`flanlab.evaluate.cache.CachedBackend`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from flanlab.io import stable_hash
from flanlab.prompts.layout import DEFAULT_LAYOUT


@dataclass(frozen=True)
class RankRequest:
    prompt: str
    options: tuple[str, ...]  # each scored as delimiter + option after the prompt (chat: the option alone)
    delimiter: str = DEFAULT_LAYOUT.separator  # the rendered example's join (see PromptLayout); unused in chat
    chat: bool = False

    def cache_key(self) -> str:
        key = ["rank", self.prompt, list(self.options), self.delimiter, *(["chat"] if self.chat else [])]
        return stable_hash(key, length=40)


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    stop: tuple[str, ...] = ("\n\n",)
    max_new_tokens: int = 64
    chat: bool = False

    def cache_key(self) -> str:
        key = ["generate", self.prompt, list(self.stop), self.max_new_tokens, *(["chat"] if self.chat else [])]
        return stable_hash(key, length=40)


@dataclass(frozen=True)
class OptionScores:
    """Log-likelihoods of each option: the sum, and its length-normalised forms."""

    logprob: tuple[float, ...]  # sum of token log-probabilities
    num_tokens: tuple[int, ...]
    num_chars: tuple[int, ...]

    @property
    def per_token(self) -> tuple[float, ...]:
        return tuple(lp / max(n, 1) for lp, n in zip(self.logprob, self.num_tokens))

    @property
    def per_char(self) -> tuple[float, ...]:
        return tuple(lp / max(n, 1) for lp, n in zip(self.logprob, self.num_chars))

    def by(self, normalisation: str) -> tuple[float, ...]:
        return {"sum": self.logprob, "per_token": self.per_token, "per_char": self.per_char}[normalisation]

    def to_json(self) -> dict[str, list]:
        return {"logprob": list(self.logprob), "num_tokens": list(self.num_tokens), "num_chars": list(self.num_chars)}

    @classmethod
    def from_json(cls, data: dict[str, list]) -> OptionScores:
        return cls(tuple(data["logprob"]), tuple(data["num_tokens"]), tuple(data["num_chars"]))


Progress = Callable[[int], None]  # hears how many requests were just answered


def no_progress(_: int) -> None:
    return None


class Backend(Protocol):
    """A model as evaluation sees it; answers come back in request order."""

    is_seq2seq: bool  # encoder-decoder models cannot take a chat template

    def score(self, requests: Sequence[RankRequest], progress: Progress = no_progress) -> list[OptionScores]:
        """Each option's log-likelihood as a continuation of its request's prompt."""
        ...

    def generate(self, requests: Sequence[GenerateRequest], progress: Progress = no_progress) -> list[str]:
        """Greedy continuations, cut before the first stop sequence."""
        ...
