"""The studies' designs, pinned: what each arm trains on and how it is evaluated (no model runs).

Built on a synthetic registry whose cluster sizes, families and sources are known, so the expected
orders and shares are worked out by hand; the shipped configs are checked for the papers' settings.
"""

from __future__ import annotations

from collections import Counter

import pytest

from flanlab.errors import FlanlabError
from flanlab.experiments.config import ExperimentConfig, resolve_experiment
from flanlab.experiments.runner import mixture_recipe
from flanlab.experiments.studies import cluster_order, plan
from flanlab.mixture import build_mixture, read_mixture, recipe_from_dict
from tests.synthetic import SyntheticTask, write_synthetic_registry

TASKS = [
    SyntheticTask("nli_a", "nli", family="nli_ab", collection="flan", curated=True),
    SyntheticTask("nli_b", "nli", family="nli_ab", collection="flan", curated=True),
    SyntheticTask("para", "paraphrase", collection="flan", curated=True),
    SyntheticTask("trivia", "closed_book_qa", shape="gen", inverted=True, collection="flan", curated=True),
    SyntheticTask("cosmos", "commonsense", shape="choice", collection="flan", curated=True),
    SyntheticTask("sst", "sentiment", inverted=True, collection="flan", curated=True),
    SyntheticTask("imdb", "sentiment", collection="flan", curated=True),
    SyntheticTask("yelp", "sentiment", collection="niv1"),  # not curated: never in the held-in suite
    SyntheticTask("gsm", "math", shape="gen", rationales=True, collection="flan", curated=True),
    SyntheticTask("svamp", "math", shape="gen", collection="flan", curated=True),
    SyntheticTask("squad", "reading_comprehension", shape="gen", inverted=True, collection="flan", curated=True),
    SyntheticTask("drop", "reading_comprehension", shape="gen", collection="niv1"),
    SyntheticTask("misc_ok", "misc", collection="flan", curated=True),
    SyntheticTask(
        "misc_quiz", "misc", family="trivia", collection="flan", curated=True
    ),  # a sibling of held-out trivia
    SyntheticTask("cot_gsm", "math", shape="gen", rationales=True, inverted=True, collection="cot", train=80),
    SyntheticTask("bbh_x", "bbh", shape="choice", eval_only=True, collection="bbh"),
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return write_synthetic_registry(tmp_path_factory.mktemp("studies"), TASKS)


def experiment(study: str, held_out: list[str], params: dict | None = None, **scale):
    config = ExperimentConfig.model_validate(
        {
            "name": f"test_{study}",
            "study": study,
            "title": study,
            "held_out": held_out,
            "params": {"collections": ["flan", "niv1"], **(params or {})},
            "scales": {"tiny": {"mixture_size": 600, "eval_limit": 2, **scale}},
        }
    )
    return config.at_scale("tiny")


def built_rows(registry, exp, arm, folder):
    build_mixture(recipe_from_dict(mixture_recipe(exp, arm.mixture)), registry, folder)
    return list(read_mixture(folder).iter_rows())


# --- FLAN Fig. 6: held-out set and cluster order ---


def test_fig6_adds_clusters_largest_first_counting_only_trainable_tasks(registry):
    exp = experiment("num_clusters", ["nli", "closed_book_qa", "commonsense"])
    # sentiment 3 tasks; math 2 and reading comprehension 2 (ties by name); misc 1, because
    # misc_quiz is a sibling of held-out trivia (counted naively, misc would tie at 2 and come second)
    assert cluster_order(exp, registry) == ["sentiment", "math", "reading_comprehension", "misc"]
    arms = plan(exp, registry)
    assert [arm.x for arm in arms] == [0, 1, 2, 3, 4]
    assert [arm.compare_to for arm in arms] == [None, "base", "clusters-1", "clusters-2", "clusters-3"]
    order = cluster_order(exp, registry)
    for arm in arms[1:]:
        assert arm.mixture.clusters == order[: int(arm.x)] and arm.mixture.held_out == [
            "nli",
            "closed_book_qa",
            "commonsense",
        ]
        assert not {"nli", "paraphrase", "closed_book_qa", "commonsense"} & set(arm.mixture.clusters)
    suites = {spec.suite: spec.tasks for spec in arms[0].evals}  # one suite per held-out cluster, every arm
    assert suites == {
        "nli": ("task:nli_a", "task:nli_b"),
        "closed_book_qa": ("task:trivia",),
        "commonsense": ("task:cosmos",),
    }
    assert all(arm.evals == arms[0].evals for arm in arms)


def test_fig6_config_holds_out_nli_closed_book_qa_and_commonsense():
    config = resolve_experiment("fig6_num_clusters")
    assert config.held_out == ["nli", "closed_book_qa", "commonsense"]
    assert "cluster_order" not in config.params.model_dump()  # computed from the registry, never listed


def test_fig5_trains_one_model_per_held_out_cluster(registry):
    exp = experiment("leave_one_cluster_out", ["nli"], clusters=["nli", "commonsense", "closed_book_qa"])
    arms = plan(exp, registry)
    tuned = {arm.name: arm for arm in arms if arm.mixture}
    assert {name: arm.mixture.held_out for name, arm in tuned.items()} == {
        "tuned-nli": ["nli"],
        "tuned-commonsense": ["commonsense"],
        "tuned-closed_book_qa": ["closed_book_qa"],
    }
    for arm in arms:  # base and tuned are scored on the same prompts of their cluster
        cluster = arm.name.split("-", 1)[1]
        assert [spec.suite for spec in arm.evals] == [cluster]
    assert resolve_experiment("fig5_leave_one_cluster_out").scales["default"].clusters == [
        "nli",
        "commonsense",
        "closed_book_qa",
    ]


# --- FLAN Fig. 8: evaluation modes, and no inverted rows where a template cannot say what to write ---


def test_fig8_eval_modes_and_zero_inversion_in_ablated_arms(registry, tmp_path):
    exp = experiment("instruction_ablation", ["nli"], {"mixture": {"inversion_rate": 0.3}})
    arms = {arm.name: arm for arm in plan(exp, registry)}
    modes = {name: [(spec.instruction_mode, spec.variant) for spec in arm.evals] for name, arm in arms.items()}
    assert modes == {
        "base": [("full", "")],
        "mode-none": [("full", "")],
        "mode-name": [("full", ""), ("name", "eval: dataset name")],
        "mode-full": [("full", "")],
    }
    # the figure's claim is full instructions against each ablation; full against the base model
    pairs = {name: arm.compare_to for name, arm in arms.items()}
    assert pairs == {"base": None, "mode-none": "mode-full", "mode-name": "mode-full", "mode-full": "base"}
    for name, mode in (("mode-none", "none"), ("mode-name", "name")):
        recipe = mixture_recipe(exp, arms[name].mixture)
        assert recipe["instruction_mode"] == mode and recipe["inversion_rate"] == 0.0
        rows = built_rows(registry, exp, arms[name], tmp_path / name)
        assert rows and not any(row["inverted"] for row in rows)
    full_rows = built_rows(registry, exp, arms["mode-full"], tmp_path / "full")
    assert any(row["inverted"] for row in full_rows)  # the full-instruction arm keeps the recipe's inversion


# --- Flan 2022 Table 1: the four ablations, as built mixtures ---


TABLE1 = {
    "sources": {"flan": 0.6, "niv1": 0.3, "cot": 0.1},
    "cot_source": "cot",
    "collections": ["flan", "niv1", "cot"],
    "mixture": {"fewshot_share": 0.5, "cot_share": 0.2, "inversion_rate": 0.3},
}


@pytest.fixture(scope="module")
def table1(registry, tmp_path_factory):
    exp = experiment("method_ablations", ["nli"], TABLE1)
    folder = tmp_path_factory.mktemp("table1")
    arms = plan(exp, registry)
    return (
        exp,
        {arm.name: arm for arm in arms},
        {arm.name: built_rows(registry, exp, arm, folder / arm.name) for arm in arms},
    )


def _cot_rows(rows):
    return [row for row in rows if row["format"].startswith("cot")]


def test_table1_full_recipe_uses_tuned_weights_and_an_all_cot_source(table1):
    _, _, rows = table1
    full = rows["full"]
    shares = Counter(row["collection"] for row in full)
    assert {name: round(count / len(full), 2) for name, count in shares.items()} == {
        "flan": 0.6,
        "niv1": 0.3,
        "cot": 0.1,
    }
    cot_source = [row for row in full if row["collection"] == "cot"]
    assert all(row["format"].startswith("cot") for row in cot_source if not row["inverted"])
    assert _cot_rows(full) and any(row["inverted"] for row in full)


def test_table1_minus_balancing_is_equal_source_weights(table1):
    _, arms, rows = table1
    assert arms["minus-balancing"].mixture.source_weights == {"flan": 1.0, "niv1": 1.0, "cot": 1.0}
    shares = Counter(row["collection"] for row in rows["minus-balancing"])
    assert all(abs(count / 600 - 1 / 3) < 0.01 for count in shares.values())
    assert mixture_recipe(table1[0], arms["minus-balancing"].mixture).get("max_rate") is None  # the rate cap stays


def test_table1_minus_cot_has_no_cot_row_at_all(table1):
    _, _, rows = table1
    assert not _cot_rows(rows["minus-cot"]) and not any(row["collection"] == "cot" for row in rows["minus-cot"])
    assert any(row["task"] == "gsm" for row in rows["minus-cot"])  # rationale tasks stay, as plain rows


def test_table1_minus_fewshot_is_zero_shot_only(table1):
    _, _, rows = table1
    assert {row["shots"] for row in rows["minus-fewshot"]} == {0}
    assert {row["format"] for row in rows["minus-fewshot"]} == {"zeroshot", "cot:0"}  # zero-shot CoT stays
    assert any(row["shots"] > 0 and row["format"].startswith("cot") for row in rows["full"])


def test_table1_minus_inversion_has_no_inverted_row(table1):
    _, _, rows = table1
    assert not any(row["inverted"] for row in rows["minus-inversion"])


def test_table1_suites(table1, registry):
    _, arms, _ = table1
    suites = {spec.suite: spec for spec in arms["full"].evals}
    assert list(suites) == ["held-in", "held-out", "CoT", "BBH"]
    assert suites["held-in"].split == "validation" and suites["held-out"].split == "test"
    # the first curated task (by name) of every trained cluster, by cluster; niv1's yelp/drop are not curated
    assert suites["held-in"].tasks == tuple(
        f"task:{name}" for name in ("trivia", "cosmos", "gsm", "misc_ok", "squad", "imdb")
    )
    assert suites["held-out"].tasks == ("task:nli_a", "task:nli_b")
    assert suites["CoT"].cot and suites["CoT"].tasks == ("task:cot_gsm",)
    assert suites["BBH"].tasks == ("task:bbh_x",) and suites["BBH"].shots == (0, 3)
    assert all(arm.evals == arms["full"].evals for arm in arms.values())


def test_table1_config_sources_and_cot_source():
    config = resolve_experiment("flan2022_table1_method_ablations")
    assert set(config.params.sources) == set(config.params.collections) and config.params.cot_source == "cot"


# --- single-task finetuning, typed params ---


def test_single_task_arms_start_from_base_and_tuned_with_dropout_and_validation(registry):
    exp = experiment("single_task", ["nli"], {"validate_every": 5})
    arms = {arm.name: arm for arm in plan(exp, registry)}
    single = [arm for arm in arms.values() if arm.name.startswith("single-")]
    assert sorted(arm.init for arm in single) == ["base", "tuned"]
    for arm in single:
        assert arm.train["dropout"] == 0.1 and arm.mixture.tasks == ["nli_a"]
        assert arm.select_by.split == "validation" and arm.evals[0].split == "test"


def test_study_params_are_typed_per_study():
    with pytest.raises(ValueError, match="counts"):
        ExperimentConfig.model_validate(
            {"name": "x", "study": "num_clusters", "title": "x", "params": {"counts": "many"}}
        )
    with pytest.raises(ValueError, match="shares"):  # a key another study takes is an error here
        ExperimentConfig.model_validate(
            {"name": "x", "study": "num_clusters", "title": "x", "params": {"shares": [0.5]}}
        )
    with pytest.raises(ValueError, match="scales.tiny.params"):
        ExperimentConfig.model_validate(
            {"name": "x", "study": "single_task", "title": "x", "scales": {"tiny": {"params": {"dropout": 2}}}}
        )


def test_a_bad_study_param_in_a_file_is_a_one_line_error(tmp_path):
    from flanlab.experiments.config import load_experiment

    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nstudy: fewshot_share\ntitle: x\nparams:\n  few_shot: 0\n")
    with pytest.raises(FlanlabError, match=r"bad.yaml.*params.*few_shot"):
        load_experiment(path)


def test_table1_default_held_in_suite_covers_every_trained_cluster():
    from flanlab.experiments.studies import table1_suites
    from flanlab.tasks.registry import load_registry

    registry = load_registry()
    exp = resolve_experiment("flan2022_table1_method_ablations").at_scale("default")
    full = plan(exp, registry)[0]
    listed = {registry.get(name).cluster for name in exp.params.held_in_tasks}
    automatic = exp.model_copy(update={"params": exp.params.model_copy(update={"held_in_tasks": None})})
    rule = next(spec for spec in table1_suites(automatic, registry, full.mixture) if spec.suite == "held-in")
    assert listed == {registry.get(task.removeprefix("task:")).cluster for task in rule.tasks}
    assert len(listed) == len(exp.params.held_in_tasks)  # one task per trained cluster


def test_eval_min_examples_leaves_small_held_out_datasets_out_and_names_them(tmp_path):
    from flanlab.experiments.studies import too_small_to_evaluate

    tasks = [
        SyntheticTask("nli_big", "nli", collection="flan", curated=True, test=12),
        SyntheticTask("nli_small", "nli", collection="flan", curated=True, test=5),
        SyntheticTask("sst", "sentiment", collection="flan", curated=True),
    ]
    small_registry = write_synthetic_registry(tmp_path, tasks)
    exp = experiment("base_vs_tuned", ["nli"], eval_min_examples=10)
    assert too_small_to_evaluate(exp, small_registry, ["nli"]) == {"nli_small": 5}
    base, tuned = plan(exp, small_registry)
    assert [spec.tasks for spec in base.evals] == [spec.tasks for spec in tuned.evals] == [("task:nli_big",)]
    everything = experiment("base_vs_tuned", ["nli"])
    assert too_small_to_evaluate(everything, small_registry, ["nli"]) == {}
    assert plan(everything, small_registry)[0].evals[0].tasks == ("task:nli_big", "task:nli_small")


def test_studies_share_the_main_jobs_tuned_model_at_default_scale():
    """Fig. 5's NLI arm, Fig. 9, Fig. 10 and single-task train exactly the main job's model: one unit."""
    from flanlab.experiments.runner import mixture_unit, train_settings
    from flanlab.tasks.registry import load_registry

    registry = load_registry()

    def tuned_unit(config: str, arm_name: str) -> tuple[str, dict]:
        exp = resolve_experiment(config).at_scale("default")
        arm = next(arm for arm in plan(exp, registry) if arm.name == arm_name)
        return mixture_unit(mixture_recipe(exp, arm.mixture)).key, train_settings(exp, arm)

    main_job = tuned_unit("default", "tuned")
    assert tuned_unit("fig5_leave_one_cluster_out", "tuned-nli") == main_job
    for config in ("fig9_zero_vs_few_shot", "fig10_prompt_tuning", "flan2022_single_task"):
        assert tuned_unit(config, "tuned") == main_job, config
    assert tuned_unit("fig5_leave_one_cluster_out", "tuned-commonsense")[0] != main_job[0]


def test_small_datasets_are_named_for_every_cluster_a_study_scores():
    from flanlab.experiments.runner import evaluated_clusters

    fig5 = resolve_experiment("fig5_leave_one_cluster_out").at_scale("default")
    assert evaluated_clusters(fig5) == ["nli", "commonsense", "closed_book_qa"]
    fig6 = resolve_experiment("fig6_num_clusters").at_scale("default")
    assert evaluated_clusters(fig6) == ["nli", "closed_book_qa", "commonsense"]
