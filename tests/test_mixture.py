"""Mixtures: leave-one-cluster-out, the contamination guard, weights, determinism, output layout."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flanlab.errors import FlanlabError
from flanlab.mixture import (
    MixtureRecipe,
    build_mixture,
    load_recipe,
    plan_mixture,
    read_mixture,
    recipe_from_dict,
)
from tests.synthetic import (
    SyntheticTask,
    read_split,
    write_synthetic_registry,
)
from flanlab.prompts.formats import RenderedExample
from flanlab.sources.splits import normalise_text

TASKS = [
    SyntheticTask("anli_r1", "nli", family="anli", inverted=True, collection="flan"),
    SyntheticTask("anli_r2", "nli", family="anli", collection="flan"),
    SyntheticTask("anli_misc", "misc", family="anli", shape="gen", collection="flan"),  # sibling in another cluster
    SyntheticTask("qqp", "paraphrase", collection="t0"),
    SyntheticTask("record_rc", "rc_commonsense", shape="choice", collection="t0"),
    SyntheticTask("squad", "reading_comprehension", shape="gen", collection="t0"),
    SyntheticTask("cosmos", "commonsense", shape="choice", inverted=True, collection="t0", train=40),
    SyntheticTask("gsm", "math", shape="gen", rationales=True, collection="flan", train=120),
    SyntheticTask("trivia", "closed_book_qa", shape="gen", inverted=True, collection="flan"),
    SyntheticTask("sst", "sentiment", collection="t0", train=40),
    SyntheticTask("bbh_x", "bbh", shape="choice", eval_only=True, collection="bbh"),
    SyntheticTask("mmlu_y", "closed_book_qa", shape="choice", eval_only=True, collection="mmlu"),
]
HELD_OUT_NLI = {"anli_r1", "anli_r2", "anli_misc", "qqp", "bbh_x", "mmlu_y"}
# "<task> <split> <index>" starts every synthetic input text: it tells where a text came from.
TAG = re.compile(r"\b([a-z0-9_]+) (train|validation|test) (\d+)\b")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return write_synthetic_registry(tmp_path_factory.mktemp("mixture_data"), TASKS)


def rows_of(folder: Path) -> list[dict]:
    return list(read_mixture(folder).iter_rows())


def tags_in(rows: list[dict]) -> list[tuple[str, str, str]]:
    return [tag for row in rows for tag in TAG.findall(row["inputs"] + "\n" + row["targets"])]


def test_held_out_cluster_related_cluster_family_and_eval_only_never_enter(registry, tmp_path):
    stats = build_mixture(MixtureRecipe(held_out=["nli"], total_size=4000), registry, tmp_path / "mix")
    rows = rows_of(tmp_path / "mix")
    assert len(rows) == 4000
    assert {row["task"] for row in rows} == {card.name for card in registry.select()} - HELD_OUT_NLI
    # Not even as few-shot exemplars or inside another task's text: no record of theirs is anywhere.
    assert {task for task, _, _ in tags_in(rows)} & HELD_OUT_NLI == set()
    assert set(stats.excluded) == HELD_OUT_NLI
    assert "family anli" in stats.excluded["anli_misc"] and "paraphrase" in stats.held_out_clusters


def test_commonsense_closure_and_eval_only_guarded(registry):
    plan = plan_mixture(MixtureRecipe(held_out=["commonsense"]), registry)
    assert {"cosmos", "record_rc"} <= set(plan.excluded) and "squad" not in plan.excluded
    assert {card.name for card in plan.guard_tasks} == {"cosmos", "record_rc", "bbh_x", "mmlu_y"}
    plan = plan_mixture(MixtureRecipe(held_out=["rc_commonsense"]), registry)
    assert {"cosmos", "record_rc", "squad"} <= set(plan.excluded)


def test_guard_collections_limit_the_guard_not_the_exclusions(registry):
    everything = plan_mixture(MixtureRecipe(held_out=["commonsense"]), registry)
    one = next(iter(everything.guard_tasks)).collection
    plan = plan_mixture(MixtureRecipe(held_out=["commonsense"], guard_collections=[one]), registry)
    assert plan.guard_tasks and {card.collection for card in plan.guard_tasks} == {one}
    assert plan.excluded == everything.excluded  # still never trained on


def test_training_rows_and_exemplars_come_from_train_split_only(registry, tmp_path):
    recipe = MixtureRecipe(total_size=3000, format_ratios={"zero_shot": 0.2, "few_shot": 0.8})
    build_mixture(recipe, registry, tmp_path / "mix")
    rows = rows_of(tmp_path / "mix")
    assert any(row["shots"] >= 2 for row in rows)
    assert {split for _, split, _ in tags_in(rows)} == {"train"}


def test_naming_a_held_out_task_or_unknown_cluster_is_an_error(registry):
    with pytest.raises(FlanlabError, match="qqp.*held out"):
        plan_mixture(MixtureRecipe(tasks=["qqp", "gsm"], held_out=["nli"]), registry)
    with pytest.raises(FlanlabError, match="bbh_x.*eval-only"):
        plan_mixture(MixtureRecipe(tasks=["bbh_x"]), registry)
    with pytest.raises(FlanlabError, match="unknown clusters \\['nope'\\]"):
        plan_mixture(MixtureRecipe(held_out=["nope"]), registry)


# --- the contamination guard ---


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """trivia's train split holds two bbh_x evaluation questions (one re-cased and re-spaced);
    cosmos's train split holds an anli_r1 test premise under another field name."""
    folder = tmp_path_factory.mktemp("leaky")
    write_synthetic_registry(folder, TASKS)
    bbh_eval = read_split(folder, "bbh_x", "validation")
    anli_test = read_split(folder, "anli_r1", "test")
    spaced = "  " + bbh_eval[1]["question"].upper().replace(" ", "   ") + " "
    extra = {
        "trivia": [{"question": bbh_eval[0]["question"], "answer": "x"}, {"question": spaced, "answer": "y"}],
        "cosmos": [{"question": anli_test[0]["premise"], "choices": ["a", "b", "c", "d"], "label": 0}],
    }
    registry = write_synthetic_registry(folder, TASKS, extra_train=extra)
    eval_texts = [
        text
        for name in ("bbh_x", "mmlu_y", "anli_r1", "anli_r2", "anli_misc", "qqp")
        for split in ("validation", "test")
        for record in read_split(folder, name, split)
        for text in (record.get("question"), record.get("premise"))
        if text
    ]
    return registry, eval_texts


def test_contamination_is_an_error_naming_tasks_and_counts(leaky, tmp_path):
    registry, _ = leaky
    with pytest.raises(FlanlabError) as caught:
        recipe = MixtureRecipe(held_out=["nli"], total_size=500, on_contamination="error")
        build_mixture(recipe, registry, tmp_path / "mix")
    message = str(caught.value)
    assert "3 training examples" in message
    assert "trivia (2, with bbh_x: 2)" in message and "cosmos (1, with anli_r1: 1)" in message
    assert not (tmp_path / "mix").exists()


def test_remove_contaminated_drops_and_reports_them(leaky, tmp_path):
    registry, eval_texts = leaky
    recipe = MixtureRecipe(held_out=["nli"], total_size=6000, format_ratios={"zero_shot": 0.3, "few_shot": 0.7})
    stats = build_mixture(recipe, registry, tmp_path / "mix")  # removing is the default
    assert stats.contamination_removed == {"cosmos": {"anli_r1": 1}, "trivia": {"bbh_x": 2}}
    rows = rows_of(tmp_path / "mix")
    everything = normalise_text("\n".join(row["inputs"] + "\n" + row["targets"] for row in rows))
    leaked = [text for text in eval_texts if normalise_text(text) in everything]
    assert leaked == []
    assert read_mixture(tmp_path / "mix").recipe.on_contamination == "remove"


def test_without_held_out_clusters_eval_only_inputs_are_still_guarded(leaky, tmp_path):
    registry, _ = leaky
    with pytest.raises(FlanlabError, match="trivia \\(2, with bbh_x: 2\\)") as caught:
        build_mixture(MixtureRecipe(total_size=500, on_contamination="error"), registry, tmp_path / "mix")
    assert "cosmos" not in str(caught.value)  # anli_r1 is trainable here, so its test text is no leak


# --- weights and formats ---


def test_achieved_weights_match_intended_with_source_weights_caps_and_rates(registry, tmp_path):
    recipe = recipe_from_dict(
        {
            "held_out": ["nli"],
            "total_size": 20_000,
            "sources": {"flan": {"weight": 0.7, "rate": 100}, "t0": {"weight": 0.3, "cap": 30}},
            "shard_rows": 7000,
        }
    )
    stats = build_mixture(recipe, registry, tmp_path / "mix")
    # By hand: flan draws gsm (120 train, rate 100) and trivia (40); t0 draws cosmos, sst, squad, record_rc (40 each, cap 30).
    expected = {"gsm": 0.7 * 100 / 140, "trivia": 0.7 * 40 / 140, "cosmos": 0.075, "sst": 0.075, "squad": 0.075, "record_rc": 0.075}
    rows = rows_of(tmp_path / "mix")
    achieved = Counter(row["task"] for row in rows)
    assert len(rows) == 20_000 and len(stats.shards) == 3
    for task, weight in expected.items():
        assert abs(achieved[task] / len(rows) - weight) < 0.01, task
        assert next(t for t in stats.tasks if t.name == task).intended_weight == pytest.approx(weight)
    by_source = Counter(row["collection"] for row in rows)
    assert abs(by_source["flan"] / len(rows) - 0.7) < 0.01
    # The t0 cap: at most 30 distinct training examples of a capped task ever appear.
    cosmos_tags = {tag for tag in tags_in([row for row in rows if row["task"] == "cosmos"]) if tag[0] == "cosmos"}
    assert len(cosmos_tags) == 30
    formats = {share.name: share for share in stats.formats}
    for share in formats.values():
        assert abs(share.achieved_weight - share.intended_weight) < 0.02, share.name


def test_formats_cot_inversion_and_options(registry, tmp_path):
    recipe = MixtureRecipe(held_out=["nli"], total_size=8000, inversion_rate=0.3, options_rate=0.5)
    stats = build_mixture(recipe, registry, tmp_path / "mix")
    rows = rows_of(tmp_path / "mix")
    cot_rows = [row for row in rows if row["format"].startswith("cot")]
    assert cot_rows and {row["task"] for row in cot_rows} == {"gsm"}  # the only task with rationales
    assert all("So the answer is" in row["targets"] and not row["inverted"] for row in cot_rows)
    invertible = [row for row in rows if row["task"] in {"cosmos", "trivia"}]
    assert abs(sum(row["inverted"] for row in invertible) / len(invertible) - 0.3) < 0.04
    assert {row["task"] for row in rows if row["inverted"]} == {"cosmos", "trivia"}
    classification = [row for row in rows if row["options"]]
    shown = [row for row in classification if row["options_style"] != "none"]
    assert abs(len(shown) / len(classification) - 0.5) < 0.04
    assert {row["options_style"] for row in shown} == {"dash", "letter", "number", "inline"}
    assert stats.inverted_share == pytest.approx(sum(r["inverted"] for r in invertible) / len(invertible))
    shot_counts = Counter(row["shots"] for row in rows if row["format"].startswith("fewshot"))
    assert set(shot_counts) <= {2, 3, 5} and len(shot_counts) >= 2
    # gold positions are counted from the rows written; per-record options are shuffled evenly
    for task in stats.tasks:
        golds = Counter(row["answer_index"] for row in classification if row["task"] == task.name)
        assert task.gold_positions == [golds[position] for position in range(len(task.gold_positions))]
    cosmos = next(task for task in stats.tasks if task.name == "cosmos")
    assert len(cosmos.gold_positions) == 4 and max(cosmos.gold_positions) < 0.35 * sum(cosmos.gold_positions)


def test_a_cot_source_renders_every_rationale_row_as_cot(registry, tmp_path):
    """Flan 2022's CoT source: its own format shares (CoT only); the other sources keep the recipe's."""
    cot_only = {"zero_shot": 0, "few_shot": 0, "cot": 1, "cot_few_shot": 1}
    recipe = recipe_from_dict(
        {
            "held_out": ["nli"], "total_size": 3000, "inversion_rate": 0.3,
            "sources": {"flan": {"weight": 0.5, "format_ratios": cot_only}, "t0": {"weight": 0.5}},
        }
    )
    stats = build_mixture(recipe, registry, tmp_path / "mix")
    rows = rows_of(tmp_path / "mix")
    gsm = [row for row in rows if row["task"] == "gsm"]  # flan, every example has a rationale, no inverted template
    assert gsm and all(row["format"].startswith("cot") for row in gsm)
    assert {row["shots"] > 0 for row in gsm} == {True, False}
    trivia = [row for row in rows if row["task"] == "trivia"]  # flan, no rationale: zero-shot (inverted or not)
    assert trivia and {row["format"] for row in trivia} == {"zeroshot"} and any(row["inverted"] for row in trivia)
    t0 = [row for row in rows if row["collection"] == "t0"]
    assert {row["format"].split(":")[0] for row in t0} == {"zeroshot", "fewshot"}
    for share in stats.formats:
        assert abs(share.achieved_weight - share.intended_weight) < 0.03, share.name


def test_a_weighted_source_without_tasks_gives_its_share_to_the_others(registry):
    recipe = recipe_from_dict(
        {
            "collections": ["flan", "t0", "p3"],
            "sources": {"flan": {"weight": 0.4}, "t0": {"weight": 0.4}, "p3": {"weight": 0.2}},
        }
    )
    plan = plan_mixture(recipe, registry)
    assert plan.source_weights == {"flan": pytest.approx(0.5), "t0": pytest.approx(0.5)}
    assert plan.notes and "p3 (0.2)" in plan.notes[0]
    with pytest.raises(FlanlabError, match="unknown collections \\['p4'\\]"):  # not named in collections: a typo
        typo = {"flan": {"weight": 1}, "t0": {"weight": 1}, "p4": {"weight": 1}}
        plan_mixture(recipe_from_dict({"sources": typo}), registry)


@pytest.mark.parametrize("mode", ["none", "name"])
def test_instruction_ablation_modes(registry, tmp_path, mode):
    recipe = MixtureRecipe(tasks=["sst"], total_size=200, instruction_mode=mode, format_ratios={"zero_shot": 1, "few_shot": 0})
    build_mixture(recipe, registry, tmp_path / "mix")
    rows = rows_of(tmp_path / "mix")
    assert not any("Does the premise entail" in row["inputs"] or "Answer the question." in row["inputs"] for row in rows)
    assert all(row["inputs"].startswith("[sentiment: sst]") == (mode == "name") for row in rows)


# --- output: determinism, layout, atomicity ---


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_same_seed_is_byte_identical_and_another_seed_differs(registry, tmp_path):
    recipe = MixtureRecipe(held_out=["commonsense"], total_size=2500, shard_rows=1000, seed=7)
    build_mixture(recipe, registry, tmp_path / "a")
    build_mixture(recipe, registry, tmp_path / "b")
    build_mixture(recipe.model_copy(update={"seed": 8}), registry, tmp_path / "c")
    first, second, other = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert sorted(first) == ["preview.jsonl", "recipe.yaml", "shards/part-00000.parquet", "shards/part-00001.parquet",
                             "shards/part-00002.parquet", "stats.json"]  # fmt: skip
    assert first == second
    assert all(first[name] != other[name] for name in first if name.startswith("shards/"))


def test_layout_columns_preview_and_resolved_recipe(registry, tmp_path):
    recipe = MixtureRecipe(held_out=["nli"], preview_rows=7)
    stats = build_mixture(recipe, registry, tmp_path / "mix")
    table = pq.read_table(tmp_path / "mix" / stats.shards[0])
    row_fields = list(RenderedExample("", "", "", "", "", "", "", 0, False, "").to_row())
    assert table.column_names == row_fields + ["collection"]
    assert str(table.schema.field("inputs").type) == "string" and str(table.schema.field("targets").type) == "string"
    preview = [json.loads(line) for line in (tmp_path / "mix" / "preview.jsonl").read_text().splitlines()]
    assert preview == rows_of(tmp_path / "mix")[:7]
    resolved = load_recipe(tmp_path / "mix" / "recipe.yaml")
    # Default size: the sum over tasks of min(train size, rate).
    assert resolved.total_size == stats.total_rows == sum(t.pool for t in stats.tasks)
    assert resolved.model_copy(update={"total_size": None}) == recipe
    saved = json.loads((tmp_path / "mix" / "stats.json").read_text())
    assert saved["total_rows"] == stats.total_rows and saved["tasks"][0]["input_tokens"] > 0


def test_failed_build_keeps_the_previous_mixture(registry, tmp_path, monkeypatch):
    build_mixture(MixtureRecipe(held_out=["nli"], total_size=300), registry, tmp_path / "mix")
    before = _files(tmp_path / "mix")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("flanlab.mixture.build.rows_to_table", broken)
    with pytest.raises(RuntimeError):
        build_mixture(MixtureRecipe(held_out=["nli"], total_size=600), registry, tmp_path / "mix")
    assert _files(tmp_path / "mix") == before
    assert [path.name for path in tmp_path.iterdir()] == ["mix"]  # no staging folder left behind


def test_refuses_to_overwrite_a_folder_that_is_not_a_mixture(registry, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(FlanlabError, match="not a mixture folder"):
        build_mixture(MixtureRecipe(total_size=10), registry, tmp_path / "notes")


# --- recipe, dry run, unavailable data ---


def test_recipe_yaml_round_trip_and_errors(tmp_path):
    recipe = recipe_from_dict({"held_out": ["nli"], "sources": {"flan": {"weight": 0.4, "cap": 30000}}, "seed": 3})
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe.dump())
    assert load_recipe(path) == recipe
    (tmp_path / "empty.yaml").write_text("")
    assert load_recipe(tmp_path / "empty.yaml") == MixtureRecipe()
    (tmp_path / "bad.yaml").write_text("max_rate: -3\n")
    with pytest.raises(FlanlabError, match="bad.yaml: field max_rate"):
        load_recipe(tmp_path / "bad.yaml")
    with pytest.raises(FlanlabError, match="field options_styles"):
        recipe_from_dict({"options_styles": {"emoji": 1.0}})
    with pytest.raises(FlanlabError, match="field held_outt"):
        recipe_from_dict({"held_outt": ["nli"]})


def test_source_weights_must_cover_every_collection(registry):
    with pytest.raises(FlanlabError, match="collections \\['t0'\\] need a weight"):
        plan_mixture(recipe_from_dict({"sources": {"flan": {"weight": 1.0}}}), registry)


def test_dry_run_loads_no_data_and_unavailable_tasks(tmp_path):
    missing = SyntheticTask("ghost", "sentiment", collection="t0")
    registry = write_synthetic_registry(tmp_path / "data", [missing, TASKS[7]])
    for path in (tmp_path / "data" / "ghost").iterdir():
        path.unlink()
    stats = build_mixture(MixtureRecipe(), registry, None, dry_run=True)
    assert stats.dry_run and {t.name: t.intended_weight for t in stats.tasks} == {"ghost": 0.5, "gsm": 0.5}
    with pytest.raises(FlanlabError, match="ghost"):
        build_mixture(MixtureRecipe(on_unavailable="error"), registry, tmp_path / "mix")
    stats = build_mixture(MixtureRecipe(), registry, tmp_path / "mix")  # skipping is the default
    assert "ghost" in stats.skipped and [t.name for t in stats.tasks] == ["gsm"]
    assert "no split files found" in stats.skipped["ghost"]


def test_guard_hashes_short_queries_whole_but_not_short_fields_alone(registry):
    from flanlab.mixture.guard import (
        EvalIndex,
        eval_input_fields,
        train_hashes,
        train_input_fields,
    )

    trivia, anli = registry.get("trivia"), registry.get("anli_r1")
    index = EvalIndex()
    index.add(trivia, [{"question": "What is 2+2?", "answer": "4"}], min_chars=20)
    index.add(anli, [{"premise": "A long premise about a quiet river.", "hypothesis": "It is wet."}], min_chars=20)

    def caught(card, example):
        return index.find(train_hashes(example, train_input_fields(card), eval_input_fields(card))[0])

    assert caught(trivia, {"question": "  what is 2+2? ", "answer": "5"}) == "trivia"  # whole short query, normalised
    assert caught(anli, {"premise": "Another premise entirely here.", "hypothesis": "It is wet."}) is None
    assert caught(trivia, {"question": "A long premise about a   QUIET river.", "answer": "x"}) == "anli_r1"


# --- lazy pools ---


def _big_unsplit_registry(folder: Path, n: int):
    from flanlab.tasks.card import card_from_dict
    from flanlab.tasks.registry import TaskRegistry

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "big.jsonl"
    rows = ({"input": f"big question {i} about rivers", "answer": f"a{i}"} for i in range(n))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    card = card_from_dict(
        {"name": "big", "collection": "synthetic", "cluster": "misc", "source": {"kind": "jsonl", "locator": str(path)},
         "templates": [{"id": "q", "input": "{input}"}]},
        where="test card",
    )  # fmt: skip
    return TaskRegistry([card])


def test_pools_read_an_unsplit_task_only_as_far_as_its_weight_and_rows_need(tmp_path, monkeypatch):
    import flanlab.tasks.examples as examples_module

    registry = _big_unsplit_registry(tmp_path / "data", 3000)
    built = Counter()
    real_build = examples_module.build_example

    def counting(card, record, index):
        built[card.name] += 1
        return real_build(card, record, index)

    monkeypatch.setattr(examples_module, "build_example", counting)
    small = build_mixture(MixtureRecipe(max_rate=50, total_size=20), registry, tmp_path / "small")
    # records are hash-split as they are reached and only train ones are built: 50, and one to see there are more
    assert small.tasks[0].pool == 50 and built["big"] == 51
    built.clear()
    grown = build_mixture(MixtureRecipe(max_rate=50, dataset_cap=700, total_size=900), registry, tmp_path / "grown")
    # the weight needs 50 examples; 900 rows then read on, up to the cap of 700 distinct examples
    assert grown.tasks[0].pool == 700 and grown.tasks[0].epochs == pytest.approx(900 / 700, abs=1e-3)
    assert built["big"] == 51 + 701
    assert len({row["targets"] for row in rows_of(tmp_path / "grown")}) >= 600


def test_lazy_pools_hold_the_train_split_only_and_are_reproducible(tmp_path):
    from flanlab.prompts.layout import DEFAULT_LAYOUT
    from flanlab.sources.splits import hash_split

    registry = _big_unsplit_registry(tmp_path / "data", 400)
    recipe = MixtureRecipe(max_rate=1000, total_size=250, format_ratios={"zero_shot": 1.0, "few_shot": 0.0})
    build_mixture(recipe, registry, tmp_path / "a")
    build_mixture(recipe, registry, tmp_path / "b")
    rows = rows_of(tmp_path / "a")
    assert rows == rows_of(tmp_path / "b")
    cue = "\n" + DEFAULT_LAYOUT.answer_cue  # the prompt layout's last line, after the question
    questions = {row["inputs"].removesuffix(cue).strip() for row in rows if not row["inverted"]}
    assert questions and all(hash_split(question) == "train" for question in questions)


def test_without_a_hub_the_default_recipe_skips_and_lists_unchecked_hub_tasks(registry, tmp_path, no_hub):
    from flanlab.tasks.card import card_from_dict
    from flanlab.tasks.registry import TaskRegistry

    def hub(name: str, cluster: str, eval_only: bool = False):
        return card_from_dict({"name": name, "collection": "hubby", "cluster": cluster, "eval_only": eval_only,
                               "source": {"kind": "huggingface", "locator": f"someone/{name}"},
                               "templates": [{"id": "q", "input": "{text}"}]}, where=name)  # fmt: skip

    cards = [*registry.cards.values(), hub("hub_sentiment", "sentiment"), hub("hub_bbh", "bbh", eval_only=True)]
    stats = build_mixture(MixtureRecipe(held_out=["nli"], total_size=300), TaskRegistry(cards), tmp_path / "mix")
    why = "no hub (HF_DATASETS_OFFLINE is set) and no local copy"
    assert stats.skipped == {"hub_sentiment": why} and stats.unchecked_tasks == {"hub_bbh": why}
    assert stats.total_rows == 300 and "hub_sentiment" not in {t.name for t in stats.tasks}
    with pytest.raises(FlanlabError, match="cannot check contamination against hub_bbh: huggingface:someone/hub_bbh"):
        build_mixture(MixtureRecipe(held_out=["nli"], on_unavailable="error"), TaskRegistry(cards), tmp_path / "m2")
