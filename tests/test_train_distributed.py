"""The distributed path (2 processes, gloo on CPU) and resuming after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from safetensors.torch import load_file

from flanlab.train import train
from tests.conftest import REPO
from tests.train_support import addition_rows, tiny_config, write_mixture


def _max_weight_diff(left, right) -> float:
    a, b = load_file(left / "model.safetensors"), load_file(right / "model.safetensors")
    assert a.keys() == b.keys()
    return max(float((a[key] - b[key]).abs().max()) for key in a)


def _write_config(path, config) -> None:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))


def _order(run, rank: int) -> list[dict]:
    return [json.loads(line) for line in (run / "data_order" / f"rank-{rank}.jsonl").read_text().splitlines()]


def test_two_processes_split_the_data_and_match_one_process_with_accumulation(tiny_causal, tmp_path, isolated_home):
    mixture = write_mixture(tmp_path / "mix", addition_rows(60))
    distributed = tiny_config(tiny_causal, mixture, tmp_path / "ddp", max_steps=3)
    _write_config(tmp_path / "ddp.yaml", distributed)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*launch, "-m", "flanlab", "train", "--config", str(tmp_path / "ddp.yaml")],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    single = train(tiny_config(tiny_causal, mixture, tmp_path / "single", max_steps=3, gradient_accumulation_steps=2))
    # the same global batches: rank p of the 2-process run trains what micro-batch p does alone
    rank0, rank1, alone = _order(tmp_path / "ddp", 0), _order(tmp_path / "ddp", 1), _order(tmp_path / "single", 0)
    for step in range(3):
        assert not set(rank0[step]["examples"]) & set(rank1[step]["examples"])
        assert sorted(rank0[step]["examples"] + rank1[step]["examples"]) == sorted(alone[2 * step]["examples"] + alone[2 * step + 1]["examples"])
    assert _max_weight_diff(tmp_path / "ddp" / "model", single.model_dir) <= 1e-5


def test_resume_after_kill_9_ends_with_the_same_weights(tiny_causal, tmp_path, isolated_home):
    mixture = write_mixture(tmp_path / "mix", addition_rows(60))
    settings = {"method": "lora", "lora_dropout": 0.1, "max_steps": 18, "checkpoint_every": 3}
    reference = train(tiny_config(tiny_causal, mixture, tmp_path / "reference", **settings))

    killed_run = tmp_path / "killed"
    _write_config(tmp_path / "killed.yaml", tiny_config(tiny_causal, mixture, killed_run, **settings))
    process = subprocess.Popen(
        [sys.executable, "-m", "flanlab", "train", "--config", str(tmp_path / "killed.yaml")],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    pointer = killed_run / "checkpoints" / "latest"
    deadline = time.monotonic() + 240
    while not pointer.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    if (killed_run / "model").exists():
        pytest.fail("the run finished before it could be killed; the test needs more steps")

    resumed = train(tiny_config(tiny_causal, mixture, killed_run, resume=True, **settings))
    assert resumed.steps == 18
    assert _max_weight_diff(resumed.model_dir, reference.model_dir) <= 1e-6
    steps = [json.loads(line)["step"] for line in (killed_run / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 19))
