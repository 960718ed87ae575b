"""The metric vocabulary: every metric name a task card may declare, with its aliases and kind.

This is core: task cards validate their ``metrics`` against it when they load, so a typo is a
one-line error naming the card instead of a failure at evaluation time. The functions that compute
the metrics live in ``flanlab.evaluate.metrics`` (one per canonical name here; a test checks both
lists agree).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["classification", "generation"]


@dataclass(frozen=True)
class MetricName:
    name: str
    kind: MetricKind  # classification metrics need options; generation ones score free text
    description: str


METRIC_NAMES: dict[str, MetricName] = {
    metric.name: metric
    for metric in (
        MetricName("accuracy", "classification", "share of requests whose top-ranked option is the gold one"),
        MetricName("balanced_accuracy", "classification", "recall averaged over the gold classes (scikit-learn)"),
        MetricName("macro_f1", "classification", "F1 averaged over every option (scikit-learn)"),
        MetricName("auc_roc", "classification", "binary tasks: AUC of the option score difference (scikit-learn)"),
        MetricName("exact_match", "generation", "SQuAD-normalised exact match against any reference"),
        MetricName("f1", "generation", "SQuAD token F1, best over the references"),
        MetricName("bleu", "generation", "corpus BLEU (sacrebleu defaults)"),
        MetricName("rouge_l", "generation", "ROUGE-L F-measure, best over the references (rouge-score)"),
        MetricName("rouge_lsum", "generation", "ROUGE-Lsum F-measure, one sentence per line (rouge-score)"),
    )
}

# Other spellings cards (and the sources they are generated from) use for the same metrics.
ALIASES: dict[str, str] = {
    "acc": "accuracy",
    "balanced_acc": "balanced_accuracy",
    "f1_macro": "macro_f1",
    "auc": "auc_roc",
    "em": "exact_match",
    "token_f1": "f1",
    "rouge": "rouge_l",
    "rougeL": "rouge_l",
    "rouge-l": "rouge_l",
    "rougeLsum": "rouge_lsum",
}


class UnknownMetric(ValueError):
    """A metric name that is neither canonical nor an alias."""


def canonical_metric(name: str) -> str:
    """The canonical name of ``name``; raises UnknownMetric (with the closest match) otherwise."""
    canonical = ALIASES.get(name, name)
    if canonical in METRIC_NAMES:
        return canonical
    known = sorted({*METRIC_NAMES, *ALIASES})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownMetric(f"unknown metric {name!r}{hint}; known: {', '.join(sorted(METRIC_NAMES))}")


def metric_kind(name: str) -> MetricKind:
    return METRIC_NAMES[canonical_metric(name)].kind
