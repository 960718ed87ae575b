"""The offline chain-of-thought collection (`cards/cot`): every example carries a rationale, CoT
targets read back to the answer, and sibling cards split one question alike."""

from __future__ import annotations

import pytest

from flanlab.prompts.formats import extract_cot_answer
from flanlab.prompts.formats import PromptFormat, render
from flanlab.tasks import generated
from flanlab.tasks.examples import load_examples

pytestmark = pytest.mark.skipif(not generated.bigbench_index_available(), reason="BIG-bench is not fetched")
COT_CARDS = ("cot_strategyqa", "cot_qasc", "cot_math_qa")


@pytest.fixture(scope="module")
def registry():
    from flanlab.tasks.registry import load_registry

    return load_registry(collections=["cot", "core", "natural_instructions"])


def test_the_cot_collection_is_the_offline_rationale_sources(registry):
    assert sorted(card.name for card in registry.select(collections=["cot"])) == sorted(COT_CARDS)
    # a YAML card took over the NI QASC locator, so no generated duplicate of it is trained on
    assert "ni_subtask041_qasc_answer_generation" not in registry
    assert registry.get("cot_qasc").family_name == registry.get("ni_subtask040_qasc_question_generation").family_name


@pytest.mark.parametrize("name", COT_CARDS)
def test_every_example_has_a_rationale_and_reads_back(registry, name):
    card = registry.get(name)
    for split in ("train", "validation", "test"):
        examples = load_examples(card, split)
        assert len(examples) > 200 and all(example.get("rationale") for example in examples), split
    example = load_examples(card, "test")[0]
    template = next(t for t in card.templates if not t.inverted)
    rendered = render(card, template, example, PromptFormat(cot=True))
    assert rendered.targets.startswith(example["rationale"].rstrip(".")) and rendered.inputs.endswith("step by step.")
    assert extract_cot_answer(rendered.targets) == example["answer"].rstrip(".")


def test_math_cards_put_each_question_in_one_split(registry):
    words, program = registry.get("cot_math_qa"), registry.get("bb_elementary_math_qa")

    def questions(card, split):
        return {example["question"] for example in load_examples(card, split)}

    for split in ("validation", "test"):
        assert questions(words, split) == questions(program, split)
        assert not questions(words, split) & questions(program, "train")
