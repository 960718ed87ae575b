"""Precision: what `auto` resolves to on which hardware, and how the CPU's flags are read."""

from __future__ import annotations

import pytest

from flanlab.models import precision as P


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({"avx2", "avx512f", "avx512_bf16"}, "bf16"), ({"amx_tile", "amx_bf16"}, "bf16"), ({"avx2", "avx512f"}, "fp32"),
     (set(), "fp32")],
)
def test_auto_picks_bf16_only_with_native_cpu_support(monkeypatch, flags, expected):
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset(flags))
    assert P.resolve_precision("auto", "cpu") == expected
    assert P.resolve_precision("fp32", "cpu") == "fp32" and P.resolve_precision("bf16", "cpu") == "bf16"


def test_auto_on_an_unknown_device_is_fp32():
    assert P.resolve_precision("auto", "mps") == "fp32"


def test_cpuinfo_flags_are_read_for_x86_and_arm(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert "avx512_bf16" in P._proc_cpuinfo_flags(x86)
    assert "bf16" in P._proc_cpuinfo_flags(arm)
    assert P._proc_cpuinfo_flags(tmp_path / "missing") == frozenset()
