"""The figures of docs/power.md: sustained clock and board power of dense and 2:4 GEMMs.

Run:  python examples/power_clocks.py

1. A100 PCIe / SXM4, H100 PCIe / SXM5, fp16 4096^3 and 16384^3, dense and 2:4: the clock the
   board's power limit allows, the supply there, the power drawn, and the 2:4 speedup.
2. Energy per SM cycle of each unit, dense against 2:4 (A100, 16384^3, at the boost clock):
   why the two kernels draw nearly the same power.
3. The same A100 PCIe table with the tensor-core lane energy (technology.array_energy_factor,
   the one power parameter without a published value) raised until the 300 W limit binds: how
   far a power limit can move the 2:4 speedup.
"""

from __future__ import annotations

import sparsesim
from sparsesim.arch import derive, load_arch

SIZES = (4096, 16384)


def clocks(archs, dtype="fp16"):
    print(f"{'arch':>12} {'size':>6} {'kernel':>6} {'clock MHz':>9} {'limit by':>8} {'V':>6} {'power W':>8} "
          f"{'limit W':>7} {'time us':>10} {'2:4 speedup':>11}")
    for name, arch in archs:
        for n in SIZES:
            d = sparsesim.simulate(arch, n, n, n, dtype, "dense")
            s = sparsesim.simulate(arch, n, n, n, dtype, "2:4")
            for kind, r in (("dense", d), ("2:4", s)):
                sp = f"{d.seconds / s.seconds:.3f}" if kind == "2:4" else ""
                print(f"{name:>12} {n:>6} {kind:>6} {r.clock_mhz:>9.0f} {r.clock_limit:>8} {r.vdd_v:>6.3f} "
                      f"{r.power_w:>8.1f} {r.power_limit_w:>7.0f} {r.seconds * 1e6:>10.1f} {sp:>11}")


def per_cycle(arch_name="a100", n=16384):
    arch = load_arch(arch_name)
    print(f"{'unit':>14} {'dense nJ/SM-cycle':>18} {'2:4 nJ/SM-cycle':>16}")
    rs = {p: sparsesim.simulate(arch, n, n, n, "fp16", p) for p in ("dense", "2:4")}
    sm_cycles = {p: r.kernel_cycles * arch.sm.count for p, r in rs.items()}
    for unit in rs["dense"].energy_breakdown_j:
        if unit == "static":
            continue
        vals = [rs[p].energy_breakdown_j[unit] / sm_cycles[p] * 1e9 for p in ("dense", "2:4")]
        print(f"{unit:>14} {vals[0]:>18.4f} {vals[1]:>16.4f}")
    tot = [sum(v for u, v in rs[p].energy_breakdown_j.items() if u != "static") / sm_cycles[p] * 1e9
           for p in ("dense", "2:4")]
    print(f"{'dynamic total':>14} {tot[0]:>18.4f} {tot[1]:>16.4f}   (2:4 / dense = {tot[1] / tot[0]:.3f})")


def main():
    print("# 1. sustained clock and power, fp16, energy table defaults")
    clocks([(n, n) for n in ("a100-pcie", "a100", "h100-pcie", "h100")])
    print()
    print("# 2. energy per SM cycle, a100 fp16 16384^3 at 1410 MHz")
    per_cycle()
    print()
    print("# 3. a100-pcie with a costlier tensor-core lane (technology.array_energy_factor)")
    clocks([(f"factor {k:g}", derive("a100-pcie", {"technology.array_energy_factor": k}))
            for k in (3.5, 9.0, 12.0, 16.0)])


if __name__ == "__main__":
    main()
