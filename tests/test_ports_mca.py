"""Port model vs llvm-mca on the exact micro-kernel loops (``sparsesim ports --emit-asm``).

Every (config, kernel) pair runs through every installed llvm-mca that knows the
config's ``-mcpu``.  The model must be within 5% of llvm-mca's cycles per iteration,
unless the pair is listed in DISAGREEMENTS.  A listed disagreement is checked, not
waived: llvm-mca must still differ by more than 5% (so the list cannot go stale),
and the cause must be where the entry says -- single-instruction throughput loops
of the named instruction forms give llvm-mca's value and the model's cited value
-- and, where the host CPU could measure the loop (Zen 4), the model must be
within 10% of the measurement and llvm-mca must not.  Evidence for each side is
written in docs/ports.md.

Skips only when no llvm-mca executable is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest

from sparsesim.cpu.config import load_cpu_arch
from sparsesim.errors import InputError
from sparsesim.cpu import microkernels as mk
from sparsesim.cpu.mca import llvm_mca_cycles
from sparsesim.cpu.portmodel import simulate_kernel

CANDIDATES = ("llvm-mca", "llvm-mca-19", "llvm-mca-18", "llvm-mca-17", "llvm-mca-16", "llvm-mca-15", "llvm-mca-14")


def _installed():
    out = {}
    for exe in CANDIDATES:
        path = shutil.which(exe)
        if not path:
            continue
        try:
            text = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(r"LLVM version (\d+)", text)
        if m:
            out.setdefault(int(m.group(1)), exe)  # one executable per major version
    return out


MCA = _installed()
pytestmark = pytest.mark.skipif(not MCA, reason="llvm-mca is not installed (apt-get install llvm or llvm-19)")

ARCHS = ("xeon-8180", "xeon-8280", "xeon-5120", "xeon-8380", "zen4-genoa")
KERNELS = (("fp32", 4, 4), ("avx512-int8", 4, 4), ("vnni", 4, 4), ("vnni-2to4", 4, 4), ("vnni", 2, 2), ("vnni", 1, 2),
           ("vnni-2to4-mux", 16, 1), ("avx512-int8-2to4-mux", 16, 1))


@dataclass(frozen=True)
class Disagreement:
    why: str
    # instruction form -> (llvm-mca reciprocal throughput, model's reciprocal throughput)
    probes: dict = field(default_factory=dict)
    # cycles per iteration measured on the host CPU (median of
    # `.venv/bin/python benchmarks/cpu/run_ports_bench.py`, recorded in docs/ports.md)
    measured: float | None = None
    llvm_versions: tuple = (0, 999)


_VPADDD = Disagreement(
    why="llvm-mca lets 512-bit VPADDD issue on port 1 (0.33 cycles); uops.info measures 1*p05 (0.5) "
        "because port 1's vector ALU is fused into port 0 for 512-bit uops",
    probes={"vpaddd_zmm": (1 / 3, 0.5)},
)
_ONE_FMA = Disagreement(
    why="llvm-mca's skylake-avx512 model has two 512-bit FMA units for every SKU; the Gold 5120 has one",
    probes={"vfmadd231ps_zmm": (0.5, 1.0)},
)
_ZEN4_VNNI = "llvm-mca's znver4 VPDPBUSD zmm takes 2 cycles of a pipe pair; measured here: 1 per cycle"

DISAGREEMENTS = {
    ("xeon-8180", "avx512-int8", 4, 4): _VPADDD,
    ("xeon-8280", "avx512-int8", 4, 4): _VPADDD,
    ("xeon-8380", "avx512-int8", 4, 4): _VPADDD,
    ("xeon-5120", "fp32", 4, 4): _ONE_FMA,
    ("xeon-5120", "avx512-int8", 4, 4): Disagreement(
        why=_ONE_FMA.why + "; plus the VPADDD port difference",
        probes={"vpmaddubsw_zmm": (0.5, 1.0), "vpmaddwd_zmm": (0.5, 1.0), "vpaddd_zmm": (1 / 3, 0.5)},
    ),
    ("xeon-8380", "fp32", 4, 4): Disagreement(
        why="llvm-mca >= 17 models icelake-server with the client part's single 512-bit FMA unit (port 0); "
            "the Platinum 8380 has two (Intel ark); llvm-mca 14 agrees with the model",
        probes={"vfmadd231ps_zmm": (1.0, 0.5)},
        llvm_versions=(17, 999),
    ),
    ("xeon-8380", "vnni-2to4", 4, 4): Disagreement(
        why="table differences, unresolved without Ice Lake hardware: llvm-mca gives KMOVQ k,m64 a port-5 "
            "uop (1 per cycle) and VPEXPANDB one port-5 uop; the config (Agner Fog / uops.info ICL) has "
            "KMOVQ as a pure load and VPEXPANDB as two port-5 uops",
        probes={"kmovq_k_m64": (1.0, 0.5), "vpexpandb_zmm_k_zmm": (1.0, 2.0)},
    ),
    ("zen4-genoa", "fp32", 4, 4): Disagreement(
        why="llvm-mca's znver4 VBROADCASTSS zmm,m32 occupies FP1, a pipe the FMAs need; measured here the "
            "fp32 loop stays FMA-bound (16 cycles)",
        measured=15.94,
    ),
    ("zen4-genoa", "vnni", 4, 4): Disagreement(why=_ZEN4_VNNI, probes={"vpdpbusd_zmm": (2.0, 1.0)}, measured=15.99),
    ("zen4-genoa", "vnni", 2, 2): Disagreement(why=_ZEN4_VNNI, probes={"vpdpbusd_zmm": (2.0, 1.0)}, measured=4.14),
    ("zen4-genoa", "vnni", 1, 2): Disagreement(
        why="llvm-mca predicts 5 cycles for two 4-cycle VPDPBUSD chains; measured here: 3.96",
        measured=3.96,
    ),
    ("zen4-genoa", "vnni-2to4", 4, 4): Disagreement(why=_ZEN4_VNNI, probes={"vpdpbusd_zmm": (2.0, 1.0)}, measured=24.17),
    ("xeon-8180", "avx512-int8-2to4-mux", 16, 1): _VPADDD,
    ("xeon-8280", "avx512-int8-2to4-mux", 16, 1): _VPADDD,
    ("xeon-8380", "avx512-int8-2to4-mux", 16, 1): _VPADDD,
    ("xeon-5120", "avx512-int8-2to4-mux", 16, 1): Disagreement(
        why=_ONE_FMA.why + "; plus the VPADDD port difference",
        probes={"vpmaddubsw_zmm": (0.5, 1.0), "vpaddd_zmm": (1 / 3, 0.5)},
    ),
    ("zen4-genoa", "vnni-2to4-mux", 16, 1): Disagreement(why=_ZEN4_VNNI, probes={"vpdpbusd_zmm": (2.0, 1.0)},
                                                           measured=22.03),
    ("zen4-genoa", "avx512-int8-2to4-mux", 16, 1): Disagreement(
        why="unresolved: measured here 38.5-39.7 cycles lies between the model (35.2, 8-11% low; its port "
            "bound is 32.0) and llvm-mca (44.0, 11-14% high); the single-instruction and two-instruction "
            "probes the rows come from all agree with the model (docs/ports.md)",
    ),
}


def _cases():
    # only the pairs the model accepts (the ISA check itself is tested in test_ports.py)
    for arch in ARCHS:
        a = load_cpu_arch(arch)
        for kernel, mr, nr in KERNELS:
            if all(a.has_isa(e) for e in mk.KERNEL_ISA[kernel]):
                yield pytest.param(arch, kernel, mr, nr, id=f"{arch}-{kernel}-{mr}x{nr}")


def _probe(arch, exe, op):
    k = mk.build_probe(op, 12)
    cnt = sum(1 for i in k.body if i.op == op)
    model = simulate_kernel(arch, k, iterations=32).cycles_per_iteration / cnt
    llvm = llvm_mca_cycles(mk.emit_asm(k), arch.llvm_mcpu, exe) / cnt
    return llvm, model


@pytest.mark.parametrize("arch_name,kernel,mr,nr", list(_cases()))
def test_model_vs_llvm_mca(arch_name, kernel, mr, nr):
    arch = load_cpu_arch(arch_name)
    kern = mk.build_kernel(kernel, mr, nr)
    model = simulate_kernel(arch, kern, iterations=64).cycles_per_iteration
    asm = mk.emit_asm(kern)
    ran = 0
    for version, exe in sorted(MCA.items()):
        try:
            mca = llvm_mca_cycles(asm, arch.llvm_mcpu, exe)
        except InputError as exc:
            if "not a recognized processor" in str(exc):
                continue  # e.g. llvm-mca 14 has no znver4
            raise
        ran += 1
        err = (model - mca) / mca
        d = DISAGREEMENTS.get((arch_name, kernel, mr, nr))
        if d is not None and d.llvm_versions[0] <= version <= d.llvm_versions[1]:
            assert abs(err) > 0.05, (
                f"{exe}: model {model:.2f} now within 5% of llvm-mca {mca:.2f}; remove the documented "
                f"disagreement ({d.why})"
            )
            for op, (want_llvm, want_model) in d.probes.items():
                got_llvm, got_model = _probe(arch, exe, op)
                assert got_llvm == pytest.approx(want_llvm, rel=0.05), (exe, op, got_llvm)
                assert got_model == pytest.approx(want_model, rel=0.05), (op, got_model)
            if d.measured is not None:
                assert model == pytest.approx(d.measured, rel=0.10), (model, d.measured)
                assert abs(mca - d.measured) / d.measured > 0.10, (mca, d.measured)
        else:
            assert abs(err) <= 0.05, f"{exe} -mcpu={arch.llvm_mcpu}: model {model:.3f} vs llvm-mca {mca:.3f}"
    if ran == 0:
        pytest.skip(f"no installed llvm-mca knows -mcpu={arch.llvm_mcpu} (installed: {sorted(MCA)})")


def test_llvm_mca_helper_rejects_unknown_cpu():
    exe = next(iter(MCA.values()))
    with pytest.raises(InputError, match="not a recognized processor|failed"):
        llvm_mca_cycles(".intel_syntax noprefix\nadd rax, 1\n", "no-such-cpu", exe)
