"""evaluate(): results schema, aggregation, the answer cache (never stale), CLI and lm-eval export."""

from __future__ import annotations

import importlib.util
import json
import statistics

import pytest
import yaml

from flanlab.evaluate import EvalConfig, evaluate
from flanlab.evaluate.lm_eval_export import export_lm_eval
from flanlab.models.tiny import make_tiny_model
from flanlab.tasks.registry import TaskRegistry
from tests.eval_fixtures import LABELS, nli_card, qa_card


def _config(model, **overrides) -> EvalConfig:
    return EvalConfig(model=str(model), tasks=["cluster:nli", "task:toy_qa"], bootstrap_resamples=50, **overrides)


@pytest.fixture
def registry(tmp_path):
    return TaskRegistry([nli_card(tmp_path), qa_card(tmp_path)])


def test_results_schema_aggregates_and_samples(tiny_causal, registry, tmp_path, isolated_home):
    out = tmp_path / "out"
    results = evaluate(_config(tiny_causal, shots=[0, 2], limit=8), registry=registry, out=out, progress=False)
    saved = json.loads((out / "results.json").read_text())
    assert saved["schema"] == "flanlab.eval.results" and saved["schema_version"] == 1
    assert saved["model"]["fingerprint"] and saved["config"]["limit"] == 8 and "timing" not in saved
    test_rows = [r for r in saved["templates"] if r["split"] == "test"]
    # 3 non-inverted NLI templates + 1 QA template, zero- and two-shot; the inverted one is never evaluated
    assert sorted({(r["task"], r["template_id"]) for r in test_rows}) == [("toy_nli", "a"), ("toy_nli", "b"), ("toy_nli", "c"), ("toy_qa", "q1")]
    assert {r["format"] for r in test_rows} == {"zeroshot", "fewshot:2"}
    nli = next(t for t in saved["tasks"] if t["task"] == "toy_nli" and t["format"] == "zeroshot")
    scores = [r["metrics"]["macro_f1"] for r in test_rows if r["task"] == "toy_nli" and r["format"] == "zeroshot"]
    assert nli["primary_metric"] == "macro_f1"
    assert nli["template_mean"] == pytest.approx(statistics.fmean(scores))
    assert nli["template_std"] == pytest.approx(statistics.stdev(scores))
    dev_rows = {r["template_id"]: r["metrics"]["macro_f1"] for r in saved["templates"]
                if r["split"] == "validation" and r["task"] == "toy_nli" and r["format"] == "zeroshot"}
    assert nli["best_dev"]["dev_score"] == max(dev_rows.values())
    assert nli["best_dev"]["test_score"] == nli["template_scores"][nli["best_dev"]["template_id"]]
    assert nli["template_mean_stderr"] is not None and test_rows[0]["stderr"]["macro_f1"] is not None
    assert {c["cluster"] for c in saved["clusters"]} == {"nli", "closed_book_qa"}
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == results.timing.examples
    ranked = next(s for s in samples if s["options"])
    assert len(ranked["scores"]["logprob"]) == len(ranked["options"]) == 3
    assert ranked["prediction"] == ranked["options"][ranked["predicted_index"]]
    assert any(s["generation"] is not None for s in samples if s["task"] == "toy_qa")
    two_shot = next(s for s in samples if s["format"] == "fewshot:2")
    assert two_shot["prompt"].count("Does it follow?") == 3 or two_shot["template_id"] != "a"
    assert "| toy_nli | zeroshot | macro_f1 |" in (out / "results.md").read_text()
    # reference lines from the evaluated requests' gold labels, and every metric's template mean
    test_nli = [s for s in samples if s["task"] == "toy_nli" and s["format"] == "zeroshot" and s["split"] == "test"]
    gold_counts = [sum(s["gold_index"] == k for s in test_nli) for k in range(3)]
    assert nli["lines"]["chance"] == pytest.approx(100 / 3)
    assert nli["lines"]["majority"] == pytest.approx(100 * max(gold_counts) / len(test_nli))
    assert nli["lines"]["majority_answer"] == repr(LABELS[gold_counts.index(max(gold_counts))])
    predicted = [sum(s["predicted_index"] == k for s in test_nli) for k in range(3)]
    assert nli["answers"]["top_share"] == pytest.approx(max(predicted) / len(test_nli))
    balanced = [r["metrics"]["balanced_accuracy"] for r in test_rows if r["task"] == "toy_nli" and r["format"] == "zeroshot"]
    assert nli["metric_means"]["balanced_accuracy"] == pytest.approx(statistics.fmean(balanced))
    qa = next(t for t in saved["tasks"] if t["task"] == "toy_qa" and t["format"] == "zeroshot")
    assert qa["lines"] is None and qa["answers"] is None


def test_cache_answers_repeat_runs_but_never_a_changed_prompt_or_model(tiny_causal, tmp_path, isolated_home):
    config = EvalConfig(model=str(tiny_causal), tasks=["cluster:nli"], limit=6, best_dev=False, bootstrap_resamples=0)
    first = evaluate(config, registry=TaskRegistry([nli_card(tmp_path / "v1")]), out=tmp_path / "o1", progress=False)
    again = evaluate(config, registry=TaskRegistry([nli_card(tmp_path / "v1")]), out=tmp_path / "o2", progress=False)
    assert first.timing.cache_hits == 0 and first.timing.model_requests == 18
    assert again.timing.model_requests == 0 and again.timing.cache_hits == 18
    assert (tmp_path / "o1" / "results.json").read_bytes() == (tmp_path / "o2" / "results.json").read_bytes()

    edited = nli_card(tmp_path / "v2", first_template="Premise: {premise}\nHypothesis: {hypothesis}\nDoes it follow??")
    after_edit = evaluate(config, registry=TaskRegistry([edited]), out=tmp_path / "o3", progress=False)
    assert after_edit.timing.model_requests == 6  # exactly template a's prompts are new
    fresh = evaluate(config.model_copy(update={"use_cache": False}), registry=TaskRegistry([edited]), progress=False)
    assert after_edit.templates == fresh.templates

    other_model = make_tiny_model("causal", tmp_path / "other", seed=1)
    other = evaluate(config.model_copy(update={"model": str(other_model)}), registry=TaskRegistry([edited]), progress=False)
    assert other.timing.cache_hits == 0


def test_precision_is_recorded_and_keys_the_cache(tiny_causal, tmp_path, isolated_home):
    from flanlab.models.precision import resolve_precision

    config = EvalConfig(model=str(tiny_causal), tasks=["cluster:nli"], limit=4, best_dev=False, bootstrap_resamples=0,
                        precision="fp32")
    registry = TaskRegistry([nli_card(tmp_path)])
    evaluate(config, registry=registry, out=tmp_path / "fp32", progress=False)
    bf16_config = config.model_copy(update={"precision": "bf16"})
    bf16 = evaluate(bf16_config, registry=registry, out=tmp_path / "bf16", progress=False)
    assert bf16.timing.cache_hits == 0 and bf16.timing.precision == "bf16"  # never an fp32 answer reused
    assert json.loads((tmp_path / "fp32" / "results.json").read_text())["precision"] == "fp32"
    assert json.loads((tmp_path / "bf16" / "results.json").read_text())["precision"] == "bf16"
    auto = evaluate(config.model_copy(update={"precision": "auto"}), registry=registry, progress=False)
    assert auto.precision == resolve_precision("auto", "cpu") and auto.timing.cache_hits == 12
    assert auto.config["precision"] == "auto"
    assert auto.timing.precision_reason.startswith(f"auto: {auto.precision}")


def test_seq2seq_model_evaluates(tiny_seq2seq, registry, isolated_home):
    results = evaluate(_config(tiny_seq2seq, limit=4, best_dev=False), registry=registry, progress=False)
    assert results.model.kind == "seq2seq"
    assert all(r.metrics[r.primary_metric] is not None for r in results.templates)


def test_lm_eval_export_holds_our_exact_prompts(registry, tmp_path):
    out = tmp_path / "lm"
    names = export_lm_eval(registry, EvalConfig(tasks=["task:toy_nli", "task:toy_qa"], limit=5), out).tasks
    assert names == ["flanlab_toy_nli_a_zeroshot", "flanlab_toy_nli_b_zeroshot", "flanlab_toy_nli_c_zeroshot", "flanlab_toy_qa_q1_zeroshot"]
    spec = yaml.safe_load((out / "flanlab_toy_nli_a_zeroshot.yaml").read_text())
    assert spec["output_type"] == "multiple_choice" and spec["target_delimiter"] == " "
    rows = [json.loads(line) for line in open(spec["dataset_kwargs"]["data_files"]["test"])]
    assert len(rows) == 5 and rows[0]["prompt"].endswith("OPTIONS:\n- yes\n- it is not possible to tell\n- no\nAnswer:")
    assert rows[0]["options"][rows[0]["answer_index"]] in {"yes", "it is not possible to tell", "no"}
    generation = yaml.safe_load((out / "flanlab_toy_qa_q1_zeroshot.yaml").read_text())
    assert generation["output_type"] == "generate_until" and generation["generation_kwargs"]["until"] == ["\n\n"]


def test_lm_eval_export_writes_a_group_per_cluster_and_format(registry, tmp_path):
    out = tmp_path / "lm"
    exported = export_lm_eval(registry, EvalConfig(tasks=["cluster:nli", "task:toy_qa"], shots=[0, 2], limit=3), out)
    assert sorted(exported.groups) == ["flanlab_closed_book_qa", "flanlab_closed_book_qa_fewshot2", "flanlab_nli", "flanlab_nli_fewshot2"]
    group = yaml.safe_load((out / "flanlab_nli.yaml").read_text())
    assert group["task"] == ["flanlab_toy_nli_a_zeroshot", "flanlab_toy_nli_b_zeroshot", "flanlab_toy_nli_c_zeroshot"]
    assert [m["metric"] for m in group["aggregate_metric_list"]] == ["acc", "acc_norm"]
    qa = yaml.safe_load((out / "flanlab_closed_book_qa_fewshot2.yaml").read_text())
    assert qa["task"] == ["flanlab_toy_qa_q1_fewshot2"] and qa["aggregate_metric_list"][0]["metric"] == "exact_match"
    if importlib.util.find_spec("lm_eval") is None:
        pytest.skip("lm-eval is not installed (FLANLAB_WITH_PEERS=1 bash scripts/setup.sh installs it)")
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(out), include_defaults=False)
    assert {"flanlab_nli", "flanlab_nli_fewshot2"} <= set(manager.all_groups)
    loaded = manager.load(["flanlab_nli"])  # lm-eval itself resolves the group to its three template tasks
    assert sorted(task.task_name for task in loaded["tasks"].values()) == group["task"]


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the `flanlab` entry point in this process (a subprocess would re-import torch)."""
    from flanlab.cli.app import main

    monkeypatch.setattr("sys.argv", ["flanlab", *args])
    code = 0
    try:
        main()
    except SystemExit as exited:
        code = exited.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_eval_writes_outputs_and_rejects_bad_input(tiny_causal, tmp_path, isolated_home, monkeypatch, capsys):
    from flanlab.tasks.card import dump_card

    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "toy_nli.yaml").write_text(dump_card(nli_card(tmp_path / "data")))
    code, out, err = _main(monkeypatch, capsys, "eval", "--model", str(tiny_causal), "--tasks", "task:toy_nli", "--limit", "3",
                           "--no-best-dev", "--cards", str(cards), "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert "| toy_nli | zeroshot | a | macro_f1 |" in out
    assert (tmp_path / "o" / "samples.jsonl").exists()
    code, _, err = _main(monkeypatch, capsys, "eval", "--tasks", "task:nope", "--cards", str(cards), "--out", str(tmp_path / "x"))
    assert code == 2 and "unknown task 'nope'" in err
    code, _, err = _main(monkeypatch, capsys, "eval", "--shots", "zero", "--out", str(tmp_path / "x"))
    assert code == 2 and "option --shots (item 1): Input should be a valid integer" in err
    code, _, err = _main(monkeypatch, capsys, "eval", "--precision", "fp16", "--out", str(tmp_path / "x"))
    assert code == 2 and "precision" in err and len(err.strip().splitlines()) == 1


def test_chain_of_thought_generates_and_maps_the_answer_to_an_option(tiny_causal, registry, tmp_path, isolated_home):
    config = EvalConfig(model=str(tiny_causal), tasks=["task:toy_nli"], templates=["a"], cot=True, limit=3,
                        best_dev=False, bootstrap_resamples=0, cot_max_new_tokens=6)
    results = evaluate(config, registry=registry, out=tmp_path / "cot", progress=False)
    [row] = results.templates
    assert row.format == "cot:0" and row.primary_metric == "macro_f1"
    samples = [json.loads(line) for line in (tmp_path / "cot" / "samples.jsonl").read_text().splitlines()]
    assert all(s["scores"] is None and s["generation"] is not None for s in samples)
    assert all(s["prompt"].endswith("Let's think step by step.") for s in samples)
    assert all(s["predicted_index"] in (-1, 0, 1, 2) for s in samples)


def test_a_split_all_file_is_scored_whole_with_leave_one_out_exemplars(tiny_causal, tmp_path, isolated_home):
    path = tmp_path / "my_eval.jsonl"
    rows = [{"question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(30)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    card = _jsonl_card(path)
    config = EvalConfig(
        model=str(tiny_causal), tasks=["task:my_eval"], shots=[0, 2], bootstrap_resamples=0, max_new_tokens=2
    )
    results = evaluate(config, registry=TaskRegistry([card]), out=tmp_path / "o", progress=False)
    test_rows = [row for row in results.templates if row.split == "test"]
    assert {row.format: row.n for row in test_rows} == {"zeroshot": 30, "fewshot:2": 30}  # every row, not 10%
    samples = [json.loads(line) for line in (tmp_path / "o" / "samples.jsonl").read_text().splitlines()]
    for sample in (s for s in samples if s["format"] == "fewshot:2"):
        question = f"What is {sample['example_index']} plus {sample['example_index']}?"
        assert sample["prompt"].count("What is ") == 3 and sample["prompt"].count(question) == 1


def test_per_template_exemplars_are_one_set_except_for_a_query_drawn_into_it(tiny_causal, tmp_path, isolated_home):
    from flanlab.evaluate.runner import plan_requests
    from flanlab.models import load_model
    from flanlab.models.tokens import token_counter

    path = tmp_path / "my_eval.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is {i} plus {i}?", "answer": str(2 * i)}) + "\n" for i in range(30)))
    card = _jsonl_card(path)
    count = token_counter(load_model(tiny_causal)[1])
    opening = lambda prompt: prompt.rsplit("What is ", 1)[0]  # noqa: E731  (the exemplars, the query cut off)
    for mode, most_common_share in (("per_template", 1.0), ("per_example", 0.2)):
        config = EvalConfig(model=str(tiny_causal), tasks=["task:my_eval"], shots=[2], exemplars=mode, best_dev=False)
        [(_, items)] = plan_requests([card], config, count)
        openings = [opening(item.request.prompt) for item in items]
        shared = max(set(openings), key=openings.count)
        if mode == "per_template":  # the queries drawn as exemplars (leave-one-out: two) see a spare instead
            assert len(openings) - openings.count(shared) == 2
            for item in items:
                question = f"What is {item.example_index} plus {item.example_index}?"
                assert item.request.prompt.count(question) == 1 and (question in shared) == (opening(item.request.prompt) != shared)
        else:
            assert openings.count(shared) <= most_common_share * len(openings)


def _jsonl_card(path):
    from flanlab.tasks.card import card_from_dict

    return card_from_dict(
        {"name": "my_eval", "collection": "mine", "cluster": "math", "metrics": ["exact_match"],
         "source": {"kind": "jsonl", "locator": str(path), "split": "all"},
         "templates": [{"id": "q", "input": "{question}"}]},
        where="test card",
    )  # fmt: skip


def _hub_card(name: str, cluster: str):
    from flanlab.tasks.card import card_from_dict

    source = {"kind": "huggingface", "locator": f"someone/{name}"}
    return card_from_dict({"name": name, "collection": "hubby", "cluster": cluster, "source": source,
                           "templates": [{"id": "q", "input": "{text}"}]}, where=f"hub card {name}")  # fmt: skip


def test_without_a_hub_cluster_selections_skip_hub_tasks_and_record_them(tiny_causal, tmp_path, isolated_home, no_hub):
    from flanlab.errors import DataUnavailable

    registry = TaskRegistry([nli_card(tmp_path), _hub_card("hub_nli", "nli")])
    heard = []
    config = EvalConfig(model=str(tiny_causal), tasks=["cluster:nli"], limit=2, best_dev=False, bootstrap_resamples=0)
    results = evaluate(config, registry=registry, out=tmp_path / "o", progress=False, on_skipped=heard.append)
    why = "no hub (HF_DATASETS_OFFLINE is set) and no local copy"
    assert heard == [{"hub_nli": why}] and results.skipped == {"hub_nli": why}
    assert json.loads((tmp_path / "o" / "results.json").read_text())["skipped"] == {"hub_nli": why}
    assert {row.task for row in results.tasks} == {"toy_nli"}
    named = config.model_copy(update={"tasks": ["task:hub_nli", "cluster:nli"]})
    for strict in (config.model_copy(update={"strict": True}), named):
        with pytest.raises(DataUnavailable, match="huggingface:someone/hub_nli: no hub"):
            evaluate(strict, registry=registry, progress=False)
    only_core = config.model_copy(update={"collections": ["test"]})
    assert evaluate(only_core, registry=registry, progress=False).skipped == {}
def test_cot_few_shot_without_rationales_uses_direct_exemplars(tiny_causal, registry, tmp_path, isolated_home):
    config = EvalConfig(model=str(tiny_causal), tasks=["task:toy_nli"], templates=["a"], cot=True, shots=[2], limit=2,
                        best_dev=False, bootstrap_resamples=0, cot_max_new_tokens=4)
    results = evaluate(config, registry=registry, out=tmp_path / "cot", progress=False)
    assert results.cot_direct_exemplars == ["toy_nli"]
    samples = [json.loads(line) for line in (tmp_path / "cot" / "samples.jsonl").read_text().splitlines()]
    for sample in samples:  # the trigger once, on the query; exemplars answer directly, with no empty reasoning
        assert sample["prompt"].count("Let's think step by step.") == 1 and "So the answer is" not in sample["prompt"]
        assert sample["prompt"].count("Does it follow?") == 3
    assert "fell back to direct-answer exemplars" in (tmp_path / "cot" / "results.md").read_text()


def test_template_sample_is_seeded_per_task_and_never_draws_inverted_templates(tmp_path):
    from flanlab.evaluate.runner import plan_requests

    card = nli_card(tmp_path)

    def chosen(sample: int | None, seed: int) -> list[str]:
        config = EvalConfig(tasks=["task:toy_nli"], template_sample=sample, seed=seed, limit=2, best_dev=False)
        return [run.template_id for run, _ in plan_requests([card], config, len)]

    assert chosen(None, 0) == ["a", "b", "c"]  # every non-inverted template
    assert chosen(5, 0) == ["a", "b", "c"]  # asking for more than there are keeps them all
    draws = {tuple(chosen(2, seed)) for seed in range(12)}
    assert all(len(ids) == 2 and "inv" not in ids and list(ids) == sorted(ids) for ids in draws)
    assert len(draws) > 1  # the seed decides which...
    assert chosen(2, 3) == chosen(2, 3)  # ...and the same seed always draws the same ones
