"""Option order: per-record multiple choice is shuffled (balanced, stable); fixed options keep their order."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from flanlab.tasks.card import card_from_dict
from flanlab.tasks.examples import load_examples
from flanlab.tasks.fixtures import with_fixture_source
from flanlab.prompts.lint import lint_cards
from flanlab.tasks.option_order import (
    MAX_GOLD_SHARE,
    MIN_GOLDS,
    describe_positions,
    gold_position_counts,
    position_bias,
    shuffles_options,
)
from flanlab.tasks.registry import load_registry

SPLITS = ("train", "validation", "test")


def write_card(tmp_path, records, name="mc", **extra):
    data = tmp_path / f"{name}.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in records))
    return card_from_dict(
        {
            "name": name,
            "collection": "test",
            "cluster": "commonsense",
            "source": {"kind": "jsonl", "locator": str(data), "split_key": "question"},
            "fields": {"answer": "label"},
            "templates": [{"id": "t", "input": "Q: {question}"}],
            **extra,
        },
        where=f"{name}.yaml",
    )


def gold_first(count: int, options: int = 4) -> list[dict]:
    """Like BIG-bench temporal_sequences: every record's gold answer is its first option."""
    return [
        {"question": f"When could visitor {i} come?", "options": [f"{i}:{k}am" for k in range(options)], "label": 0}
        for i in range(count)
    ]


def test_per_record_options_are_shuffled_balanced_and_keep_the_gold(tmp_path):
    records = gold_first(200)
    card = write_card(tmp_path, records)
    for split in SPLITS:
        examples = load_examples(card, split)
        counts = gold_position_counts(examples)
        assert max(counts) - min(counts) <= 1, (split, counts)  # each position holds the gold equally often
        for example in examples:
            visitor = example["question"].split()[3]
            assert example["options"][example["answer_index"]] == example["answer"] == f"{visitor}:0am"
            assert sorted(example["options"]) == [f"{visitor}:{k}am" for k in range(4)]


def test_the_order_depends_on_the_data_only(tmp_path):
    records = gold_first(60)
    forward = write_card(tmp_path, records, name="forward")
    backward = write_card(tmp_path, records[::-1], name="backward")

    def by_question(card):
        return {e["question"]: e["options"] for split in SPLITS for e in load_examples(card, split)}

    assert by_question(forward) == by_question(backward)


def test_fixed_options_keep_their_order_unless_the_card_asks(tmp_path):
    yes_no = [{"question": f"Is {i} small?", "options": ["yes", "no"], "label": 0} for i in range(60)]
    kept = write_card(tmp_path, yes_no)
    assert all(e["options"] == ["yes", "no"] and e["answer_index"] == 0 for s in SPLITS for e in load_examples(kept, s))
    asked = write_card(tmp_path, yes_no, name="asked", shuffle_options=True)
    assert {e["answer_index"] for e in load_examples(asked, "train")} == {0, 1}
    never = write_card(tmp_path, gold_first(60), name="never", shuffle_options=False)
    assert {e["answer_index"] for s in SPLITS for e in load_examples(never, s)} == {0}
    assert not shuffles_options(None, True, gold_first(3)) and shuffles_options(None, False, gold_first(3))


def test_position_bias_warns_above_the_threshold_only_with_enough_golds():
    assert position_bias([6, 2]) is None  # 75% but too few golds to mean anything
    assert position_bias([6, 4, 0, 0]) is None
    assert position_bias([13, 7]) == "the gold answer is option 1 in 65% of 20 examples (1: 65%, 2: 35%)"
    assert describe_positions([0, 3, 1]) == "2: 75%, 3: 25%"


def test_lint_reports_positions_and_warns_on_a_biased_task(tmp_path):
    biased = write_card(tmp_path, gold_first(60), name="biased", shuffle_options=False)
    shuffled = write_card(tmp_path, gold_first(60), name="shuffled")
    report = lint_cards([biased, shuffled], full_data=True)
    assert report.gold_positions["biased"] == [60]
    assert max(report.gold_positions["shuffled"]) <= MAX_GOLD_SHARE * 60
    warnings = [note for note in report.notes if "warning" in note]
    expected = "test:biased (generated): warning: the gold answer is option 1 in 100% of 60 examples (1: 100%)"
    assert warnings == [expected]


@pytest.mark.slow
def test_no_builtin_per_record_task_has_most_test_golds_in_one_position():
    """Every built-in multiple-choice task whose records carry their own, differing options: at most
    60% of its test golds in one position (tasks with fewer than MIN_GOLDS test examples cannot be judged)."""
    checked, offenders = 0, {}
    for card in load_registry().cards.values():
        data = with_fixture_source(card) if card.source.kind == "huggingface" else card
        if data is None:
            continue
        every = [example for split in SPLITS for example in load_examples(data, split)]
        if not any(example.get("options") for example in every):
            continue
        if not shuffles_options(card.shuffle_options, card.options is not None, every):
            continue
        counts = gold_position_counts(load_examples(data, "test"))
        if sum(counts) < MIN_GOLDS:
            continue
        checked += 1
        if max(counts) > MAX_GOLD_SHARE * sum(counts):
            offenders[card.name] = Counter(dict(enumerate(counts)))
    assert checked > 100 and not offenders, offenders
