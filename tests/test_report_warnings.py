"""The constant-answer warning of a results page: one entry per dataset, with the formats it is constant in."""

from __future__ import annotations

from flanlab.evaluate.baselines import AnswerSpread
from flanlab.report.answer import _warning_lines
from flanlab.report.collect import TaskScore


def _score(task: str, shots: int, top_share: float) -> TaskScore:
    return TaskScore(
        arm="base", label="base model", series="base", x=None, task=task, cluster="nli", format="zeroshot" if shots == 0
        else f"fewshot{shots}", shots=shots, metric="accuracy", mean=50.0, std=0.0, n_templates=1, n_examples=40,
        best_dev_test=None, metric_means={}, lines=None,
        answers=AnswerSpread(n_requests=40, top_answer="yes", top_share=top_share),
    )


def test_a_dataset_constant_in_two_formats_is_named_once_and_counted_once():
    scores = [_score("navigate", 0, 0.97), _score("navigate", 3, 0.95), _score("fever", 0, 0.99), _score("fever", 3, 0.6),
              _score("anli", 0, 0.5)]
    [line] = _warning_lines(scores)
    assert "2 of its 3 classification datasets" in line
    assert "(navigate (zero-shot, 3-shot); fever (zero-shot))" in line


def test_no_warning_without_a_constant_predictor():
    assert _warning_lines([_score("anli", 0, 0.9), _score("anli", 3, 0.5)]) == []
