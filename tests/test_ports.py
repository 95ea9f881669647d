"""x86 port model: configs, seed figures, latency-bound loops, emitted assembly, GEMM estimate.

llvm-mca comparisons live in test_ports_mca.py; measurements on the host CPU in
benchmarks/cpu/run_ports_bench.py (figures recorded in docs/ports.md).
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest

from sparsesim.cpu.config import CpuArch, cpu_archs, load_cpu_arch
from sparsesim.errors import ConfigError, InputError
from sparsesim.cpu import microkernels as mk
from sparsesim.cpu.driver import simulate_cpu_gemm
from sparsesim.cpu.gemm import gemm_timing, sparse_crossover, weight_bytes
from sparsesim.cpu.portmodel import port_bound, simulate_kernel

ALL = ("xeon-8180", "xeon-8280", "xeon-5120", "xeon-8380", "zen4-genoa")


def _cycles(arch, kernel, mr=4, nr=4, iterations=64):
    return simulate_kernel(arch, kernel, mr, nr, iterations=iterations)


# ----------------------------------------------------------------------------- configs


def test_configs_load_and_cite_every_instruction():
    assert set(ALL) <= set(cpu_archs())
    for name in ALL:
        a = load_cpu_arch(name)
        assert isinstance(a, CpuArch) and a.kind == "cpu"
        assert a.instructions, name
        for ins in a.instructions:
            assert len(ins.cite) > 10, (name, ins.op)
            assert ins.parsed_uops(), (name, ins.op)


def test_config_files_comment_every_number():
    """Every numeric line of a CPU config carries a source or 'assumption' comment."""
    from sparsesim.arch.load import available_archs

    for name in ALL:
        text = available_archs()[name].read_text()
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#") or s.startswith("[") or "=" not in s:
                continue
            key, _, val = s.partition("=")
            val = val.split("#")[0].strip()
            if key.strip() in ("latency_cycles",):  # cited by the row's 'cite' field
                continue
            try:
                float(val)
            except ValueError:
                continue
            assert "#" in s, f"{name}: number without a source: {s!r}"


def test_fma_unit_count_matches_ports():
    # two FMA units: the 512-bit FMA may issue on p0 or p5; one unit: p0 only
    assert load_cpu_arch("xeon-8180").instruction("vfmadd231ps_zmm").parsed_uops()[0].ports == ("p0", "p5")
    assert load_cpu_arch("xeon-5120").instruction("vfmadd231ps_zmm").parsed_uops()[0].ports == ("p0",)
    assert load_cpu_arch("xeon-5120").core.fma512_units == 1


def _write_cfg(tmp_path, text):
    p = tmp_path / "bad.toml"
    p.write_text(textwrap.dedent(text))
    return p


def _minimal(uops='"p0|p5"', extra=""):
    return f"""
    name = "bad"
    kind = "cpu"
    description = "test"
    vendor = "intel"
    microarchitecture = "x"
    llvm_mcpu = "skylake-avx512"
    {extra}
    [core]
    count = 1
    ports = "p0 p5 p2"
    issue_width = 4
    retire_width = 4
    rob_entries = 64
    scheduler_entries = 32
    fma512_units = 2
    isa = "avx512f"
    [clock]
    base_ghz = 2.0
    avx512_base_ghz = 1.5
    avx512_all_core_turbo_ghz = 1.8
    max_turbo_ghz = 3.0
    [memory]
    l1d_kib = 32
    l2_kib = 1024
    l3_mib = 8.0
    l1_load_bytes_per_cycle = 128
    l2_bytes_per_cycle = 64
    dram_channels = 2
    dram_mts = 2400
    dram_efficiency = 0.8
    [[instructions]]
    op = "vfmadd231ps_zmm"
    uops = {uops}
    latency_cycles = 4
    cite = "test row"
    """


def test_bad_configs_name_file_and_key(tmp_path):
    ok = load_cpu_arch(_write_cfg(tmp_path, _minimal()))
    assert ok.instruction("vfmadd231ps_zmm").latency_cycles == 4
    with pytest.raises(ConfigError, match=r"bad\.toml.*port 'p9'"):
        load_cpu_arch(_write_cfg(tmp_path, _minimal(uops='"p0|p9"')))
    with pytest.raises(ConfigError, match=r"bad\.toml.*uops"):
        load_cpu_arch(_write_cfg(tmp_path, _minimal(uops='"p0*x"')))
    with pytest.raises(ConfigError, match=r"bad\.toml.*expected str"):
        load_cpu_arch(_write_cfg(tmp_path, _minimal(uops="5")))
    with pytest.raises(ConfigError, match=r"unknown key 'turbo'"):
        load_cpu_arch(_write_cfg(tmp_path, _minimal(extra="turbo = 1")))
    with pytest.raises(ConfigError, match=r"no entry for instruction form 'vpdpbusd_zmm'"):
        ok.instruction("vpdpbusd_zmm")


def test_not_a_cpu_arch_is_rejected(tmp_path):
    from sparsesim.arch.load import available_archs

    gpus = [n for n in available_archs() if n not in cpu_archs()]
    if not gpus:
        pytest.skip("no non-CPU config on the search path")
    with pytest.raises(ConfigError, match="expected a kind = \"cpu\""):
        load_cpu_arch(gpus[0])


# ----------------------------------------------------------------------------- seed figures


def test_seed_peak_tops_platinum_8180():
    """Seed 003: 8180 peak 3.570 fp32 TOPS at 1.99 GHz, 5.185 int8 TOPS at 2.17 GHz (28 cores).

    The model gives 32 fp32 MACs/cycle/core (2 FMA units x 16 lanes) -> 3.566 TOPS: the
    article's own formula (1.99e9 * 28 * 2 * 2 * 16) is 3.566, so its 3.570 is a rounding
    slip; the int8 figure 5.185 reproduces.
    """
    a = load_cpu_arch("xeon-8180")
    fp32 = _cycles(a, "fp32")
    int8 = _cycles(a, "avx512-int8", iterations=96)
    tops_fp32 = 2 * fp32.macs_per_cycle * a.core.count * 1.99e9 / 1e12
    tops_int8 = 2 * int8.macs_per_cycle * a.core.count * 2.17e9 / 1e12
    assert fp32.macs_per_cycle == pytest.approx(32.0, rel=1e-3)
    assert tops_fp32 == pytest.approx(3.566, abs=0.001)
    assert abs(tops_fp32 - 3.570) > 0.003  # the seed's rounding slip is visible
    assert tops_int8 == pytest.approx(5.185, rel=0.001)


def test_three_instruction_int8_gains_one_third_and_vnni_four_times():
    a = load_cpu_arch("xeon-8280")
    fp32 = _cycles(a, "fp32").macs_per_cycle
    i8 = _cycles(a, "avx512-int8", iterations=96).macs_per_cycle
    vnni = _cycles(a, "vnni").macs_per_cycle
    assert i8 / fp32 == pytest.approx(4 / 3, rel=0.005)
    assert vnni / fp32 == pytest.approx(4.0, rel=0.005)
    assert vnni / i8 == pytest.approx(3.0, rel=0.005)


def test_one_fma_unit_halves_fp32_and_int8():
    two = _cycles("xeon-8180", "fp32").macs_per_cycle
    one = _cycles("xeon-5120", "fp32").macs_per_cycle
    assert one == pytest.approx(two / 2, rel=0.01)
    two8 = _cycles("xeon-8180", "avx512-int8").macs_per_cycle
    one8 = _cycles("xeon-5120", "avx512-int8").macs_per_cycle
    # madd pair confined to port 0; the vpaddd still has port 5 -> 32 cycles for 48 ops
    assert one8 == pytest.approx(two8 * 24 / 32, rel=0.01)


def test_latency_bound_needs_ten_chains_for_five_cycles_on_two_ports():
    """5-cycle VPDPBUSD on two ports: fewer than 5*2 = 10 independent accumulators
    leave the ports idle; the model calls such loops latency-bound."""
    a = load_cpu_arch("xeon-8280")
    per_insn = {}
    for mr, nr in ((1, 1), (1, 2), (2, 2), (3, 3), (2, 5), (4, 4)):
        r = _cycles(a, "vnni", mr, nr, iterations=48)
        per_insn[mr * nr] = r.cycles_per_iteration / (mr * nr)
        if mr * nr < 10:
            assert r.bound == "latency", (mr, nr, r.bound)
            assert r.cycles_per_iteration == pytest.approx(5.0, rel=0.01)
        else:
            assert r.bound.startswith("ports:p0|p5")
            assert per_insn[mr * nr] == pytest.approx(0.5, rel=0.01)
    assert per_insn[4] / per_insn[16] == pytest.approx(2.5, rel=0.01)
    # the 3-instruction sequence carries only a 1-cycle vpaddd chain: never latency-bound here
    assert _cycles(a, "avx512-int8", 2, 2, iterations=48).bound.startswith("ports")


def test_isa_checks():
    with pytest.raises(InputError, match="lacks avx512_vnni"):
        simulate_kernel("xeon-8180", "vnni")
    with pytest.raises(InputError, match="avx512_vbmi2"):
        simulate_kernel("xeon-8280", "vnni-2to4")
    assert simulate_kernel("xeon-8380", "vnni-2to4", iterations=48).cycles_per_iteration > 0


def test_port_bound_is_a_lower_bound_and_tight_for_simple_loops():
    for name in ALL:
        a = load_cpu_arch(name)
        for kern in mk.KERNELS:
            k = mk.build_kernel(kern)
            if not all(a.has_isa(e) for e in k.isa):
                continue
            r = simulate_kernel(a, k, iterations=48)
            pb, _ = port_bound(a, k)
            assert r.cycles_per_iteration >= pb * 0.99 - 1e-9, (name, kern)
            assert r.cycles_per_iteration >= r.latency_bound_cycles * 0.99 - 1e-9
            assert r.cycles_per_iteration <= max(pb, r.latency_bound_cycles, r.frontend_bound_cycles) * 1.25


# ----------------------------------------------------------------------------- Zen 4 (this CPU)

# Medians of `.venv/bin/python benchmarks/cpu/run_ports_bench.py` on the AMD EPYC (Family 19h
# Model 11h) VM, recorded in docs/ports.md.  The config's instruction rows came from the
# single-instruction probes and two-instruction mixes; these kernel-level ratios were not used.
MEASURED_ZEN4 = {
    "vnni_over_avx512int8_macs": 1.987,
    "avx512int8_over_fp32_macs": 2.006,
    "vnni_1chain_over_16chains_per_insn": 3.998,
    "vnni_2chains_over_16chains_per_insn": 1.980,
    "vnni2to4_over_vnni_cycles": 1.512,
    "vnni2to4_over_vnni_cycles_6x3": 1.349,
    # cycles per dense-equivalent MAC, routed 2:4 (VPSHUFB + VPDPBUSD, 16x1) over dense VNNI 4x4
    "vnni2to4mux_over_vnni_cycles_per_mac": 0.676,
}


def test_zen4_model_matches_measured_ratios_within_10_percent():
    a = load_cpu_arch("zen4-genoa")
    c = {f"{k}_{mr}x{nr}": simulate_kernel(a, k, mr, nr, iterations=48)
         for k, mr, nr in (("fp32", 4, 4), ("avx512-int8", 4, 4), ("vnni", 4, 4), ("vnni-2to4", 4, 4),
                           ("vnni", 1, 1), ("vnni", 1, 2), ("vnni", 6, 3), ("vnni-2to4", 6, 3),
                           ("vnni-2to4-mux", 16, 1))}
    model = {
        "vnni_over_avx512int8_macs": c["vnni_4x4"].macs_per_cycle / c["avx512-int8_4x4"].macs_per_cycle,
        "avx512int8_over_fp32_macs": c["avx512-int8_4x4"].macs_per_cycle / c["fp32_4x4"].macs_per_cycle,
        "vnni_1chain_over_16chains_per_insn": c["vnni_1x1"].cycles_per_iteration / (c["vnni_4x4"].cycles_per_iteration / 16),
        "vnni_2chains_over_16chains_per_insn": (c["vnni_1x2"].cycles_per_iteration / 2) / (c["vnni_4x4"].cycles_per_iteration / 16),
        "vnni2to4_over_vnni_cycles": c["vnni-2to4_4x4"].cycles_per_iteration / c["vnni_4x4"].cycles_per_iteration,
        "vnni2to4_over_vnni_cycles_6x3": c["vnni-2to4_6x3"].cycles_per_iteration / c["vnni_6x3"].cycles_per_iteration,
        "vnni2to4mux_over_vnni_cycles_per_mac": c["vnni_4x4"].macs_per_cycle / c["vnni-2to4-mux_16x1"].macs_per_cycle,
    }
    for key, meas in MEASURED_ZEN4.items():
        assert model[key] == pytest.approx(meas, rel=0.10), (key, model[key], meas)


# ----------------------------------------------------------------------------- assembly


def test_emitted_asm_is_the_loop_the_model_runs():
    k = mk.build_kernel("vnni", 4, 4)
    asm = mk.emit_asm(k)
    assert asm.startswith(".intel_syntax noprefix\n.Lloop_vnni:\n")
    assert asm.count("vpdpbusd") == 16 and asm.count("vpbroadcastd") == 4
    assert asm.count("vmovdqu64") == 4 and asm.rstrip().endswith("jnz .Lloop_vnni")
    k3 = mk.build_kernel("avx512-int8", 4, 4)
    a3 = mk.emit_asm(k3)
    assert a3.count("vpmaddubsw") == a3.count("vpmaddwd") == a3.count("vpaddd") == 16
    assert "zmm31" in a3  # the 16-bit ones
    s = mk.emit_asm(mk.build_kernel("vnni-2to4", 4, 4))
    assert s.count("vpexpandb") == 4 and s.count("kmovq") == 4 and "add rsi, 128" in s
    mux = mk.build_kernel("vnni-2to4-mux")  # the functional kernel's tile: 16 columns x 16 rows
    t = mk.emit_asm(mux)
    assert (mux.mr, mux.nr, mux.k_per_iteration) == (16, 1, 8)
    assert t.count("vpshufb") == t.count("vpdpbusd") == 16 and t.count("vpbroadcastq") == 16
    assert mux.macs_per_iteration == 16 * 16 * 8 and "add rsi, 128" in t
    t3 = mk.emit_asm(mk.build_kernel("avx512-int8-2to4-mux"))
    assert t3.count("vpshufb") == t3.count("vpmaddubsw") == t3.count("vpaddd") == 16 and "zmm31" in t3


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_emitted_asm_assembles(tmp_path):
    for kern in mk.KERNELS:
        k = mk.build_kernel(kern)
        src = tmp_path / f"{kern}.S"
        src.write_text(mk.emit_function_asm(k, "k_" + kern.replace("-", "_")))
        r = subprocess.run(["gcc", "-c", str(src), "-o", str(tmp_path / f"{kern}.o")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_register_budget_and_bad_kernel_inputs():
    with pytest.raises(InputError, match="32"):
        mk.build_kernel("vnni", 6, 5)
    with pytest.raises(InputError, match="unknown kernel"):
        mk.build_kernel("vnni4")
    with pytest.raises(InputError, match="positive"):
        mk.build_kernel("vnni", 0, 4)
    with pytest.raises(InputError, match="iterations"):
        simulate_kernel("xeon-8280", "vnni", iterations=2)


# ----------------------------------------------------------------------------- whole GEMM


def test_weight_bytes_2to4():
    d = weight_bytes("vnni", 64, 128)
    s = weight_bytes("vnni-2to4", 64, 128)
    assert d == {"values": 8192, "metadata": 0}
    assert s == {"values": 4096, "metadata": 1024}  # 2 bits per kept value = 1 bit per weight


def test_gemm_bounds_and_2to4_crossover():
    a = "xeon-8380"
    small = gemm_timing(a, "vnni", 4096, 1, 4096)
    big = gemm_timing(a, "vnni", 4096, 4096, 4096)
    assert small.bound == "dram" and big.bound == "compute"
    # weight-streaming GEMV: time ~ weight bytes / bandwidth; 2:4 moves 40/64 of the bytes
    s = gemm_timing(a, "vnni-2to4", 4096, 1, 4096)
    assert small.seconds / s.seconds == pytest.approx(64 / 40, rel=0.02)
    # compute-bound: 2:4 pays its expand instructions (no MAC is skipped in registers)
    sb = gemm_timing(a, "vnni-2to4", 4096, 4096, 4096)
    assert sb.seconds > big.seconds
    c = sparse_crossover(a, 4096, 4096)
    assert c["speedup"][0] > 1.5 and c["speedup"][-1] < 1.0
    assert 1 <= c["sparse_wins_up_to_n"] < 1024
    with pytest.raises(InputError, match="multiple of 4"):
        gemm_timing(a, "vnni", 64, 8, 6)
    with pytest.raises(InputError, match="cores"):
        gemm_timing(a, "vnni", 64, 8, 64, cores=1000)


def test_simresult_for_cpu():
    r = simulate_cpu_gemm("xeon-8280", 1024, 16, 1024, dtype="int8")
    assert r.mode == "cpu-ports" and r.datapath == "x86 vnni" and r.seconds > 0
    assert r.dram_bytes["total"] >= r.compulsory_bytes["total"] * 0.999
    r2 = simulate_cpu_gemm("xeon-8180", 1024, 16, 1024, dtype="int8")
    assert r2.datapath == "x86 avx512-int8"
    r3 = simulate_cpu_gemm("zen4-genoa", 1024, 16, 1024, dtype="int8", pattern="2:4")
    assert r3.dram_bytes["a_metadata"] == 1024 * 1024 // 8
    with pytest.raises(InputError):
        simulate_cpu_gemm("xeon-8280", 64, 8, 64, dtype="fp16")
    with pytest.raises(InputError):
        simulate_cpu_gemm("xeon-8280", 64, 8, 64, pattern="4:8")
    d = r.to_dict()
    assert d["arch"] == "xeon-8280"


# ----------------------------------------------------------------------------- CLI


def test_cli_ports_json_and_asm(capsys):
    import json

    from sparsesim.cli import main

    assert main(["ports", "--arch", "xeon-8280", "--kernel", "vnni", "--json", "--iterations", "48"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cycles_per_iteration"] == pytest.approx(8.0, rel=0.01)
    assert out["macs_per_cycle"] == pytest.approx(128.0, rel=0.01)
    assert out["bound"].startswith("ports")
    assert main(["ports", "--arch", "xeon-8280", "--kernel", "vnni", "--emit-asm"]) == 0
    assert capsys.readouterr().out == mk.emit_asm(mk.build_kernel("vnni"))
    assert main(["ports", "--arch", "xeon-8280", "--kernel", "vnni-2to4"]) == 2
    assert "avx512_vbmi2" in capsys.readouterr().err
    assert main(["ports", "--arch", "nope-arch", "--kernel", "vnni"]) == 2
    assert "unknown architecture" in capsys.readouterr().err
    assert main(["ports", "--arch", "xeon-8280", "--kernel", "vnni", "--ghz", "-1"]) == 2
    assert "--ghz" in capsys.readouterr().err
    assert main(["ports", "--arch", "xeon-8280", "--kernel", "vnni", "--cores", "99"]) == 2
    assert "1..28" in capsys.readouterr().err


def test_cli_ports_gemm_and_crossover(capsys):
    from sparsesim.cli import main

    assert main(["ports", "--arch", "zen4-genoa", "--kernel", "vnni-2to4", "--iterations", "48",
                 "--gemm", "1024x8x1024", "--crossover", "1024x1024"]) == 0
    out = capsys.readouterr().out
    assert "GEMM 1024x8x1024" in out and "2:4 wins up to n" in out
