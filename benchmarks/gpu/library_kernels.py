"""Which cuBLASLt / cuSPARSELt kernels a GPU really runs for a GEMM (torch profiler kernel names).

The kernel names carry the library's choice (tile size, stages, split-K / stream-K, cluster), the
evidence the library model of ``sparsesim.timing.library`` is checked against.  Needs a CUDA GPU
and PyTorch with cuSPARSELt.

    python benchmarks/gpu/library_kernels.py --out kernels.jsonl [--shapes 4096x4096x4096,...]

One JSON line per (dtype, shape, backend): the kernels launched by one call (name, grid, block,
duration), from ``torch.profiler``; errors are recorded, not fatal.
"""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_SHAPES = "4096x4096x4096,16384x4096x4096,8192x8192x8192,2048x64x8192,28672x512x4096,4096x512x14336"


def _pruned(m, k, dtype, torch):
    if dtype == "int8":
        w = torch.randint(-8, 8, (m, k), device="cuda", dtype=torch.int8)
    else:
        w = torch.randn(m, k, device="cuda", dtype=torch.float16)
    mask = torch.tensor([1, 1, 0, 0], device="cuda", dtype=w.dtype).repeat(m, k // 4)
    return w * mask


def _kernels(fn, torch):
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    out = []
    for e in prof.events():
        if getattr(e, "device_type", None) is not None and "CUDA" in str(e.device_type):
            out.append({"name": e.name, "us": round(getattr(e, "device_time", 0.0) or e.cuda_time, 2)})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default=DEFAULT_SHAPES)
    ap.add_argument("--dtypes", default="fp16,int8")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("library_kernels: error: no CUDA GPU available", file=sys.stderr)
        return 2
    rows = []
    for dtype in args.dtypes.split(","):
        for spec in args.shapes.split(","):
            m, n, k = (int(x) for x in spec.split("x"))
            a = _pruned(m, k, dtype, torch)
            if dtype == "int8":
                b = torch.randint(-8, 8, (n, k), device="cuda", dtype=torch.int8).t()  # column-major: TN
                dense = lambda: torch._int_mm(a, b)  # noqa: E731
            else:
                b = torch.randn(k, n, device="cuda", dtype=torch.float16)
                dense = lambda: torch.mm(a, b)  # noqa: E731
            runs = [("dense", dense)]
            try:
                ac = torch._cslt_compress(a)
                bs = b.contiguous() if dtype != "int8" else b
                runs.append(("cusparselt default", lambda: torch._cslt_sparse_mm(ac, bs)))
                alg = torch._cslt_sparse_mm_search(ac, bs)
                runs.append((f"cusparselt search alg {alg}", lambda: torch._cslt_sparse_mm(ac, bs, alg_id=alg)))
            except Exception as exc:  # recorded, the dense row still counts
                rows.append({"dtype": dtype, "shape": spec, "backend": "cusparselt", "error": repr(exc)[:300]})
            for name, fn in runs:
                try:
                    rows.append({"dtype": dtype, "shape": spec, "backend": name, "kernels": _kernels(fn, torch)})
                except Exception as exc:
                    rows.append({"dtype": dtype, "shape": spec, "backend": name, "error": repr(exc)[:300]})
                print(json.dumps(rows[-1])[:400], flush=True)
    with open(args.out, "w") as f:
        f.write(f"# {torch.cuda.get_device_name()} torch {torch.__version__} CUDA {torch.version.cuda}\n")
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
