"""flanlab's trainer vs TRL's SFTTrainer: same model, data and hyper-parameters, side by side.

    python3 benchmarks/bench_train.py [--steps 16] [--examples 600]

Each engine runs in its own subprocess (so peak memory is its own), full finetuning of
smollm2-135m with AdamW at a constant learning rate on a small real mixture rendered from the
BIG-bench sample card; loss only on the targets in both (TRL: completion-only loss). Both then get
the same held-out loss evaluation. A third step checks that a short LoRA run lowers the held-out
loss and exports a loadable model. Reported: effective tokens/s (non-pad tokens of examples that
carry a target), peak RSS, held-out loss, and GFLOP/s (6 x params x tokens / s) against the
machine's measured fp32 matmul rate.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import markdown_table, save_result, update_summary  # noqa: E402

CARD = ROOT / "flanlab/tasks/cards/core/nli/bb_epistemic_reasoning.yaml"
MODEL = "smollm2-135m"
LEARNING_RATE = 5e-5
EXAMPLES_PER_STEP = 8  # TRL: 8 examples a step; flanlab: 2 packed rows holding about as many
HELD_OUT = 16


def render_sample_mixture(folder: Path, count: int, seed: int = 0) -> tuple[Path, list[tuple[str, str]]]:
    """A small real mixture (all templates of the sample card, zero-shot) and held-out pairs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flanlab.prompts.formats import PromptFormat, render
    from flanlab.tasks.card import load_card
    from flanlab.tasks.examples import load_examples

    card = load_card(CARD)
    examples = load_examples(card, "train")[: count + HELD_OUT]
    rows = [render(card, card.templates[i % len(card.templates)], example, PromptFormat()).to_row() for i, example in enumerate(examples)]
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    train_rows = [{k: v for k, v in row.items() if k not in ("options", "references")} for row in rows[:count]]
    pq.write_table(pa.Table.from_pylist(train_rows), folder / "shards" / "part-00000.parquet")
    return folder, [(row["inputs"], row["targets"]) for row in rows[count:]]


def held_out_loss(model_dir: str, pairs: list[tuple[str, str]]) -> float:
    """Mean loss per target token (delimiter + target + EOS), one example at a time."""
    import numpy as np
    import torch

    from flanlab.models.zoo import load_model
    from flanlab.train.batching import causal_batch
    from flanlab.train.data import tokenize_examples
    from flanlab.train.modeling import TargetLossModel

    model, tokenizer = load_model(model_dir)
    data = tokenize_examples([p[0] for p in pairs], [p[1] for p in pairs], tokenizer, "causal", 1024, 256)
    wrapper = TargetLossModel(model, seq2seq=False)
    total = count = 0.0
    with torch.no_grad():
        for example in range(len(data)):
            loss, n = wrapper(**causal_batch([[example]], data, tokenizer.pad_token_id).tensors)
            total, count = total + float(loss), count + int(n)
    return float(np.float64(total / count))


def run_flanlab(mixture: Path, out: Path, steps: int, pack_length: int, method: str = "full") -> dict:
    from flanlab.train import make_config, train

    config = make_config({
        "model": MODEL, "mixture": mixture, "out": out, "method": method, "optimizer": "adamw",
        "learning_rate": LEARNING_RATE if method == "full" else 2e-3, "schedule": "constant", "max_grad_norm": 1.0,
        "max_input_tokens": pack_length - 64, "max_target_tokens": 64, "pack_length": pack_length,
        "micro_batch_size": 2, "max_steps": steps, "checkpoint_every": 0, "progress": False, "seed": 0,
    })
    result = train(config)
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    previous = [0] + [r["real_tokens"] for r in records[:-1]]
    seconds = sum((r["real_tokens"] - before) / r["tokens_per_s"] for r, before in zip(records, previous))  # step time only
    return {"real_tokens": result.real_tokens, "target_tokens": result.target_tokens, "train_seconds": seconds,
            "packing_efficiency": result.packing_efficiency, "model_dir": str(result.model_dir),
            "examples_seen": _examples_seen(out)}


def _examples_seen(run: Path) -> int:
    return sum(len(json.loads(line)["examples"]) for line in (run / "data_order" / "rank-0.jsonl").read_text().splitlines())


def run_trl(mixture: Path, out: Path, steps: int) -> dict:
    import pyarrow.parquet as pq
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from flanlab.models.zoo import load_model
    from flanlab.prompts.formats import TARGET_DELIMITER

    table = pq.read_table(mixture / "shards" / "part-00000.parquet", columns=["inputs", "targets"]).to_pylist()
    dataset = Dataset.from_list([{"prompt": r["inputs"], "completion": TARGET_DELIMITER + r["targets"]} for r in table])
    model, tokenizer = load_model(MODEL)
    model.train()
    seen = {"real": 0, "target": 0, "examples": 0, "seconds": 0.0}

    class Count(TrainerCallback):  # time only the optimisation steps, like flanlab's log does
        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            seen["seconds"] += time.perf_counter() - self.started

    args = SFTConfig(
        output_dir=str(out), per_device_train_batch_size=EXAMPLES_PER_STEP, gradient_accumulation_steps=1,
        learning_rate=LEARNING_RATE, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
        optim="adamw_torch", max_steps=steps, logging_steps=1, save_strategy="no", report_to=[], packing=False,
        completion_only_loss=True, max_length=1024, use_cpu=True, bf16=False, seed=0, dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[Count()])
    collate = trainer.data_collator

    def counting_collator(features):
        batch = collate(features)
        seen["real"] += int(batch["attention_mask"].sum()) if "attention_mask" in batch else int((batch["input_ids"] != tokenizer.pad_token_id).sum())
        seen["target"] += int((batch["labels"] != -100).sum())
        seen["examples"] += len(features)
        return batch

    trainer.data_collator = counting_collator
    trainer.train()
    trainer.save_model(str(out / "model"))
    tokenizer.save_pretrained(str(out / "model"))
    return {"real_tokens": seen["real"], "target_tokens": seen["target"], "train_seconds": seen["seconds"],
            "model_dir": str(out / "model"), "examples_seen": seen["examples"]}


def engine_main(args: argparse.Namespace) -> None:
    mixture, out = Path(args.mixture), Path(args.out)
    if args.engine == "trl":
        result = run_trl(mixture, out, args.steps)
    else:
        result = run_flanlab(mixture, out, args.steps, args.pack_length, method=args.engine.removeprefix("flanlab-"))
    pairs = json.loads(Path(args.held_out).read_text())
    result["held_out_loss"] = held_out_loss(result["model_dir"], pairs)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def run_engine(engine: str, work: Path, steps: int, pack_length: int) -> dict:
    command = [sys.executable, __file__, "--engine", engine, "--mixture", str(work / "mix"), "--out", str(work / engine),
               "--held-out", str(work / "held_out.json"), "--steps", str(steps), "--pack-length", str(pack_length)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{engine} failed:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=16, help="TRL optimizer steps (8 examples each)")
    parser.add_argument("--examples", type=int, default=600)
    parser.add_argument("--engine")
    parser.add_argument("--mixture")
    parser.add_argument("--out")
    parser.add_argument("--held-out")
    parser.add_argument("--pack-length", type=int, default=320)
    args = parser.parse_args()
    if args.engine:
        engine_main(args)
        return

    from flanlab.models.zoo import load_model
    from flanlab.train.data import tokenize_examples

    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    mixture, pairs = render_sample_mixture(work / "mix", args.examples)
    (work / "held_out.json").write_text(json.dumps(pairs))
    model, tokenizer = load_model(MODEL)
    params = sum(p.numel() for p in model.parameters())
    import pyarrow.parquet as pq

    rows = pq.read_table(mixture / "shards" / "part-00000.parquet").to_pylist()
    lengths = tokenize_examples([r["inputs"] for r in rows], [r["targets"] for r in rows], tokenizer, "causal", 1024, 256).lengths("causal")
    del model
    # flanlab steps chosen so both engines see about the same number of examples
    examples_per_row = args.pack_length / float(lengths.mean()) * 0.97
    flan_steps = max(1, round(args.steps * EXAMPLES_PER_STEP / (2 * examples_per_row)))
    machine_gflops = matmul_gflops()
    results = {
        "flanlab-full": run_engine("flanlab-full", work, flan_steps, args.pack_length),
        "trl": run_engine("trl", work, args.steps, args.pack_length),
        "flanlab-lora": run_engine("flanlab-lora", work, flan_steps, args.pack_length),
    }
    base_loss = held_out_loss(MODEL, pairs)
    table_rows = []
    for name, r in results.items():
        tokens_per_s = r["real_tokens"] / r["train_seconds"]
        gflops = 6 * params * tokens_per_s / 1e9
        r.update(tokens_per_s=tokens_per_s, gflops=gflops, matmul_fraction=gflops / machine_gflops)
        table_rows.append([name, r["examples_seen"], r["real_tokens"], f"{tokens_per_s:.0f}", f"{r['target_tokens'] / r['train_seconds']:.1f}",
                           f"{r['peak_rss_mb']:.0f}", f"{r['held_out_loss']:.4f}", f"{gflops:.0f}", f"{100 * gflops / machine_gflops:.0f}%"])
    speedup = results["flanlab-full"]["tokens_per_s"] / results["trl"]["tokens_per_s"]
    columns = ["engine", "examples", "non-pad tokens", "tokens/s", "target tokens/s", "peak RSS MB", "held-out loss", "GFLOP/s (6NT)", "of matmul"]
    summary = (
        "## Training: flanlab vs TRL SFTTrainer (`python3 benchmarks/bench_train.py`)\n\n"
        f"smollm2-135m ({params / 1e6:.0f}M params), full finetuning, AdamW lr {LEARNING_RATE} constant, targets-only loss, "
        f"{len(rows)} rendered examples of the sample card; TRL: {args.steps} steps x {EXAMPLES_PER_STEP} examples padded; "
        f"flanlab: {flan_steps} steps x 2 packed rows of {args.pack_length} tokens. Held-out loss: {HELD_OUT} unseen examples, "
        f"per target token (before training: {base_loss:.4f}). fp32 matmul 2048^3 measured at {machine_gflops:.0f} GFLOP/s. "
        "flanlab-lora: same steps, LoRA r16 lr 2e-3, merged export (its GFLOP/s counts 6 x all params).\n\n"
        + markdown_table(columns, table_rows)
        + f"\n\nflanlab / TRL effective tokens/s: **{speedup:.2f}x**. CPU run on a 2-core machine shared with other "
        "jobs: absolute numbers are noisy, compare rows of the same run only."
    )
    save_result("bench_train", {"params": params, "machine_matmul_gflops": machine_gflops, "held_out_before": base_loss,
                                "flanlab_steps": flan_steps, "trl_steps": args.steps, "speedup": speedup, "engines": results})
    update_summary("bench_train", summary)
    print(summary)


if __name__ == "__main__":
    main()
