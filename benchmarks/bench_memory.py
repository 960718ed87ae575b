"""Peak memory of training runs: the default model and a model with Qwen2.5-0.5B's shape, full and LoRA.

    python3 benchmarks/bench_memory.py [--steps 2] [--only NAME ...] [--cap-gb 14]

Each configuration trains for a few steps in its own process, so its peak resident set size (the
kernel's own ``ru_maxrss``, read with ``wait4``) is its own. A sampler thread in that process
also records the peak per phase (loading, training, export), and the parent stops a process that
goes past ``--cap-gb`` (reported as such) so the benchmark itself can never exhaust the machine.

The 0.5B model is randomly initialised in code from transformers' ``Qwen2Config`` with
Qwen2.5-0.5B's shape (24 layers, hidden 896, intermediate 4864, 14 attention heads, 2 key-value
heads, vocabulary 151,936, tied embeddings); nothing is downloaded. It borrows the default model's
tokenizer, whose ids all lie inside its vocabulary. The data are made-up rows that fill the default
1,280-token row: 1,024 input tokens and ~200 target tokens per example, one example per row.
Memory does not depend on the machine's load, so this benchmark can run on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from benchmarks._report import cpu_model, machine_line, markdown_table, save_result, update_summary  # noqa: E402
from flanlab.models.precision import resolve_precision  # noqa: E402

DEFAULT_MODEL = "smollm2-135m"
QWEN_05B = "qwen2.5-0.5b-shape (random)"
QWEN_05B_SHAPE = {
    "num_hidden_layers": 24, "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
    "num_key_value_heads": 2, "vocab_size": 151_936, "max_position_embeddings": 32_768, "rope_theta": 1_000_000.0,
    "tie_word_embeddings": True, "rms_norm_eps": 1e-6,
}
INPUT_WORDS, TARGET_WORDS, EXAMPLES = 1100, 200, 64
GIB = 1024**3
SUMMARY = """## Training memory (`python3 benchmarks/bench_memory.py`), {cpu}

{machine} Peak resident memory of training runs, each case in its own process ({steps} optimizer step(s) plus
the export; the kernel's `ru_maxrss`), on made-up rows that fill the default 1,280-token row (1,024
input and ~200 target tokens). `0.5b` is a random model with Qwen2.5-0.5B's configuration (494M
parameters, vocabulary 151,936) built in code. Settings not listed are flanlab's defaults: LoRA r16
on all linear layers, micro-batch 8, Adafactor, `precision: auto` ({auto} on this CPU),
`gradient_checkpointing: auto`, and the memory plan for half the free memory. The estimate is
the planner's, for the plan it chose. Memory does not depend on the machine's load, so this ran on
the shared machine.

"""


@dataclass
class Case:
    """One configuration: a model, a method and the TrainConfig fields that differ from the defaults."""

    name: str
    model: str  # DEFAULT_MODEL or QWEN_05B
    settings: dict = field(default_factory=dict)


CASES = [
    Case("135m-full", DEFAULT_MODEL),
    Case("135m-lora", DEFAULT_MODEL, {"method": "lora"}),
    Case("0.5b-lora-fp32", QWEN_05B, {"method": "lora", "precision": "fp32"}),
    Case("0.5b-lora-bf16", QWEN_05B, {"method": "lora", "precision": "bf16"}),
    Case("0.5b-full-mb1-fp32", QWEN_05B, {"micro_batch_size": 1, "precision": "fp32"}),
    Case("0.5b-full-mb1-bf16", QWEN_05B, {"micro_batch_size": 1, "precision": "bf16"}),
]


# ---------------------------------------------------------------- inputs (parent process)


def build_qwen_shaped_model(folder: Path) -> Path:
    """A random model with Qwen2.5-0.5B's configuration, saved with the default model's tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from flanlab.models import load_model

    if (folder / "config.json").exists():
        return folder
    _, tokenizer = load_model(DEFAULT_MODEL)
    config = Qwen2Config(**QWEN_05B_SHAPE, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_mixture(folder: Path) -> Path:
    """Made-up examples of ~1,100 input words and 200 target words (inputs are cut to 1,024 tokens)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    words = ("the cat dog house tree river blue green small large quick slow water light night day music paper "
             "garden window stone city field table chair story answer question road market winter summer").split()
    rng = random.Random(0)
    text = lambda count: " ".join(rng.choices(words, k=count))  # noqa: E731
    rows = [{"inputs": text(INPUT_WORDS), "targets": text(TARGET_WORDS)} for _ in range(EXAMPLES)]
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "shards" / "part-00000.parquet")
    return folder


# ---------------------------------------------------------------- one case (child process)


class PhaseSampler:
    """Peak RSS per phase, sampled every 10 ms from /proc/self/status."""

    def __init__(self) -> None:
        self.phase, self.peaks = "start", {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = current_rss_bytes(os.getpid())
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            time.sleep(0.01)

    def wrap(self, module, name: str, phase: str) -> None:
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            before, self.phase = self.phase, phase
            try:
                return original(*args, **kwargs)
            finally:
                self.phase = before

        setattr(module, name, wrapped)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {phase: round(peak / GIB, 3) for phase, peak in self.peaks.items()}


def current_rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def child_main(args: argparse.Namespace) -> None:
    import resource

    sampler = PhaseSampler()
    from flanlab.train import make_config, train, trainer
    from flanlab.train.trainer import read_train_result

    sampler.wrap(trainer, "_load_trainable", "load")
    sampler.wrap(trainer._Loop, "run", "train")
    sampler.wrap(trainer, "export_model", "export")
    settings = json.loads(args.settings)
    config = make_config({"mixture": args.mixture, "out": args.out, "max_steps": args.steps, "checkpoint_every": 0,
                          "progress": False, **settings})
    started = time.perf_counter()
    result = train(config)
    phases = sampler.stop()
    saved = read_train_result(args.out).model_dump(mode="json")
    print("RESULT " + json.dumps({
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, "phases": phases,
        "seconds": time.perf_counter() - started, "steps": result.steps, "loss": result.final_loss,
        "precision": saved.get("precision"), "plan": saved.get("memory_plan"),
    }))


def run_case(case: Case, model_path: str, mixture: Path, work: Path, steps: int, cap_gib: float) -> dict:
    settings = {"model": model_path, **case.settings}
    command = [sys.executable, __file__, "--child", "--settings", json.dumps(settings), "--mixture", str(mixture),
               "--out", str(work / case.name), "--steps", str(steps)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    capped = _watch(process, cap_gib)
    stdout, stderr = process.communicate()
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if capped:
        return {"name": case.name, "capped_at_gib": cap_gib}
    if process.returncode != 0 or not lines:
        raise SystemExit(f"{case.name} failed:\n{stderr[-4000:]}")
    return {"name": case.name, "model": case.model, "settings": case.settings, **json.loads(lines[-1][len("RESULT "):])}


def _watch(process: subprocess.Popen, cap_gib: float) -> bool:
    """Poll the child's RSS; stop it (and say so) above the cap."""
    while process.poll() is None:
        if current_rss_bytes(process.pid) > cap_gib * GIB:
            process.send_signal(signal.SIGKILL)
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------- report (parent process)


def table(results: list[dict]) -> str:
    columns = ["case", "model", "settings (rest default)", "precision", "plan", "estimate GiB (weights + grads/optimizer + "
               "activations + logits + runtime)", "peak RSS GiB", "peak in training", "peak in export"]
    rows = []
    for r in results:
        if "capped_at_gib" in r:
            rows.append([r["name"], "", "", "", "", "", f"> {r['capped_at_gib']} (stopped)", "", ""])
            continue
        phases, plan = r["phases"], r.get("plan") or {}
        rows.append([r["name"], r["model"], ", ".join(f"{k}={v}" for k, v in r["settings"].items()) or "defaults",
                     r["precision"], _plan_text(plan), _estimate_text(plan.get("estimate_gib")), f"**{r['peak_gib']:.2f}**",
                     f"{phases.get('train', 0):.2f}", f"{phases.get('export', 0):.2f}"])
    return markdown_table(columns, rows)


def _plan_text(plan: dict) -> str:
    if not plan:
        return ""
    return (f"micro-batch {plan['micro_batch_size']} x {plan['gradient_accumulation_steps']}, checkpointing "
            f"{'on' if plan['gradient_checkpointing'] else 'off'}")


def _estimate_text(parts: dict | None) -> str:
    if not parts:
        return ""
    return (f"{parts['weights']:.2f} + {parts['gradients'] + parts['optimizer']:.2f} + {parts['activations']:.2f} + "
            f"{parts['logits']:.2f} + {parts['runtime']:.2f} = {parts['total']:.2f}")


def notes(results: list[dict]) -> str:
    """The planner's own words for every case it changed: what the configured settings would have needed."""
    lines = [f"- {r['name']}: " + "; ".join(r["plan"]["changes"]) for r in results if (r.get("plan") or {}).get("changes")]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per case")
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--cap-gb", type=float, default=14.0, help="stop a case whose RSS passes this many GiB")
    parser.add_argument("--work", help="folder for the built model and mixture (default: a temporary one)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--mixture", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_memory_"))
    mixture = build_mixture(work / "mixture")
    cases = [case for case in CASES if not args.only or case.name in args.only]
    qwen = str(build_qwen_shaped_model(work / "qwen05b")) if any(c.model == QWEN_05B for c in cases) else ""
    results = _previous_results() if args.only else {}  # a partial run updates its cases, keeps the others
    for case in cases:  # saved after every case: a long run that stops keeps what it measured
        result = run_case(case, qwen if case.model == QWEN_05B else case.model, mixture, work, args.steps, args.cap_gb)
        print(json.dumps(result), flush=True)
        results[case.name] = result
        ordered = [results[case.name] for case in CASES if case.name in results]
        save_result("bench_memory", {"steps": args.steps, "cap_gib": args.cap_gb, "cases": ordered})
        header = SUMMARY.format(steps=args.steps, cpu=cpu_model(), machine=machine_line(), auto=resolve_precision("auto"))
        update_summary("bench_memory", header + table(ordered) + "\n\nWhat the planner changed (its estimate at the "
                       "configured settings, and the memory it planned for):\n\n" + notes(ordered), per_machine=True)


def _previous_results() -> dict[str, dict]:
    from benchmarks._report import RESULTS

    path = RESULTS / "bench_memory.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    if saved.get("machine", {}).get("cpu") != cpu_model():  # cases measured on another machine are not mixed in
        return {}
    return {case["name"]: case for case in saved["cases"]}


if __name__ == "__main__":
    main()
