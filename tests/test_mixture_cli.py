"""`flanlab mix build / stats / show` as a user runs them."""

from __future__ import annotations

import json

import pytest

from tests.synthetic import SyntheticTask, read_split, write_synthetic_registry
from tests.conftest import run_cli

TASKS = [
    SyntheticTask("anli_r1", "nli", family="anli", inverted=True),
    SyntheticTask("qqp", "paraphrase"),
    SyntheticTask("gsm", "math", shape="gen", rationales=True, train=60),
    SyntheticTask("cosmos", "commonsense", shape="choice", inverted=True),
    SyntheticTask("bbh_x", "bbh", shape="choice", eval_only=True),
]


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_data")
    write_synthetic_registry(folder, TASKS)
    return folder / "cards"


def test_build_stats_show(cards, tmp_path):
    out = tmp_path / "mix"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: cli-test\nseed: 1\nheld_out: [commonsense]\n")
    built = run_cli("mix", "build", str(recipe), "-o", str(out), "--no-builtin", "--cards", str(cards),
                    "--held-out", "nli", "--size", "700", "--seed", "5", "--json")  # fmt: skip
    assert built.returncode == 0, built.stderr
    stats = json.loads(built.stdout)
    assert stats["total_rows"] == 700 and stats["seed"] == 5 and stats["name"] == "cli-test"
    assert {t["name"] for t in stats["tasks"]} == {"gsm", "cosmos"}  # --held-out replaced the recipe's list
    assert (out / "shards" / "part-00000.parquet").exists() and "rendering rows" in built.stderr

    shown = run_cli("mix", "stats", str(out))
    assert shown.returncode == 0 and "intended %" in shown.stdout and "cosmos" in shown.stdout
    assert "gold answer position" in shown.stdout and "warning" not in shown.stdout  # cosmos: options shuffled
    rows = run_cli("mix", "show", str(out), "--n", "3", "--json")
    assert [json.loads(line)["task"] in {"gsm", "cosmos"} for line in rows.stdout.splitlines()] == [True] * 3


def test_dry_run_and_contamination_error(cards, tmp_path):
    dry = run_cli("mix", "build", "--no-builtin", "--cards", str(cards), "--held-out", "nli", "--dry-run")
    assert dry.returncode == 0 and "dry run" in dry.stdout and "qqp" in dry.stdout  # qqp listed as excluded
    assert not any(tmp_path.iterdir())

    registry_dir = tmp_path / "leaky"
    write_synthetic_registry(registry_dir, TASKS)
    leak = read_split(registry_dir, "bbh_x", "test")[0]["question"]
    write_synthetic_registry(registry_dir, TASKS, extra_train={"gsm": [{"question": leak, "answer": "a", "rationale": "r"}]})
    args = ("mix", "build", "--no-builtin", "--cards", str(registry_dir / "cards"), "-o", str(tmp_path / "mix"))
    failed = run_cli(*args, "--on-contamination", "error")
    assert failed.returncode == 2 and "gsm (1, with bbh_x: 1)" in failed.stderr and "Traceback" not in failed.stderr
    removed = run_cli(*args)  # dropping and reporting is the default
    assert removed.returncode == 0, removed.stderr
    assert "removed 1 train example(s) equal to evaluation inputs: gsm 1 (bbh_x: 1)" in removed.stdout
    assert json.loads((tmp_path / "mix" / "stats.json").read_text())["contamination_removed"] == {"gsm": {"bbh_x": 1}}


def test_user_errors_exit_2(cards, tmp_path):
    missing = run_cli("mix", "stats", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "no such mixture folder" in missing.stderr
    no_out = run_cli("mix", "build", "--no-builtin", "--cards", str(cards))
    assert no_out.returncode == 2 and "-o DIR" in no_out.stderr


@pytest.mark.parametrize("recipe", ["flan2021", "flan2022"])
def test_hub_catalog_recipes_dry_run_without_a_hub(recipe, tmp_path):
    from tests.conftest import REPO

    result = run_cli("mix", "build", str(REPO / "configs" / f"{recipe}.yaml"), "--dry-run", "--json", "-o", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "m").exists()
    assert recipe in result.stdout
    if recipe == "flan2022":  # the paper's realised shares 46/28/25/2, with P3's share spread (no p3 cards)
        import json

        stats = json.loads(result.stdout)
        shares = {share["name"]: share["intended_weight"] for share in stats["collections"]}
        present = {"flan2021": 0.46, "natural_instructions": 0.25, "flan2022": 0.02}
        assert shares == pytest.approx({name: weight / sum(present.values()) for name, weight in present.items()})
        assert any("p3 (0.28)" in note for note in stats["notes"])
