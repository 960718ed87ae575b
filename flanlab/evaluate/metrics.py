"""Task metrics, computed with the standard libraries (scikit-learn, sacrebleu, rouge-score).

Every metric takes the evaluated items of one (task, template, format) and returns a number on a
0-100 scale, or None where it is undefined (AUC-ROC when only one class occurs). SQuAD-style
answer normalisation and token F1 are written here because no installed library provides them.
"""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flanlab.errors import FlanlabError
from flanlab.metric_names import METRIC_NAMES, UnknownMetric
from flanlab.metric_names import canonical_metric as _canonical


@dataclass(frozen=True)
class Scored:
    """What a metric needs from one evaluated example."""

    prediction: str  # the predicted option text, or the generated answer
    references: tuple[str, ...]
    predicted_index: int | None = None  # rank classification / CoT mapped onto an option (-1: none)
    gold_index: int | None = None
    option_scores: tuple[float, ...] = ()  # the scores ranking used, for AUC-ROC
    num_options: int = 0
    options: tuple[str, ...] = ()  # the options shown (names answers in reports)


MetricFn = Callable[[Sequence[Scored]], "float | None"]


def accuracy(items: Sequence[Scored]) -> float:
    from sklearn.metrics import accuracy_score

    return 100.0 * accuracy_score([i.gold_index for i in items], [i.predicted_index for i in items])


def balanced_accuracy(items: Sequence[Scored]) -> float:
    """Recall averaged over the gold classes, so always answering the majority class scores 1/classes."""
    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():  # a prediction outside the gold classes (-1: no option) is just wrong
        warnings.simplefilter("ignore", UserWarning)
        return 100.0 * balanced_accuracy_score([i.gold_index for i in items], [i.predicted_index for i in items])


def macro_f1(items: Sequence[Scored]) -> float:
    """Macro F1 over the task's classes (every option counts as a class, present or not)."""
    from sklearn.metrics import f1_score

    classes = list(range(max(i.num_options for i in items) or 1))
    gold = [i.gold_index for i in items]
    predicted = [i.predicted_index for i in items]
    return 100.0 * f1_score(gold, predicted, labels=classes, average="macro", zero_division=0)


def auc_roc(items: Sequence[Scored]) -> float | None:
    """Binary tasks: AUC of (score of option 1 - score of option 0) against gold == option 1.

    The difference makes the value the same whichever option is called positive.
    """
    from sklearn.metrics import roc_auc_score

    if any(len(i.option_scores) != 2 for i in items):
        return None
    gold = [int(i.gold_index == 1) for i in items]
    if len(set(gold)) < 2:
        return None
    return 100.0 * roc_auc_score(gold, [i.option_scores[1] - i.option_scores[0] for i in items])


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _token_f1(prediction: str, reference: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match_item(item: Scored) -> float:
    return max(float(normalize_answer(item.prediction) == normalize_answer(ref)) for ref in item.references)


def token_f1_item(item: Scored) -> float:
    return max(_token_f1(item.prediction, ref) for ref in item.references)


def exact_match(items: Sequence[Scored]) -> float:
    return 100.0 * sum(exact_match_item(i) for i in items) / len(items)


def token_f1(items: Sequence[Scored]) -> float:
    return 100.0 * sum(token_f1_item(i) for i in items) / len(items)


def bleu(items: Sequence[Scored]) -> float:
    """Corpus BLEU (sacrebleu defaults); sacrebleu ignores the None that pads shorter reference lists."""
    import sacrebleu

    width = max(len(i.references) for i in items)
    streams = [[i.references[k] if k < len(i.references) else None for i in items] for k in range(width)]
    return sacrebleu.corpus_bleu([i.prediction for i in items], streams).score  # type: ignore[arg-type]


_ROUGE_SCORERS: dict[str, object] = {}


def _rouge_item(kind: str, item: Scored) -> float:
    """The best F-measure of ``kind`` over the item's references (0-1)."""
    from rouge_score import rouge_scorer

    scorer = _ROUGE_SCORERS.setdefault(kind, rouge_scorer.RougeScorer([kind], use_stemmer=True))
    # rougeLsum splits summaries into sentences on newlines
    prediction = item.prediction if kind != "rougeLsum" else _sentence_lines(item.prediction)
    best = 0.0
    for ref in item.references:
        ref_text = ref if kind != "rougeLsum" else _sentence_lines(ref)
        best = max(best, scorer.score(ref_text, prediction)[kind].fmeasure)  # type: ignore[attr-defined]
    return best


def _sentence_lines(text: str) -> str:
    return "\n".join(part.strip() for part in re.split(r"(?<=[.!?])\s+", text.strip()) if part.strip())


def rouge_l_item(item: Scored) -> float:
    return _rouge_item("rougeL", item)


def rouge_lsum_item(item: Scored) -> float:
    return _rouge_item("rougeLsum", item)


def rouge_l(items: Sequence[Scored]) -> float:
    return 100.0 * sum(rouge_l_item(i) for i in items) / len(items)


def rouge_lsum(items: Sequence[Scored]) -> float:
    return 100.0 * sum(rouge_lsum_item(i) for i in items) / len(items)


# One function per name of the vocabulary in flanlab.metric_names (a test checks they agree).
METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "macro_f1": macro_f1,
    "auc_roc": auc_roc,
    "exact_match": exact_match,
    "f1": token_f1,
    "bleu": bleu,
    "rouge_l": rouge_l,
    "rouge_lsum": rouge_lsum,
}
# Metrics that average a per-example value (0-1): their bootstrap resamples per-example numbers directly.
PER_EXAMPLE: dict[str, Callable[[Scored], float]] = {
    "accuracy": lambda i: float(i.predicted_index == i.gold_index),
    "exact_match": exact_match_item,
    "f1": token_f1_item,
    "rouge_l": rouge_l_item,
    "rouge_lsum": rouge_lsum_item,
}
# Shown beside accuracy for every classification task: it is not fooled by a skewed label mix.
CLASSIFICATION_COMPANION = "balanced_accuracy"


def canonical_metric(name: str, *, where: str) -> str:
    try:
        return _canonical(name)
    except UnknownMetric as error:
        raise FlanlabError(str(error), where=where) from None


def metrics_for(card_metrics: Sequence[str], *, classification: bool, where: str) -> list[str]:
    """The metrics to report for a task; the first is the primary one.

    Every card metric that can be computed is kept: a classification request scores the chosen
    option's text with the card's text metrics too (ReCoRD: exact match against every reference), and
    always gets accuracy and balanced accuracy. Generation requests cannot use option metrics; with
    none left they fall back to exact match.
    """
    names = [canonical_metric(name, where=where) for name in card_metrics] or ["accuracy"]
    if classification:
        names = [*names, "accuracy", CLASSIFICATION_COMPANION]
    else:
        names = [n for n in names if METRIC_NAMES[n].kind == "generation"] or ["exact_match"]
    return list(dict.fromkeys(names))


def compute(names: Sequence[str], items: Sequence[Scored]) -> dict[str, float | None]:
    return {name: METRICS[name](items) if items else None for name in names}


def match_option(answer: str, options: Sequence[str]) -> int:
    """The option a free-text answer names (normalised equality, then containment), else -1."""
    wanted = normalize_answer(answer)
    normalised = [normalize_answer(option) for option in options]
    if wanted in normalised:
        return normalised.index(wanted)
    contained = [k for k, option in enumerate(normalised) if option and re.search(rf"\b{re.escape(option)}\b", wanted)]
    return contained[0] if len(contained) == 1 else -1
