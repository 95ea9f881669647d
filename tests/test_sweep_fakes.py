"""Small stand-in point models for the sweep tests (importable by worker processes).

They follow the evaluator contract of ``sparsesim.simulate(...).to_dict()`` with a
plain roofline: time = max(MAC time, DRAM time).  Their numbers only have to be
deterministic and plausible; they model no real hardware.
"""

import math
import os
import time

PEAK_MACS = {"a100": 156e12, "a100-4of8": 156e12, "h100": 495e12}  # dense fp16 MAC/s
DRAM_BPS = {"a100": 2.0e12, "a100-4of8": 2.0e12, "h100": 3.35e12}
CLOCK_HZ = 1.41e9
ELEM_BYTES = {"int8": 1, "fp8": 1, "fp16": 2, "bf16": 2, "fp32": 4}


def roofline_point(p):
    eb = ELEM_BYTES[p.dtype]
    d = p.density
    mk = p.m * p.k
    if p.pattern == "dense":
        a_values, a_meta, mac_speed = mk * eb, 0, 1.0
    elif p.pattern == "unstructured":
        nnz = math.ceil(mk * d)
        a_values = nnz * eb
        a_meta = {"csr": nnz * 4 + (p.m + 1) * 4, "csb": nnz * 2 + 1024,
                  "bitmask": math.ceil(mk / 8)}[p.format]
        mac_speed = 0.3 / d
    else:
        n, m = (int(x) for x in p.pattern.split(":"))
        nnz = mk * n // m
        a_values = nnz * eb
        a_meta = math.ceil(nnz * max(1, (m - 1).bit_length()) / 8)
        native = m == 4 or (m == 8 and p.arch == "a100-4of8") or m == 2
        mac_speed = m / n if native else 1.0
    b = p.k * p.n * eb
    c = p.m * p.n * eb
    total = a_values + a_meta + b + c
    t_mac = p.m * p.n * p.k / (PEAK_MACS[p.arch] * mac_speed)
    t_mem = total / DRAM_BPS[p.arch]
    seconds = max(t_mac, t_mem)
    return {
        "cycles": int(math.ceil(seconds * CLOCK_HZ)),
        "seconds": seconds,
        "bound": "compute" if t_mac >= t_mem else "dram",
        "utilization": t_mac / seconds,
        "dram_bytes": {"a_values": a_values, "a_metadata": a_meta, "b": b, "c": c, "total": total},
    }


def flaky_point(p):
    """Raises for the bitmask format at density 0.5 and for one layer name."""
    if (p.format == "bitmask" and p.density == 0.5) or p.layer == "ffn.down":
        raise ValueError(f"cannot model {p.layer} {p.format} at {p.density}")
    return roofline_point(p)


def slow_point(p):
    """Like roofline_point but takes a while (for kill/resume tests)."""
    time.sleep(float(os.environ.get("SPARSESIM_TEST_SLEEP", "0.02")))
    if os.environ.get("SPARSESIM_TEST_LOG"):
        return counting_point(p)
    return roofline_point(p)


def counting_point(p):
    """roofline_point that logs every call to $SPARSESIM_TEST_LOG (one line per call)."""
    with open(os.environ["SPARSESIM_TEST_LOG"], "a") as f:
        f.write(f"{p.arch},{p.m},{p.n},{p.k},{p.pattern},{p.format},{p.density}\n")
    return roofline_point(p)


def cli(argv):
    """Run the sweep/report/workloads commands like ``sparsesim`` does (parser of this
    module only, same error handling as sparsesim.cli.main)."""
    import argparse

    from sparsesim.cli import sweep_cmd
    from sparsesim.errors import SparsesimError

    parser = argparse.ArgumentParser(prog="sparsesim")
    sweep_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SparsesimError as exc:
        import sys

        print(f"sparsesim {args.command}: error: {exc}", file=sys.stderr)
        return 2


def bitmask_flaky_point(p):
    """Raises only for the bitmask format at density 0.5."""
    if p.format == "bitmask" and p.density == 0.5:
        raise ValueError(f"cannot model {p.layer} {p.format} at {p.density}")
    return roofline_point(p)


def dying_point(p):
    """Kills its own worker process on the ffn.down layer (a crash, not an exception)."""
    if p.layer == "ffn.down":
        os._exit(3)
    return roofline_point(p)


def design_point(p):
    """A roofline on the point's own design (its derived arch, as a worker rebuilds it): DRAM
    bandwidth and dense MAC rate from the arch, N:M at the arch's own pattern twice as fast;
    energy per byte and per MAC, and an area that grows with the sparse pattern's M."""
    from sparsesim.dse.sweep import point_arch

    arch = point_arch(p)
    eb = ELEM_BYTES[p.dtype]
    macs = arch.tensor_core.dense_macs_per_cycle[p.dtype] * arch.sm.count * arch.sm.tensor_cores_per_sm
    peak = macs * arch.clock.sustained_mhz * 1e6
    native = f"{arch.tensor_core.sparse_n}:{arch.tensor_core.sparse_m}"
    a = p.m * p.k * eb * (0.5 if p.pattern != "dense" else 1.0)
    total = a + (p.k + p.m) * p.n * eb
    t_mac = p.m * p.n * p.k / (peak * (2.0 if p.pattern == native else 1.0))
    t_mem = total / (arch.dram.bandwidth_gbps * 1e9)
    seconds = max(t_mac, t_mem)
    parts = {"tensor": p.m * p.n * p.k * 1e-12, "dram": total * 20e-12, "static": 50.0 * seconds}
    return {
        "cycles": seconds * CLOCK_HZ, "seconds": seconds, "bound": "compute" if t_mac >= t_mem else "dram",
        "utilization": t_mac / seconds,
        "dram_bytes": {"a_values": a, "a_metadata": 0.0, "b": p.k * p.n * eb, "c": p.m * p.n * eb, "total": total},
        "energy_j": sum(parts.values()), "energy_breakdown_j": parts, "avg_power_w": sum(parts.values()) / seconds,
        "area": {"chip_sparse_mm2": 0.1 * arch.tensor_core.sparse_m, "sparse_fraction": 0.01 * arch.tensor_core.sparse_m},
    }
