"""Which floating-point precision a run computes in: ``auto``, ``fp32`` or ``bf16``.

``auto`` picks bf16 only where the hardware computes it natively: a CUDA device that reports bf16
support, or a CPU with AVX512-BF16 or AMX-BF16 instructions (x86: AMD Zen 4 and later, Intel
Cooper Lake / Sapphire Rapids and later) or the BF16 extension (Arm). Elsewhere bf16 would be
emulated, slower than fp32 and less exact, so ``auto`` means fp32 there.

bf16 always means mixed precision: weights that train stay fp32 (the optimizer updates fp32
master weights), and matrix products run in bf16 under ``torch.autocast``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

Precision = Literal["auto", "fp32", "bf16"]
Resolved = Literal["fp32", "bf16"]

# CPU feature flags (as /proc/cpuinfo and torch.cpu.get_capabilities name them) that run bf16 natively
NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def resolve_precision(requested: Precision, device_type: str = "cpu") -> Resolved:
    """``fp32`` / ``bf16`` as asked; ``auto`` -> bf16 where ``device_type`` has native bf16."""
    if requested != "auto":
        return requested
    return "bf16" if native_bf16(device_type) else "fp32"


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


def _proc_cpuinfo_flags(path: Path) -> frozenset[str]:
    """The ``flags`` (x86) or ``Features`` (Arm) of the first processor listed."""
    try:
        text = path.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
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
