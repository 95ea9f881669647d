"""SM clock and board power while dense and 2:4 GEMMs run back to back (the power model's check).

Run on an NVIDIA GPU:  python3 benchmarks/gpu/power_clock_probe.py [--seconds 10] [--out probe.json]

For each size and dtype it runs, back to back for ``--seconds`` each, a dense ``torch.mm`` and
the same GEMM with A pruned to 2:4 (``torch.sparse.to_sparse_semi_structured``, cuSPARSELt), then
the dense one again (to see drift from heating), while a thread samples the SM clock and the board
power through NVML every 50 ms. Reported per run: achieved TFLOPS (dense-equivalent, 2mnk / s,
CUDA events over the window) and the median SM clock and power over the window's second half
(the limiter settled). sparsesim's power model predicts the dense and 2:4 clocks within a few
percent of each other (docs/power.md); a 2:4 kernel throttled well below the dense one would say
otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time


def _sampler(handle, stop, out, nvml):
    while not stop.is_set():
        t = time.perf_counter()
        try:
            out.append((t, nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM),
                        nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0))
        except nvml.NVMLError:
            pass
        time.sleep(0.05)


def run_window(fn, seconds, handle, nvml, torch):
    samples, stop = [], threading.Event()
    th = threading.Thread(target=_sampler, args=(handle, stop, samples, nvml), daemon=True)
    fn()
    torch.cuda.synchronize()
    th.start()
    t0 = time.perf_counter()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    calls = 0
    while time.perf_counter() - t0 < seconds:
        for _ in range(4):
            fn()
        calls += 4
        torch.cuda.synchronize()
    end.record()
    torch.cuda.synchronize()
    stop.set()
    th.join()
    elapsed = start.elapsed_time(end) / 1e3
    half = [s for s in samples if s[0] >= t0 + seconds / 2] or samples
    return {"calls": calls, "seconds": elapsed, "call_us": elapsed / calls * 1e6,
            "sm_clock_mhz": statistics.median(s[1] for s in half),
            "power_w": statistics.median(s[2] for s in half),
            "power_max_w": max(s[2] for s in half), "samples": len(half)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sizes", default="4096,16384")
    ap.add_argument("--dtypes", default="fp16")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import pynvml as nvml
    import torch
    from torch.sparse import SparseSemiStructuredTensor, to_sparse_semi_structured

    if not torch.cuda.is_available():
        print("power_clock_probe: no CUDA GPU available", file=sys.stderr)
        return 2
    SparseSemiStructuredTensor._FORCE_CUTLASS = False  # cuSPARSELt, as the measured benchmarks
    nvml.nvmlInit()
    h = nvml.nvmlDeviceGetHandleByIndex(0)
    info = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "power_limit_w": nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0,
            "max_sm_clock_mhz": nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_SM),
            "driver": nvml.nvmlSystemGetDriverVersion()}
    print(json.dumps(info), flush=True)
    dt = {"fp16": torch.float16, "bf16": torch.bfloat16}
    rows = []
    for name in args.dtypes.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            g = torch.Generator(device="cuda").manual_seed(0)
            a = torch.randn(n, n, device="cuda", dtype=dt[name], generator=g)
            b = torch.randn(n, n, device="cuda", dtype=dt[name], generator=g)
            mask = torch.tensor([1, 1, 0, 0], device="cuda", dtype=torch.bool).repeat(n, n // 4)
            a24 = a * mask
            a_sp = to_sparse_semi_structured(a24)
            ref = torch.mm(a24, b)
            err = (torch.mm(a_sp, b) - ref).abs().max().item() / ref.abs().max().item()
            for kind, fn in (("dense", lambda: torch.mm(a, b)), ("2:4", lambda: torch.mm(a_sp, b)),
                             ("dense again", lambda: torch.mm(a, b))):
                r = run_window(fn, args.seconds, h, nvml, torch)
                r.update(dtype=name, size=n, kernel=kind, tflops=2.0 * n ** 3 / (r["call_us"] * 1e-6) / 1e12)
                rows.append(r)
                print(f"{name} {n:>6} {kind:>11}: {r['tflops']:7.1f} TFLOPS  SM {r['sm_clock_mhz']:6.0f} MHz  "
                      f"{r['power_w']:6.1f} W (max {r['power_max_w']:.0f})  {r['calls']} calls, "
                      f"2:4 rel. err {err:.1e}", flush=True)
                time.sleep(2.0)
            torch.cuda.empty_cache()
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"info": info, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
