"""Prompt formats: determinism, few-shot budget, option styles, chain-of-thought, inversion."""

from __future__ import annotations

import pytest

from flanlab.errors import FlanlabError
from flanlab.prompts.formats import (
    ANSWER_PHRASE,
    COT_TRIGGER,
    PromptFormat,
    cot_exemplar_pool,
    extract_cot_answer,
    pick_exemplars,
    rationale_pool,
    render,
)
from flanlab.prompts.options import OPTION_STYLES, letters
from flanlab.tasks.card import card_from_dict

CARD = card_from_dict(
    {
        "name": "toy_yesno",
        "collection": "test",
        "cluster": "commonsense",
        "source": {"kind": "jsonl", "locator": "unused.jsonl"},
        "instruction": "Answer the question with yes or no.",
        "options": ["yes", "no"],
        "templates": [
            {"id": "plain", "input": "Question: {question}"},
            {"id": "split", "instruction": "{task_instruction}", "input": "Q: {question}"},
            {"id": "inv", "inverted": True, "input": "Write a question whose answer is {answer}.", "target": "{question}"},
        ],
    },
    where="test card",
)
PLAIN, SPLIT, INVERTED = CARD.templates


def example(i: int, answer_index: int = 0, rationale: str | None = None) -> dict:
    row = {
        "input": f"Is {i} a number?",
        "question": f"Is {i} a number?",
        "options": ["yes", "no"],
        "answer_index": answer_index,
        "answer": ["yes", "no"][answer_index],
        "references": [["yes", "no"][answer_index]],
    }
    if rationale:
        row["rationale"] = rationale
    return row


POOL = [example(i, i % 2) for i in range(50)]


def test_zero_shot_layout_and_target_join():
    rendered = render(CARD, PLAIN, example(1))
    assert rendered.inputs == "Question: Is 1 a number?\n\nOPTIONS:\n- yes\n- no\nAnswer:"  # the default layout's cue
    assert rendered.targets == "yes" and rendered.options == ("yes", "no") and rendered.answer_index == 0
    assert not rendered.inputs.endswith(" ") and rendered.delimiter == " "
    assert rendered.to_row()["options"] == ["yes", "no"]


def test_same_seed_same_bytes_other_seed_other_exemplars():
    fmt = PromptFormat.parse("fewshot:3")

    def rendered(seed: int) -> str:
        shots = pick_exemplars(POOL, 3, seed=seed, query_key="q7", exclude_text=POOL[7]["input"])
        return render(CARD, PLAIN, POOL[7], fmt, exemplars=shots).inputs

    assert rendered(0).encode() == rendered(0).encode()
    assert rendered(0) != rendered(1)
    assert POOL[7]["input"] not in rendered(0).rsplit("\n\n", 3)[0].split("Question: ")[1:-1]


def test_pick_exemplars_never_returns_the_query():
    for seed in range(30):
        shots = pick_exemplars(POOL[:4], 3, seed=seed, query_key="x", exclude_text=POOL[0]["input"])
        assert POOL[0] not in shots and len(shots) == 3


def test_exemplars_are_joined_with_the_target_delimiter_and_separator():
    fmt = PromptFormat.parse("fewshot:2,separator=rule,options_style=none")
    rendered = render(CARD, PLAIN, POOL[0], fmt, exemplars=POOL[1:3])
    assert rendered.inputs == (
        "Question: Is 1 a number?\nAnswer: no\n\n---\n\nQuestion: Is 2 a number?\nAnswer: yes\n\n---\n\n"
        "Question: Is 0 a number?\nAnswer:"
    )
    assert rendered.shots == 2 and rendered.format == "fewshot:2"


def test_instruction_before_or_after_exemplars():
    before = render(CARD, SPLIT, POOL[0], PromptFormat(shots=2), exemplars=POOL[1:3]).inputs
    after = render(CARD, SPLIT, POOL[0], PromptFormat(shots=2, instruction_position="after"), exemplars=POOL[1:3]).inputs
    assert before.startswith("Answer the question with yes or no.\n\nQ: Is 1")
    assert after.startswith("Q: Is 1") and "\n\nAnswer the question with yes or no.\n\nQ: Is 0" in after
    assert before.count("Answer the question") == after.count("Answer the question") == 1


def test_budget_drops_exemplars_never_the_query():
    long_query = dict(POOL[0], question="word " * 400)
    fmt = PromptFormat(shots=5, max_prompt_tokens=120)
    rendered = render(CARD, PLAIN, long_query, fmt, exemplars=POOL[1:6])
    assert rendered.shots == 0 and rendered.inputs.startswith("Question: " + "word " * 399 + "word")
    words = lambda text: len(text.split())  # a real tokenizer counter can be passed the same way
    fits_two = render(CARD, PLAIN, POOL[0], PromptFormat(shots=5, max_prompt_tokens=40), exemplars=POOL[1:6], count_tokens=words)
    assert fits_two.shots == 2 and words(fits_two.inputs) <= 40


@pytest.mark.parametrize(("style", "target", "scored"), [("letter", "(B)", ("(A)", "(B)")), ("upper", "B", ("A", "B")), ("number", "no", ("yes", "no"))])
def test_label_styles_switch_the_target(style, target, scored):
    rendered = render(CARD, PLAIN, example(3, answer_index=1), PromptFormat(options_style=style))
    assert rendered.targets == target and rendered.options == scored
    assert rendered.references == (target,)
    assert OPTION_STYLES[style].block(["yes", "no"]) in rendered.inputs


def test_options_off_and_inline():
    assert "OPTIONS" not in render(CARD, PLAIN, example(1), PromptFormat(options_style="none")).inputs
    inline = render(CARD, PLAIN, example(1), PromptFormat(options_style="inline"))
    assert inline.inputs.endswith("Possible answers: yes; no\nAnswer:")


def test_labels_beyond_z():
    assert [letters(i) for i in (0, 25, 26, 99)] == ["A", "Z", "AA", "CV"]


def test_inverted_template_has_no_options_and_targets_the_input():
    rendered = render(CARD, INVERTED, example(4, answer_index=1))
    assert rendered.inputs == "Write a question whose answer is no.\nAnswer:" and rendered.targets == "Is 4 a number?"
    assert rendered.inverted and rendered.options == () and rendered.options_style == "none"


def test_cot_with_rationale_and_zero_shot_trigger():
    with_rationale = example(5, rationale="Five is a count of things.")
    rendered = render(CARD, PLAIN, with_rationale, PromptFormat.parse("cot"))
    assert rendered.inputs.endswith(COT_TRIGGER)
    assert rendered.targets == f"Five is a count of things. {ANSWER_PHRASE} yes."
    assert extract_cot_answer(rendered.targets) == "yes" and rendered.references == ("yes",)
    plain = render(CARD, PLAIN, example(6), PromptFormat.parse("cot"))
    assert plain.targets == f"{ANSWER_PHRASE} yes."
    shots = rationale_pool([with_rationale, example(7)])
    few = render(CARD, PLAIN, example(8), PromptFormat.parse("cot:1"), exemplars=shots)
    assert f"Five is a count of things. {ANSWER_PHRASE} yes.\n\nQuestion: Is 8" in few.inputs


def test_extract_cot_answer():
    assert extract_cot_answer("A, then B. So the answer is (C).\nMore text") == "(C)"
    assert extract_cot_answer("so the answer is: 42") == "42"
    assert extract_cot_answer("So the answer is 1. Wait. So the answer is 2.") == "2"
    assert extract_cot_answer("no phrase here\n\n  yes. ") == "yes"
    assert extract_cot_answer("") == ""


def test_instruction_ablation_keeps_only_the_data():
    none = render(CARD, SPLIT, example(1), PromptFormat(instruction_mode="none", options_style="none"))
    assert none.inputs == "Is 1 a number?\nAnswer:"
    named = render(CARD, SPLIT, example(1), PromptFormat(instruction_mode="name", options_style="none"))
    assert named.inputs == "[commonsense: toy_yesno]\nIs 1 a number?\nAnswer:"


def test_format_parse_round_trip_and_errors():
    fmt = PromptFormat.parse("fewshot:5,separator=hash,instruction_position=after,options_style=letter")
    assert fmt.shots == 5 and PromptFormat.parse(fmt.spec) == fmt and fmt.name == "fewshot:5"
    assert PromptFormat.parse("cot").name == "cot:0"
    for bad in ("fewshot", "fewshot:x", "zeroshot:2", "fewshot:3,colour=red", "zeroshot,options_style=roman", "fewshot:99"):
        with pytest.raises(FlanlabError):
            PromptFormat.parse(bad)


def test_missing_placeholder_fails_loudly():
    broken = dict(example(1))
    del broken["question"]
    with pytest.raises(FlanlabError, match=r"template plain: placeholder \{question\}"):
        render(CARD, PLAIN, broken)


def test_cot_without_rationales_shows_direct_answer_exemplars():
    fmt = PromptFormat.parse("cot:2,cot_exemplars=direct,options_style=none")
    few = render(CARD, PLAIN, example(8), fmt, exemplars=POOL[1:3])
    shots = "Question: Is 1 a number?\nAnswer: no\n\nQuestion: Is 2 a number?\nAnswer: yes"
    expected = f"{shots}\n\nQuestion: Is 8 a number?\n\n{COT_TRIGGER}"
    assert few.inputs == expected
    assert few.inputs.count(COT_TRIGGER) == 1 and ANSWER_PHRASE not in few.inputs
    assert cot_exemplar_pool(POOL) == (POOL, "direct")
    with_rationale = [example(5, rationale="Five counts.")]
    assert cot_exemplar_pool([*POOL, *with_rationale]) == (with_rationale, "rationale")
