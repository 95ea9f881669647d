"""Every numeric field of the CPU arch schema moves the outputs it should, or is listed as
bookkeeping with the reason.

The fields are found by introspection of :class:`sparsesim.cpu.config.CpuArch` (nested
tables and the instruction rows), so a field added to the schema fails this test until
it is given a case here.  Each case perturbs one field of a real config (``derive``
re-validates the result) and compares an output of a GEMM or micro-kernel where that
unit matters.
"""

from __future__ import annotations

import dataclasses
import typing

import pytest

from sparsesim.arch import derive
from sparsesim.cpu import build_kernel, gemm_timing, load_cpu_arch, simulate_kernel
from sparsesim.cpu.config import CpuArch

ARCHS = ("zen4-genoa", "xeon-8280")

#: Fields that move no output, by name, and why.
BOOKKEEPING = {
    "core.fma512_units": "restates the instruction rows: the FMA-class rows' port sets say how many 512-bit "
                         "FMA units there are, and test_ports.py::test_fma_unit_count_matches_ports checks they "
                         "agree; counting it again would charge the unit twice",
    "clock.base_ghz": "the no-AVX (licence 0) clock: every modelled kernel is heavy AVX-512 (licence 2), so the "
                      "hardware never runs them at this clock",
    "clock.max_turbo_ghz": "the single-core non-AVX turbo: no modelled kernel runs at licence 0",
    "clock.avx512_base_ghz": "the guaranteed AVX-512 clock a power- or thermally-limited socket falls to; the "
                             "model runs at the all-core AVX-512 turbo (--ghz overrides) and has no power model "
                             "that would decide when the floor applies",
}


def _numeric_fields(cls, prefix=""):
    """Dotted names of the int/float fields of a schema dataclass, through nested tables;
    instruction rows (a tuple of tables) count once, as ``instructions[].<field>``."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _numeric_fields(tp, f"{prefix}{f.name}.")
        elif tp is tuple and f.metadata.get("item_type") is not None:
            out += _numeric_fields(f.metadata["item_type"], f"{prefix}{f.name}[].")
        elif tp in (int, float):
            out.append(prefix + f.name)
    return out


def _gemm(arch, kernel, m, n, k, **kw):
    return gemm_timing(arch, kernel, m, n, k, **kw)


def _seconds(kernel, m, n, k):
    return lambda a: _gemm(a, kernel, m, n, k).seconds


def _cycles(kernel, mr=None, nr=None):
    return lambda a: simulate_kernel(a, build_kernel(kernel, mr, nr), iterations=48).cycles_per_iteration


# field -> (value to set given the current one, output of an arch that must change, what it shows)
LIVE = {
    "core.count": (lambda v: max(1, v // 2), _seconds("vnni", 4096, 4096, 4096),
                   "compute-bound GEMM: half the cores, about twice the time"),
    "core.issue_width": (lambda v: 1, _cycles("vnni"), "27-uop VNNI loop: 1 uop/cycle binds"),
    "core.retire_width": (lambda v: 1, _cycles("vnni"), "27-uop VNNI loop: 1 retired uop/cycle binds"),
    "core.rob_entries": (lambda v: 12, _cycles("vnni"), "a 12-entry window cannot hide the load latency"),
    "core.scheduler_entries": (lambda v: 4, _cycles("vnni"), "4 waiting uops cannot cover the VPDPBUSD chains"),
    "clock.avx512_all_core_turbo_ghz": (lambda v: v / 2, _seconds("vnni", 4096, 4096, 4096),
                                        "the GEMM's default clock"),
    "memory.l1d_kib": (lambda v: 1, lambda a: _gemm(a, "vnni", 4096, 64, 256).l2_cycles_per_iteration,
                       "a 64 KiB weight panel stops fitting in half of L1: its bytes come from L2"),
    "memory.l2_kib": (lambda v: 64, lambda a: _gemm(a, "vnni", 4096, 1024, 4096).weight_passes,
                      "fewer activation columns per pass: more passes over the weights"),
    "memory.l3_mib": (lambda v: 1.0, lambda a: _gemm(a, "vnni", 4096, 1024, 4096).dram_bytes["weights"],
                      "weights no longer fit in half of L3: every pass re-reads them from DRAM"),
    "memory.l1_load_bytes_per_cycle": (lambda v: 8, _seconds("vnni", 4096, 4096, 4096),
                                       "272 bytes loaded per iteration at 8 B/cycle bind the loop"),
    "memory.l2_bytes_per_cycle": (lambda v: 1, _seconds("vnni", 4096, 4096, 4096),
                                  "weight panel streams from L2 at 1 B/cycle"),
    "memory.dram_channels": (lambda v: 1, _seconds("vnni", 4096, 1, 4096), "GEMV streams the weights from DRAM"),
    "memory.dram_mts": (lambda v: v // 4, _seconds("vnni", 4096, 1, 4096), "GEMV streams the weights from DRAM"),
    "memory.dram_efficiency": (lambda v: v / 4, _seconds("vnni", 4096, 1, 4096),
                               "GEMV streams the weights from DRAM"),
}


def test_every_numeric_cpu_field_is_live_or_bookkeeping():
    fields = set(_numeric_fields(CpuArch))
    assert "instructions[].latency_cycles" in fields and "core.count" in fields  # introspection works
    fields.discard("instructions[].latency_cycles")  # per row, below
    assert not set(LIVE) & set(BOOKKEEPING)
    missing = fields - set(LIVE) - set(BOOKKEEPING)
    assert not missing, f"numeric CPU config fields with no knob test and no bookkeeping reason: {sorted(missing)}"
    assert not (set(LIVE) | set(BOOKKEEPING)) - fields, "cases for fields the schema no longer has"


def _set(arch, dotted, value):
    return derive(arch, {dotted: value}, name=f"{arch.name}+{dotted}")


@pytest.mark.parametrize("arch_name", ARCHS)
@pytest.mark.parametrize("field", sorted(LIVE))
def test_live_field_moves_its_output(arch_name, field):
    arch = load_cpu_arch(arch_name)
    new_value, output, why = LIVE[field]
    table, key = field.split(".")
    old = getattr(getattr(arch, table), key)
    changed = _set(arch, field, type(old)(new_value(old)))
    assert getattr(getattr(changed, table), key) != old
    before, after = output(arch), output(changed)
    assert after != pytest.approx(before, rel=1e-6), f"{field} on {arch_name} moved nothing ({why})"


def _kernel_using(arch, op):
    """A loop that waits for ``op``'s result: its one-chain probe (each instruction needs
    the previous one's result; for a load, a window that must cover its latency), else
    the first micro-kernel the arch can run that issues it (the pointer chains)."""
    from sparsesim.cpu.microkernels import KERNELS, build_probe
    from sparsesim.errors import InputError

    try:
        return build_probe(op, 1)
    except InputError:
        pass
    for name in KERNELS:
        k = build_kernel(name)
        if arch.has_isa(*k.isa) and any(i.op == op for i in k.body):
            return k
    raise AssertionError(f"no loop issues {op}")


def _rows(arch_name):
    return [pytest.param(arch_name, ins.op, id=f"{arch_name}-{ins.op}") for ins in load_cpu_arch(arch_name).instructions]


@pytest.mark.parametrize("arch_name,op", [p for a in ARCHS for p in _rows(a)])
def test_every_instruction_latency_moves_a_kernel_that_issues_it(arch_name, op):
    """A longer result latency is paid where the result is waited for: the loop-carried
    accumulator or pointer chains, or a window too small to cover a load."""
    import dataclasses as dc

    from sparsesim.cpu.config import CpuInstruction

    arch = load_cpu_arch(arch_name)
    kern = _kernel_using(arch, op)
    # a one-chain probe pays any longer latency; independent loads pay it only once it exceeds
    # what the window covers, and a pointer chain once it exceeds an iteration
    chain = kern.name.startswith("probe_") and not op.endswith(("_m32", "_m64", "_m256", "_m512"))
    longer = (lambda lat: lat * 2 + 2) if chain else (lambda lat: lat * 40 + 40)
    rows = tuple(CpuInstruction(op=i.op, uops=i.uops, latency_cycles=longer(i.latency_cycles), cite=i.cite)
                 if i.op == op else i for i in arch.instructions)
    slow = dc.replace(arch, name=f"{arch.name}+{op}.latency", instructions=rows)
    iterations = 24 if chain else 48
    before = simulate_kernel(arch, kern, iterations=iterations).cycles_per_iteration
    after = simulate_kernel(slow, kern, iterations=iterations).cycles_per_iteration
    assert after > before * 1.05, (kern.name, before, after)
