"""The generated collection: skip rules, clusters, families, BBH kept eval-only, registry wiring."""

from __future__ import annotations

import pytest
import yaml

from flanlab.sources import bigbench
from flanlab.tasks import generated
from flanlab.tasks.clusters import CLUSTERS
from flanlab.tasks.generated import assign_cluster, cards_from_index, skip_reason, task_instruction, task_name


def entry(name: str, n: int = 100, kind: str = "multiple_choice", **extra) -> dict:
    return {"name": name, "n_examples": n, "kind": kind, "keywords": [], "description": "Do the task", "task_prefix": None, **extra}


def test_cluster_mapping_names_then_keywords_then_misc():
    assert assign_cluster("natural_instructions/subtask002_quoref_answer_generation", ["Answering"]) == "reading_comprehension"
    assert assign_cluster("natural_instructions/subtask024_cosmosqa_answer_generation", ["commonsense"]) == "rc_commonsense"
    assert assign_cluster("gem/e2e_nlg", []) == "struct_to_text"
    assert assign_cluster("arithmetic/1_digit_addition", ["mathematics", "arithmetic"]) == "math"
    assert assign_cluster("x", ["logical reasoning", "emotional understanding", "common sense"]) == "sentiment"
    assert assign_cluster("x", ["logical reasoning", "multiple choice"]) == "misc"


def test_every_mapped_cluster_exists():
    mapped = {cluster for _, cluster in generated.NAME_CLUSTERS} | set(generated.KEYWORD_CLUSTERS.values())
    assert mapped <= set(CLUSTERS)


def test_instruction_is_the_tasks_own_text():
    ni = entry("natural_instructions/subtask040_qasc_question_generation", description="Definition: Turn it", task_prefix="Definition: Turn it. Prompt: Ask.")
    assert task_instruction(ni) == "Definition: Turn it. Prompt: Ask."
    both = entry("list_functions/c001", description="Infer a function", task_prefix="Apply it  to the\nlist.")
    assert task_instruction(both) == "Infer a function. Apply it to the list."
    assert task_instruction(entry("anachronisms", description="Spot anachronisms")) == "Spot anachronisms."


def test_skip_rules():
    assert skip_reason(entry("tiny", n=19)) == "fewer than 20 examples"
    assert "ASCII" in skip_reason(entry("mnist_ascii", n=70000))
    assert "base64" in skip_reason(entry("cifar10_classification/hex"))
    assert skip_reason(entry("empty_parent", n=0)) is not None
    assert skip_reason(entry("anachronisms")) is None


def test_cards_from_index_skip_covered_and_share_families():
    entries = [
        entry("arithmetic/1_digit_addition", keywords=["mathematics"]),
        entry("arithmetic/2_digit_addition", keywords=["mathematics"]),
        entry("list_functions/c001", kind="generation"),
        entry("tracking_shuffled_objects/three_objects"),
        entry("natural_instructions/subtask033_winogrande_answer_generation", kind="generation"),
        entry("cause_and_effect/one_sentence"),
    ]
    covered = {("bigbench", "arithmetic/1_digit_addition"): "my_arithmetic"}
    cards = {card.source.locator: card for card in cards_from_index(entries, covered)}
    assert "arithmetic/1_digit_addition" not in cards
    assert cards["arithmetic/2_digit_addition"].family_name == "my_arithmetic"
    assert cards["list_functions/c001"].family_name == "bigbench_list_functions"
    assert cards["list_functions/c001"].metrics == ["exact_match"]
    bbh = cards["tracking_shuffled_objects/three_objects"]
    assert bbh.eval_only and bbh.cluster == "bbh" and bbh.collection == "bigbench"
    ni = cards["natural_instructions/subtask033_winogrande_answer_generation"]
    assert (ni.name, ni.collection, ni.cluster, ni.family_name) == ("ni_subtask033_winogrande_answer_generation", "natural_instructions", "coreference", "ni_winogrande")
    assert [t.inverted for t in ni.templates].count(True) == 1
    assert not any(t.inverted for t in cards["cause_and_effect/one_sentence"].templates)  # its inputs are empty
    for card in cards.values():
        assert not card.curated and "{task_instruction}" in " ".join(t.instruction + t.input for t in card.templates)


def test_family_is_the_source_dataset_not_the_bundle():
    """NI subtasks are siblings per dataset (quoref with quoref), not one family for all 61."""
    entries = [
        entry("natural_instructions/subtask001_quoref_question_generation", kind="generation"),
        entry("natural_instructions/subtask059_ropes_story_generation", kind="generation"),
        entry("natural_instructions/subtask003_mctaco_question_generation_event_duration", kind="generation"),
        entry("natural_instructions/subtask004_mctaco_answer_generation_event_duration", kind="generation"),
        entry("gem/mlsum_de", kind="generation"),
        entry("gem/webnlg_ru", kind="generation"),
    ]
    covered = {
        ("bigbench", "natural_instructions/subtask002_quoref_answer_generation"): "bb_quoref",
        ("bigbench", "natural_instructions/subtask061_ropes_answer_generation"): "bb_ropes",
        ("bigbench", "gem/webnlg_en"): "bb_webnlg_en",
    }
    families = {card.source.locator.split("/", 1)[1]: card.family_name for card in cards_from_index(entries, covered)}
    assert families == {
        "subtask001_quoref_question_generation": "bb_quoref",
        "subtask059_ropes_story_generation": "bb_ropes",
        "subtask003_mctaco_question_generation_event_duration": "ni_mctaco",
        "subtask004_mctaco_answer_generation_event_duration": "ni_mctaco",
        "mlsum_de": "bigbench_gem_mlsum",
        "webnlg_ru": "bb_webnlg_en",
    }
    qasc = "natural_instructions/subtask041_qasc_answer_generation"
    assert generated.dataset_key(qasc) == "natural_instructions/qasc"
    assert generated.dataset_key("multiemo/hotels_text_en") == "multiemo"


@pytest.mark.slow
@pytest.mark.skipif(not generated.bigbench_index_available(), reason="BIG-bench is not fetched")
def test_holding_out_commonsense_keeps_unrelated_ni_datasets():
    from flanlab.mixture.plan import plan_mixture
    from flanlab.mixture.recipe import MixtureRecipe
    from flanlab.tasks.clusters import held_out_closure
    from flanlab.tasks.registry import load_registry

    registry = load_registry(collections=["core", "natural_instructions"])
    plan = plan_mixture(MixtureRecipe(collections=["core", "natural_instructions"], held_out=["commonsense"]), registry)
    kept = {task.name for task in plan.tasks}
    assert {"bb_ropes_answer_generation", "bb_quoref_answer_generation", "ni_subtask059_ropes_story_generation"} <= kept
    closed = held_out_closure({"commonsense"})
    tainted = {card.family_name for card in registry.cards.values() if card.cluster in closed}
    for name in plan.excluded:  # every exclusion is the cluster itself or a family that touches it
        card = registry.get(name)
        assert card.cluster in closed or card.family_name in tainted, name
    assert "ni_subtask003_mctaco_question_generation_event_duration" in plan.excluded


def test_task_names_are_unique_and_plain():
    assert task_name("logical_deduction/three_objects") == "bigbench_logical_deduction_three_objects"
    assert task_name("natural_instructions/subtask001_quoref_question_generation") == "ni_subtask001_quoref_question_generation"


def test_bigbench_examples_without_a_gold_answer_are_skipped():
    assert bigbench.normalise_example({"input": "q", "target_scores": {"a": 0, "b": 0}}, 0, "t") is None
    assert bigbench.normalise_example({"input": "", "target": ""}, 0, "t") is None
    assert bigbench.normalise_example({"input": "q", "target": [""]}, 0, "t") is None
    tied = bigbench.normalise_example({"input": "q", "target_scores": {"3": 1, "three": 1, " four\n": 0}}, 0, "t")
    assert tied["answer"] == "3" and tied["references"] == ["3", "three"] and tied["options"] == ["3", "three", "four"]


@pytest.mark.slow
@pytest.mark.skipif(not generated.bigbench_index_available(), reason="BIG-bench is not fetched")
def test_registry_has_500_tasks_and_bbh_is_never_trainable():
    from flanlab.tasks.registry import load_registry

    registry = load_registry()
    cards = list(registry.cards.values())
    assert len(cards) >= 500
    for card in cards:
        if card.source.kind == "bigbench" and generated.is_bbh(card.source.locator):
            assert card.eval_only, card.name
    assert registry.select(collections=["natural_instructions"]) and registry.select(clusters=["bbh"])
    yaml_locators = [c.source.locator for c in cards if c.path is not None and c.source.kind == "bigbench"]
    generated_locators = [c.source.locator for c in cards if c.path is None]
    assert not set(yaml_locators) & set(generated_locators)
    assert len(generated_locators) == len(set(generated_locators))


@pytest.mark.slow
@pytest.mark.skipif(not generated.bigbench_index_available(), reason="BIG-bench is not fetched")
def test_yaml_cards_suppress_the_generated_card_for_their_source(tmp_path):
    from flanlab.tasks.registry import load_registry

    # a task no built-in YAML card covers yet, so it has a generated card
    assert "bigbench_crass_ai" in load_registry(collections=["bigbench"])
    card = {
        "name": "my_crass_ai",
        "collection": "mine",
        "cluster": "commonsense",
        "source": {"kind": "bigbench", "locator": "crass_ai"},
        "templates": [{"id": "t1", "input": "{input}"}],
    }
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(card))
    registry = load_registry([tmp_path], collections=["bigbench"])
    assert "my_crass_ai" in registry and "bigbench_crass_ai" not in registry
