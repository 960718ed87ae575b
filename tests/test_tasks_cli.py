"""`flanlab tasks`: list / show / lint / render as a user runs them."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # the commands read the real BIG-bench data

SAMPLE = "bb_epistemic_reasoning"
FIELDS = {"name", "collection", "cluster", "family", "curated", "eval_only", "n_templates", "n_inverted", "n_examples"}


@pytest.fixture(scope="module")
def listing() -> list[dict]:
    result = run_cli("tasks", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_json_fields_and_counts(listing):
    assert len(listing) >= 500
    assert all(FIELDS <= row.keys() for row in listing)
    assert len({row["name"] for row in listing}) == len(listing)
    by_name = {row["name"]: row for row in listing}
    sample = by_name[SAMPLE]
    assert sample["curated"] is True and sample["n_examples"] == 2000 and sample["n_inverted"] <= sample["n_templates"]
    ni = [row for row in listing if row["collection"] == "natural_instructions"]
    assert all(row["n_templates"] == 4 and row["n_inverted"] == 1 for row in ni)
    # every one of the 61 NI v1 subtasks is a task: generated, or written as a curated card
    curated_ni = [row for row in listing if row["curated"] and row["source"].startswith("bigbench:natural_instructions/")]
    assert len(ni) + len(curated_ni) == 61
    assert all(isinstance(row["n_examples"], int) and row["n_examples"] >= 20 for row in listing if row["collection"] == "bigbench")


def test_bbh_tasks_are_eval_only(listing):
    bbh = [row for row in listing if row["cluster"] == "bbh"]
    assert len(bbh) >= 20 and all(row["eval_only"] for row in bbh)
    # besides BBH and MMLU, only hub CoT sets that ship no training split are eval-only
    others = [row for row in listing if row["eval_only"] and row["cluster"] not in {"bbh", "mmlu"}]
    assert all(row["collection"] == "flan2022" for row in others)


def test_list_filters():
    result = run_cli("tasks", "list", "--cluster", "bbh", "--collection", "bbh", "--json")
    rows = json.loads(result.stdout)
    assert rows and {row["cluster"] for row in rows} == {"bbh"} and {row["collection"] for row in rows} == {"bbh"}


def test_show_prints_the_card_as_yaml_with_counts():
    result = run_cli("tasks", "show", SAMPLE)
    assert result.returncode == 0, result.stderr
    card = yaml.safe_load(result.stdout)
    assert card["name"] == SAMPLE and card["source"]["locator"] == "epistemic_reasoning"
    assert "# templates: " in result.stdout and "# examples: train " in result.stdout


def test_show_tells_what_a_manual_download_needs_and_where_it_goes(tmp_path):
    home = tmp_path / "home"
    result = run_cli("tasks", "show", "story_cloze", "--no-data", env={"FLANLAB_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert "rocstories" in yaml.safe_load(result.stdout)["manual_download"]
    folder = home / "manual" / "story_cloze"
    assert f"# manual folder: {folder} (skipped by default selections until it exists)" in result.stdout
    folder.mkdir(parents=True)
    again = run_cli("tasks", "show", "story_cloze", "--no-data", env={"FLANLAB_HOME": str(home)})
    assert f"# manual folder: {folder} (found: its files are read)" in again.stdout


def test_render_is_deterministic_and_shows_the_target():
    args = ("tasks", "render", SAMPLE, "--template", "2", "--format", "fewshot:3", "--n", "2", "--seed", "0")
    first, again, other = run_cli(*args), run_cli(*args), run_cli(*args[:-1], "1")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout and first.stdout != other.stdout
    assert first.stdout.count(">>> inputs") == 2 and "3 shot(s)" in first.stdout
    labelled = run_cli(*args, "--options-style", "letter", "--json")
    rows = [json.loads(line) for line in labelled.stdout.splitlines()]
    assert len(rows) == 2 and all(row["targets"] in {"(A)", "(B)"} and row["options"] == ["(A)", "(B)"] for row in rows)
    assert all(row["template_id"] == "t02" and row["shots"] == 3 for row in rows)


def test_render_unknown_template_is_a_one_line_user_error():
    result = run_cli("tasks", "render", SAMPLE, "--template", "zz")
    assert result.returncode == 2 and "has no template 'zz'" in result.stderr and "Traceback" not in result.stderr


def test_lint_reports_problems_with_file_and_template(tmp_path):
    card = {
        "name": "cli_bad",
        "collection": "clitest",
        "cluster": "nli",
        "source": {"kind": "bigbench", "locator": "epistemic_reasoning"},
        "templates": [{"id": "t1", "input": "Premise:{input}"}, {"id": "t2", "input": "{inptu}"}],
    }
    (tmp_path / "cli_bad.yaml").write_text(yaml.safe_dump(card))
    result = run_cli("tasks", "lint", "--collection", "clitest", "--cards", str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{tmp_path / 'cli_bad.yaml'}: template t1: missing space") for line in lines), lines
    assert any("template t2: placeholder {inptu} is not in the task's data" in line for line in lines), lines


def test_lint_whole_collection_exits_zero():
    result = run_cli("tasks", "lint")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "clean" in result.stderr
