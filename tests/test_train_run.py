"""Training runs on the tiny models: outputs, exports, accumulation maths, the NaN guard."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import yaml

from flanlab.errors import FlanlabError
from flanlab.train import TrainingDiverged, train
from flanlab.train import modeling
from flanlab.train.batching import causal_batch
from flanlab.train.checkpoints import latest_checkpoint
from flanlab.train.data import TokenizedMixture
from flanlab.train.modeling import TargetLossModel
from flanlab.train.packing import RowPlan
from tests.conftest import run_cli
from tests.train_support import addition_rows, tiny_config, write_mixture


@pytest.fixture
def mixture(tmp_path, isolated_home):
    return write_mixture(tmp_path / "mix", addition_rows(80))


def test_full_run_lowers_loss_and_writes_every_output(tiny_causal, mixture, tmp_path):
    from transformers import AutoModelForCausalLM

    from flanlab.models.zoo import load_model

    result = train(tiny_config(tiny_causal, mixture, tmp_path / "run", max_steps=15, learning_rate=1e-2))
    records = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 16))
    assert {"loss", "lr", "tokens_per_s", "packing_efficiency", "target_tokens_per_s"} <= set(records[0])
    assert np.mean([r["loss"] for r in records[-3:]]) < np.mean([r["loss"] for r in records[:3]]) - 0.5
    assert result.steps == 15 and result.exported == "full" and result.packing_efficiency > 0.9
    for name in ("loss.png", "config.yaml", "train_result.json", "tokenization.json"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    AutoModelForCausalLM.from_pretrained(result.model_dir)
    model, tokenizer = load_model(result.model_dir)
    assert tokenizer.eos_token is not None
    with pytest.raises(FlanlabError, match="already holds a training run"):
        train(tiny_config(tiny_causal, mixture, tmp_path / "run"))


def test_lora_run_exports_a_merged_plain_model(tiny_causal, mixture, tmp_path):
    from transformers import AutoModelForCausalLM

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(tiny_config(tiny_causal, mixture, tmp_path / "run", method="lora", max_steps=3))
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]  # PEFT's own deprecation stays hidden
    assert result.exported == "merged-lora" and not (result.model_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(result.model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_causal)
    moved = [name for name, p in merged.named_parameters() if not torch.equal(p, base.state_dict()[name])]
    assert moved and all("proj" in name for name in moved)  # LoRA changed the linear layers only


def test_prompt_tuning_exports_an_adapter_that_load_model_reads(tiny_causal, mixture, tmp_path):
    from peft import PeftModel

    from flanlab.models.zoo import load_model

    result = train(tiny_config(tiny_causal, mixture, tmp_path / "run", method="prompt_tuning", max_steps=3))
    assert result.exported == "prompt-adapter"
    model, _ = load_model(result.model_dir)
    assert isinstance(model, PeftModel) and model.peft_config["default"].num_virtual_tokens == 10


def test_seq2seq_run_exports_a_t5(tiny_seq2seq, mixture, tmp_path):
    from transformers import AutoModelForSeq2SeqLM

    result = train(tiny_config(tiny_seq2seq, mixture, tmp_path / "run", max_steps=3))
    assert result.exported == "full" and result.target_tokens > 0
    AutoModelForSeq2SeqLM.from_pretrained(result.model_dir)


def test_four_micro_batches_of_two_give_the_gradient_of_one_batch_of_eight(tiny_causal):
    """The trainer's accumulation: per-token normalisation over the whole step, not per micro-batch."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from flanlab.models.zoo import load_model
    from flanlab.train.trainer import _accumulate_gradients

    model, tokenizer = load_model(tiny_causal)
    model.train()
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 20, size=(8, 2))  # very different target counts per row
    data = TokenizedMixture(
        [rng.integers(5, 200, n).astype(np.int32) for n in sizes[:, 0]],
        [rng.integers(5, 200, n).astype(np.int32) for n in sizes[:, 1]],
        np.arange(8),
        {},
    )
    plan = RowPlan(data.lengths("causal"), data.target_lengths(), 64, False, 0, micro_batch_size=2, accumulation=4, processes=1)
    wrapper = TargetLossModel(model, seq2seq=False)
    # accelerate keeps one process-wide state: an earlier in-process bf16 run must not set this one's precision
    AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(gradient_accumulation_steps=4, mixed_precision="no")
    prepared = accelerator.prepare(wrapper)
    _accumulate_gradients(accelerator, prepared, plan, data, causal_batch, tokenizer.pad_token_id, step=0)
    accumulated = [p.grad.clone() for p in wrapper.parameters()]

    wrapper.zero_grad()
    loss_sum, count = wrapper(**causal_batch(plan.step_rows(0), data, tokenizer.pad_token_id).tensors)
    (loss_sum / count).backward()
    worst = max(float((a - p.grad).abs().max()) for a, p in zip(accumulated, wrapper.parameters()))
    assert worst <= 1e-6


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny_causal, mixture, tmp_path, monkeypatch):
    real_loss, calls = modeling.summed_token_loss, []

    def loss_turning_nan(logits, labels):
        calls.append(1)
        value = real_loss(logits, labels)
        return value * float("nan") if len(calls) == 5 else value

    monkeypatch.setattr(modeling, "summed_token_loss", loss_turning_nan)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5.*step-000004"):
        train(tiny_config(tiny_causal, mixture, run, max_steps=8, checkpoint_every=2))
    assert latest_checkpoint(run).name == "step-000004"
    assert not (run / "model").exists()
    assert [json.loads(line)["step"] for line in (run / "train_log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_cli_user_errors_exit_2(tmp_path):
    from flanlab.cli.train import train as train_command

    with pytest.raises(FlanlabError, match="missing --mixture"):
        train_command(model="tiny-llama", mixture=None, out=tmp_path / "run", lora=False, prompt_tuning=False,
                      max_steps=None, max_minutes=None, resume=False, config=None)
    bad = run_cli("train", "--mixture", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), "--max-steps", "1")
    assert bad.returncode == 2 and "no such mixture folder" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_trains_from_flags_alone_without_a_yaml_file(tiny_causal, mixture, tmp_path):
    run = tmp_path / "run"
    small = ["--max-input-tokens", "48", "--max-target-tokens", "8", "--pack-length", "112", "--checkpoint-every", "0"]
    flags = ["--micro-batch-size", "2", "--learning-rate", "1e-4", "--max-steps", "1", "--no-progress", *small]
    done = run_cli("train", "--model", str(tiny_causal), "--mixture", str(mixture), "--out", str(run), *flags)
    assert done.returncode == 0, done.stderr
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert (saved["micro_batch_size"], saved["learning_rate"], saved["progress"]) == (2, 1e-4, False)
    assert json.loads(done.stdout)["steps"] == 1
def test_dropout_reaches_attention_in_training_only_and_is_not_saved(tiny_causal):
    from flanlab.models import load_model

    model, _ = load_model(tiny_causal)
    model.train()
    ids = torch.arange(3, 40).unsqueeze(0)

    def two_forwards():
        with torch.no_grad():
            return [model(input_ids=ids).logits for _ in range(2)]

    assert torch.equal(*two_forwards())  # the tiny model has no dropout of its own
    assert modeling.set_dropout(model, 0.5) >= model.config.num_hidden_layers
    assert not torch.equal(*two_forwards())
    model.eval()
    assert torch.equal(*two_forwards())
    assert model.config.attention_dropout == 0.0  # an exported model keeps its own setting
