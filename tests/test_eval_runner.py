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
from tests.eval_fixtures import nli_card, qa_card


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
    assert len(samples) == results["timing"]["examples"]
    ranked = next(s for s in samples if s["options"])
    assert len(ranked["scores"]["logprob"]) == len(ranked["options"]) == 3
    assert ranked["prediction"] == ranked["options"][ranked["predicted_index"]]
    assert any(s["generation"] is not None for s in samples if s["task"] == "toy_qa")
    two_shot = next(s for s in samples if s["format"] == "fewshot:2")
    assert two_shot["prompt"].count("Does it follow?") == 3 or two_shot["template_id"] != "a"
    assert "| toy_nli | zeroshot | macro_f1 |" in (out / "results.md").read_text()


def test_cache_answers_repeat_runs_but_never_a_changed_prompt_or_model(tiny_causal, tmp_path, isolated_home):
    config = EvalConfig(model=str(tiny_causal), tasks=["cluster:nli"], limit=6, best_dev=False, bootstrap_resamples=0)
    first = evaluate(config, registry=TaskRegistry([nli_card(tmp_path / "v1")]), out=tmp_path / "o1", progress=False)
    again = evaluate(config, registry=TaskRegistry([nli_card(tmp_path / "v1")]), out=tmp_path / "o2", progress=False)
    assert first["timing"]["cache_hits"] == 0 and first["timing"]["model_requests"] == 18
    assert again["timing"]["model_requests"] == 0 and again["timing"]["cache_hits"] == 18
    assert (tmp_path / "o1" / "results.json").read_bytes() == (tmp_path / "o2" / "results.json").read_bytes()

    edited = nli_card(tmp_path / "v2", first_template="Premise: {premise}\nHypothesis: {hypothesis}\nDoes it follow??")
    after_edit = evaluate(config, registry=TaskRegistry([edited]), out=tmp_path / "o3", progress=False)
    assert after_edit["timing"]["model_requests"] == 6  # exactly template a's prompts are new
    fresh = evaluate(config.model_copy(update={"use_cache": False}), registry=TaskRegistry([edited]), progress=False)
    assert after_edit["templates"] == fresh["templates"]

    other_model = make_tiny_model("causal", tmp_path / "other", seed=1)
    other = evaluate(config.model_copy(update={"model": str(other_model)}), registry=TaskRegistry([edited]), progress=False)
    assert other["timing"]["cache_hits"] == 0


def test_seq2seq_model_evaluates(tiny_seq2seq, registry, isolated_home):
    results = evaluate(_config(tiny_seq2seq, limit=4, best_dev=False), registry=registry, progress=False)
    assert results["model"]["kind"] == "seq2seq"
    assert all(r["metrics"][r["primary_metric"]] is not None for r in results["templates"])


def test_lm_eval_export_holds_our_exact_prompts(registry, tmp_path):
    out = tmp_path / "lm"
    names = export_lm_eval(registry, EvalConfig(tasks=["task:toy_nli", "task:toy_qa"], limit=5), out).tasks
    assert names == ["flanlab_toy_nli_a_zeroshot", "flanlab_toy_nli_b_zeroshot", "flanlab_toy_nli_c_zeroshot", "flanlab_toy_qa_q1_zeroshot"]
    spec = yaml.safe_load((out / "flanlab_toy_nli_a_zeroshot.yaml").read_text())
    assert spec["output_type"] == "multiple_choice" and spec["target_delimiter"] == " "
    rows = [json.loads(line) for line in open(spec["dataset_kwargs"]["data_files"]["test"])]
    assert len(rows) == 5 and rows[0]["prompt"].endswith("OPTIONS:\n- yes\n- it is not possible to tell\n- no")
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
    assert code == 2 and "--shots expects numbers" in err


def test_chain_of_thought_generates_and_maps_the_answer_to_an_option(tiny_causal, registry, tmp_path, isolated_home):
    config = EvalConfig(model=str(tiny_causal), tasks=["task:toy_nli"], templates=["a"], cot=True, limit=3,
                        best_dev=False, bootstrap_resamples=0, cot_max_new_tokens=6)
    results = evaluate(config, registry=registry, out=tmp_path / "cot", progress=False)
    [row] = results["templates"]
    assert row["format"] == "cot:0" and row["primary_metric"] == "macro_f1"
    samples = [json.loads(line) for line in (tmp_path / "cot" / "samples.jsonl").read_text().splitlines()]
    assert all(s["scores"] is None and s["generation"] is not None for s in samples)
    assert all(s["prompt"].endswith("Let's think step by step.") for s in samples)
    assert all(s["predicted_index"] in (-1, 0, 1, 2) for s in samples)
