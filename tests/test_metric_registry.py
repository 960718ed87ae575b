"""Every card of every collection declares metrics the evaluator knows; each generation metric
scores a real task end to end on the tiny model."""

from __future__ import annotations

import json

import pytest

from flanlab.evaluate import EvalConfig, evaluate
from flanlab.evaluate import metrics as M
from flanlab.metric_names import METRIC_NAMES
from flanlab.tasks.examples import load_examples
from flanlab.tasks.fixtures import with_fixture_source
from flanlab.tasks.registry import TaskRegistry, load_registry

HUB_COLLECTIONS = ("flan2021", "flan2022")
# One built-in generation task per generation metric: its card declares the metric.
GENERATION_TASKS = {"bb_xsum": "rouge_l", "bb_pig_latin_encode": "bleu", "bb_qa_wikidata": "f1", "aeslc": "rouge_lsum"}


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return load_registry()


def _perfect(classification: bool) -> list[M.Scored]:
    """Two right answers (of different classes, so AUC is defined; long enough for BLEU's 4-grams)."""
    first, second = "the cat sat on the mat", "a dog ran across the park"
    if classification:
        return [M.Scored(first, (first,), 0, 0, (0.0, -1.0), 2), M.Scored(second, (second,), 1, 1, (-1.0, 0.0), 2)]
    return [M.Scored(first, (first,)), M.Scored(second, (second,))]


def test_every_card_of_every_collection_declares_known_metrics(registry):
    assert set(registry.collections()) >= {"core", "bbh", "bigbench", "natural_instructions", *HUB_COLLECTIONS}
    seen = set()
    for card in registry.cards.values():
        assert card.metrics, card.name
        for name in card.metrics:
            assert name in METRIC_NAMES and name in M.METRICS, (card.name, name)  # stored canonical
        seen.update(card.metrics)
    assert {"rouge_l", "rouge_lsum", "bleu", "exact_match", "f1", "accuracy", "macro_f1", "auc_roc"} <= seen
    for names in {tuple(card.metrics) for card in registry.cards.values()}:
        for classification in (True, False):
            chosen = M.metrics_for(names, classification=classification, where="registry")
            scores = M.compute(chosen, _perfect(classification))
            assert all(value == pytest.approx(100.0) for value in scores.values()), (names, scores)


@pytest.mark.slow
def test_hub_cards_keep_their_primary_metric_on_their_fixture(registry):
    """The evaluator never silently swaps a card's first metric for another one."""
    for card in registry.select(collections=HUB_COLLECTIONS):
        local = with_fixture_source(card)
        assert local is not None, f"{card.name}: a hub card needs an offline fixture"
        example = next(iter(load_examples(local, "test") or load_examples(local, "validation")))
        chosen = M.metrics_for(card.metrics, classification=bool(example.get("options")), where=card.where())
        assert chosen[0] == card.metrics[0], (card.name, card.metrics, chosen)


@pytest.mark.slow
def test_each_generation_metric_scores_a_task_end_to_end(registry, tmp_path):
    cards = [registry.get(name) for name in GENERATION_TASKS]
    cards = [with_fixture_source(card) or card for card in cards]  # hub cards read their fixture
    config = EvalConfig(model="tiny-llama", tasks=[f"task:{name}" for name in GENERATION_TASKS], templates=["t01"],
                        limit=2, best_dev=False, max_new_tokens=8, bootstrap_resamples=20, use_cache=False)
    results = evaluate(config, registry=TaskRegistry(cards), out=tmp_path, progress=False)
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    for task, metric in GENERATION_TASKS.items():
        [template] = [r for r in results.templates if r.task == task]
        assert metric in template.metrics and template.n == 2, (task, template.metrics)
        rows = [s for s in samples if s["task"] == task]
        items = [M.Scored(row["prediction"], tuple(row["gold"])) for row in rows]
        assert template.metrics[metric] == pytest.approx(M.METRICS[metric](items)), task  # from samples.jsonl
        assert 0.0 <= template.metrics[metric] <= 100.0
