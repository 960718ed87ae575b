"""Field rules over nested hub features, the Super-Natural-Instructions loader, the PromptSource bridge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flanlab.errors import FlanlabError
from flanlab.prompts.formats import PromptFormat, render
from flanlab.sources.natural_instructions import read_task_file
from flanlab.tasks import niv2
from flanlab.tasks import promptsource
from flanlab.sources.base import load_split_records, resolve_path, split_by_hash
from flanlab.tasks.card import TaskCard, card_from_dict
from flanlab.tasks.examples import build_example, load_examples

RECORD = {
    "context": "c",
    "answers": {"text": ["first", "second"], "answer_start": [0, 9]},
    "label": "2",
    "choice1": "left",
    "choice2": "right",
    "triples": [["a", "b", "c"], ["d", "e", "f"]],
    "dotted.key": "kept",
}


def _card(fields: dict, **extra) -> TaskCard:
    data = {
        "name": "t",
        "collection": "test",
        "cluster": "misc",
        "source": {"kind": "jsonl", "locator": "unused.jsonl"},
        "fields": fields,
        "templates": [{"id": "a", "input": "{context}"}],
        **extra,
    }
    return card_from_dict(data, where="test card")


def test_dotted_paths_and_indices():
    assert resolve_path(RECORD, "answers.text.1") == "second"
    assert resolve_path(RECORD, "answers.text.-1") == "second"
    assert resolve_path(RECORD, "dotted.key") == "kept"  # a real key with a dot wins over the walk
    with pytest.raises(KeyError):
        resolve_path(RECORD, "answers.text.5")
    example = build_example(_card({"answer": "answers.text.0", "references": "answers.text"}), RECORD, 0)
    assert example["answer"] == "first" and example["references"] == ["first", "second"]


def test_missing_path_names_record_and_placeholder():
    with pytest.raises(FlanlabError, match=r"card t: record 4 has no field 'answers.nope.0' \(needed for \{answer\}\)"):
        build_example(_card({"answer": "answers.nope.0"}), RECORD, 4)


def test_default_fills_absent_or_empty_values():
    card = _card({"answer": {"from": "answers.text.0", "default": "unanswerable"}})
    assert build_example(card, {**RECORD, "answers": {"text": [], "answer_start": []}}, 0)["answer"] == "unanswerable"
    assert build_example(card, {**RECORD, "answers": {"text": [""], "answer_start": [0]}}, 0)["answer"] == "unanswerable"
    assert build_example(card, RECORD, 0)["answer"] == "first"


def test_list_sources_become_per_record_options_and_values_map_labels():
    card = _card({"options": {"from": ["choice1", "choice2"]}, "answer": {"from": "label", "values": {"1": 0, "2": 1}}})
    example = build_example(card, RECORD, 0)
    assert example["options"] == ["left", "right"] and example["answer_index"] == 1 and example["answer"] == "right"
    assert build_example(card, {**RECORD, "label": ""}, 0) is None  # an unlisted raw value drops the record
    assert build_example(card, {**RECORD, "label": -1}, 0) is None


def test_join_and_remove():
    card = _card({"data": {"from": "triples", "join": " | "}, "bare": {"from": "context", "remove": "[^a-z ]"}, "answer": "context"})
    example = build_example(card, {**RECORD, "context": "Hi, there!"}, 0)
    assert example["data"] == "a, b, c | d, e, f"
    assert example["bare"] == "i there"


def test_split_by_hash_accepts_a_dotted_key():
    records = [{"translation": {"en": f"sentence {i}"}} for i in range(50)]
    grouped = split_by_hash(records, "translation.en", where="x")
    assert sum(len(rows) for rows in grouped.values()) == 50 and grouped["train"] and grouped["test"]


# --- Super-Natural-Instructions -----------------------------------------------------------------

def _task_file(tmp_path, n: int = 40) -> Path:
    data = {
        "Contributors": ["flanlab tests"],
        "Source": ["handmade"],
        "Categories": ["Sentiment Analysis"],
        "Definition": ["Decide whether the review is positive or negative. Answer with one word."],
        "Positive Examples": [
            {"input": "I loved every minute.", "output": "positive", "explanation": "The reviewer loved it."},
            {"input": "A dull, slow film.", "output": "negative", "explanation": "Dull and slow are complaints."},
        ],
        "Negative Examples": [{"input": "Great acting.", "output": "bad", "explanation": "Not one of the two labels."}],
        "Instances": [
            {"id": f"task9999-{i}", "input": f"Review number {i} was {'great' if i % 2 else 'awful'}.", "output": ["positive" if i % 2 else "negative"]}
            for i in range(n)
        ],
    }
    path = tmp_path / "task9999_handmade_sentiment.json"
    path.write_text(json.dumps(data))
    return path


def test_niv2_task_file_becomes_a_card_with_its_definition_as_instruction(tmp_path):
    path = _task_file(tmp_path)
    card = card_from_dict(niv2.card_data(path), where=str(path))
    assert card.name == "niv2_task9999_handmade_sentiment" and card.cluster == "sentiment"
    assert card.family_name == "niv2_handmade"  # one family per source dataset
    assert niv2.source_dataset_family("task1385_anli_r1_entailment") == "niv2_anli"
    assert card.instruction.startswith("Decide whether the review")
    grouped = load_split_records(card.source)
    assert sum(len(rows) for rows in grouped.values()) == 40 and all(grouped.values())
    example = load_examples(card, "test")[0]
    rendered = render(card, card.templates[0], example)
    assert rendered.inputs.startswith(card.instruction + "\n\nInput: ")
    assert rendered.targets == example["answer"] and rendered.targets in {"positive", "negative"}


def test_niv2_positive_examples_are_the_few_shot_exemplars(tmp_path):
    card = card_from_dict(niv2.card_data(_task_file(tmp_path)), where="x")
    shots = niv2.positive_examples(card)
    assert [shot["answer"] for shot in shots] == ["positive", "negative"]
    assert shots[0]["rationale"] == "The reviewer loved it."
    query = load_examples(card, "test")[0]
    rendered = render(card, card.templates[0], query, PromptFormat(shots=2), exemplars=shots)
    assert rendered.shots == 2
    assert rendered.inputs.index(card.instruction) < rendered.inputs.index("Input: I loved every minute.\nOutput: positive")
    cot = render(card, card.templates[0], shots[1], PromptFormat(cot=True))
    assert cot.targets == "Dull and slow are complaints. So the answer is negative."


def test_niv2_folder_and_bad_files(tmp_path):
    _task_file(tmp_path)
    cards = niv2.cards_from_folder(tmp_path)
    assert [card.max_examples for card in cards] == [5000]
    broken = tmp_path / "task0001_broken.json"
    broken.write_text('{"Definition": ["x"], "Instances": [{"input": "no output"}]}')
    with pytest.raises(FlanlabError, match=r"task0001_broken.json: Instances\[0\]: expected an object with input and output"):
        read_task_file(broken)
    with pytest.raises(FlanlabError, match="no task"):
        niv2.cards_from_folder(tmp_path / "empty")


# --- PromptSource -------------------------------------------------------------------------------

# A templates.yaml in promptsource's schema, with templates written for this test.
TEMPLATES_YAML = """\
dataset: handmade_nli
subset: binary
templates:
  0a1b-yesno: !Template
    answer_choices: yes ||| no
    id: 0a1b-yesno
    jinja: 'Text: {{premise}}

      Claim: {{ hypothesis }}

      Does the text back the claim? {{ answer_choices | join(" or ") }}? ||| {% if label != -1 %}{{ answer_choices[label] }}{% endif %}'
    metadata: !TemplateMetadata
      choices_in_prompt: true
      languages: [en]
      metrics: [Accuracy]
      original_task: true
    name: text backs claim
    reference: written for flanlab tests
  2c3d-gen: !Template
    answer_choices: null
    id: 2c3d-gen
    jinja: 'Write a claim that the text "{{premise}}" supports. ||| {{hypothesis}}'
    metadata: !TemplateMetadata
      choices_in_prompt: false
      original_task: false
    name: write a claim
    reference: ''
  4e5f-loop: !Template
    answer_choices: yes ||| no
    id: 4e5f-loop
    jinja: '{% for word in premise.split() %}{{ word }} {% endfor %}||| {{ answer_choices[label] }}'
    metadata: !TemplateMetadata
      original_task: true
    name: word loop
    reference: ''
"""


def test_promptsource_yaml_converts_to_flanlab_cards(tmp_path):
    path = tmp_path / "templates.yaml"
    path.write_text(TEMPLATES_YAML)
    templates = promptsource.read_templates_yaml(path)
    assert templates.dataset == "handmade_nli" and len(templates.templates) == 3
    result = promptsource.bridge(templates, cluster="nli")
    assert set(result.skipped) == {"word loop"} and "Jinja statement" in result.skipped["word loop"]
    classify = next(card for card in result.cards if card.options)
    assert classify.options == ["yes", "no"] and classify.source.locator == "handmade_nli" and classify.source.config == "binary"
    (template,) = classify.templates
    assert template.input == "Text: {premise}\nClaim: {hypothesis}\nDoes the text back the claim? yes or no?"
    assert template.target == "{answer}" and not template.inverted

    record = {"premise": "The shop was shut all day.", "hypothesis": "The shop was closed.", "label": 0}
    example = build_example(classify, record, 0)
    rendered = render(classify, template, example)
    assert rendered.targets == "yes" and rendered.options == ("yes", "no") and rendered.answer_index == 0
    assert build_example(classify, {**record, "label": -1}, 1) is None  # the label guard's meaning

    generate = next(card for card in result.cards if not card.options)
    (inverted,) = generate.templates
    assert inverted.inverted and inverted.target == "{hypothesis}"
    assert render(generate, inverted, build_example(generate, record, 0)).targets == "The shop was closed."


def test_promptsource_per_record_choices_and_paths():
    template = promptsource.PromptSourceTemplate(
        id="x", name="pick", jinja="{{ goal }} Options: {{ sols[0] }} / {{sols[1]}} ||| {{ answer_choices[label] }}",
        answer_choices="{{ sols[0] }} ||| {{ sols[1] }}",
    )
    result = promptsource.bridge(promptsource.PromptSourceSet("handmade_piqa", None, (template,)), cluster="commonsense")
    (card,) = result.cards
    assert card.fields["options"].paths == ["sols.0", "sols.1"] and card.templates[0].input == "{goal} Options: {sols_0} / {sols_1}"
    example = build_example(card, {"goal": "Open a jar.", "sols": ["Twist the lid.", "Shout at it."], "label": 0}, 0)
    assert render(card, card.templates[0], example).targets == "Twist the lid."


def test_promptsource_needs_the_package_for_installed_templates():
    if promptsource.installed():
        pytest.skip("promptsource is installed here")
    with pytest.raises(FlanlabError, match="promptsource package is not installed"):
        promptsource.installed_templates("super_glue", "rte")
