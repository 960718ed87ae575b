"""Paired bootstrap CIs against hand-computed cases; chance/majority lines; pairing two evaluations."""

from __future__ import annotations

import itertools
import json
import statistics

import numpy as np
import pytest

from flanlab.evaluate.baselines import answer_spread, dataset_lines
from flanlab.evaluate.compare import (
    PairedDataset,
    compare_evaluations,
    compare_shots,
    dataset_draws,
    paired_differences,
    percentile_interval,
)
from flanlab.evaluate.metrics import Scored
from flanlab.evaluate.schema import EvalResults, ModelInfo, TaskResult

YES_NO = ("yes", "no")


def _item(predicted: int, gold: int, options: tuple[str, ...] = YES_NO) -> Scored:
    return Scored(options[predicted], (options[gold],), predicted, gold, (), len(options), options)


def _right(n: int) -> list[Scored]:
    return [_item(0, 0) for _ in range(n)]


def _dataset(a: list[list[Scored]], b: list[list[Scored]], task: str = "t", cluster: str = "c") -> PairedDataset:
    return PairedDataset(task, cluster, "zeroshot", 0, "accuracy", a, b)


def test_ci_equals_the_enumerated_bootstrap_distribution():
    # arm a is right on all three examples, arm b misses the third: per-example differences 0, 0, 100
    dataset = _dataset([_right(3)], [_right(2) + [_item(1, 0)]])
    every_resample = np.array(list(itertools.product(range(3), repeat=3)))  # all 27, equally likely
    draws = dataset_draws(dataset, every_resample)
    assert (draws.score_a, draws.score_b) == (pytest.approx(100.0), pytest.approx(200 / 3))
    # by hand: the resample mean is 100 * (times example 3 is drawn) / 3
    exact = sorted(100 * row.count(2) / 3 for row in itertools.product(range(3), repeat=3))
    assert sorted(draws.differences) == pytest.approx(exact)
    cuts = statistics.quantiles(exact, n=40, method="inclusive")  # cut points every 2.5%
    low, high, used = percentile_interval(draws.differences)
    assert (low, high, used) == (pytest.approx(cuts[0]), pytest.approx(cuts[-1]), 27)
    assert (low, high) == (pytest.approx(0.0), pytest.approx(100 * 2 / 3 + 0.35 * 100 / 3))  # 26 * 0.975 = 25.35


def test_templates_of_an_example_stay_together():
    # on every example, template 1 favours a by 100 points and template 2 favours b by 100: the
    # template mean never differs, on any resample that keeps an example's templates together
    a = [_right(20), [_item(1, 0) for _ in range(20)]]
    b = [[_item(1, 0) for _ in range(20)], _right(20)]
    [dataset, *_] = paired_differences([_dataset(a, b)], resamples=500, seed=0)
    assert (dataset.difference, dataset.ci_low, dataset.ci_high, dataset.n) == (0.0, 0.0, 0.0, 40)


def test_cluster_averages_datasets_resampled_separately():
    always_better = _dataset([_right(2)], [[_item(1, 0)] * 2], task="small")  # +100 on each of 2 examples
    never_different = _dataset([_right(10)], [_right(10)], task="large")  # 0 on 10 examples
    results = paired_differences([always_better, never_different], resamples=300, seed=1)
    by_scope = {(r.scope, r.name): r for r in results}
    cluster = by_scope[("cluster", "c")]
    # pooling the 12 examples would give 2 * 100 / 12 = 16.7 and a wide interval
    assert (cluster.difference, cluster.ci_low, cluster.ci_high) == (50.0, 50.0, 50.0)
    assert (cluster.n, cluster.n_datasets) == (12, 2)
    assert by_scope[("all", "all datasets")].difference == 50.0
    assert by_scope[("dataset", "small")].difference == 100.0


def test_same_inputs_same_interval_and_the_seed_matters():
    rng = np.random.default_rng(7)
    a = [[_item(int(p), 0) for p in rng.integers(0, 2, 30)] for _ in range(3)]
    b = [[_item(int(p), 0) for p in rng.integers(0, 2, 30)] for _ in range(3)]
    first = paired_differences([_dataset(a, b)], resamples=400, seed=0)
    assert paired_differences([_dataset(a, b)], resamples=400, seed=0) == first
    other = paired_differences([_dataset(a, b)], resamples=400, seed=1)
    assert other[0].difference == first[0].difference
    assert (other[0].ci_low, other[0].ci_high) != (first[0].ci_low, first[0].ci_high)
    assert first[0].ci_low < first[0].difference < first[0].ci_high


def test_library_metrics_pair_their_resamples():
    rng = np.random.default_rng(3)
    a = [[_item(int(p), int(g)) for p, g in zip(rng.integers(0, 2, 40), rng.integers(0, 2, 40))]]
    dataset = PairedDataset("t", "c", "zeroshot", 0, "macro_f1", a, a)
    [result, *_] = paired_differences([dataset], resamples=200, seed=0)
    assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)  # an arm against itself


def test_chance_and_majority_lines():
    fixed = [_item(0, 0), _item(0, 0), _item(0, 1), _item(1, 0)]
    lines = dataset_lines(fixed)
    assert (lines.chance, lines.majority, lines.majority_answer) == (50.0, 75.0, "'yes'")
    spread = answer_spread(fixed)
    assert (spread.top_answer, spread.top_share, spread.constant) == ("'yes'", 0.75, False)
    # per-record options: a three-way and a two-way request; answers are named by position
    per_record = [_item(2, 2, ("a", "b", "c")), _item(1, 0, ("d", "e"))]
    lines = dataset_lines(per_record)
    assert lines.chance == pytest.approx(100 * (1 / 3 + 1 / 2) / 2) and lines.majority == 50.0
    assert dataset_lines([Scored("text", ("text",))]) is None  # generation has no options
    constant = [_item(1, k % 2) for k in range(19)] + [_item(0, 0)]
    assert answer_spread(constant).constant and answer_spread(constant).top_share == 0.95


def _write_evaluation(folder, rows, *, primary="accuracy", formats=(("zeroshot", 0),)):
    """rows: (template, example, prompt, predicted), or with a fifth field, the format."""
    folder.mkdir(parents=True)
    tasks = [
        TaskResult(
            task="toy", cluster="nli", format=name, shots=shots, primary_metric=primary, n_templates=2, n_examples=4,
            template_scores={}, template_mean=None, template_std=None, template_min=None, template_max=None,
            template_mean_stderr=None, best_dev=None, metric_means={}, lines=None, answers=None,
        )
        for name, shots in formats
    ]  # fmt: skip
    EvalResults(
        model=ModelInfo(name="m", path="m", fingerprint="f", kind="causal"), config={"split": "test", "rank_by": "sum"},
        precision="fp32", seed=0, git_commit="x", templates=[], tasks=tasks, clusters=[], cot_direct_exemplars=[],
    ).write(folder)  # fmt: skip
    lines = []
    for template, index, prompt, predicted, *fmt in rows:
        lines.append(json.dumps({
            "task": "toy", "format": fmt[0] if fmt else "zeroshot", "split": "test", "template_id": template,
            "example_index": index,
            "prompt": prompt, "options": list(YES_NO), "scores": {"logprob": [-1.0, -2.0]},
            "prediction": YES_NO[predicted], "predicted_index": predicted, "gold": ["yes"], "gold_index": 0,
        }))
    (folder / "samples.jsonl").write_text("\n".join(lines) + "\n")


def test_two_evaluation_folders_pair_on_identical_prompts_only(tmp_path):
    a_rows = [("t1", i, f"p{i}", 0) for i in range(4)] + [("t2", i, f"q{i}", 0) for i in range(4)]
    b_rows = [("t1", i, f"p{i}", 1) for i in range(4)] + [("t2", i, f"q{i}" if i else "changed", 1) for i in range(4)]
    _write_evaluation(tmp_path / "a", a_rows)
    _write_evaluation(tmp_path / "b", b_rows)
    comparison = compare_evaluations([tmp_path / "a"], [tmp_path / "b"], a="tuned", b="base", seed=0)
    [overall] = comparison.overall()
    # example 0 asked template t2 differently, so it leaves: 3 examples x 2 templates
    assert (overall.n, overall.difference, overall.score_a, overall.score_b) == (6, 100.0, 100.0, 0.0)
    assert comparison.a == "tuned" and comparison.unpaired == []
    again = type(comparison).model_validate_json(comparison.model_dump_json())
    assert again == comparison  # stored and read back as typed fields


def test_few_shot_answers_pair_with_zero_shot_answers_by_template_and_example(tmp_path):
    formats = (("zeroshot", 0), ("fewshot:3", 3))
    zero = [(t, i, f"{t}{i}", 1 if i < 2 else 0, "zeroshot") for t in ("t1", "t2") for i in range(4)]
    few = [(t, i, f"shots {t}{i}", 0, "fewshot:3") for t in ("t1", "t2") for i in range(3)]  # example 3 missing
    _write_evaluation(tmp_path / "e", zero + few, formats=formats)
    comparison = compare_shots([tmp_path / "e"], arm="tuned", shots_a=3, shots_b=0, seed=0)
    [overall] = comparison.overall()
    # examples 0-2 under both templates; zero-shot right on example 2 only, few-shot on all three
    assert (overall.n, overall.shots) == (6, 3)
    assert overall.score_a == 100.0 and overall.difference == pytest.approx(100.0 - 100.0 / 3)
    assert (comparison.a, comparison.b) == ("tuned@3-shot", "tuned@0-shot")
