"""Reference lines for a classification dataset, and how concentrated a model's answers are.

An accuracy means little without what a model that ignores the input would score: chance (a
uniform guess among each request's options) and the majority line (always giving the most frequent
gold answer). A model that gives one answer nearly everywhere is a constant predictor whatever its
score; the report warns about it.

An answer is the option text when every request shows the same options (yes/no, NLI labels), and
the option's position otherwise (per-record options), since position is then all a constant
predictor can hold on to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from flanlab.evaluate.metrics import Scored

CONSTANT_SHARE = 0.9  # above this share of requests, one answer makes a constant predictor


class DatasetLines(BaseModel):
    """What input-blind answering scores on the evaluated requests (0-100, accuracy)."""

    model_config = ConfigDict(extra="forbid")

    n_requests: int
    chance: float  # mean over requests of 100 / number of options
    majority: float  # always giving the most frequent gold answer
    majority_answer: str


class AnswerSpread(BaseModel):
    """A model's most frequent answer over a dataset's requests (every template)."""

    model_config = ConfigDict(extra="forbid")

    n_requests: int
    top_answer: str
    top_share: float  # 0-1; answers that name no option (a CoT miss) never count as the top one

    @property
    def constant(self) -> bool:
        return self.top_share > CONSTANT_SHARE


def _answer_names(items: Sequence[Scored]) -> dict[int, str]:
    """How to name option k: its text when all requests share their options, else its position."""
    first = items[0].options
    if first and all(item.options == first for item in items):
        return {k: repr(option) for k, option in enumerate(first)}
    return {k: f"option {k + 1}" for k in range(max(item.num_options for item in items))}


def _most_frequent(counts: Counter) -> tuple[int, int]:
    """The most frequent option and its count; ties go to the first option."""
    top = max(counts.values())
    return min(k for k, count in counts.items() if count == top), top


def dataset_lines(items: Sequence[Scored]) -> DatasetLines | None:
    """Chance and majority lines of classification requests (None for generation)."""
    if not items or any(item.num_options == 0 or item.gold_index is None for item in items):
        return None
    answer, count = _most_frequent(Counter(item.gold_index for item in items))
    return DatasetLines(
        n_requests=len(items),
        chance=100.0 * sum(1 / item.num_options for item in items) / len(items),
        majority=100.0 * count / len(items),
        majority_answer=_answer_names(items)[answer],  # type: ignore[index]
    )


def answer_spread(items: Sequence[Scored]) -> AnswerSpread | None:
    """The most frequent predicted option and its share (None for generation)."""
    if not items or any(item.num_options == 0 for item in items):
        return None
    chosen = [item.predicted_index for item in items]
    counts = Counter(index for index in chosen if index is not None and index >= 0)
    if not counts:
        return AnswerSpread(n_requests=len(items), top_answer="(no option)", top_share=0.0)
    answer, count = _most_frequent(counts)
    return AnswerSpread(n_requests=len(items), top_answer=_answer_names(items)[answer], top_share=count / len(items))
