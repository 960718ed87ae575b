"""How much memory a training run will need, and a plan that fits the memory the machine has.

The estimate adds up, for one process: the runtime (Python, torch, transformers), the weights as
loaded (plus autocast's bf16 copies of the trained ones), fp32 gradients and optimizer state for
the trainable parameters, the activations the backward pass keeps for one micro-batch, and the
output head's logits. Activations dominate for long rows: a decoder layer keeps ~(7 h + 2 kv + 4 i)
values per token for its backward pass (the norms' inputs and outputs, queries, keys, values, the
attention output twice, four MLP intermediates), in fp32, or mostly bf16 under autocast plus a
bf16 copy of every linear layer's input; with gradient checkpointing it keeps only its fp32 input,
and recomputes one layer at a time. The coefficients below are those counts scaled up to the peaks
measured with a probe on smollm2-135m (the allocator's slack included), so the estimate errs on the
high side; benchmarks/bench_memory.py compares it with measured peaks.

The plan keeps the effective batch (micro-batch x accumulation) and changes as little as it can:
the configured micro-batch without checkpointing if it fits; else, when ``gradient_checkpointing``
is ``auto``, the same micro-batch with checkpointing; else the largest smaller micro-batch that
divides the effective batch (accumulation raised to match); else it stops, saying what to change.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from flanlab.errors import FlanlabError

logger = logging.getLogger(__name__)

GIB = 1024**3
RUNTIME_BYTES = int(0.6 * GIB)  # Python, torch, transformers, accelerate and the tokenized data (measured ~0.5 GiB)
AVAILABLE_SHARE = 0.5  # plan for half the free memory: the estimate is approximate, and the machine has other work
# bytes kept per token and decoder layer for the backward pass, per (hidden, key-value, intermediate) unit;
# measured on smollm2-135m (h 576, i 1536): 60 KB per token and layer in fp32, 30-41 KB under bf16 autocast
ACTIVATION_COEFFICIENTS = {"fp32": (40, 12, 24), "bf16": (54, 8, 8)}
LOGIT_BYTES = 16  # per logit: fp32 logits, their log-softmax and gradient, the bf16 product, slack


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know about the model being trained."""

    layers: int
    hidden: int
    kv_hidden: int  # key/value width (heads x head dim; smaller with grouped-query attention)
    intermediate: int
    vocab: int
    weight_bytes: int  # every parameter as loaded
    trainable: int  # trainable parameter count
    matrix_sides: int  # sum of rows + columns over trainable 2D parameters (Adafactor's factored state)
    largest: int  # the largest trainable parameter (Adafactor's temporaries are its size)

    @classmethod
    def of(cls, model: Any) -> ModelShape:
        config = model.config

        def get(*names: str, default: int = 0) -> int:  # the first of several spellings the config has
            return next((int(getattr(config, n)) for n in names if getattr(config, n, None)), default)

        hidden = get("hidden_size", "d_model", "n_embd")
        heads = get("num_attention_heads", "num_heads", "n_head", default=1)
        head_dim = get("head_dim", "d_kv", default=hidden // max(heads, 1))
        kv_heads = get("num_key_value_heads", default=heads)
        layers = get("num_hidden_layers", "num_layers", "n_layer") + get("num_decoder_layers")
        trainable = [p for p in model.parameters() if p.requires_grad]
        return cls(
            layers=layers,
            hidden=hidden,
            kv_hidden=kv_heads * head_dim,
            intermediate=get("intermediate_size", "d_ff", "n_inner", default=4 * hidden),
            vocab=get("vocab_size"),
            weight_bytes=sum(p.numel() * p.element_size() for p in model.parameters()),
            trainable=sum(p.numel() for p in trainable),
            matrix_sides=sum(sum(p.shape) for p in trainable if p.dim() == 2),
            largest=max((p.numel() for p in trainable), default=0),
        )


@dataclass(frozen=True)
class Estimate:
    """Peak bytes of one training process, by where they go."""

    runtime: int
    weights: int
    gradients: int
    optimizer: int
    activations: int
    logits: int

    @property
    def total(self) -> int:
        return self.runtime + self.weights + self.gradients + self.optimizer + self.activations + self.logits

    def gib(self) -> dict[str, float]:
        return {key: round(value / GIB, 3) for key, value in {**asdict(self), "total": self.total}.items()}


def estimate(
    shape: ModelShape,
    *,
    precision: str,
    optimizer: str,
    micro_batch: int,
    row_length: int,
    target_share: float,
    checkpointing: bool,
    head_on_targets: bool,
    logits_chunk: int,
) -> Estimate:
    """The peak of one optimizer step (forward, backward and update) for these settings."""
    tokens = micro_batch * row_length
    a, b, c = ACTIVATION_COEFFICIENTS["bf16" if precision == "bf16" else "fp32"]
    per_layer = tokens * (a * shape.hidden + b * shape.kv_hidden + c * shape.intermediate)
    if checkpointing:  # the layers' fp32 inputs, plus one layer recomputed and its gradients
        activations = shape.layers * tokens * shape.hidden * 4 + 2 * per_layer
    else:
        activations = shape.layers * per_layer
    scored = int(tokens * target_share) if head_on_targets else tokens
    if optimizer == "adamw":
        optimizer_bytes = 8 * shape.trainable
    else:  # factored second moments, plus a few temporaries the size of the parameter being updated
        optimizer_bytes = 4 * shape.matrix_sides + 12 * shape.largest
    casts = 2 * shape.trainable if precision == "bf16" else 0  # autocast keeps bf16 copies of trained weights
    return Estimate(
        runtime=RUNTIME_BYTES,
        weights=shape.weight_bytes + casts,
        gradients=4 * shape.trainable,
        optimizer=optimizer_bytes,
        activations=activations,
        logits=min(scored, logits_chunk) * shape.vocab * LOGIT_BYTES,
    )


class MemoryPlan(BaseModel):
    """What training will run with, and why (written to RUN_DIR/memory_plan.json and train_result.json)."""

    micro_batch_size: int
    gradient_accumulation_steps: int
    gradient_checkpointing: bool
    estimated_peak_gib: float
    estimate_gib: dict[str, float]  # the chosen plan's estimate, by component
    budget_gib: float | None  # None: no limit known (planning skipped)
    changes: list[str]  # what the planner changed, in words (empty when the config was kept)


def plan(
    shape: ModelShape,
    *,
    micro_batch: int,
    accumulation: int,
    checkpointing: bool | str,
    budget: int | None,
    **settings: Any,
) -> MemoryPlan:
    """The first plan that fits ``budget`` bytes (see the module docstring for the order tried)."""
    effective = micro_batch * accumulation
    first = None
    for size, ckpt in _options(micro_batch, effective, checkpointing):
        guess = estimate(shape, micro_batch=size, checkpointing=ckpt, **settings)
        first = first or guess
        if budget is None or guess.total <= budget:
            changes = _changes(micro_batch, accumulation, checkpointing, size, ckpt, first, budget)
            return _plan(size, effective // size, ckpt, guess, budget, changes)
    assert budget is not None  # without a budget the first option fits
    lowest = estimate(shape, micro_batch=1, checkpointing=checkpointing is not False, **settings)
    raise FlanlabError(
        f"training needs about {lowest.total / GIB:.1f} GiB even at micro-batch 1"
        f"{' with gradient checkpointing' if checkpointing is not False else ''} ({_parts(lowest)}), but "
        f"{budget / GIB:.1f} GiB are available; train with method: lora, precision: bf16 or a shorter pack_length, "
        "or set memory_limit_gb if more memory is free than this machine reports"
    )


def _options(micro_batch: int, effective: int, checkpointing: bool | str) -> list[tuple[int, bool]]:
    """(micro-batch, checkpointing) pairs, cheapest change first; smaller micro-batches divide the effective batch."""
    switches = {True: (True,), False: (False,), "auto": (False, True)}[checkpointing]
    sizes = [micro_batch] + [size for size in range(micro_batch - 1, 0, -1) if effective % size == 0]
    return [(size, ckpt) for size in sizes for ckpt in switches]


def _plan(
    size: int, accumulation: int, ckpt: bool, guess: Estimate, budget: int | None, changes: list[str]
) -> MemoryPlan:
    return MemoryPlan(
        micro_batch_size=size,
        gradient_accumulation_steps=accumulation,
        gradient_checkpointing=ckpt,
        estimated_peak_gib=round(guess.total / GIB, 3),
        estimate_gib=guess.gib(),
        budget_gib=round(budget / GIB, 3) if budget is not None else None,
        changes=changes,
    )


def _changes(
    micro: int, accumulation: int, asked: bool | str, size: int, ckpt: bool, first: Estimate, budget: int | None
) -> list[str]:
    changes = []
    if ckpt and asked == "auto":
        changes.append("gradient checkpointing on")
    if size != micro:
        raised = micro * accumulation // size
        changes.append(f"micro-batch {micro} -> {size}, accumulation {accumulation} -> {raised} (same effective batch)")
    if changes and budget is not None:
        estimated = f"estimated {first.total / GIB:.1f} GiB at the configured settings ({_parts(first)})"
        changes.insert(0, f"{estimated} > {budget / GIB:.1f} GiB available")
    return changes


def _parts(guess: Estimate) -> str:
    parts = guess.gib()
    names = ("weights", "gradients", "optimizer", "activations", "logits")
    return ", ".join(f"{name} {parts[name]:.1f}" for name in names)


def available_memory_bytes(meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Memory this process could still take: MemAvailable, or less under a cgroup limit; None if unknown."""
    candidates = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    cgroup_files = (("memory.max", "memory.current"), ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"))
    for limit_file, usage_file in cgroup_files:
        limit, usage = _read_int(cgroup / limit_file), _read_int(cgroup / usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:  # "max" or a huge number: no limit
            candidates.append(max(0, limit - usage))
    return min(candidates) if candidates else None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def process_rss_bytes() -> int:
    try:
        for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def memory_budget(limit_gb: float | None, processes_here: int, device: Any = None) -> int | None:
    """Bytes one training process may plan for: its share of the configured limit, else of what is
    available now (on a GPU: its free memory; on the CPU: plus what the process already holds)."""
    if limit_gb is not None:
        return int(limit_gb * GIB / processes_here)
    if device is not None and device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(AVAILABLE_SHARE * free)
    available = available_memory_bytes()
    if available is None:
        return None
    return int(AVAILABLE_SHARE * available / processes_here) + process_rss_bytes()


MMAP_THRESHOLD_BYTES = 4 << 20


def return_freed_tensors_to_the_system() -> bool:
    """Make glibc's malloc hand every block of 4 MiB or more straight back to the kernel when freed.

    By default glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB)
    and serves smaller blocks from its heap, which it keeps: a training step's activations (tens of
    MB each, allocated and freed layer by layer around the ones kept for the backward pass) then
    fragment the heap, and the process holds ~3x the memory its tensors need (measured: a
    checkpointed forward and backward of 4 x 1,024 tokens on smollm2-135m peaked 2.2 GiB above
    its start by default, 0.69 GiB with this, at the same speed). Returns False where the C
    library is not glibc (nothing changes there).
    """
    import ctypes

    m_mmap_threshold = -3  # from glibc's malloc.h
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(m_mmap_threshold, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


def log_plan(memory_plan: MemoryPlan) -> None:
    if memory_plan.changes:
        logger.warning("memory plan: %s", "; ".join(memory_plan.changes))
