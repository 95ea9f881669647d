#!/usr/bin/env python3
"""Run the port-model micro-kernels on this CPU and compare with the model.

The loops are the exact text that ``sparsesim ports --emit-asm`` prints
(sparsesim.cpu.microkernels); they are wrapped in callable functions,
assembled with gcc together with driver.c, checked for correct results against a
plain numpy reference, and timed.  Cycles come from a calibration loop of 8
dependent 1-cycle ``add`` instructions per iteration, so the figures do not
depend on the (unknown, turbo) core clock.  The comparison uses frequency-free
ratios (VNNI vs 3-instruction int8, latency-bound vs throughput-bound, 2:4
decompress vs dense).

    .venv/bin/python benchmarks/cpu/run_ports_bench.py [--arch zen4-genoa] [--reps 15]

Prints a table; ``--json PATH`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from sparsesim.cpu import microkernels as mk  # noqa: E402

# (kernel, mr, nr): the default blocking of every kernel, plus VNNI with too few
# accumulator chains to hide its latency.
VARIANTS = [
    ("fp32", 4, 4),
    ("avx512-int8", 4, 4),
    ("vnni", 4, 4),
    ("vnni-2to4", 4, 4),
    ("vnni", 2, 2),
    ("vnni", 1, 2),
    ("vnni", 1, 1),
    ("vnni", 6, 3),
    ("vnni-2to4", 6, 3),
    ("vnni-2to4-mux", 16, 1),
    ("avx512-int8-2to4-mux", 16, 1),
    ("vnni-2to4-mux", 8, 2),
]
PROBES = [
    ("vpdpbusd_zmm", 1), ("vpdpbusd_zmm", 12),
    ("vfmadd231ps_zmm", 1), ("vfmadd231ps_zmm", 12),
    ("vpmaddubsw_zmm", 1), ("vpmaddubsw_zmm", 12),
    ("vpmaddwd_zmm", 1), ("vpmaddwd_zmm", 12),
    ("vpaddd_zmm", 1), ("vpaddd_zmm", 12),
    ("vpexpandb_zmm_k_zmm", 1), ("vpexpandb_zmm_k_zmm", 12),
    ("vpbroadcastd_zmm_m32", 12), ("vbroadcastss_zmm_m32", 12), ("vmovdqu64_zmm_m512", 12),
    ("vmovdqu8_ymm_m256", 12), ("kmovq_k_m64", 12),
    ("vpshufb_zmm", 1), ("vpshufb_zmm", 12), ("vpbroadcastq_zmm_m64", 12),
]


def _mixes():
    """Two-instruction mixes: which pipes two forms share (the fitting set of the Zen 4 rows)."""
    I = mk.Insn

    def dp(i):
        return I("vpdpbusd_zmm", f"vpdpbusd zmm{i}, zmm30, zmm29", (f"zmm{i}", "zmm30", "zmm29"), (f"zmm{i}",))

    def ex(i, k=1):
        return I("vpexpandb_zmm_k_zmm", f"vpexpandb zmm{i} {{k{k}}} {{z}}, zmm28", ("zmm28", f"k{k}"), (f"zmm{i}",))

    def km(i):
        return I("kmovq_k_m64", f"kmovq k{i}, qword ptr [rdx + {8 * i}]", ("rdx",), (f"k{i}",))

    def add(i):
        return I("vpaddd_zmm", f"vpaddd zmm{i}, zmm{i}, zmm29", (f"zmm{i}", "zmm29"), (f"zmm{i}",))

    def madd(i):
        return I("vpmaddwd_zmm", f"vpmaddwd zmm{i}, zmm30, zmm29", ("zmm30", "zmm29"), (f"zmm{i}",))

    def fma(i):
        return I("vfmadd231ps_zmm", f"vfmadd231ps zmm{i}, zmm30, zmm29", (f"zmm{i}", "zmm30", "zmm29"), (f"zmm{i}",))

    def shuf(i):
        return I("vpshufb_zmm", f"vpshufb zmm{i}, zmm30, zmm28", ("zmm30", "zmm28"), (f"zmm{i}",))

    def bsq(i):
        return I("vpbroadcastq_zmm_m64", f"vpbroadcastq zmm{i}, qword ptr [rdi + {8 * (i % 8)}]", ("rdi",),
                 (f"zmm{i}",))

    def bss(i):
        return I("vbroadcastss_zmm_m32", f"vbroadcastss zmm{i}, dword ptr [rdi + {4 * (i % 8)}]", ("rdi",), (f"zmm{i}",))

    mixes = {
        "mix_dp16_ex4": [dp(i) for i in range(16)] + [ex(16 + i) for i in range(4)],
        "mix_dp16_km4": [dp(i) for i in range(16)] + [km(1 + i) for i in range(4)],
        "mix_dp16_km4_ex4": [dp(i) for i in range(16)] + [km(1 + i) for i in range(4)]
        + [ex(16 + i, 1 + i) for i in range(4)],
        "mix_ex16": [ex(i) for i in range(16)],
        "mix_fma12_madd12": [fma(i) for i in range(12)] + [madd(12 + i) for i in range(12)],
        "mix_add12_madd12": [add(i) for i in range(12)] + [madd(12 + i) for i in range(12)],
        "mix_add12_bss8": [add(i) for i in range(12)] + [bss(16 + i) for i in range(8)],
        "mix_dp12_bss8": [dp(i) for i in range(12)] + [bss(16 + i) for i in range(8)],
        "mix_dp12_shuf12": [dp(i) for i in range(12)] + [shuf(12 + i) for i in range(12)],
        "mix_add12_shuf12": [add(i) for i in range(12)] + [shuf(12 + i) for i in range(12)],
        "mix_dp16_bsq16": [dp(i) for i in range(16)] + [bsq(16 + i) for i in range(12)],
    }
    out = {}
    for name, body in mixes.items():
        body = body + [I("dec_jnz", f"dec rcx\njnz .Lloop_{name}", ("rcx",), ("rcx",))]
        out[name] = mk.Kernel(name=name, mr=1, nr=1, body=tuple(body), macs_per_iteration=0, k_per_iteration=0)
    return out


CALIB = """
.globl calib_add8
.type calib_add8, @function
.p2align 6
calib_add8:
    xor eax, eax
    test rcx, rcx
    jz .Lcalib_done
    .p2align 5
.Lcalib_loop:
    add rax, 1
    add rax, 1
    add rax, 1
    add rax, 1
    add rax, 1
    add rax, 1
    add rax, 1
    add rax, 1
    dec rcx
    jnz .Lcalib_loop
.Lcalib_done:
    ret
.size calib_add8, .-calib_add8
"""


def sym(name: str) -> str:
    return "k_" + name.replace("-", "_")


def variant_name(kernel, mr, nr):
    return f"{kernel}_{mr}x{nr}"


def build(workdir: Path, cc: str = "gcc"):
    kernels = {}
    asm = []
    for kernel, mr, nr in VARIANTS:
        k = mk.build_kernel(kernel, mr, nr)
        name = variant_name(kernel, mr, nr)
        kernels[name] = k
        text = mk.emit_function_asm(k, sym(name))
        # the loop label must be unique per function
        text = text.replace(k.label, f"{k.label}_{mr}x{nr}")
        asm.append(text)
    for op, chains in PROBES:
        k = mk.build_probe(op, chains)
        kernels[k.name] = k
        asm.append(mk.emit_function_asm(k, sym(k.name)))
    for name, k in _mixes().items():
        kernels[name] = k
        asm.append(mk.emit_function_asm(k, sym(name)))
    asm.append(".intel_syntax noprefix\n.text\n" + CALIB)
    (workdir / "kernels.S").write_text("\n".join(asm) + '\n.section .note.GNU-stack,"",@progbits\n')
    rows = []
    decls = []
    for name, k in kernels.items():
        decls.append(f"extern void {sym(name)}(const void*, const void*, const void*, long, void*);")
        bpi = k.bytes_per_iteration or {}
        if k.name in mk.MUX_KERNELS:  # values and controls interleaved in one stream (rsi)
            bpi = {"activations": bpi["activations"], "weights": bpi["weights"] + bpi["metadata"], "metadata": 0}
        if name.startswith(("probe_", "mix_")):  # fixed addresses: 64 B per iteration covers every offset
            bpi = {"activations": 64, "weights": 64, "metadata": 64}
        rows.append(
            f'{{"{name}", {sym(name)}, {bpi.get("activations", 0)}, '
            f'{bpi.get("weights", 0)}, {bpi.get("metadata", 0)}, {max(k.accumulators, 1) * 64}}}'
        )
    decls.append("extern void calib_add8(const void*, const void*, const void*, long, void*);")
    rows.append('{"calib_add8", calib_add8, 64, 64, 0, 64}')
    (workdir / "kernels_table.h").write_text(
        "\n".join(decls)
        + "\nstatic const struct kentry KERNEL_TABLE[] = {\n    "
        + ",\n    ".join(rows)
        + "\n};\n#define NKERNELS (sizeof KERNEL_TABLE / sizeof KERNEL_TABLE[0])\n"
    )
    exe = workdir / "bench"
    cmd = [cc, "-O2", "-std=c11", "-I", str(workdir), str(HERE / "driver.c"), str(workdir / "kernels.S"),
           "-o", str(exe)]
    subprocess.run(cmd, check=True)
    return exe, kernels


# ---------------------------------------------------------------- correctness check
def reference(name, k, a, b, m, iters):
    mr, nr = k.mr, k.nr
    if k.name == "fp32":
        A = np.frombuffer(a, np.float32).reshape(iters, mr).astype(np.float64)
        B = np.frombuffer(b, np.float32).reshape(iters, nr, 16).astype(np.float64)
        return np.einsum("ir,inl->rnl", A, B)
    if k.name in mk.MUX_KERNELS:
        return reference_mux(k, a, b, iters)
    A = np.frombuffer(a, np.uint8).reshape(iters, mr, 4).astype(np.int64)
    if k.name == "vnni-2to4":
        vals = np.frombuffer(b, np.int8).reshape(iters, nr, 32)
        masks = np.frombuffer(m, np.uint64).reshape(iters, nr)
        B = np.zeros((iters, nr, 64), np.int64)
        for i in range(iters):
            for n in range(nr):
                mask = int(masks[i, n])
                src = 0
                for bit in range(64):
                    if mask >> bit & 1:
                        B[i, n, bit] = vals[i, n, src]
                        src += 1
    else:
        B = np.frombuffer(b, np.int8).reshape(iters, nr, 64).astype(np.int64)
    B = B.reshape(iters, nr, 16, 4)
    if k.name == "avx512-int8":
        # vpmaddubsw: pairs of u8*s8 products summed with signed 16-bit saturation
        p = A[:, :, None, None, :] * B[:, None, :, :, :]  # i r n l j
        s16 = np.clip(p[..., 0::2] + p[..., 1::2], -32768, 32767)
        return s16.sum(axis=(0, 4))  # vpmaddwd by ones, vpaddd (no overflow at these sizes)
    return np.einsum("irj,inlj->rnl", A, B)


def reference_mux(k, a, b, iters):
    """VPBROADCASTQ (8 bytes in each half of every 128-bit lane) -> VPSHUFB (control byte:
    bit 7 zeroes, low 4 bits index the 128-bit lane) -> VPDPBUSD, or VPMADDUBSW pairs
    saturated to s16 -> VPMADDWD with ones -> VPADDD."""
    mr, nr = k.mr, k.nr
    act = np.frombuffer(a, np.uint8).reshape(iters, mr, 8).astype(np.int64)
    wb = np.frombuffer(b, np.int8).reshape(iters, nr, 2, 16, 4)
    vals = wb[:, :, 0].astype(np.int64)
    ctrl = wb[:, :, 1].view(np.uint8).astype(np.int64)
    lane16 = np.concatenate([act, act], axis=2)  # one 128-bit lane of the broadcast register
    routed = np.take_along_axis(lane16[:, :, None, None, :], (ctrl & 15)[:, None, :, :, :].repeat(mr, 1), axis=4)
    routed = np.where((ctrl & 0x80)[:, None] != 0, 0, routed)  # i r j l q
    p = routed * vals[:, None]
    if k.name == "avx512-int8-2to4-mux":
        s16 = np.clip(p[..., 0::2] + p[..., 1::2], -32768, 32767)
        return s16.sum(axis=(0, 4))
    return p.sum(axis=(0, 4))


def check(exe, kernels, workdir, rng, iters=24):
    for name, k in kernels.items():
        if name.startswith(("probe", "mix")):
            continue
        bpi = k.bytes_per_iteration
        if k.name == "fp32":
            a = rng.integers(-8, 8, size=bpi["activations"] * iters // 4).astype(np.float32).tobytes()
            b = rng.integers(-8, 8, size=bpi["weights"] * iters // 4).astype(np.float32).tobytes()
        elif k.name in mk.MUX_KERNELS:
            a = rng.integers(0, 256, size=bpi["activations"] * iters, dtype=np.uint8).tobytes()
            vals = rng.integers(-128, 128, size=(iters, k.nr, 1, 64), dtype=np.int8)
            vals[rng.random(vals.shape) < 0.3] = 127
            ctrl = rng.integers(0, 16, size=(iters, k.nr, 1, 64)).astype(np.uint8)
            ctrl[rng.random(ctrl.shape) < 0.1] = 0x80
            b = np.concatenate([vals, ctrl.view(np.int8)], axis=2).tobytes()
        else:
            a = rng.integers(0, 256, size=bpi["activations"] * iters, dtype=np.uint8).tobytes()
            b = rng.integers(-128, 128, size=bpi["weights"] * iters, dtype=np.int8).tobytes()
        m = b""
        if bpi.get("metadata") and k.name not in mk.MUX_KERNELS:
            nib = np.array([0b0011, 0b0101, 0b0110, 0b1001, 0b1010, 0b1100], np.uint64)
            groups = nib[rng.integers(0, 6, size=(iters * k.nr, 16))]
            masks = np.zeros(iters * k.nr, np.uint64)
            for g in range(16):
                masks |= groups[:, g] << np.uint64(4 * g)
            m = masks.tobytes()
        (workdir / "a.bin").write_bytes(a)
        (workdir / "b.bin").write_bytes(b)
        (workdir / "m.bin").write_bytes(m)
        subprocess.run([str(exe), "check", name, str(iters), str(workdir)], check=True)
        raw = (workdir / "c.bin").read_bytes()
        got = np.frombuffer(raw, np.float32 if k.name == "fp32" else np.int32).reshape(k.mr, k.nr, 16)
        want = reference(name, k, a, b, m, iters)
        if not np.array_equal(got.astype(np.float64), want.astype(np.float64)):
            raise SystemExit(f"{name}: results differ from the numpy reference")


def measure(exe, reps, calls=1000, lo=48, hi=96):
    out = subprocess.run([str(exe), "time", str(lo), str(hi), str(calls), str(reps)],
                         check=True, capture_output=True, text=True).stdout
    cyc, spread = {}, {}
    ghz = float("nan")
    for line in out.split("\n"):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "core_ghz":
            ghz = float(parts[1])
        else:
            cyc[parts[0]] = float(parts[1])
            spread[parts[0]] = (float(parts[2]), float(parts[3]))
    return cyc, ghz, spread


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="zen4-genoa", help="arch config the model uses (this CPU)")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--runs", type=int, default=3, help="independent timing runs; the median is kept")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-model", action="store_true")
    args = ap.parse_args(argv)

    fields = {}
    try:
        for line in open("/proc/cpuinfo"):
            if not line.strip():
                break  # first processor only
            key, _, val = line.partition(":")
            fields[key.strip()] = val.strip()
    except OSError:
        pass
    cpu = (f"{fields.get('vendor_id', '?')} {fields.get('model name', '?')} "
           f"(family {fields.get('cpu family', '?')}, model {fields.get('model', '?')}, "
           f"stepping {fields.get('stepping', '?')})")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as td:
        wd = Path(td)
        exe, kernels = build(wd)
        check(exe, kernels, wd, rng)
        runs = [measure(exe, args.reps) for _ in range(args.runs)]
    cyc = {n: float(np.median([r[0][n] for r in runs])) for n in runs[0][0]}
    spread = {n: (min(r[2][n][0] for r in runs), max(r[2][n][1] for r in runs)) for n in runs[0][0]}
    ghz = float(np.median([r[1] for r in runs]))
    print(f"# CPU: {cpu}; core clock during run ~{ghz:.2f} GHz (from the add-chain calibration)")
    print("# all kernels' results matched the numpy reference")

    model = {}
    if not args.no_model:
        from sparsesim.cpu import load_cpu_arch, simulate_kernel

        arch = load_cpu_arch(args.arch)
        for name, k in kernels.items():
            try:
                model[name] = simulate_kernel(arch, k).cycles_per_iteration
            except Exception as exc:  # an op the config lacks
                model[name] = float("nan")
                print(f"# model: {name}: {exc}")

    print(f"{'loop':34s} {'measured cyc/it':>16s} {'(min..max)':>16s} {'model cyc/it':>13s}")
    for n, v in cyc.items():
        lo_, hi_ = spread[n]
        print(f"{n:34s} {v:16.3f} {lo_:7.2f}..{hi_:7.2f} {model.get(n, float('nan')):13.3f}")

    def macs_per_cycle(d, n):
        k = kernels[n]
        return k.macs_per_iteration / d[n]

    ratios = [
        ("vnni / avx512-int8 (MAC/cycle)", lambda d: macs_per_cycle(d, "vnni_4x4") / macs_per_cycle(d, "avx512-int8_4x4")),
        ("avx512-int8 / fp32 (MAC/cycle)", lambda d: macs_per_cycle(d, "avx512-int8_4x4") / macs_per_cycle(d, "fp32_4x4")),
        ("vnni / fp32 (MAC/cycle)", lambda d: macs_per_cycle(d, "vnni_4x4") / macs_per_cycle(d, "fp32_4x4")),
        ("vnni 2 chains / 16 chains (cyc per vpdpbusd)", lambda d: (d["vnni_1x2"] / 2) / (d["vnni_4x4"] / 16)),
        ("vnni 4 chains / 16 chains (cyc per vpdpbusd)", lambda d: (d["vnni_2x2"] / 4) / (d["vnni_4x4"] / 16)),
        ("vnni 1 chain / 16 chains (cyc per vpdpbusd)", lambda d: (d["vnni_1x1"] / 1) / (d["vnni_4x4"] / 16)),
        ("vnni-2to4 / vnni (cycles per iteration)", lambda d: d["vnni-2to4_4x4"] / d["vnni_4x4"]),
        ("vnni-2to4 / vnni, 6x3 blocking", lambda d: d["vnni-2to4_6x3"] / d["vnni_6x3"]),
        ("vnni-2to4-mux / vnni (cycles per dense-equivalent MAC)",
         lambda d: macs_per_cycle(d, "vnni_4x4") / macs_per_cycle(d, "vnni-2to4-mux_16x1")),
        ("avx512-int8-2to4-mux / avx512-int8 (cycles per dense-equivalent MAC)",
         lambda d: macs_per_cycle(d, "avx512-int8_4x4") / macs_per_cycle(d, "avx512-int8-2to4-mux_16x1")),
    ]
    result = {"cpu": cpu, "core_ghz": ghz, "cycles_per_iteration": cyc, "model": model, "ratios": {}}
    print()
    print("# single-instruction probes: cycles per instruction (1 chain = latency, 12 chains = 1/throughput)")
    for n, k in kernels.items():
        if n.startswith("probe_"):
            cnt = sum(1 for i in k.body if i.op != "dec_jnz")
            print(f"{n:34s} {cyc[n] / cnt:8.3f}   model {model.get(n, float('nan')) / cnt:8.3f}")
    print()
    print(f"{'ratio':48s} {'measured':>9s} {'model':>9s} {'error':>8s}")
    for label, f in ratios:
        mv = f(cyc)
        pv = f(model) if model else float("nan")
        err = (pv - mv) / mv * 100 if model else float("nan")
        result["ratios"][label] = {"measured": mv, "model": pv, "error_pct": err}
        print(f"{label:48s} {mv:9.3f} {pv:9.3f} {err:7.1f}%")
    if args.json:
        from sparsesim.io import write_text_atomic

        write_text_atomic(args.json, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
