"""The curated BIG-bench cards of the coreference, struct-to-text, summarization, math, misc,
paraphrase and translation clusters, and the eval-only BIG-Bench Hard cards.

Static checks (schema, template hygiene) read no data; the data checks load every split of the
real BIG-bench tasks and render every template, so they are marked slow.
"""

from __future__ import annotations

import re

import pytest

from flanlab.prompts.formats import PromptFormat, pick_exemplars, render
from flanlab.sources.base import load_split_records
from flanlab.sources.splits import SPLITS
from flanlab.tasks.card import TaskCard
from flanlab.tasks.examples import load_examples
from flanlab.tasks.registry import load_registry

OWNED_CORE_CLUSTERS = {"coreference", "struct_to_text", "summarization", "math", "misc", "paraphrase", "translation"}

# The 23 BIG-Bench Hard tasks (Suzgun et al., 2022) as BIG-bench task paths; None where BIG-bench
# 1.0.0 ships only a generator script and no task.json.
BBH_SOURCES: dict[str, str | None] = {
    "boolean_expressions": None,
    "causal_judgement": "causal_judgment",
    "date_understanding": "date_understanding",
    "disambiguation_qa": "disambiguation_qa",
    "dyck_languages": "dyck_languages",
    "formal_fallacies": "formal_fallacies_syllogisms_negation",
    "geometric_shapes": "geometric_shapes",
    "hyperbaton": "hyperbaton",
    "logical_deduction_three_objects": "logical_deduction/three_objects",
    "logical_deduction_five_objects": "logical_deduction/five_objects",
    "logical_deduction_seven_objects": "logical_deduction/seven_objects",
    "movie_recommendation": "movie_recommendation",
    "multistep_arithmetic_two": None,
    "navigate": "navigate",
    "object_counting": "object_counting",
    "penguins_in_a_table": "penguins_in_a_table",
    "reasoning_about_colored_objects": "reasoning_about_colored_objects",
    "ruin_names": "ruin_names",
    "salient_translation_error_detection": "salient_translation_error_detection",
    "snarks": "snarks",
    "sports_understanding": "sports_understanding",
    "temporal_sequences": "temporal_sequences",
    "tracking_shuffled_objects_three_objects": "tracking_shuffled_objects/three_objects",
    "tracking_shuffled_objects_five_objects": "tracking_shuffled_objects/five_objects",
    "tracking_shuffled_objects_seven_objects": "tracking_shuffled_objects/seven_objects",
    "web_of_lies": None,
    "word_sorting": "word_sorting",
}
BBH_LOCATORS = {locator for locator in BBH_SOURCES.values() if locator}

MIN_SURVIVAL = 0.9
RENDERED_PER_TEMPLATE = 3
DOUBLED_WORD = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _registry_cards() -> list[TaskCard]:
    registry = load_registry(collections=["core", "bbh"])
    return [
        card
        for card in registry.cards.values()
        if card.collection == "bbh" or (card.collection == "core" and card.cluster in OWNED_CORE_CLUSTERS)
    ]


CARDS = sorted(_registry_cards(), key=lambda card: card.name)
CURATED = [card for card in CARDS if card.collection == "core"]
BBH = [card for card in CARDS if card.collection == "bbh"]


def test_coverage_targets():
    assert len(CURATED) >= 20
    assert len({card.cluster for card in CURATED}) >= 5
    expected_bbh = {f"bbh_{name}" for name, locator in BBH_SOURCES.items() if locator}
    assert {card.name for card in BBH} == expected_bbh


@pytest.mark.parametrize("card", CURATED, ids=lambda card: card.name)
def test_curated_card_shape(card: TaskCard):
    assert card.name.startswith("bb_") and card.curated and not card.eval_only
    assert card.source.kind == "bigbench"
    assert card.source.locator not in BBH_LOCATORS, "BIG-Bench Hard tasks are evaluation only"
    assert [template.id for template in card.templates] == [f"t{index:02d}" for index in range(1, 11)]
    assert 1 <= sum(template.inverted for template in card.templates) <= 3
    assert card.metrics and all(metric == metric.lower() for metric in card.metrics)


@pytest.mark.parametrize("card", BBH, ids=lambda card: card.name)
def test_bbh_card_shape(card: TaskCard):
    assert card.name.startswith("bbh_") and card.cluster == "bbh"
    assert card.eval_only and not card.curated
    assert BBH_SOURCES[card.name.removeprefix("bbh_")] == card.source.locator
    assert len(card.templates) == 3 and not any(template.inverted for template in card.templates)


@pytest.mark.parametrize("card", CARDS, ids=lambda card: card.name)
def test_template_text_hygiene(card: TaskCard):
    for template in card.templates:
        for pattern in (template.input, template.target, template.instruction):
            assert pattern == pattern.rstrip(), f"{template.id} ends with whitespace"
            assert "\\n" not in pattern, f"{template.id} holds a literal backslash-n"
            prose = PLACEHOLDER.sub(" ", pattern.replace("{{", "").replace("}}", ""))
            assert "{" not in prose and "}" not in prose, f"{template.id} has an unbalanced brace"
            assert not DOUBLED_WORD.search(prose), f"{template.id} repeats a word: {DOUBLED_WORD.search(prose)}"


def test_siblings_share_a_family():
    by_source_family: dict[str, set[str]] = {}
    for card in CURATED:
        parent = card.source.locator.split("/")[0]
        if parent in {"arithmetic", "metaphor_understanding", "language_games"}:
            by_source_family.setdefault(parent, set()).add(card.family_name)
    assert by_source_family and all(len(families) == 1 for families in by_source_family.values())
    families = {card.name: card.family_name for card in CURATED}
    assert families["bb_asset_simplification"] == families["bb_turk_simplification"]


@pytest.mark.slow
@pytest.mark.parametrize("card", CARDS, ids=lambda card: card.name)
def test_examples_survive_and_render(card: TaskCard):
    raw = load_split_records(card.source, unsplit_is_test=card.eval_only)  # BBH is scored whole
    for split in SPLITS:
        records = raw.get(split, [])
        if card.max_examples is not None:
            records = records[: card.max_examples]
        kept = load_examples(card, split)
        assert len(kept) >= MIN_SURVIVAL * len(records), f"{split}: {len(kept)}/{len(records)} records survive"
    test_split, train_split = load_examples(card, "test"), load_examples(card, "train")
    assert test_split and (train_split or card.eval_only)
    for template in card.templates:
        for example in test_split[:RENDERED_PER_TEMPLATE]:
            shots = pick_exemplars(train_split or test_split, 2, seed=0, query_key=str(example["input"]))
            for fmt, exemplars in ((PromptFormat(), ()), (PromptFormat(shots=2), shots)):
                _check_rendered(card, template, render(card, template, example, fmt, exemplars=exemplars), example)


def _check_rendered(card: TaskCard, template, rendered, example) -> None:
    where = f"{card.name}/{template.id}"
    assert rendered.targets.strip(), f"{where}: empty target"
    assert rendered.inputs == rendered.inputs.strip(), f"{where}: input has outer whitespace"
    for name in template.placeholders():
        token = "{" + name + "}"
        in_data = any(token in str(value) for value in example.values())
        assert in_data or token not in rendered.inputs + rendered.targets, f"{where}: {token} left unfilled"
    if example.get("options") and not template.inverted:
        assert rendered.options and rendered.answer_index is not None
        assert rendered.options[rendered.answer_index] == rendered.targets, f"{where}: gold not among options"
    else:
        assert not rendered.options
