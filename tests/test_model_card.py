"""Every exported model folder has a Hugging Face model card that ModelCard.load reads offline."""

from __future__ import annotations

import json

import pytest
import yaml

from flanlab.train import train
from flanlab.train.model_card import EvalRow, add_evaluation, public_base_model
from tests.test_chat_format import TEMPLATE
from tests.train_support import addition_rows, tiny_config, write_mixture


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _load(folder):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / "README.md")


def test_a_trained_folder_carries_a_card_and_results_merge_into_it(tiny_causal, tmp_path, isolated_home):
    mixture = write_mixture(tmp_path / "mix", addition_rows(20))
    result = train(tiny_config(tiny_causal, mixture, tmp_path / "run", max_steps=2, method="lora"))
    card = _load(result.model_dir)
    assert card.data.base_model == str(tiny_causal) and card.data.library_name == "transformers"
    assert "| optimizer steps | 2 |" in card.text and f"{result.target_tokens:,} of them answer tokens" in card.text
    assert "LoRA, merged into the weights" in card.text and "nothing more is known" in card.text

    rows = [
        EvalRow("toy_nli", "nli", "zeroshot", "macro_f1", 41.25, 3, 8),
        EvalRow("toy_qa", "closed_book_qa", "zeroshot", "f1", 10.0, 1, 8),
    ]
    add_evaluation(result.model_dir, rows, source="test")
    add_evaluation(result.model_dir, [EvalRow("toy_nli", "nli", "zeroshot", "macro_f1", 50.0, 3, 8)], source="test")
    card = _load(result.model_dir)
    scores = {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert scores == {("toy_nli", "macro_f1"): 50.0, ("toy_qa", "f1"): 10.0}  # a newer result replaces the old one
    assert card.text.count("## Evaluation") == 1
    assert "| nli | toy_nli | zeroshot | macro_f1 | 50.0 | 3 | 8 |" in card.text


def test_an_adapter_export_gets_our_card_instead_of_peft_s(tiny_causal, tmp_path, isolated_home):
    mixture = write_mixture(tmp_path / "mix", addition_rows(20))
    result = train(tiny_config(tiny_causal, mixture, tmp_path / "run", max_steps=1, method="prompt_tuning"))
    card = _load(result.model_dir)
    assert card.data.library_name == "peft" and card.data.to_dict()["base_model_relation"] == "adapter"
    assert "prompt tuning (a PEFT soft prompt)" in card.text


def test_zoo_models_are_named_by_their_hub_id_and_tuned_folders_by_their_base(tmp_path):
    assert public_base_model("smollm2-135m") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    (tuned / "README.md").write_text("---\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\n---\n\ntext\n")
    assert public_base_model(str(tuned)) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert public_base_model("someone/model") == "someone/model"


@pytest.mark.slow
def test_experiment_tunes_in_the_chat_template_and_writes_its_results_into_the_card(tmp_path, isolated_home):
    from transformers import AutoTokenizer

    from flanlab.experiments.config import resolve_experiment
    from flanlab.experiments.runner import run_experiment
    from flanlab.models.tiny import make_tiny_model

    model = make_tiny_model("causal", tmp_path / "chat_model")
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(model)
    config = resolve_experiment("default").model_copy(update={"chat_template": True})
    resolved = config.at_scale("tiny")
    resolved.model = str(model)
    record = json.loads(run_experiment(resolved, tmp_path / "exp").read_text())
    assert record["chat_template"] is True
    tuned = next(arm for arm in record["arms"] if arm["train"])
    unit = tmp_path / "exp" / "units" / tuned["train"]["unit"]
    assert yaml.safe_load((unit / "run" / "config.yaml").read_text())["chat_template"] is True
    results = json.loads((tmp_path / "exp" / tuned["evals"][0]["results"]).read_text())
    assert results["config"]["chat_template"] is True
    card = _load(unit / "run" / "model")
    [task] = results["tasks"]
    [result] = card.data.eval_results
    assert (result.dataset_name, result.metric_value) == (task["task"], round(task["template_mean"], 2))
    assert card.data.datasets and all(name.startswith("bigbench/") for name in card.data.datasets)
    assert "held-out clusters (never trained on): nli, paraphrase" in card.text and "chat-template" in card.data.tags
