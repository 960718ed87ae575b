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
    monkeypatch.setattr(P, "cpu_matmul_rates", lambda: {"fp32": 160.0, "bf16": 400.0})  # a Zen 4 core pair
    assert P.resolve_precision("auto", "cpu") == expected
    assert P.resolve_precision("fp32", "cpu") == "fp32" and P.resolve_precision("bf16", "cpu") == "bf16"


def test_auto_keeps_fp32_where_the_cpu_has_bf16_but_multiplies_it_slower(monkeypatch):
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    monkeypatch.setattr(P, "cpu_matmul_rates", lambda: {"fp32": 242.0, "bf16": 146.0})  # a Xeon without AMX
    assert P.resolve_precision("auto", "cpu") == "fp32"
    assert "0.60x fp32" in P.precision_reason("auto", "cpu")
    monkeypatch.setattr(P, "cpu_matmul_rates", lambda: {"fp32": 242.0, "bf16": 1.1 * 242.0})  # too small a gain
    assert P.resolve_precision("auto", "cpu") == "fp32"
    assert P.precision_reason("bf16", "cpu") == "bf16: as configured"


def test_the_probe_runs_once_per_machine_and_is_then_read_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FLANLAB_HOME", str(tmp_path))
    calls = []

    def fake_measure():
        calls.append(1)
        return {"fp32": 100.0, "bf16": 300.0}

    monkeypatch.setattr(P, "measure_cpu_matmul_rates", fake_measure)
    P.cpu_matmul_rates.cache_clear()
    try:
        assert P.cpu_matmul_rates() == {"fp32": 100.0, "bf16": 300.0}
        P.cpu_matmul_rates.cache_clear()  # a new process
        assert P.cpu_matmul_rates() == {"fp32": 100.0, "bf16": 300.0} and len(calls) == 1
        assert P._machine_key() in (tmp_path / "probes" / "cpu_matmul.json").read_text()
    finally:
        P.cpu_matmul_rates.cache_clear()


def test_the_probe_measures_both_dtypes():
    rates = P.measure_cpu_matmul_rates(size=128, rounds=1)
    assert set(rates) == {"fp32", "bf16"} and all(rate > 0 for rate in rates.values())


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
