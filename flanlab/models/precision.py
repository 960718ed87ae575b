"""Which floating-point precision a run computes in: ``auto``, ``fp32`` or ``bf16``.

``auto`` picks bf16 only where the hardware computes it natively and faster: a CUDA device that
reports bf16 support, or a CPU with AVX512-BF16 or AMX-BF16 instructions (x86: AMD Zen 4 and later,
Intel Cooper Lake / Sapphire Rapids and later) or the BF16 extension (Arm) on which a short matrix
product probe runs bf16 at least ``BF16_MIN_SPEEDUP`` times as fast as fp32. The flag alone is not
enough: an Intel Xeon exposing AVX512-BF16 without AMX (seen in a VM) multiplied bf16 at 146
GFLOP/s against 242 in fp32, and trained 2.1x slower in bf16. Without the flag bf16 would be
emulated, so ``auto`` means fp32 there without probing. The probe's rates are kept per machine
(CPU model, flags, torch version, threads) in the cache, so the choice is stable from run to run.

bf16 always means mixed precision: weights that train stay fp32 (the optimizer updates fp32
master weights), and matrix products run in bf16 under ``torch.autocast``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Literal

from flanlab.paths import cache_dir

Precision = Literal["auto", "fp32", "bf16"]
Resolved = Literal["fp32", "bf16"]

# CPU feature flags (as /proc/cpuinfo and torch.cpu.get_capabilities name them) that run bf16 natively
NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
# bf16 rounds more than fp32; on a CPU it must multiply at least this much faster to be worth it
BF16_MIN_SPEEDUP = 1.25
PROBE_SIZE = 1024  # square matrix products: ~2 GFLOP each, 5-15 ms on a CPU core pair
PROBE_ROUNDS = 5


def resolve_precision(requested: Precision, device_type: str = "cpu") -> Resolved:
    """``fp32`` / ``bf16`` as asked; ``auto`` -> bf16 where ``device_type`` runs bf16 natively and,
    on a CPU, measurably faster than fp32."""
    if requested != "auto":
        return requested
    if not native_bf16(device_type):
        return "fp32"
    if device_type == "cpu" and not bf16_pays_off():
        return "fp32"
    return "bf16"


def bf16_pays_off() -> bool:
    """Whether this CPU's bf16 matrix products beat fp32 by ``BF16_MIN_SPEEDUP`` (probed once per machine)."""
    rates = cpu_matmul_rates()
    return rates["bf16"] >= BF16_MIN_SPEEDUP * rates["fp32"]


@functools.cache
def cpu_matmul_rates() -> dict[str, float]:
    """GFLOP/s of fp32 and bf16 square matrix products on this CPU, from the cache or measured now."""
    path = cache_dir("probes") / "cpu_matmul.json"
    key = _machine_key()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    entry = known.get(key)
    if isinstance(entry, dict) and {"fp32", "bf16"} <= entry.keys():
        return {"fp32": float(entry["fp32"]), "bf16": float(entry["bf16"])}
    rates = measure_cpu_matmul_rates()
    known[key] = rates
    try:
        path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    except OSError:  # a read-only cache only costs the probe again next time
        pass
    return rates


def measure_cpu_matmul_rates(size: int = PROBE_SIZE, rounds: int = PROBE_ROUNDS) -> dict[str, float]:
    """The best of ``rounds`` alternating fp32 / bf16 products, so a passing load slows both alike."""
    import torch

    operands = {name: torch.randn(size, size, dtype=torch_dtype(name)) for name in ("fp32", "bf16")}
    best = dict.fromkeys(operands, float("inf"))
    for _ in range(rounds + 1):  # the first round warms up the kernels
        for name, matrix in operands.items():
            started = time.perf_counter()
            torch.mm(matrix, matrix)
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: round(2 * size**3 / seconds / 1e9, 1) for name, seconds in best.items()}


def precision_reason(requested: Precision, device_type: str = "cpu") -> str:
    """One line on why ``requested`` resolves as it does on ``device_type`` (kept beside the results)."""
    if requested != "auto":
        return f"{requested}: as configured"
    if not native_bf16(device_type):
        return f"auto: fp32, no native bf16 on this {device_type}"
    if device_type != "cpu":
        return f"auto: bf16, native on this {device_type}"
    rates = cpu_matmul_rates()
    ratio = rates["bf16"] / rates["fp32"]
    chosen = "bf16" if bf16_pays_off() else "fp32"
    return (
        f"auto: {chosen}, bf16 matrix products at {ratio:.2f}x fp32 on this CPU "
        f"({rates['bf16']:.0f} vs {rates['fp32']:.0f} GFLOP/s; bf16 needs {BF16_MIN_SPEEDUP}x)"
    )


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), or what the platform module reports."""
    import platform

    names = [line.partition(":")[2].strip() for line in _cpuinfo_lines() if line.startswith("model name")]
    return names[0] if names else (platform.processor() or platform.machine())


def _machine_key() -> str:
    import torch

    flags = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:12]
    return f"{cpu_model()} | flags {flags} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def native_bf16(device_type: str = "cpu") -> bool:
    import torch

    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return bool(cpu_flags() & NATIVE_BF16_CPU_FLAGS)
    return False


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags: torch's own probe where it has one, else /proc/cpuinfo."""
    import torch

    probe = getattr(torch.cpu, "get_capabilities", None)
    if probe is not None:
        return frozenset(name for name, present in probe().items() if present is True)
    return _proc_cpuinfo_flags(Path("/proc/cpuinfo"))


def _cpuinfo_lines(path: Path = Path("/proc/cpuinfo")) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def _proc_cpuinfo_flags(path: Path) -> frozenset[str]:
    """The ``flags`` (x86) or ``Features`` (Arm) of the first processor listed."""
    for line in _cpuinfo_lines(path):
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def autocast(precision: Resolved, device_type: str = "cpu") -> Any:
    """The context the forward pass runs in: bf16 autocast, or nothing for fp32."""
    import contextlib

    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def torch_dtype(precision: Resolved) -> Any:
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32
