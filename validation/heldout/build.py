"""Rebuild validation/gpu_2to4_heldout.csv from the transcribed benchmark files in raw/.

Run from the repository root:  python validation/heldout/build.py
(add --check to compare with the committed CSV instead of writing it).

Inputs (all under validation/heldout/raw/, listed with their commit in MANIFEST.csv):

* ``cuBLASLt/<hw>/<DTYPE>/alg_search_<Model>.csv`` and
  ``cuSPARSELt/<hw>/<DTYPE>/alg_search_<Model>_2_4.csv``: the algorithm-search results of
  the SlideSparse benchmark (repository bcacdwk/vllmbench,
  ``slidesparse/benchmark_kernel/<backend>/alg_search_results/...``), header lines
  verbatim, table trimmed to the fastest algorithm of each shape (``tops_1, lat_us_1,
  alg_id_1[, split_k_1]``; where that entry is not a valid timing the second is kept).
* ``appendix/appendix_a_square_<DTYPE>.csv``: the paper's Appendix A tables
  (``slidesparse/tools/appendix_tables/``), square GEMMs, dense latency and 2:4 speedup
  only, rows of the GPUs that are not in the calibration set.

Benchmark convention (``cublaslt_gemm.cu`` / ``cusparselt_gemm.cu``, layout TN):
``R[N,M] = W[K,N]^T . A[K,M]``, W the 2:4 weight, N output features, K input features,
M tokens.  This CSV's convention is C[m x n] = A[m x k] . B[k x n] with A the weight:
m = their N, n = their M, k = their K.

Every transcribed timing is checked against the throughput the benchmark printed next to
it (``tops = 2*M*N*K / lat``) so a typo in a latency or a shape fails the build.
Nothing is cleaned: suspicious rows are kept and flagged in ``notes``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
OUT = HERE.parent / "gpu_2to4_heldout.csv"
# fp4 rows go to their own file: the measured-data loader does not take the dtype yet.
OUT_FP4 = HERE.parent / "gpu_2to4_heldout_fp4.csv"
APPENDIX_LATENCY = "cuBLASLt Latency (\u03bcs)"
REPO = "bcacdwk/vllmbench"
COLUMNS = ("gpu", "dtype", "m", "n", "k", "sparse_operand", "dense_us", "sparse_us", "speedup",
           "backend", "source", "notes")

# Board as the file header names it -> the short name used in the gpu column.
GPU_IDS = {
    "NVIDIA H100 PCIe": "H100-PCIe",
    "NVIDIA GeForce RTX 4090": "RTX4090",
    "NVIDIA GeForce RTX 5080": "RTX5080",
    "NVIDIA GB10": "GB10",
}
# Appendix tables name the GPU only; the board comes from the algorithm-search headers of the
# same hardware folder (B200 has none in the repository).
APPENDIX_GPU = {
    "H100": ("H100-PCIe", "hw=NVIDIA H100 PCIe (per the same benchmark's H100_cc90 file headers)"),
    "RTX4090": ("RTX4090", "hw=NVIDIA GeForce RTX 4090 (per the RTX4090_cc89 file headers)"),
    "RTX5080": ("RTX5080", "hw=NVIDIA GeForce RTX 5080 (per the RTX5080_cc120 file headers)"),
    "GB10": ("GB10", "hw=NVIDIA GB10 (per the GB10_cc121 file headers)"),
    "B200": ("B200", "hw=B200, cc100 (board variant and power limit not stated in the repository)"),
}
DTYPES = {"FP16": "fp16", "BF16": "bf16", "INT8": "int8", "FP8E4M3": "fp8", "FP8": "fp8",
          "FP4E2M1": "fp4", "FP4": "fp4"}
# Order of a model's NK list in the benchmark (utils.get_nk_list_for_benchmark): fused
# q/k/v, attention output, fused gate+up, down projection.
LAYERS = ("qkv", "wo", "w13", "w2")

TOPS_REL_TOL = 2e-3           # printed latency has 3 decimals (1 ns): 2e-3 covers 0.5 ns on >= 0.25 us
SPEEDUP_HW_BOUND = 2.0         # 2:4 halves the math at most
SPEEDUP_FLAG = 1.1 * SPEEDUP_HW_BOUND  # beyond 10 % over the bound the dense kernel is far off its usual efficiency
LOW_THROUGHPUT = 0.6           # flag a time whose throughput is below 60 % of its group's median
LARGE_MNK = 2 ** 30
COMPUTE_BOUND_MIN_DIM = 1024   # throughput flags only where every dimension is >= 1024 (not bandwidth-bound)


def read_manifest():
    with open(RAW / "MANIFEST.csv", newline="") as f:
        return {r["raw_path"]: r["commit"] for r in csv.DictReader(f)}


def parse_raw(path: Path):
    """Header dict (``# key: value`` lines) and table rows of one transcribed file."""
    header, lines = {}, []
    for ln in path.read_text().splitlines():
        if ln.startswith("#"):
            body = ln[1:].strip()
            if ":" in body:
                key, val = body.split(":", 1)
                header[key.strip()] = val.strip()
            else:
                header.setdefault("_other", []).append(body)
        elif ln.strip():
            lines.append(ln)
    return header, list(csv.DictReader(io.StringIO("\n".join(lines))))


def best_timing(row, where):
    """(lat_us, tops, rank, alg_id, split_k) of the fastest valid entry, checked against tops."""
    for rank in ("1", "2"):
        lat_s, tops_s = row.get(f"lat_us_{rank}"), row.get(f"tops_{rank}")
        if not lat_s:
            break
        lat, tops = float(lat_s), float(tops_s)
        if not (lat > 0 and math.isfinite(tops)):
            continue
        m, n, k = int(row["M"]), int(row["N"]), int(row["K"])
        expect = 2.0 * m * n * k / lat / 1e6
        if abs(expect - tops) > TOPS_REL_TOL * tops + 5e-6:
            raise SystemExit(f"{where}: M,N,K={m},{n},{k}: lat_us_{rank}={lat_s} and tops_{rank}={tops_s} "
                             f"disagree (2MNK/lat = {expect:.6f}); transcription error?")
        return lat, tops, int(rank), row.get(f"alg_id_{rank}"), row.get(f"split_k_{rank}")
    raise SystemExit(f"{where}: M,N,K={row['M']},{row['N']},{row['K']}: no valid timing")


def nk_layers(header):
    nks = re.findall(r"\((\d+),\s*(\d+)\)", header.get("NK_list", ""))
    return {(int(n), int(k)): LAYERS[i] if i < len(LAYERS) else f"nk{i}" for i, (n, k) in enumerate(nks)}


def upstream(raw_path: str) -> str:
    backend, rest = raw_path.split("/", 1)
    if backend == "appendix":
        return f"slidesparse/tools/appendix_tables/{rest}"
    return f"slidesparse/benchmark_kernel/{backend}/alg_search_results/{rest}"


def cite(raw_path, manifest):
    return f"{REPO}@{manifest[raw_path][:12]}:{upstream(raw_path)}"


def version_note(h):
    drv = h.get("CUDA driver", "")
    return f"torch {h.get('torch', '?')}; CUDA driver/runtime {drv.replace(', runtime: ', '/')}"


def alg_search_rows(manifest):
    rows = []
    dense_files = sorted(p for p in manifest if p.startswith("cuBLASLt/"))
    for dpath in dense_files:
        spath = "cuSPARSELt/" + dpath.split("/", 1)[1].replace(".csv", "_2_4.csv")
        if spath not in manifest:
            raise SystemExit(f"{dpath}: no 2:4 counterpart {spath} in MANIFEST.csv")
        dh, drows = parse_raw(RAW / dpath)
        sh, srows = parse_raw(RAW / spath)
        for key in ("GPU", "CC", "Model"):
            if dh.get(key) != sh.get(key):
                raise SystemExit(f"{dpath} / {spath}: header {key} differs ({dh.get(key)!r} vs {sh.get(key)!r})")
        if not sh.get("Sparsity", "").startswith("2_4 "):
            raise SystemExit(f"{spath}: not a 2_4 file (Sparsity: {sh.get('Sparsity')!r})")
        board = dh["GPU"]
        gpu = GPU_IDS[board]
        din, dout = (s.strip() for s in dh["dtype"].split("->"))
        sin, sout = (s.strip() for s in sh["dtype"].split("->"))
        if din != sin:
            raise SystemExit(f"{dpath} / {spath}: input dtypes differ ({din} vs {sin})")
        dtype = DTYPES[din]
        family = dh["Model"].rsplit("-", 1)[0]   # "Qwen2.5-7B-FP8": the checkpoint suffix is not the GEMM dtype
        layers = nk_layers(dh)
        sparse = {}
        for r in srows:
            sparse[(int(r["M"]), int(r["N"]), int(r["K"]))] = best_timing(r, spath)
        for r in drows:
            M, N, K = int(r["M"]), int(r["N"]), int(r["K"])
            if (M, N, K) not in sparse:
                continue
            d = best_timing(r, dpath)
            s = sparse[(M, N, K)]
            flags = []
            if s[2] != 1:
                flags.append("sparse top-1 entry is not a valid timing (lat 0.000 us and tops inf); "
                             "the second-fastest algorithm is used")
            notes = [
                f"family={family}", f"layer={layers.get((N, K), '?')}",
                f"their MNK={M}x{N}x{K} (M tokens)", f"hw={board}", f"cc={dh['CC']}",
                f"out dense={dout} sparse={sout}", version_note(dh),
                f"dense alg_id={d[3]} of {dh.get('alg_count', '?').split(',')[0]}",
                f"sparse alg_id={s[3]} split_k={s[4]}",
                f"runs {dh.get('Time', '?')[:16]} / {sh.get('Time', '?')[:16]}",
            ]
            rows.append({
                "gpu": gpu, "dtype": dtype, "m": N, "n": M, "k": K, "sparse_operand": "W",
                "dense_us": d[0], "sparse_us": s[0],
                "backend": "cuSPARSELt 2:4 vs cuBLASLt (CUDA 12.9; best of alg search)",
                "source": f"{cite(dpath, manifest)} + {cite(spath, manifest)}",
                "_notes": notes, "_flags": flags, "_dense_tops": d[1], "_sparse_tops": s[1],
            })
    return rows


def appendix_rows(manifest):
    rows = []
    for path in sorted(p for p in manifest if p.startswith("appendix/")):
        dt = re.search(r"appendix_a_square_(\w+)\.csv$", path).group(1)
        _, table = parse_raw(RAW / path)
        for r in table:
            gpu, hw = APPENDIX_GPU[r["GPU"]]
            size = int(r["M"])
            dense_us = float(r[APPENDIX_LATENCY])
            speedup = float(r["2:4"])
            rows.append({
                "gpu": gpu, "dtype": DTYPES[dt], "m": size, "n": size, "k": size, "sparse_operand": "W",
                "dense_us": dense_us, "sparse_us": None, "speedup": speedup,
                "backend": "cuSPARSELt 2:4 vs cuBLASLt (CUDA 12.9; best of alg search)",
                "source": cite(path, manifest),
                "_notes": ["family=square", "layer=square", f"their MNK={size}x{size}x{size}", hw,
                           "published: dense latency to 3 significant digits, speedup to 0.01; "
                           "sparse latency not published"],
                "_flags": [],
                "_dense_tops": 2.0 * size ** 3 / dense_us / 1e6,
                "_sparse_tops": 2.0 * size ** 3 / (dense_us / speedup) / 1e6,
            })
    return rows


def flag_rows(rows):
    """Flag (never drop) rows that break the 2:4 bound or run far below their group's throughput."""
    def compute_bound(r):
        return min(r["m"], r["n"], r["k"]) >= COMPUTE_BOUND_MIN_DIM

    groups = defaultdict(lambda: ([], []))
    for r in rows:
        if compute_bound(r):
            g = groups[(r["gpu"], r["dtype"])]
            g[0].append(r["_dense_tops"])
            g[1].append(r["_sparse_tops"])
    for r in rows:
        speedup = r.get("speedup") or r["dense_us"] / r["sparse_us"]
        if speedup > SPEEDUP_FLAG:
            r["_flags"].append(f"speedup {speedup:.2f} is more than 10 % above the 2:4 math bound of 2: dense kernel slow here")
        if not compute_bound(r):
            continue
        dmed, smed = (statistics.median(v) for v in groups[(r["gpu"], r["dtype"])])
        for what, tops, med in (("dense", r["_dense_tops"], dmed), ("sparse", r["_sparse_tops"], smed)):
            if tops < LOW_THROUGHPUT * med:
                r["_flags"].append(f"{what} throughput {tops:.0f} T/s is {tops / med:.0%} of the median of this "
                                   f"GPU/dtype's GEMMs with all dims >= 1024 ({med:.0f})")


FP4_NOTE = ("dense fp4 time probably covers half the GEMM: the benchmark hands cuBLASLt the packed K/2 "
            "(alg_search.py K_effective) and its dense fp4 throughput exceeds the board's dense fp4 peak; "
            "the sparse run takes the logical K")


def flag_fp4(rows):
    for r in rows:
        if r["dtype"] == "fp4":
            r["_flags"].append(FP4_NOTE)


def duplicates(rows):
    """Shapes measured more than once (same gpu, dtype, m, n, k): mark each with the others' values."""
    seen = defaultdict(list)
    for r in rows:
        seen[(r["gpu"], r["dtype"], r["m"], r["n"], r["k"])].append(r)
    pairs = []
    for rs in seen.values():
        if len(rs) > 1:
            for r in rs:
                others = [o for o in rs if o is not r]
                r["_flags"].append("shape measured again in " + "; ".join(
                    f"{o['_notes'][0]} (dense {o['dense_us']:.4g} us, speedup {speedup_of(o):.3f})" for o in others))
            pairs.append(rs)
    return pairs


def speedup_of(r):
    return r["speedup"] if r.get("speedup") is not None else r["dense_us"] / r["sparse_us"]


def finish(rows):
    out = []
    for r in rows:
        sp = speedup_of(r)
        notes = r["_notes"] + ([f"SUSPICIOUS: {f}" for f in r["_flags"] if not f.startswith("shape measured")]
                               + [f for f in r["_flags"] if f.startswith("shape measured")])
        out.append({
            "gpu": r["gpu"], "dtype": r["dtype"], "m": r["m"], "n": r["n"], "k": r["k"],
            "sparse_operand": "W",
            "dense_us": f"{r['dense_us']:.3f}" if r["sparse_us"] is not None else f"{r['dense_us']:.3g}",
            "sparse_us": "" if r["sparse_us"] is None else f"{r['sparse_us']:.3f}",
            "speedup": f"{sp:.3f}" if r["sparse_us"] is not None else f"{sp:.2f}",
            "backend": r["backend"], "source": r["source"], "notes": "; ".join(notes),
        })
    out.sort(key=lambda d: (d["gpu"], d["dtype"], d["notes"].split(";")[0], d["m"], d["n"], d["k"]))
    return out


def build() -> str:
    manifest = read_manifest()
    for p in manifest:
        if not (RAW / p).is_file():
            raise SystemExit(f"MANIFEST.csv lists {p}, which is not in {RAW}")
    rows = alg_search_rows(manifest) + appendix_rows(manifest)
    flag_rows(rows)
    flag_fp4(rows)
    duplicates(rows)
    out = {}
    for path, keep in ((OUT, lambda r: r["dtype"] != "fp4"), (OUT_FP4, lambda r: r["dtype"] == "fp4")):
        buf = io.StringIO()
        buf.write("# Held-out GPU timings (never fitted): built by validation/heldout/build.py from\n"
                  "# validation/heldout/raw/ (see validation/SOURCES.md, ids H1-H2). Times in microseconds.\n")
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(finish([r for r in rows if keep(r)]))
        out[path] = buf.getvalue()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed CSV differs from a rebuild")
    ap.add_argument("--out-dir", type=Path, default=None, help="write the CSVs here instead of validation/")
    args = ap.parse_args(argv)
    for path, text in build().items():
        if args.out_dir is not None:
            path = args.out_dir / path.name
        if args.check:
            if not path.is_file() or path.read_text() != text:
                sys.exit(f"{path} is stale: rerun python validation/heldout/build.py")
            continue
        path.write_text(text)
        print(f"wrote {path} ({text.count(chr(10)) - 3} rows)")


if __name__ == "__main__":
    main()
