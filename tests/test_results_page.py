"""A study page's verdict follows from the paired CIs of the comparisons the paper makes, never a sign alone."""

from __future__ import annotations

from flanlab.evaluate.compare import Comparison, PairedDifference
from flanlab.experiments.record import Finding
from flanlab.report.page import check_finding, study_verdict


def _comparison(a: str, b: str, *intervals: tuple[float, float, float]) -> Comparison:
    differences = [
        PairedDifference(
            scope="all", name="all datasets", format=fmt, shots=shots, metric="accuracy", n_datasets=2, n=400,
            score_a=50.0, score_b=50.0 - diff, difference=diff, ci_low=low, ci_high=high, resamples=1000,
        )
        for (diff, low, high), (fmt, shots) in zip(intervals, (("zeroshot", 0), ("fewshot:3", 3)))
    ]  # fmt: skip
    return Comparison(a=a, b=b, seed=0, differences=differences)


FINDING = Finding(text="t", expect={"tuned": "improvement", "ablated": "drop"})


def test_every_expected_comparison_measurable_in_the_papers_direction_is_reproduced():
    checks = check_finding(
        FINDING, [_comparison("tuned", "base", (4.0, 1.0, 7.0)), _comparison("ablated", "tuned", (-3.0, -5.0, -1.0))]
    )
    assert [check.outcome for check in checks] == ["as the paper found", "as the paper found"]
    assert study_verdict(checks)[0] == "reproduced"


def test_a_sign_inside_its_ci_is_no_measurable_difference():
    checks = check_finding(FINDING, [_comparison("tuned", "base", (2.0, -0.1, 3.9))])
    verdict, why = study_verdict(checks)
    assert checks[0].outcome == "no measurable difference" and verdict == "inconclusive at this scale"
    assert why == "no measurable difference: the 95% CI spans zero (95% CI half-width 2.0 pp)"


def test_measurably_against_the_paper_and_never_with_it_is_not_reproduced():
    checks = check_finding(FINDING, [_comparison("tuned", "base", (-4.0, -7.0, -1.0), (1.0, -2.0, 4.0))])
    assert [check.format for check in checks] == ["zero-shot", "3-shot"]  # each format is its own check
    assert study_verdict(checks)[0] == "not reproduced"


def test_mixed_outcomes_and_unexpected_comparisons():
    comparisons = [
        _comparison("tuned", "base", (4.0, 1.0, 7.0)),
        _comparison("ablated", "tuned", (3.0, 1.0, 5.0)),
        _comparison("other", "base", (9.0, 8.0, 10.0)),  # the paper says nothing about it: not checked
    ]
    checks = check_finding(FINDING, comparisons)
    assert [check.a for check in checks] == ["tuned", "ablated"]
    verdict, why = study_verdict(checks)
    assert verdict == "inconclusive at this scale" and why.startswith("mixed: 1 of 2")
    assert study_verdict([])[0] == "inconclusive at this scale"
