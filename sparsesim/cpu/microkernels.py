"""Instruction streams of the GEMM micro-kernels the x86 port model runs.

One *iteration* of every kernel consumes one reduction step of a register-blocked
tile C[MR x 16*NR] += A[MR x k] * B[k x 16*NR]:

* ``fp32``: k advances by 1.  Per iteration: NR weight loads (16 fp32 each), MR
  broadcasts of one activation (``vbroadcastss``), MR*NR ``vfmadd231ps``.
* ``avx512-int8``: k advances by 4 (the VNNI layout: each 32-bit lane of a weight
  register holds 4 consecutive-k int8 weights of one output column).  Per
  iteration: NR weight loads, MR ``vpbroadcastd`` of 4 activation bytes, and for
  each (row, column) ``vpmaddubsw`` (u8 x s8 -> pairwise s16, saturating),
  ``vpmaddwd`` with a vector of 16-bit ones (s16 pairs -> s32), ``vpaddd`` into
  the accumulator.
* ``vnni``: as ``avx512-int8`` with one ``vpdpbusd`` (u8 x s8 -> s32 accumulate).
* ``vnni-2to4``: the weights are 2:4-compressed along k (2 kept bytes in every
  32-bit lane), 32 bytes of values + one 64-bit mask per 64 dense weights.  Per
  weight register: ``kmovq`` the mask, load 32 compressed bytes, ``vpexpandb``
  them to their dense positions (zeros elsewhere, AVX512_VBMI2); then the dense
  VNNI work.  It halves weight-value traffic (64 -> 32 + 8 bytes) at the price of
  three extra instructions per weight register.

Operands are packed the way oneDNN-style kernels pack them: A as [k-step][MR][4
bytes] (or [k][MR] fp32), B as [k-step][NR][64 bytes] (2:4: [k-step][NR][32
bytes] + [k-step][NR] 64-bit masks).  Registers: ``rdi`` A, ``rsi`` B, ``rdx``
masks, ``rcx`` trip count.  Accumulators are zmm0.., weights follow, then the
broadcast registers; ``zmm31`` holds the 16-bit ones of the 3-instruction kernel.

Each instruction carries the registers it reads and writes, so the port model
tracks true (read-after-write) dependencies; register renaming removes the rest.
The exact text of the loop is what :func:`emit_asm` prints, what llvm-mca reads and
what the CPU micro-benchmark assembles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError

KERNELS = ("fp32", "avx512-int8", "vnni", "vnni-2to4", "vnni-2to4-mux", "avx512-int8-2to4-mux")

# ISA extensions each kernel needs (names as in /proc/cpuinfo flags).
KERNEL_ISA = {
    "fp32": ("avx512f",),
    "avx512-int8": ("avx512f", "avx512bw"),
    "vnni": ("avx512f", "avx512_vnni"),
    "vnni-2to4": ("avx512f", "avx512bw", "avx512_vnni", "avx512_vbmi2"),
    "vnni-2to4-mux": ("avx512f", "avx512bw", "avx512_vnni"),
    "avx512-int8-2to4-mux": ("avx512f", "avx512bw"),
}

#: Kernels whose weights are 2:4-compressed along k.
SPARSE_24 = ("vnni-2to4", "vnni-2to4-mux", "avx512-int8-2to4-mux")
#: Kernels that multiply only the kept weights: the weight rows sit in the lanes and
#: VPSHUFB routes each lane its activations (:mod:`sparsesim.kernels.vnni_sparse`).
MUX_KERNELS = ("vnni-2to4-mux", "avx512-int8-2to4-mux")

# Default register blocking: 4 rows x 4 zmm columns = 16 independent accumulator
# chains, enough to hide a 5-cycle latency on two ports (needs >= 10).  The mux
# kernels use the functional kernel's tile: 16 activation columns x one 16-row block.
DEFAULT_MR = 4
DEFAULT_NR = 4
DEFAULT_BLOCKING = {"vnni-2to4-mux": (16, 1), "avx512-int8-2to4-mux": (16, 1)}


@dataclass(frozen=True)
class Insn:
    """One instruction of a loop body.

    ``op`` names the instruction form (a key of the arch config's instruction
    table), ``text`` is its exact Intel-syntax assembly (possibly two lines for a
    macro-fused pair), ``reads``/``writes`` the registers it depends on / defines.
    """

    op: str
    text: str
    reads: tuple = ()
    writes: tuple = ()


@dataclass(frozen=True)
class Kernel:
    name: str
    mr: int
    nr: int
    body: tuple  # tuple[Insn]
    macs_per_iteration: int
    k_per_iteration: int
    bytes_per_iteration: dict = field(default_factory=dict)  # activations, weights, metadata
    isa: tuple = ()

    @property
    def accumulators(self) -> int:
        return self.mr * self.nr

    @property
    def label(self) -> str:
        return ".Lloop_" + self.name.replace("-", "_")

    def ops(self) -> dict:
        """Instruction form -> count per iteration."""
        out: dict = {}
        for i in self.body:
            out[i.op] = out.get(i.op, 0) + 1
        return out


def _z(i: int) -> str:
    return f"zmm{i}"


def build_kernel(name: str, mr: int | None = None, nr: int | None = None) -> Kernel:
    """Instruction stream of one iteration of micro-kernel ``name`` blocked MR x NR
    (defaults: :data:`DEFAULT_BLOCKING`, else 4 x 4)."""
    if not isinstance(name, str) or name not in KERNELS:
        raise InputError(f"unknown kernel {name!r}; expected one of {', '.join(KERNELS)}")
    dmr, dnr = DEFAULT_BLOCKING.get(name, (DEFAULT_MR, DEFAULT_NR))
    mr = dmr if mr is None else mr
    nr = dnr if nr is None else nr
    for label, v in (("mr", mr), ("nr", nr)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InputError(f"{label} must be a positive integer, got {v!r}")
    if name in MUX_KERNELS:
        return _build_mux(name, mr, nr)
    nacc = mr * nr
    w0 = nacc  # first weight register
    b0 = w0 + nr  # first broadcast register
    ntemp = 0
    if name == "avx512-int8":
        ntemp = min(4, max(2, nacc))  # rotating temporaries for the s16/s32 products
    t0 = b0 + mr
    ones = 31
    need = t0 + ntemp + (1 if name == "avx512-int8" else 0)
    if need > 32:
        raise InputError(
            f"kernel {name!r} with mr={mr}, nr={nr} needs {need} zmm registers; "
            "AVX-512 has 32 (reduce mr*nr)"
        )

    body: list = []
    if name == "fp32":
        k_step, a_bytes = 1, 4
    else:
        k_step, a_bytes = 4, 4

    # weights
    for n in range(nr):
        w = _z(w0 + n)
        if name == "vnni-2to4":
            body.append(Insn("kmovq_k_m64", f"kmovq k{1 + n % 7}, qword ptr [rdx + {8 * n}]",
                             reads=("rdx",), writes=(f"k{1 + n % 7}",)))
            y = f"ymm{w0 + n}"
            body.append(Insn("vmovdqu8_ymm_m256", f"vmovdqu8 {y}, ymmword ptr [rsi + {32 * n}]",
                             reads=("rsi",), writes=(w,)))
            body.append(Insn("vpexpandb_zmm_k_zmm", f"vpexpandb {w} {{k{1 + n % 7}}} {{z}}, {w}",
                             reads=(w, f"k{1 + n % 7}"), writes=(w,)))
        else:
            body.append(Insn("vmovdqu64_zmm_m512", f"vmovdqu64 {w}, zmmword ptr [rsi + {64 * n}]",
                             reads=("rsi",), writes=(w,)))
    # broadcasts + arithmetic, row by row (each broadcast feeds NR instructions)
    t = 0
    for r in range(mr):
        b = _z(b0 + r)
        if name == "fp32":
            body.append(Insn("vbroadcastss_zmm_m32", f"vbroadcastss {b}, dword ptr [rdi + {4 * r}]",
                             reads=("rdi",), writes=(b,)))
        else:
            body.append(Insn("vpbroadcastd_zmm_m32", f"vpbroadcastd {b}, dword ptr [rdi + {4 * r}]",
                             reads=("rdi",), writes=(b,)))
        for n in range(nr):
            acc = _z(r * nr + n)
            w = _z(w0 + n)
            if name == "fp32":
                body.append(Insn("vfmadd231ps_zmm", f"vfmadd231ps {acc}, {b}, {w}",
                                 reads=(acc, b, w), writes=(acc,)))
            elif name == "avx512-int8":
                tmp = _z(t0 + t % ntemp)
                t += 1
                body.append(Insn("vpmaddubsw_zmm", f"vpmaddubsw {tmp}, {b}, {w}",
                                 reads=(b, w), writes=(tmp,)))
                body.append(Insn("vpmaddwd_zmm", f"vpmaddwd {tmp}, {tmp}, {_z(ones)}",
                                 reads=(tmp, _z(ones)), writes=(tmp,)))
                body.append(Insn("vpaddd_zmm", f"vpaddd {acc}, {acc}, {tmp}",
                                 reads=(acc, tmp), writes=(acc,)))
            else:
                body.append(Insn("vpdpbusd_zmm", f"vpdpbusd {acc}, {b}, {w}",
                                 reads=(acc, b, w), writes=(acc,)))
    # pointer updates and loop branch
    body.append(Insn("add_r64_imm", f"add rdi, {a_bytes * mr}", reads=("rdi",), writes=("rdi",)))
    w_bytes = 32 * nr if name == "vnni-2to4" else 64 * nr
    body.append(Insn("add_r64_imm", f"add rsi, {w_bytes}", reads=("rsi",), writes=("rsi",)))
    meta_bytes = 0
    if name == "vnni-2to4":
        meta_bytes = 8 * nr
        body.append(Insn("add_r64_imm", f"add rdx, {meta_bytes}", reads=("rdx",), writes=("rdx",)))
    lbl = ".Lloop_" + name.replace("-", "_")
    body.append(Insn("dec_jnz", f"dec rcx\njnz {lbl}", reads=("rcx",), writes=("rcx",)))

    macs = mr * nr * 16 * k_step
    return Kernel(
        name=name,
        mr=mr,
        nr=nr,
        body=tuple(body),
        macs_per_iteration=macs,
        k_per_iteration=k_step,
        bytes_per_iteration={"activations": a_bytes * mr, "weights": w_bytes, "metadata": meta_bytes},
        isa=KERNEL_ISA[name],
    )


def _build_mux(name: str, mr: int, nr: int) -> Kernel:
    """The 2:4 kernel that multiplies only kept weights (lanes = weight rows).

    One iteration is one step of 8 k (two 2:4 groups, 4 kept weights per lane):
    per 16-row weight block a register of kept values and a register of VPSHUFB
    controls (each kept value's position among the step's 8 activations); per
    activation column a ``vpbroadcastq`` of its 8 bytes; per (column, block)
    ``vpshufb`` (the multiplexer) then ``vpdpbusd`` - or, without VNNI, ``vpmaddubsw``
    (routed pairs saturate to s16) -> ``vpmaddwd`` with ones -> ``vpaddd``.
    Accumulator (r, j): activation column r, weight block j.
    """
    three = name == "avx512-int8-2to4-mux"
    nacc = mr * nr
    v0 = nacc  # kept values of block j: v0 + j; controls: v0 + nr + j
    b0 = v0 + 2 * nr  # two rotating broadcast registers
    t0 = b0 + 2  # rotating routed / product temporaries
    ntemp = 2 if not three else min(4, max(2, nacc))
    ones = 31
    need = t0 + ntemp + (1 if three else 0)
    if need > 32:
        raise InputError(f"kernel {name!r} with mr={mr}, nr={nr} needs {need} zmm registers; AVX-512 has 32 "
                         "(reduce mr*nr)")
    body: list = []
    for j in range(nr):
        body.append(Insn("vmovdqu64_zmm_m512", f"vmovdqu64 {_z(v0 + j)}, zmmword ptr [rsi + {128 * j}]",
                         reads=("rsi",), writes=(_z(v0 + j),)))
        body.append(Insn("vmovdqu64_zmm_m512", f"vmovdqu64 {_z(v0 + nr + j)}, zmmword ptr [rsi + {128 * j + 64}]",
                         reads=("rsi",), writes=(_z(v0 + nr + j),)))
    t = 0
    for r in range(mr):
        b = _z(b0 + r % 2)
        body.append(Insn("vpbroadcastq_zmm_m64", f"vpbroadcastq {b}, qword ptr [rdi + {8 * r}]",
                         reads=("rdi",), writes=(b,)))
        for j in range(nr):
            acc, vals, ctrl = _z(r * nr + j), _z(v0 + j), _z(v0 + nr + j)
            tmp = _z(t0 + t % ntemp)
            t += 1
            body.append(Insn("vpshufb_zmm", f"vpshufb {tmp}, {b}, {ctrl}", reads=(b, ctrl), writes=(tmp,)))
            if three:
                body.append(Insn("vpmaddubsw_zmm", f"vpmaddubsw {tmp}, {tmp}, {vals}", reads=(tmp, vals),
                                 writes=(tmp,)))
                body.append(Insn("vpmaddwd_zmm", f"vpmaddwd {tmp}, {tmp}, {_z(ones)}", reads=(tmp, _z(ones)),
                                 writes=(tmp,)))
                body.append(Insn("vpaddd_zmm", f"vpaddd {acc}, {acc}, {tmp}", reads=(acc, tmp), writes=(acc,)))
            else:
                body.append(Insn("vpdpbusd_zmm", f"vpdpbusd {acc}, {tmp}, {vals}", reads=(acc, tmp, vals),
                                 writes=(acc,)))
    body.append(Insn("add_r64_imm", f"add rdi, {8 * mr}", reads=("rdi",), writes=("rdi",)))
    body.append(Insn("add_r64_imm", f"add rsi, {128 * nr}", reads=("rsi",), writes=("rsi",)))
    body.append(Insn("dec_jnz", f"dec rcx\njnz .Lloop_{name.replace('-', '_')}", reads=("rcx",), writes=("rcx",)))
    return Kernel(name=name, mr=mr, nr=nr, body=tuple(body), macs_per_iteration=mr * nr * 16 * 8,
                  k_per_iteration=8,
                  bytes_per_iteration={"activations": 8 * mr, "weights": 64 * nr, "metadata": 64 * nr},
                  isa=KERNEL_ISA[name])


def emit_asm(kernel: Kernel, header: bool = True) -> str:
    """Exact Intel-syntax text of one loop iteration (label, body, back-edge)."""
    lines = []
    if header:
        lines.append(".intel_syntax noprefix")
    lines.append(f"{kernel.label}:")
    for insn in kernel.body:
        for ln in insn.text.split("\n"):
            lines.append("    " + ln)
    return "\n".join(lines) + "\n"


def emit_function_asm(kernel: Kernel, symbol: str) -> str:
    """A callable System V function around the exact loop of :func:`emit_asm`.

    ``void symbol(const void *a, const void *b, const void *masks, long iters,
    void *c)``: loads the MR*NR accumulators from ``c`` (C += A*B; it also makes
    back-to-back calls one dependency chain, so a latency-bound loop cannot
    overlap with the next call), runs ``iters`` iterations, stores them back
    (row-major [MR][NR][16] of int32 / fp32).
    """
    lines = [
        ".intel_syntax noprefix",
        ".text",
        f".globl {symbol}",
        f".type {symbol}, @function",
        ".p2align 6",
        f"{symbol}:",
        "    mov rcx, rcx",  # iters already in rcx (4th argument)
    ]
    for i in range(kernel.accumulators):
        lines.append(f"    vmovdqu64 zmm{i}, zmmword ptr [r8 + {64 * i}]")
    lines.append("    mov rax, 0x3333333333333333")  # a 2:4 mask for the expand probe
    lines.append("    kmovq k1, rax")
    if kernel.name in ("avx512-int8", "avx512-int8-2to4-mux"):
        lines.append("    mov eax, 0x00010001")
        lines.append("    vpbroadcastd zmm31, eax")
    lines.append("    test rcx, rcx")
    lines.append(f"    jz .Ldone_{symbol}")
    lines.append("    .p2align 5")
    lines.append(emit_asm(kernel, header=False).rstrip("\n"))
    lines.append(f".Ldone_{symbol}:")
    for i in range(kernel.accumulators):
        lines.append(f"    vmovdqu64 zmmword ptr [r8 + {64 * i}], zmm{i}")
    lines.append("    vzeroupper")
    lines.append("    ret")
    lines.append(f".size {symbol}, .-{symbol}")
    return "\n".join(lines) + "\n"


def build_probe(op: str, chains: int, unroll: int = 0) -> Kernel:
    """A loop of ``chains`` independent dependency chains of one vector instruction.

    chains=1 measures latency, many chains measure throughput; used to measure
    single-instruction figures on the host CPU (``benchmarks/cpu``).  The chains
    are repeated ``unroll`` times per iteration (default: enough for >= 8
    instructions) so that the loop branch does not limit the loop.
    """
    forms = {
        "vpdpbusd_zmm": "vpdpbusd {d}, zmm30, zmm29",
        "vfmadd231ps_zmm": "vfmadd231ps {d}, zmm30, zmm29",
        "vpmaddubsw_zmm": "vpmaddubsw {d}, {d}, zmm29",
        "vpmaddwd_zmm": "vpmaddwd {d}, {d}, zmm29",
        "vpaddd_zmm": "vpaddd {d}, {d}, zmm29",
        "vpexpandb_zmm_k_zmm": "vpexpandb {d} {{k1}} {{z}}, {d}",
        # loads: independent by construction (throughput only)
        "vpbroadcastd_zmm_m32": "vpbroadcastd {d}, dword ptr [rdi + {off4}]",
        "vbroadcastss_zmm_m32": "vbroadcastss {d}, dword ptr [rdi + {off4}]",
        "vmovdqu64_zmm_m512": "vmovdqu64 {d}, zmmword ptr [rsi + {off64}]",
        "vmovdqu8_ymm_m256": "vmovdqu8 {y}, ymmword ptr [rsi + {off32}]",
        "kmovq_k_m64": "kmovq {k}, qword ptr [rdx + {off8}]",
        "vpshufb_zmm": "vpshufb {d}, {d}, zmm29",
        "vpbroadcastq_zmm_m64": "vpbroadcastq {d}, qword ptr [rdi + {off8}]",
    }
    if op not in forms:
        raise InputError(f"no probe for {op!r}; expected one of {', '.join(forms)}")
    if not 1 <= chains <= 24:
        raise InputError(f"chains must be in 1..24, got {chains}")
    if unroll <= 0:
        unroll = max(1, -(-8 // chains))
    body = []
    for i, c in enumerate([c for _ in range(unroll) for c in range(chains)]):
        d = _z(c)
        slot = i % 8
        text = forms[op].format(d=d, y=f"ymm{c}", k=f"k{1 + c % 7}", off4=4 * slot, off8=8 * slot,
                                off32=32 * slot, off64=64 * slot)
        if op.endswith(("_m32", "_m64", "_m256", "_m512")):
            base = {"kmovq_k_m64": "rdx", "vpbroadcastd_zmm_m32": "rdi", "vbroadcastss_zmm_m32": "rdi",
                    "vpbroadcastq_zmm_m64": "rdi"}.get(op, "rsi")
            writes = (f"k{1 + c % 7}",) if op == "kmovq_k_m64" else (d,)
            body.append(Insn(op, text, reads=(base,), writes=writes))
            continue
        reads = (d, "zmm30", "zmm29")
        if op == "vpshufb_zmm":
            reads = (d, "zmm29")
        if op == "vpexpandb_zmm_k_zmm":
            reads = (d, "k1")
        body.append(Insn(op, text, reads=reads, writes=(d,)))
    lbl = f".Lloop_probe_{op}_{chains}"
    body.append(Insn("dec_jnz", f"dec rcx\njnz {lbl}", reads=("rcx",), writes=("rcx",)))
    return Kernel(name=f"probe_{op}_{chains}", mr=chains, nr=1, body=tuple(body),
                  macs_per_iteration=0, k_per_iteration=0)
