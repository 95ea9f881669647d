#!/usr/bin/env python
"""Measure dense vs 2:4-sparse GEMM latency on an NVIDIA GPU with PyTorch.

For each shape C[m x n] = A[m x k] . B[k x n] (A the 2:4 weight, the shape
convention of sparsesim's measured-timing CSV), it times ``torch.mm(A, B)`` dense
and ``torch.mm(A_sparse, B)`` with ``A_sparse = to_sparse_semi_structured(A)`` on
the cuSPARSELt backend and on the CUTLASS backend
(``SparseSemiStructuredTensor._FORCE_CUTLASS``).  Timing uses CUDA events around
each call, after warm-up calls; the reported time is the median.  The sparse
result is checked against the dense product of the same pruned matrix once per
shape.

Output: the sparsesim measured-timing CSV (``gpu,dtype,m,n,k,sparse_operand,
dense_us,sparse_us,speedup,backend,source,notes``) with a ``#`` header recording
the GPU model, driver, CUDA, PyTorch and cuSPARSELt versions and the settings;
the ``notes`` column records the SM clock and board power sampled right after the
sparse timing (they test the power-limit explanation of the speedup loss on large
GEMMs).  Feed it to ``sparsesim validate --measured FILE``.

Needs a CUDA GPU with sparse tensor cores (compute capability 8.0 or newer).  On a
machine without one it exits with status 2 and says why.

Usage::

    python benchmarks/gpu/bench_gemm.py --out validation/my_a100.csv
    python benchmarks/gpu/bench_gemm.py --sizes 4096,8192,768x12288x3072 --dtypes fp16 --iters 50
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io
import os
import statistics
import subprocess
import sys
import tempfile

# The GPU machine may have only PyTorch, so this script does not import sparsesim; the
# columns repeat sparsesim.validate.measured.COLUMNS and tests/test_gpu_bench.py checks
# that what it writes is read back by sparsesim's own parser.
COLUMNS = (
    "gpu",
    "dtype",
    "m",
    "n",
    "k",
    "sparse_operand",
    "dense_us",
    "sparse_us",
    "speedup",
    "backend",
    "source",
    "notes",
)
DEFAULT_SIZES = "1024,2048,4096,8192,16384,768x3072x3072,768x12288x3072,3072x12288x768"
BACKENDS = ("cusparselt", "cusparselt-search", "cutlass")
DTYPES = ("fp16", "bf16", "int8", "fp8")


class BenchError(Exception):
    """A condition that stops the benchmark with a message and exit status 2."""


# ---------------------------------------------------------------- pure helpers
def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    """``"4096,768x3072x3072"`` -> ``[(4096, 4096, 4096), (768, 3072, 3072)]`` (m x n x k)."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        dims = part.split("x")
        try:
            vals = [int(d) for d in dims]
        except ValueError:
            raise BenchError(f"size {part!r}: expected N or MxNxK with positive integers") from None
        if len(vals) == 1:
            vals = vals * 3
        if len(vals) != 3 or min(vals) <= 0:
            raise BenchError(f"size {part!r}: expected N or MxNxK with positive integers")
        out.append(tuple(vals))
    if not out:
        raise BenchError("no sizes given")
    return out


def check_shape(m: int, n: int, k: int, dtype: str) -> None:
    """Semi-structured sparse mm needs aligned shapes.

    PyTorch's fp16/bf16 constraints: the sparse operand's rows and columns multiples
    of 32 and 64 (CUTLASS, the stricter backend), the dense operand's of 8; the 8-bit
    types (int8, fp8) need twice the depth (k % 128) and n % 16.
    """
    kk, nn = (128, 16) if dtype in ("int8", "fp8") else (64, 8)
    if m % 32 or k % kk or n % nn:
        raise BenchError(
            f"shape {m}x{n}x{k} ({dtype}): 2:4 kernels need m % 32 == 0, k % {kk} == 0 and n % {nn} == 0"
        )


def short_gpu_name(name: str) -> str:
    """``"NVIDIA A100-SXM4-80GB"`` -> ``"A100"``; unknown names are kept without spaces."""
    up = name.upper()
    for model in ("H200", "H100", "H800", "A100", "A800", "A30", "A10G", "A10", "L40S", "L40", "L4", "RTX 4090", "RTX 3090", "B200"):
        if model in up:
            return model.replace(" ", "")
    return name.replace("NVIDIA", "").strip().replace(" ", "_") or "GPU"


def median_us(times_ms) -> float:
    """Median of CUDA-event times in milliseconds, returned in microseconds."""
    times = list(times_ms)
    if not times:
        raise BenchError("no timings collected")
    return 1000.0 * statistics.median(times)


def make_row(gpu, dtype, m, n, k, dense_us, sparse_us, backend, notes="", source="bench_gemm") -> dict:
    return {
        "gpu": gpu,
        "dtype": dtype,
        "m": m,
        "n": n,
        "k": k,
        "sparse_operand": "W",
        "dense_us": f"{dense_us:.4f}",
        "sparse_us": f"{sparse_us:.4f}",
        "speedup": f"{dense_us / sparse_us:.4f}",
        "backend": backend,
        "source": source,
        "notes": notes,
    }


def format_csv(rows, header_lines=()) -> str:
    """The measured-timing CSV text: ``# `` header lines, the column line, one line per row dict."""
    buf = io.StringIO()
    for line in header_lines:
        for ln in str(line).splitlines() or [""]:
            buf.write(f"# {ln}\n")
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="raise")
    w.writeheader()
    for r in rows:
        missing = [c for c in COLUMNS if c not in r]
        if missing:
            raise BenchError(f"row {r!r} lacks column(s) {', '.join(missing)}")
        w.writerow(r)
    return buf.getvalue()


def write_atomic(path: str, text: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".bench_gemm.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# ---------------------------------------------------------------- GPU side
def require_gpu():
    """Import torch and check for a CUDA GPU with sparse tensor cores; raise BenchError otherwise."""
    try:
        import torch
    except ImportError:
        raise BenchError("PyTorch is not installed; install a CUDA build of torch to run this benchmark") from None
    if not torch.cuda.is_available():
        raise BenchError(
            "no CUDA GPU available (torch.cuda.is_available() is False; torch "
            f"{torch.__version__}, built with CUDA {torch.version.cuda}); this benchmark must run on an NVIDIA GPU"
        )
    major, minor = torch.cuda.get_device_capability()
    if major < 8:
        raise BenchError(
            f"{torch.cuda.get_device_name()} has compute capability {major}.{minor}; 2:4 sparse tensor cores need 8.0 or newer"
        )
    try:
        from torch.sparse import SparseSemiStructuredTensor, to_sparse_semi_structured  # noqa: F401
    except ImportError:
        raise BenchError(f"torch {torch.__version__} lacks torch.sparse.to_sparse_semi_structured (need 2.1 or newer)") from None
    return torch


def environment(torch) -> dict:
    env = {
        "gpu_name": torch.cuda.get_device_name(),
        "capability": "%d.%d" % torch.cuda.get_device_capability(),
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "cusparselt": "unavailable",
        "driver": "unknown",
    }
    try:
        v = torch.backends.cusparselt.version()
        if v is not None:
            env["cusparselt"] = str(v)
    except Exception:  # noqa: BLE001 - older torch
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,power.limit,clocks.max.sm", "--format=csv,noheader", "-i",
             str(torch.cuda.current_device())],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout.strip().splitlines()[0]
        drv, plim, clk = (s.strip() for s in out.split(","))
        env.update(driver=drv, power_limit=plim, max_sm_clock=clk)
    except Exception:  # noqa: BLE001 - nvidia-smi missing or different output
        pass
    return env


def _sample_clock_power(torch) -> str:
    parts = []  # space-separated: the notes field separates items with ';'
    try:
        parts.append(f"sm_clock_mhz={torch.cuda.clock_rate()}")
    except Exception:  # noqa: BLE001 - needs pynvml
        pass
    try:
        parts.append(f"power_w={torch.cuda.power_draw() / 1000.0:.0f}")
    except Exception:  # noqa: BLE001
        pass
    return " ".join(parts)


def graphed(torch, fn):
    """``(callable, how)``: a CUDA-graph replay of ``fn`` where capture works, so the time is the
    GPU's alone (the sparse library's per-call host work, ~0.5 ms, would otherwise dominate
    small GEMMs); else ``fn`` itself, timed eagerly."""
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        graph.replay()
        torch.cuda.synchronize()
        return graph.replay, "graph replay"
    except Exception as exc:  # noqa: BLE001 - capture unsupported: time eagerly and say so
        msg = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        return fn, f"eager (graph capture failed: {msg})".replace(";", ",").replace(",", " ")


def time_op(torch, fn, warmup: int, iters: int, sleep_ms: float) -> tuple[float, str]:
    """Median microseconds of ``fn()`` over ``iters`` CUDA-event-timed calls after ``warmup`` calls.

    Also returns the SM clock and board power sampled while the timed calls are still
    queued on the GPU (before the final synchronisation), i.e. under load.
    """
    import time

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    sample = ""
    for i in range(iters):
        if sleep_ms > 0:
            torch.cuda.synchronize()
            time.sleep(sleep_ms / 1000.0)
        starts[i].record()
        fn()
        ends[i].record()
        if i == iters // 2:
            sample = _sample_clock_power(torch)
    torch.cuda.synchronize()
    return median_us(s.elapsed_time(e) for s, e in zip(starts, ends)), sample


def _operands(torch, m, n, k, dtype):
    """A (m x k, 2:4 along k: the first two of every four kept) and B (k x n) on the GPU."""
    dev = "cuda"
    gen = torch.Generator(device=dev).manual_seed(m * 1000003 + n * 1009 + k)
    if dtype == "int8":
        a = torch.randint(-8, 8, (m, k), device=dev, dtype=torch.int8, generator=gen)
        b = torch.randint(-8, 8, (k, n), device=dev, dtype=torch.int8, generator=gen)
    else:
        a = torch.randn(m, k, device=dev, dtype=torch.float32, generator=gen)
        b = torch.randn(k, n, device=dev, dtype=torch.float32, generator=gen)
        tdt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp8": torch.float8_e4m3fn}[dtype]
        a, b = a.to(tdt), b.to(tdt)
    keep = torch.tensor([1, 1, 0, 0], device=dev, dtype=torch.bool).tile(m, k // 4)
    a = torch.where(keep, a, torch.zeros((), device=dev, dtype=a.dtype))
    return a, b


def _col_major(t):
    return t.t().contiguous().t()


def dense_op(torch, a, b, dtype):
    """(callable, description) of the dense library GEMM for ``dtype``: cuBLAS(Lt) through torch."""
    if dtype in ("fp16", "bf16"):
        return (lambda: torch.mm(a, b)), "torch.mm"
    if dtype == "int8":
        for bb, layout in ((_col_major(b), "B column-major"), (b, "B row-major")):  # TN first, as cuBLASLt wants
            try:
                torch._int_mm(a, bb)
                return (lambda bb=bb: torch._int_mm(a, bb)), f"torch._int_mm ({layout}, int32 out)"
            except RuntimeError:
                continue
        raise RuntimeError("torch._int_mm takes neither layout of B")
    one = torch.ones((), device="cuda", dtype=torch.float32)
    bc = _col_major(b)  # cuBLASLt fp8 GEMMs are TN: B column-major
    return (lambda: torch._scaled_mm(a, bc, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)), \
        "torch._scaled_mm (bf16 out)"


def _cslt_variants(torch, a, b, dtype):
    """cuSPARSELt through torch's private ops: the operand layouts and output dtypes to try, in order."""
    outs = {"int8": [torch.int32, None], "fp8": [torch.bfloat16]}.get(dtype, [None])
    layouts = [(b, "B row-major"), (_col_major(b), "B column-major")]
    if dtype in ("int8", "fp8"):
        layouts.reverse()  # TN first, as the 8-bit library kernels want
    for bb, layout in layouts:
        for od in outs:
            yield bb, layout, od


def sparse_ops(torch, a, b, dtype, backend):
    """[(label, callable, description)] for ``backend``: ``cutlass``; ``cusparselt`` (the algorithm
    torch uses by default) and ``cusparselt-search`` (the fastest of cuSPARSELt's own algorithm
    search, as the published library timings are)."""
    from torch.sparse import SparseSemiStructuredTensor, to_sparse_semi_structured

    if backend == "cutlass":
        if dtype == "fp8":
            raise RuntimeError("torch's CUTLASS 2:4 path takes no fp8")
        old = SparseSemiStructuredTensor._FORCE_CUTLASS
        SparseSemiStructuredTensor._FORCE_CUTLASS = True
        try:
            a_sp = to_sparse_semi_structured(a)
        finally:
            SparseSemiStructuredTensor._FORCE_CUTLASS = old
        used = getattr(a_sp, "BACKEND", "cutlass")
        if used != "cutlass":
            raise RuntimeError(f"torch chose the {used} backend instead")
        errors = []
        for bb, layout in ((b, "B row-major"), (_col_major(b), "B column-major")):
            try:
                torch.mm(a_sp, bb)
                return [("CUTLASS vs ", (lambda bb=bb: torch.mm(a_sp, bb)), f"torch.mm(A_sparse, B), {layout}")]
            except RuntimeError as exc:
                errors.append(f"{layout}: {str(exc).splitlines()[0][:160] if str(exc) else 'RuntimeError'}")
        raise RuntimeError("torch.mm(A_sparse, B) refused: " + " | ".join(errors))
    if not torch.backends.cusparselt.is_available():
        raise RuntimeError("this torch build has no cuSPARSELt")
    comp = torch._cslt_compress(a)
    last = None
    for bb, layout, od in _cslt_variants(torch, a, b, dtype):
        kw = {} if od is None else {"out_dtype": od}
        try:
            torch._cslt_sparse_mm(comp, bb, **kw)
        except (RuntimeError, TypeError) as exc:
            last = exc
            continue
        desc = f"torch._cslt_sparse_mm, {layout}" + (f", {str(od).replace('torch.', '')} out" if od else "")
        ops = [("cuSPARSELt {v} default algorithm vs ",
                (lambda bb=bb, kw=kw: torch._cslt_sparse_mm(comp, bb, **kw)), desc)]
        if backend == "cusparselt-search":
            found = torch._cslt_sparse_mm_search(comp, bb, **kw)
            alg = found[0] if isinstance(found, (tuple, list)) else int(found)
            ops = [("cuSPARSELt {v} best of algorithm search vs ",
                    (lambda bb=bb, kw=kw, alg=alg: torch._cslt_sparse_mm(comp, bb, alg_id=alg, **kw)),
                    f"{desc}, alg_id={alg}")]
        return ops
    raise RuntimeError(f"torch._cslt_sparse_mm refused every layout/output tried: {last}")


def check_result(torch, out, ref, dtype) -> str:
    """Agreement of the sparse product with the dense one (a note, never fatal)."""
    if out.dtype == torch.int32 and ref.dtype == torch.int32:
        return "exact" if torch.equal(out, ref) else "MISMATCH (int32)"
    if out.dtype == torch.int8:
        ok = torch.equal(out.to(torch.int32), ref.to(torch.int32).clamp(-128, 127))
        return "exact after int8 saturation" if ok else "MISMATCH (int8 out)"
    err = (out.float() - ref.float()).abs().max().item()
    scale = ref.float().abs().max().item() or 1.0
    return f"rel max err {err / scale:.2g}" + ("" if err <= 2e-2 * scale else " TOO LARGE")


def bench_shape(torch, m, n, k, dtype, backends, warmup, iters, sleep_ms, gpu, env):
    """Rows of one shape and dtype; a backend that fails is reported and skipped, never fatal."""
    a, b = _operands(torch, m, n, k, dtype)
    dense_fn, dense_desc = dense_op(torch, a, b, dtype)
    ref = dense_fn()
    dense_timed, dense_how = graphed(torch, dense_fn)
    dense_us, dense_sample = time_op(torch, dense_timed, warmup, iters, sleep_ms)
    rows = []
    for backend in backends:
        try:
            ops = sparse_ops(torch, a, b, dtype, backend)
        except Exception as exc:  # noqa: BLE001 - report an unsupported backend/dtype/shape and go on
            print(f"skip {backend} {dtype} {m}x{n}x{k}: {exc}", file=sys.stderr)
            continue
        for label, fn, desc in ops:
            check = check_result(torch, fn(), ref, dtype)
            timed, how = graphed(torch, fn)
            sparse_us, sparse_sample = time_op(torch, timed, warmup, iters, sleep_ms)
            label = label.format(v=env["cusparselt"]) + dense_desc
            notes = (f"torch {env['torch']}; iters={iters}; warmup={warmup}; sleep_ms={sleep_ms:g}; "
                     f"sparse={desc}; check={check}; dense timing={dense_how}; 2:4 timing={how}")
            if dense_sample:
                notes += f"; dense under load: {dense_sample}"
            if sparse_sample:
                notes += f"; 2:4 under load: {sparse_sample}"
            rows.append(make_row(gpu, dtype, m, n, k, dense_us, sparse_us, label, notes))
            print(f"{gpu} {dtype} {m}x{n}x{k} {backend}: dense {dense_us:.2f} us, 2:4 {sparse_us:.2f} us, "
                  f"speedup {dense_us / sparse_us:.3f} ({check})", file=sys.stderr)
    return rows


def _header(env, args, argv, partial):
    return [
        "sparsesim measured-timing CSV written by benchmarks/gpu/bench_gemm.py",
        f"date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"gpu: {env['gpu_name']} (compute capability {env['capability']}); driver {env['driver']}; "
        f"power limit {env.get('power_limit', 'unknown')}; max SM clock {env.get('max_sm_clock', 'unknown')}",
        f"torch {env['torch']}; CUDA {env['cuda']}; cuSPARSELt {env['cusparselt']}",
        f"timing: CUDA events, {args.warmup} warm-up calls, median of {args.iters}; sleep {args.sleep_ms:g} ms before each timed call",
        "shape: C[m x n] = A[m x k] . B[k x n], A the 2:4 weight (first two of every four kept along k)",
        "dense: torch.mm (fp16/bf16), torch._int_mm (int8, int32 out), torch._scaled_mm (fp8 e4m3, bf16 out, unit scales)",
        "command: " + " ".join([os.path.basename(sys.argv[0] or "bench_gemm.py"), *(argv if argv is not None else sys.argv[1:])]),
        *(["partial: the time budget ran out before every shape was measured"] if partial else []),
    ]


def main(argv=None) -> int:
    import time

    ap = argparse.ArgumentParser(description="Dense vs 2:4-sparse GEMM latency on an NVIDIA GPU (PyTorch).")
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma list of N or MxNxK (default {DEFAULT_SIZES})")
    ap.add_argument("--dtypes", default="fp16,bf16", help=f"comma list of {', '.join(DTYPES)} (default fp16,bf16)")
    ap.add_argument("--backends", default="cusparselt,cutlass", help=f"comma list of {', '.join(BACKENDS)}")
    ap.add_argument("--warmup", type=int, default=10, help="untimed calls before timing (default 10)")
    ap.add_argument("--iters", type=int, default=50, help="timed calls; the median is reported (default 50)")
    ap.add_argument("--sleep-ms", type=float, default=0.0,
                    help="idle time before each timed call (lets the power limiter recover; default 0)")
    ap.add_argument("--gpu-name", default=None, help="GPU column value (default: model from the device name)")
    ap.add_argument("--time-budget-s", type=float, default=0.0,
                    help="stop starting new shapes after this many seconds (0: no limit); what was measured is written")
    ap.add_argument("--out", default="-", help="CSV file to write atomically ('-' = stdout, the default); "
                    "a file is rewritten after every shape, so an interrupted run keeps what it measured")
    args = ap.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
        dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
        backends = [b.strip().lower() for b in args.backends.split(",") if b.strip()]
        for d in dtypes:
            if d not in DTYPES:
                raise BenchError(f"--dtypes: {d!r} is not one of {', '.join(DTYPES)}")
        for b in backends:
            if b not in BACKENDS:
                raise BenchError(f"--backends: {b!r} is not one of {', '.join(BACKENDS)}")
        if args.iters < 1 or args.warmup < 0:
            raise BenchError("--iters must be >= 1 and --warmup >= 0")
        for d in dtypes:
            for (m, n, k) in sizes:
                check_shape(m, n, k, d)
        torch = require_gpu()
        env = environment(torch)
        gpu = args.gpu_name or short_gpu_name(env["gpu_name"])
        rows, t0, partial = [], time.monotonic(), False
        for d in dtypes:
            for (m, n, k) in sizes:
                if args.time_budget_s and time.monotonic() - t0 > args.time_budget_s:
                    partial = True
                    break
                try:
                    rows.extend(bench_shape(torch, m, n, k, d, backends, args.warmup, args.iters,
                                            args.sleep_ms, gpu, env))
                except Exception as exc:  # noqa: BLE001 - e.g. the dense op of a dtype; go on with the rest
                    print(f"skip {d} {m}x{n}x{k}: {type(exc).__name__}: {exc}", file=sys.stderr)
                torch.cuda.empty_cache()  # the shape's tensors are gone; release their memory
                if args.out != "-":
                    write_atomic(args.out, format_csv(rows, _header(env, args, argv, True)))
        text = format_csv(rows, _header(env, args, argv, partial))
    except BenchError as exc:
        print(f"bench_gemm: error: {exc}", file=sys.stderr)
        return 2
    if args.out == "-":
        sys.stdout.write(text)
    else:
        write_atomic(args.out, text)
        print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
