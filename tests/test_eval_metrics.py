"""Metrics and CoT answer extraction on hand-made predictions whose scores are known."""

from __future__ import annotations

import pytest

from flanlab.errors import FlanlabError
from flanlab.evaluate import metrics as M
from flanlab.prompts.formats import ANSWER_PHRASE, extract_cot_answer


def _cls(predicted: int, gold: int, scores=(0.0, 0.0), n: int = 2) -> M.Scored:
    return M.Scored(str(predicted), (str(gold),), predicted, gold, tuple(scores), n)


def test_classification_metrics():
    items = [_cls(0, 0), _cls(1, 1), _cls(1, 0), _cls(2, 2, n=3)]
    assert M.accuracy(items) == pytest.approx(75.0)
    # class 0: P=1 R=.5 F=2/3; class 1: P=.5 R=1 F=2/3; class 2: F=1
    assert M.macro_f1(items) == pytest.approx(100 * (2 / 3 + 2 / 3 + 1) / 3)


def test_auc_roc_uses_option_score_differences_and_needs_two_classes():
    items = [_cls(0, 0, (-1.0, -3.0)), _cls(1, 1, (-2.0, -1.0)), _cls(0, 1, (-1.0, -1.5)), _cls(0, 0, (-1.0, -2.5))]
    # positives (gold 1) have differences 1.0 and -0.5; negatives -2.0 and -1.5: all pairs ranked right
    assert M.auc_roc(items) == pytest.approx(100.0)
    assert M.auc_roc([_cls(0, 0, (-1.0, -2.0)), _cls(1, 0, (-2.0, -1.0))]) is None
    assert M.auc_roc([_cls(0, 0, (0.0, 0.0, 0.0), n=3), _cls(1, 1, (0.0, 0.0, 0.0), n=3)]) is None


def test_squad_exact_match_and_token_f1():
    items = [
        M.Scored("The Eiffel Tower!", ("eiffel tower",)),
        M.Scored("in Paris France", ("Paris", "Paris, France")),
        M.Scored("blue", ("red",)),
    ]
    assert M.exact_match(items) == pytest.approx(100 / 3)
    assert M.token_f1(items) == pytest.approx(100 * (1 + 0.8 + 0) / 3)


def test_bleu_and_rouge_come_from_their_libraries():
    perfect = [M.Scored("the cat sat on the mat today", ("the cat sat on the mat today",))]
    assert M.bleu(perfect) == pytest.approx(100.0)
    assert M.rouge_l(perfect) == pytest.approx(100.0)
    partial = [M.Scored("the cat sat. It slept.", ("the cat sat on the mat. It slept well.", "a dog"))]
    assert 0 < M.rouge_l(partial) < 100 and 0 < M.rouge_lsum(partial) < 100
    assert M.bleu([M.Scored("a b c d e", ("a b c d e", "x")), M.Scored("f g h i", ("f g h i",))]) == pytest.approx(100.0)


def test_cot_answer_extraction_and_option_matching():
    chain = f"The premise says Anna believes it. Beliefs are not facts. {ANSWER_PHRASE} no."
    assert extract_cot_answer(chain) == "no"
    assert M.match_option(extract_cot_answer(chain), ["yes", "no"]) == 1
    assert M.match_option("it is not possible to tell", ["yes", "it is not possible to tell", "no"]) == 1
    assert M.match_option("maybe", ["yes", "no"]) == -1


def test_metric_names_and_defaults():
    assert M.metrics_for(["acc"], classification=True, where="x") == ["accuracy", "balanced_accuracy"]
    assert M.metrics_for(["macro_f1"], classification=True, where="x") == ["macro_f1", "accuracy", "balanced_accuracy"]
    assert M.metrics_for(["accuracy"], classification=False, where="x") == ["exact_match"]
    assert M.metrics_for(["rouge", "bleu"], classification=False, where="x") == ["rouge_l", "bleu"]
    # a text metric on a classification task scores the chosen option's text (ReCoRD)
    assert M.metrics_for(["em", "f1"], classification=True, where="x") == ["exact_match", "f1", "accuracy", "balanced_accuracy"]
    with pytest.raises(FlanlabError, match="card.yaml: unknown metric 'bogus'"):
        M.metrics_for(["bogus"], classification=True, where="card.yaml")


def test_every_metric_name_has_a_function_and_aliases_point_at_names():
    from flanlab.metric_names import ALIASES, METRIC_NAMES, canonical_metric

    assert set(M.METRICS) == set(METRIC_NAMES)
    assert set(ALIASES.values()) <= set(METRIC_NAMES)
    assert canonical_metric("rouge") == "rouge_l" and canonical_metric("rougeLsum") == "rouge_lsum"
    with pytest.raises(ValueError, match="unknown metric 'acuracy' \\(did you mean 'accuracy'\\?\\)"):
        canonical_metric("acuracy")


def test_balanced_accuracy_sees_through_a_majority_guesser():
    # 4 golds of class 0, 1 of class 1; always answering 0 is 80% accurate but 50% balanced
    items = [_cls(0, 0)] * 4 + [_cls(0, 1)]
    assert M.accuracy(items) == pytest.approx(80.0)
    assert M.balanced_accuracy(items) == pytest.approx(50.0)
    # a CoT answer that names no option (-1) is simply wrong
    assert M.balanced_accuracy([_cls(-1, 0), _cls(1, 1)]) == pytest.approx(50.0)


def test_per_example_rouge_averages_to_the_corpus_value():
    items = [M.Scored("the cat sat", ("the cat sat down",)), M.Scored("a dog", ("the cat", "a dog barked"))]
    per_example = [M.PER_EXAMPLE["rouge_l"](item) for item in items]
    assert per_example[0] == pytest.approx(2 * 1 * 0.75 / 1.75)  # P = 3/3, R = 3/4
    assert M.rouge_l(items) == pytest.approx(100 * sum(per_example) / 2)


@pytest.mark.parametrize("metric", ["macro_f1", "balanced_accuracy"])
def test_vectorised_bootstrap_metrics_equal_sklearn(metric):
    import numpy as np

    from flanlab.evaluate.aggregate import VECTORISED, TemplateRun, _resample_indices

    rng = np.random.default_rng(3)
    items = [_cls(int(p), int(g), n=3) for p, g in zip(rng.integers(-1, 3, 40), rng.integers(0, 3, 40))]
    run = TemplateRun("t", "c", "zeroshot", 0, "test", "a", [metric], items)
    indices = _resample_indices(len(items), 20, seed=0)
    expected = [M.METRICS[metric]([items[i] for i in row]) for row in indices]
    assert VECTORISED[metric](run, indices) == pytest.approx(expected)
