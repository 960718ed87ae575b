"""Template lint: each kind of defect is caught on a small bad card; good cards pass."""

from __future__ import annotations

import json

import pytest
import yaml

from flanlab.tasks.card import card_from_dict
from flanlab.prompts.lint import lint_card, lint_collection, load_card_for_lint
from tests.conftest import run_cli

RECORDS = [{"question": f"Is {i} even?", "label": ["yes", "no"][i % 2], "note": ""} for i in range(40)]


def make_card(tmp_path, templates, **extra):
    data_file = tmp_path / "data.jsonl"
    data_file.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    data = {
        "name": "toy",
        "collection": "test",
        "cluster": "commonsense",
        "source": {"kind": "jsonl", "locator": str(data_file), "split_key": "question"},
        "fields": {"answer": "label"},
        "options": ["yes", "no"],
        "templates": templates,
        **extra,
    }
    return card_from_dict(data, where="toy.yaml")


def problems_of(card) -> list[str]:
    problems, _ = lint_card(card)
    return [str(problem) for problem in problems]


GOOD = [
    {"id": "a", "input": "Question: {question}"},
    {"id": "b", "input": "{question}\n\nAnswer yes or no."},
    {"id": "c", "inverted": True, "input": "Ask a question whose answer is {answer}.", "target": "{question}"},
]


def test_good_card_is_clean(tmp_path):
    assert problems_of(make_card(tmp_path, GOOD)) == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ({"input": "Question: {questoin}"}, "placeholder {questoin} is not in the task's data"),
        ({"input": "Question: {question"}, "stray or unbalanced brace"),
        ({"input": "Question: {question} }}"}, "stray brace in the written text"),
        ({"input": "Question: {question}\\nAnswer:"}, "literal backslash-n"),
        ({"input": "Answer the the question: {question}"}, "doubled word 'the the'"),
        ({"input": "Question:{question}"}, "missing space after punctuation at a join"),
        ({"input": "The question{question}"}, "missing space at a join"),
        ({"input": "Read this.Then answer: {question}"}, "missing space in 'this.Then'"),
        ({"input": "Is it true? Is {question}"}, "doubled word 'Is' at a join"),
        ({"input": "Question: {question} ", "target": "{answer}"}, "input pattern ends with whitespace"),
        ({"input": "Question: {question}", "target": " {answer}"}, "target pattern starts with whitespace"),
        ({"input": "Question: {question}", "target": "{note}"}, "rendered target is empty"),
        ({"input": "Question: {question}", "target": "The answer is {answer}"}, "is not the gold option"),
        ({"input": "Answer {answer}", "target": "{answer}", "inverted": True}, "inverted template targets {answer}"),
    ],
)
def test_each_defect_is_caught(tmp_path, template, expected):
    card = make_card(tmp_path, [*GOOD, {"id": "bad", **template}])
    problems = problems_of(card)
    assert any(expected in problem and "template bad" in problem for problem in problems), problems
    assert all("template bad" in problem for problem in problems), problems  # the good ones stay clean


def test_card_level_defects(tmp_path):
    poetry = make_card(tmp_path, GOOD)
    poetry.cluster = "poetry"  # cards read from YAML cannot say this (see test_unknown_cluster_...)
    assert "unknown cluster 'poetry'" in " | ".join(problems_of(poetry))
    bbh = make_card(tmp_path, GOOD)
    bbh.source = bbh.source.model_copy(update={"kind": "bigbench", "locator": "navigate"})
    problems, _ = lint_card(bbh, examples=[])
    assert any("BIG-Bench Hard task: set eval_only" in str(problem) for problem in problems)
    twins = make_card(tmp_path, [*GOOD, {**GOOD[0], "id": "twin"}])
    assert any("identical text" in problem for problem in problems_of(twins))
    too_many = [{"id": f"i{n}", "inverted": True, "input": f"Ask question {n} for {{answer}}.", "target": "{question}"} for n in range(4)]
    assert any("4 inverted templates" in p for p in problems_of(make_card(tmp_path, [*GOOD[:2], *too_many], curated=True)))


def test_gold_answer_outside_the_options_is_reported(tmp_path):
    card = make_card(tmp_path, GOOD, options=["yes", "maybe"])
    assert any("is not one of ['yes', 'maybe']" in problem for problem in problems_of(card))


def test_duplicate_template_ids_in_a_file(tmp_path):
    path = tmp_path / "dup.yaml"
    data = {"name": "dup", "collection": "test", "cluster": "misc", "source": {"kind": "jsonl", "locator": "x.jsonl"}}
    path.write_text(yaml.safe_dump({**data, "templates": [{"id": "t1", "input": "a {input}"}, {"id": "t1", "input": "b {input}"}]}))
    card, problems = load_card_for_lint(path)
    assert card is None and [str(problem) for problem in problems] == [f"{path}: template t1: template id is not unique"]


def test_unloadable_card_file_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed")
    card, problems = load_card_for_lint(path)
    assert card is None and "unreadable card" in str(problems[0])


def test_extra_folder_is_linted_with_file_names(tmp_path):
    folder = tmp_path / "cards"
    folder.mkdir()
    card = {"name": "extra_bad", "collection": "extra", "cluster": "misc", "source": {"kind": "jsonl", "locator": "none.jsonl"}}
    (folder / "extra_bad.yaml").write_text(yaml.safe_dump({**card, "templates": [{"id": "t1", "input": "Text:{input}"}]}))
    report = lint_collection(["extra"], [folder])
    assert report.n_cards == 1 and not report.ok
    assert any(str(folder / "extra_bad.yaml") in str(problem) and "cannot load data" in str(problem) for problem in report.problems)


@pytest.mark.slow
def test_whole_collection_is_clean():
    report = lint_collection()
    assert report.n_cards >= 500
    assert report.ok, "\n".join(str(problem) for problem in report.problems[:20])


def test_unknown_metric_fails_card_loading_and_lint_with_one_line(tmp_path):
    folder = tmp_path / "cards"
    folder.mkdir()
    data_file = tmp_path / "data.jsonl"
    data_file.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    card = {"name": "metric_typo", "collection": "mine", "cluster": "commonsense", "fields": {"answer": "label"},
            "source": {"kind": "jsonl", "locator": str(data_file), "split_key": "question"}, "options": ["yes", "no"],
            "metrics": ["acuracy"], "templates": GOOD}
    (folder / "typo.yaml").write_text(yaml.safe_dump(card))
    result = run_cli("tasks", "lint", "--collection", "mine", "--cards", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stdout.splitlines() if "acuracy" in line]
    assert len(lines) == 1 and str(folder / "typo.yaml") in lines[0] and "card metric_typo" in lines[0], result.stdout
    assert "did you mean 'accuracy'" in lines[0]
    result = run_cli("eval", "--model", "tiny-llama", "--tasks", "task:metric_typo", "--cards", str(folder), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "unknown metric 'acuracy'" in result.stderr and "Traceback" not in result.stderr


def test_metric_aliases_load_under_their_canonical_name(tmp_path):
    card = make_card(tmp_path, GOOD, metrics=["acc", "auc", "acc"])
    assert card.metrics == ["accuracy", "auc_roc"]
def test_unknown_cluster_is_a_one_line_error_naming_the_card(tmp_path):
    from flanlab.errors import FlanlabError
    from flanlab.tasks.card import dump_card, load_card

    path = tmp_path / "toy.yaml"
    path.write_text(dump_card(make_card(tmp_path, GOOD)).replace("cluster: commonsense", "cluster: comonsense"))
    with pytest.raises(FlanlabError) as caught:
        load_card(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: field cluster: ") and "\n" not in message
    assert "unknown cluster 'comonsense' (did you mean commonsense" in message and "; known: nli, " in message
