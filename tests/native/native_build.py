"""Compile the C helpers in this folder at test time, or say exactly why not.

The helpers execute the real AVX-512BW / AVX512_VNNI instructions, so they need
both a CPU with those features (read from /proc/cpuinfo) and a gcc that accepts
the intrinsics.  ``build()`` returns the path of the executable or a string with
the reason it cannot run here (the tests skip with that reason).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: /proc/cpuinfo flags the helpers need (AVX512VL for the 256-bit EVEX forms).
REQUIRED_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512_vnni")
CFLAGS = ["-O2", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni"]


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def build(source: str, outdir: Path) -> Path | str:
    """Compile ``source`` (a file name in this folder) into ``outdir``."""
    missing = [f for f in REQUIRED_FLAGS if f not in cpu_flags()]
    if missing:
        return f"CPU lacks {', '.join(missing)} (from /proc/cpuinfo); cannot run the real instructions"
    cc = shutil.which("gcc")
    if cc is None:
        return "gcc not found on PATH; cannot compile the intrinsic helper"
    exe = Path(outdir) / Path(source).stem
    proc = subprocess.run(
        [cc, *CFLAGS, "-o", str(exe), str(HERE / source)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return f"gcc cannot compile AVX-512 VNNI intrinsics: {proc.stderr.strip()[:400]}"
    return exe


def run_isa_op(exe: Path, workdir: Path, op: str, bits: int, *inputs: np.ndarray, out_dtype) -> np.ndarray:
    """Run ``isa_ops`` over registers ``inputs`` (each ``(n, lanes)``); return ``(n, lanes_out)``."""
    workdir = Path(workdir)
    n = inputs[0].shape[0]
    names = []
    for i, arr in enumerate(inputs):
        p = workdir / f"{op}_{bits}_in{i}.bin"
        np.ascontiguousarray(arr).tofile(p)
        names.append(str(p))
    out = workdir / f"{op}_{bits}_out.bin"
    subprocess.run([str(exe), op, str(bits), str(n), str(out), *names], check=True)
    lanes = bits // (8 * np.dtype(out_dtype).itemsize)
    return np.fromfile(out, dtype=out_dtype).reshape(n, lanes)


def run_gemm(exe: Path, workdir: Path, path: str, a_u8: np.ndarray, w_packed: np.ndarray) -> np.ndarray:
    """Run ``int8_gemm`` (the real intrinsic loop) on packed weights; returns s32 (M, N_padded)."""
    workdir = Path(workdir)
    m, k = a_u8.shape
    nb, kb, _ = w_packed.shape
    if k != 4 * kb:
        raise ValueError("pad A to K = 4 * K/4 registers first")
    pa, pw, pc = workdir / "a.bin", workdir / "wp.bin", workdir / f"c_{path}.bin"
    np.ascontiguousarray(a_u8).tofile(pa)
    np.ascontiguousarray(w_packed).tofile(pw)
    subprocess.run([str(exe), path, str(m), str(k), str(16 * nb), str(pa), str(pw), str(pc)], check=True)
    return np.fromfile(pc, dtype=np.int32).reshape(m, 16 * nb)


def run_routed(exe: Path, workdir: Path, path: str, blocks: np.ndarray, act: np.ndarray) -> np.ndarray:
    """Run ``routed`` (the real VPSHUFB + VPDPBUSD / VPMADDUBSW loop) on a packed sparse
    operand ``blocks`` (RB, T, 128) and packed activations ``act`` (G, T, 16, 8); returns
    int32 (G, RB, 16 columns, 16 lanes)."""
    workdir = Path(workdir)
    rb, t, _ = blocks.shape
    g = act.shape[0]
    pb, pa, pc = workdir / "blocks.bin", workdir / "act.bin", workdir / f"routed_{path}.bin"
    np.ascontiguousarray(blocks).tofile(pb)
    np.ascontiguousarray(act).tofile(pa)
    subprocess.run([str(exe), path, str(rb), str(t), str(g), str(pb), str(pa), str(pc)], check=True)
    return np.fromfile(pc, dtype=np.int32).reshape(g, rb, 16, 16)
