"""bf16 training (fp32 master weights), the chunked loss, gradient checkpointing and the memory planner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flanlab.errors import FlanlabError
from flanlab.train import memory, train
from flanlab.train.batching import causal_batch
from flanlab.train.trainer import read_train_result
from flanlab.train.data import TokenizedMixture
from flanlab.train.modeling import TargetLossModel, chunked_head_loss, summed_token_loss
from flanlab.train.packing import RowPlan
from tests.train_support import addition_rows, tiny_config, write_mixture

QWEN_05B = memory.ModelShape(
    layers=24, hidden=896, kv_hidden=128, intermediate=4864, vocab=151_936, weight_bytes=494_032_768 * 4,
    trainable=8_798_208, matrix_sides=2 * 168 * (896 + 16), largest=4864 * 16,  # LoRA r16 on 7 projections x 24 layers
)
SETTINGS = {"precision": "bf16", "optimizer": "adafactor", "row_length": 1280, "target_share": 0.2,
            "head_on_targets": True, "logits_chunk": 110}


@pytest.fixture
def mixture(tmp_path, isolated_home):
    return write_mixture(tmp_path / "mix", addition_rows(80))


def _tiny_data(vocab: int) -> TokenizedMixture:
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 20, size=(4, 2))
    return TokenizedMixture([rng.integers(5, vocab, n).astype(np.int32) for n in sizes[:, 0]],
                            [rng.integers(5, vocab, n).astype(np.int32) for n in sizes[:, 1]], np.arange(4), {})


def test_bf16_step_computes_in_bf16_and_keeps_fp32_master_weights(tiny_causal):
    from accelerate import Accelerator

    from flanlab.models.zoo import load_model
    from flanlab.train.trainer import _accumulate_gradients

    model, tokenizer = load_model(tiny_causal)
    model.train()
    data = _tiny_data(len(tokenizer))
    plan = RowPlan(data.lengths("causal"), data.target_lengths(), 64, False, 0, micro_batch_size=2, accumulation=2,
                   processes=1)
    wrapper = TargetLossModel(model, seq2seq=False)
    accelerator = Accelerator(gradient_accumulation_steps=2)
    prepared = accelerator.prepare(wrapper)
    optimizer = torch.optim.AdamW(wrapper.parameters(), lr=1e-6)
    before = {name: p.detach().clone() for name, p in wrapper.named_parameters()}
    produced: set = set()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    hooks = [m.register_forward_hook(lambda _m, _i, out: produced.add(out.dtype)) for m in linears]
    _accumulate_gradients(accelerator, prepared, plan, data, causal_batch, tokenizer.pad_token_id, 0, precision="bf16")
    for hook in hooks:
        hook.remove()
    assert produced == {torch.bfloat16}  # the matrix products ran in bf16 ...
    assert all(p.grad.dtype == torch.float32 for p in wrapper.parameters())  # ... gradients land on fp32 weights
    optimizer.step()
    assert all(p.dtype == torch.float32 for p in wrapper.parameters())
    assert all(state["exp_avg"].dtype == torch.float32 for state in optimizer.state.values())
    # lr 1e-6 moves weights by far less than bf16's resolution: only fp32 master weights keep such updates
    moved = lost_in_bf16 = 0
    for name, p in wrapper.named_parameters():
        changed = p.detach() != before[name]
        moved += int(changed.sum())
        lost_in_bf16 += int((changed & (p.detach().bfloat16() == before[name].bfloat16())).sum())
    assert moved > 0 and lost_in_bf16 > moved // 2


def test_bf16_and_fp32_runs_in_one_process_record_their_precision(tiny_causal, mixture, tmp_path):
    bf16 = train(tiny_config(tiny_causal, mixture, tmp_path / "bf16", precision="bf16", max_steps=2))
    fp32 = train(tiny_config(tiny_causal, mixture, tmp_path / "fp32", precision="fp32", max_steps=2))
    assert (bf16.precision, fp32.precision) == ("bf16", "fp32")
    for run, precision in (("bf16", "bf16"), ("fp32", "fp32")):
        saved = read_train_result(tmp_path / run)  # the typed reader of train_result.json
        assert saved.precision == precision and saved.memory_plan.micro_batch_size == 2
        plan = json.loads((tmp_path / run / "memory_plan.json").read_text())
        assert plan["precision"] == precision and plan["precision_reason"] == f"{precision}: as configured"
    assert abs(bf16.final_loss - fp32.final_loss) < 0.05 * fp32.final_loss


def test_chunked_head_loss_equals_the_whole_loss_with_its_gradients():
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=False)
    hidden = torch.randn(23, 16, requires_grad=True)
    labels = torch.randint(0, 50, (23,))
    whole = summed_token_loss(head(hidden), labels)
    whole_grads = torch.autograd.grad(whole, [hidden, head.weight])
    chunked = chunked_head_loss(head, hidden, labels, chunk=5)
    chunked_grads = torch.autograd.grad(chunked, [hidden, head.weight])
    assert torch.allclose(whole, chunked, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(whole_grads, chunked_grads))


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(tiny_causal):
    from flanlab.models.zoo import load_model

    model, tokenizer = load_model(tiny_causal)
    model.train()
    data = _tiny_data(len(tokenizer))
    batch = causal_batch([[0, 1], [2, 3]], data, tokenizer.pad_token_id).tensors
    wrapper = TargetLossModel(model, seq2seq=False)
    results = []
    for checkpointing in (False, True):
        if checkpointing:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        wrapper.zero_grad()
        loss, _ = wrapper(**batch)
        loss.backward()
        results.append((float(loss.detach()), [p.grad.clone() for p in wrapper.parameters()]))
    assert model.is_activation_checkpointing
    (plain_loss, plain_grads), (ckpt_loss, ckpt_grads) = results
    assert abs(plain_loss - ckpt_loss) < 1e-5
    assert max(float((a - b).abs().max()) for a, b in zip(plain_grads, ckpt_grads)) < 1e-5


def test_planner_keeps_a_config_that_fits():
    roomy = memory.plan(QWEN_05B, micro_batch=8, accumulation=1, checkpointing="auto", budget=100 * memory.GIB,
                        **SETTINGS)
    assert (roomy.micro_batch_size, roomy.gradient_accumulation_steps, roomy.gradient_checkpointing) == (8, 1, False)
    assert roomy.changes == []


def test_planner_turns_on_checkpointing_before_shrinking_the_micro_batch():
    whole = memory.estimate(QWEN_05B, micro_batch=8, checkpointing=False, **SETTINGS).total
    lean = memory.estimate(QWEN_05B, micro_batch=8, checkpointing=True, **SETTINGS).total
    assert lean < whole / 3
    chosen = memory.plan(QWEN_05B, micro_batch=8, accumulation=1, checkpointing="auto", budget=(lean + whole) // 2,
                         **SETTINGS)
    assert (chosen.micro_batch_size, chosen.gradient_checkpointing) == (8, True)
    assert "gradient checkpointing on" in chosen.changes and chosen.estimated_peak_gib <= chosen.budget_gib


def test_planner_lowers_the_micro_batch_under_a_small_limit_and_keeps_the_effective_batch():
    two = memory.estimate(QWEN_05B, micro_batch=2, checkpointing=False, **SETTINGS).total
    chosen = memory.plan(QWEN_05B, micro_batch=8, accumulation=3, checkpointing=False, budget=two + 1, **SETTINGS)
    assert (chosen.micro_batch_size, chosen.gradient_accumulation_steps) == (2, 12)
    assert any("micro-batch 8 -> 2, accumulation 3 -> 12" in line for line in chosen.changes)
    with pytest.raises(FlanlabError, match=r"needs about .* GiB even at micro-batch 1 .* GiB are available"):
        memory.plan(QWEN_05B, micro_batch=8, accumulation=1, checkpointing="auto", budget=memory.GIB, **SETTINGS)


def test_training_follows_the_plan_under_a_memory_limit(tiny_causal, mixture, tmp_path, monkeypatch):
    """With activations made to dominate, a limit between micro-batch 1 and 2 gives 1 x 2 instead of 2 x 1."""
    monkeypatch.setattr(memory, "ACTIVATION_COEFFICIENTS", {"fp32": (10**6, 0, 0), "bf16": (10**6, 0, 0)})
    monkeypatch.setattr(memory, "RUNTIME_BYTES", 0)
    per_row = 2 * 112 * 64 * 10**6  # layers x row length x hidden x coefficient
    config = tiny_config(tiny_causal, mixture, tmp_path / "run", max_steps=2, gradient_checkpointing=False,
                         memory_limit_gb=1.5 * per_row / memory.GIB)
    result = train(config)
    assert (result.memory_plan.micro_batch_size, result.memory_plan.gradient_accumulation_steps) == (1, 2)
    order = [json.loads(line) for line in (tmp_path / "run" / "data_order" / "rank-0.jsonl").read_text().splitlines()]
    assert [(o["step"], o["micro"]) for o in order] == [(1, 0), (1, 1), (2, 0), (2, 1)]


def test_training_that_cannot_fit_stops_with_one_line(tiny_causal, mixture, tmp_path):
    from tests.conftest import run_cli

    (tmp_path / "train.yaml").write_text(
        f"model: {tiny_causal}\nmixture: {mixture}\nout: {tmp_path / 'run'}\nmax_steps: 1\nmemory_limit_gb: 0.01\n"
    )
    done = run_cli("train", "--config", str(tmp_path / "train.yaml"), env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "GiB even at micro-batch 1" in done.stderr and "memory_limit_gb" in done.stderr


def test_available_memory_reads_meminfo_and_a_cgroup_limit(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    assert memory.available_memory_bytes(meminfo, cgroup) == 20_000_000 * 1024
    (cgroup / "memory.max").write_text("8589934592\n")
    (cgroup / "memory.current").write_text("1073741824\n")
    assert memory.available_memory_bytes(meminfo, cgroup) == 7 * memory.GIB
    (cgroup / "memory.max").write_text("max\n")
    assert memory.available_memory_bytes(meminfo, cgroup) == 20_000_000 * 1024


def test_frozen_weights_in_bf16_change_no_number_under_autocast(tiny_causal):
    from peft import LoraConfig, get_peft_model

    from flanlab.models.zoo import load_model, peft_warnings_silenced
    from flanlab.train.adapters import store_frozen_linears_in_bf16

    model, tokenizer = load_model(tiny_causal)
    torch.manual_seed(0)
    with peft_warnings_silenced():
        peft_model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    peft_model.train()
    batch = causal_batch([[0, 1], [2, 3]], _tiny_data(len(tokenizer)), tokenizer.pad_token_id).tensors
    wrapper = TargetLossModel(peft_model, seq2seq=False)
    results = []
    for convert in (False, True):
        if convert:
            assert store_frozen_linears_in_bf16(model) > 0
        wrapper.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = wrapper(**batch)
        loss.backward()
        results.append((float(loss.detach()), [p.grad.clone() for p in wrapper.parameters() if p.requires_grad]))
    assert model.get_input_embeddings().weight.dtype == torch.float32  # the tied head is left alone
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_bf16_lora_export_merges_into_the_fp32_base(tiny_causal, mixture, tmp_path):
    from transformers import AutoModelForCausalLM

    result = train(tiny_config(tiny_causal, mixture, tmp_path / "run", method="lora", precision="bf16", max_steps=3,
                               learning_rate=1e-2))
    merged = AutoModelForCausalLM.from_pretrained(result.model_dir)
    base = dict(AutoModelForCausalLM.from_pretrained(tiny_causal).named_parameters())
    for name, weight in merged.named_parameters():
        weight = weight.detach()
        assert weight.dtype == torch.float32
        if "proj" not in name:
            assert torch.equal(weight, base[name].detach()), name  # untouched by LoRA, bit for bit
            continue
        delta = (weight - base[name].detach()).abs()
        assert 0 < float(delta.max()) < 1, name
        # merged into fp32 weights: most values are not bf16 numbers (an in-place bf16 merge would round all)
        assert float((weight != weight.bfloat16().float()).float().mean()) > 0.9, name


FREED_BLOCKS = """
import torch
from flanlab.train.memory import process_rss_bytes, return_freed_tensors_to_the_system
assert return_freed_tensors_to_the_system()
torch.empty(30 << 20, dtype=torch.uint8).fill_(1)  # by default glibc's threshold would now rise to 30 MB
before = process_rss_bytes()
big, small = [], []
for _ in range(20):
    big.append(torch.empty(8 << 20, dtype=torch.uint8).fill_(1))
    small.append(torch.ones(1000))  # allocated after each block: freed blocks sit below live memory
del big
print((process_rss_bytes() - before) >> 20)
"""


def test_freed_blocks_go_back_to_the_system():
    """Without the call, glibc keeps 32 MiB of the 160 MiB freed here (measured); with it, none."""
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run([sys.executable, "-c", FREED_BLOCKS], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) < 8
