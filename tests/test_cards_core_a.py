"""The curated BIG-bench cards for NLI, sentiment, reading comprehension, closed-book QA and commonsense.

Reads the real BIG-bench data: every card must keep almost all of its records through its field
regexes, and every template must render to a clean prompt in zero-shot and few-shot formats.
"""

from __future__ import annotations

import re
import string

import pytest

from flanlab.prompts.formats import PromptFormat, pick_exemplars, render
from flanlab.sources.base import load_split_records
from flanlab.sources.splits import SPLITS
from flanlab.tasks.examples import load_examples
from flanlab.tasks.registry import load_registry

pytestmark = pytest.mark.slow

CARDS_BY_CLUSTER = {
    "nli": [
        "bb_analytic_entailment",
        "bb_entailed_polarity",
        "bb_epistemic_reasoning",
        "bb_fact_checker_covid19_scientific",
        "bb_fact_checker_fever",
        "bb_fact_checker_politifact",
        "bb_presuppositions_as_nli",
        "bb_vitaminc_fact_verification",
    ],
    "sentiment": [
        "bb_irony_identification",
        "bb_multiemo_hotels_text_en",
        "bb_multiemo_medicine_text_en",
        "bb_multiemo_products_text_en",
        "bb_multiemo_reviews_text_en",
        "bb_social_support",
    ],
    "reading_comprehension": [
        "bb_disfl_qa",
        "bb_drop_answer_generation",
        "bb_multirc_write_correct_answer",
        "bb_quoref_answer_generation",
        "bb_ropes_answer_generation",
    ],
    "closed_book_qa": [
        "bb_general_knowledge",
        "bb_hindu_knowledge",
        "bb_misconceptions",
        "bb_physical_intuition",
        "bb_qa_wikidata",
    ],
    "commonsense": [
        "bb_anachronisms",
        "bb_cause_and_effect",
        "bb_fantasy_reasoning",
        "bb_social_iqa",
        "bb_strategyqa",
        "bb_timedial",
        "bb_winowhy",
    ],
}
CARD_NAMES = sorted(name for names in CARDS_BY_CLUSTER.values() for name in names)
FAMILIES = {"fact_checker": 3, "multiemo": 4}
GENERATION_METRICS = {"exact_match", "f1", "rouge_l", "bleu"}  # canonical names (cards may use aliases)
FORMATS = [PromptFormat(), PromptFormat(shots=2), PromptFormat(shots=2, options_style="letter")]
EXAMPLES_PER_TEMPLATE = 3
_DOUBLED_WORD = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def registry():
    return load_registry(collections=["core"])


def test_cluster_coverage(registry):
    assert len(CARD_NAMES) >= 22
    assert len(CARDS_BY_CLUSTER["nli"]) >= 5
    for cluster, names in CARDS_BY_CLUSTER.items():
        for name in names:
            card = registry.get(name)
            assert card.cluster == cluster, name
            assert card.collection == "core" and card.curated, name
            assert card.path is not None and card.path.parent.name == cluster, name
    for family, size in FAMILIES.items():
        members = [name for name in CARD_NAMES if registry.get(name).family_name == family]
        assert len(members) == size, family


@pytest.mark.parametrize("name", CARD_NAMES)
def test_template_set(registry, name):
    card = registry.get(name)
    assert [template.id for template in card.templates] == [f"t{index:02d}" for index in range(1, 11)]
    inverted = [template for template in card.templates if template.inverted]
    assert 1 <= len(inverted) <= 3
    for template in card.templates:
        for pattern in (template.input, template.target, template.instruction):
            list(string.Formatter().parse(pattern))  # raises on unbalanced braces
            assert "\\n" not in pattern, template.id
            assert not _DOUBLED_WORD.search(pattern), (template.id, pattern)
        assert template.input == template.input.rstrip(), template.id
    for template in inverted:
        target_fields = template.placeholders() & {name for _, name, _, _ in string.Formatter().parse(template.target) if name}
        assert len(target_fields) == 1 and target_fields.isdisjoint({"answer", "options"}), template.id
        assert template.target.strip() == "{" + target_fields.pop() + "}", template.id


@pytest.mark.parametrize("name", CARD_NAMES)
def test_records_survive_and_render(registry, name):
    card = registry.get(name)
    raw = load_split_records(card.source)
    examples = {split: load_examples(card, split) for split in SPLITS}
    raw_total = sum(len(raw.get(split, [])) for split in SPLITS)
    kept_total = sum(len(kept) for kept in examples.values())
    assert kept_total >= 0.9 * raw_total, f"{name}: only {kept_total}/{raw_total} records match the field regexes"
    assert examples["test"], name
    classification = bool(examples["test"][0].get("options"))
    if classification:
        assert card.metrics == ["accuracy"], name
    else:
        assert set(card.metrics) <= GENERATION_METRICS and card.metrics, name
    for template in card.templates:
        for example in examples["test"][:EXAMPLES_PER_TEMPLATE]:
            for fmt in FORMATS:
                shots = pick_exemplars(examples["train"], fmt.shots, seed=0, query_key=str(example["input"]))
                _check_rendering(card, template, example, fmt, shots)


def _check_rendering(card, template, example, fmt, shots) -> None:
    rendered = render(card, template, example, fmt, exemplars=shots)
    where = f"{card.name} {template.id} {fmt.name} {fmt.options_style}"
    assert rendered.targets.strip(), where
    assert rendered.inputs == rendered.inputs.strip(), where
    for placeholder in template.placeholders():
        assert "{" + placeholder + "}" not in rendered.inputs + rendered.targets, where
    assert rendered.shots <= fmt.shots, where  # long exemplars are dropped to fit the token budget
    if template.inverted:
        assert not rendered.options and rendered.targets == str(example[template.target.strip("{} ")]).strip(), where
    elif example.get("options"):
        assert rendered.options[rendered.answer_index] == rendered.targets, where
        if fmt.options_style == "dash":
            assert rendered.targets == example["answer"], where
    else:
        assert rendered.targets == example["answer"] and rendered.references, where
