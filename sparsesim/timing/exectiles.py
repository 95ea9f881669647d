"""The real work of every CTA-iteration of a plan, read off the encoded operand.

A CTA tile row ``r`` (rows ``r*cta_m ..``) walks K in iterations ``j`` (columns
``j*cta_k ..``).  For a real ``A`` in its stored format this module gives, per tile row:

* the iterations that run: all of them for dense and N:M operands (their formats name no
  empty piece, so the hardware cannot skip one), only those whose region of A holds a
  non-zero for CSR, CSB and bitmask operands (row pointers, block pointers and the mask
  tell the kernel where the next non-zero is, so an empty region costs no B load and no
  MMA).  A tile row with no non-zero runs one item that only reads its pointers / mask
  (the CTA must read them to find it has nothing to do) and stores its C tile;
* the bytes each item fetches, taken from the encoder's exact byte counts
  (:mod:`sparsesim.formats`): values and metadata of the region, with the pieces shared by
  a region (CSR row pointers, CSB blocks with their pointer) fetched whole by the first
  item that needs them, and the metadata of skipped regions (mask bits, block pointers)
  read with the next item that runs.  Every byte of the encoded matrix is fetched by some
  item of every tile row that holds it, so the per-tile sums equal the encoder's total;
  a CSB block taller than ``cta_m`` is fetched whole by every tile row it spans;
* the MMA passes of each item: the hardware N:M passes of the 16-row x ``k_slice`` MMA
  steps it covers (:func:`sparsesim.timing.execdriven.slice_passes`), relative to the
  plan's mean, and its non-zeros (the on-chip re-encode work).

:func:`dram_reads` applies the schedule's L2 reuse rules (:func:`~sparsesim.timing.workload.schedule_waves`)
to these real fetch units, per wave of the launch order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arch.datapath import MMA_K_BYTES, MMA_ROWS
from ..arch.schema import DTYPE_BYTES
from .workload import out_bytes

CSB_BLOCK = 64  # the block of traffic_bytes(..., "csb") and csb_encode


@dataclass
class RowWork:
    """Items of one tile row (every CTA of the row runs the same items)."""

    iters: np.ndarray  # iteration index j of each item
    compute: np.ndarray  # bool: the item loads B and runs MMAs (False: a pointer-only probe)
    a_values: np.ndarray  # A value bytes the item fetches
    a_meta: np.ndarray  # A metadata bytes the item fetches
    pass_scale: np.ndarray  # MMA passes relative to the plan's per-iteration mean
    nnz_scale: np.ndarray  # non-zeros relative to the plan's per-iteration mean
    units: np.ndarray  # fetch units (ids) the row reads, for the DRAM reuse model
    mac_steps: float = 0.0  # MMA passes of one CTA of the row (sum over items, in steps)


@dataclass
class TileWork:
    plan: object
    rows: np.ndarray  # rows of each tile row
    cols: np.ndarray  # columns of each tile column
    kcols: np.ndarray  # K columns of each iteration
    row: list  # RowWork per tile row
    unit_values: np.ndarray  # bytes of each fetch unit
    unit_meta: np.ndarray
    encoded: dict  # exact bytes of A as stored: values, metadata, total
    nnz: int
    elt: int
    skipped_iterations: int = 0
    empty_tiles: int = 0
    extra: dict = field(default_factory=dict)

    def b_bytes(self, r: int, c: int) -> np.ndarray:
        """B bytes each item of a CTA in tile row ``r``, column ``c`` fetches."""
        rw = self.row[r]
        return np.where(rw.compute, self.kcols[rw.iters] * float(self.cols[c] * self.elt), 0.0)

    def c_bytes(self, r: int, c: int) -> float:
        return float(self.rows[r] * self.cols[c] * out_bytes(self.plan.dtype))


def launch_order(tiles_m: int, tiles_n: int, group_rows: int):
    """(tile row, tile column) of each CTA in launch order: the swizzled raster of the
    schedule (groups of ``group_rows`` tile rows, down the rows, then across)."""
    s = min(group_rows, tiles_m)
    t = np.arange(tiles_m * tiles_n, dtype=np.int64)
    g, o = t // (s * tiles_n), t % (s * tiles_n)
    h = np.minimum(s, tiles_m - g * s)
    return g * s + o % h, o // h


def _sizes(total: int, step: int, count: int) -> np.ndarray:
    return np.minimum(step, total - step * np.arange(count)).astype(np.int64)


def _region_sums(x: np.ndarray, tm: int, cm: int, ki: int, ck: int) -> np.ndarray:
    """Sums of ``x`` over the (cm x ck) regions of a (tm x ki) grid (zero-padded)."""
    pad = np.zeros((tm * cm, ki * ck), dtype=x.dtype)
    pad[: x.shape[0], : x.shape[1]] = x
    return pad.reshape(tm, cm, ki, ck).sum(axis=(1, 3))


def item_passes(passes: np.ndarray, plan) -> np.ndarray:
    """MMA passes of each (tile row, iteration) region, in MMA steps of one CTA: the passes of
    the 16-row x k_slice steps it covers (a step wider than ``cta_k`` shared by its iterations)."""
    t = plan.tile
    k_slice = MMA_K_BYTES // DTYPE_BYTES[plan.dtype]
    widths = _sizes(plan.k, k_slice, passes.shape[1])  # the last step may be narrower
    per_col = np.repeat(passes / widths, widths, axis=1)
    return _region_sums(per_col, plan.tiles_m, t.cta_m // MMA_ROWS, plan.k_iters, t.cta_k)


def _fetches(a, plan, fmt, nnz, rows, kcols, elt):
    """A fetch units: (tile row, iteration where first needed, values bytes, metadata bytes),
    one list per tile row, plus the exact encoded totals."""
    from .. import formats

    tm, ki = plan.tiles_m, plan.k_iters
    m, k = a.shape
    pat = plan.pattern
    area = np.outer(rows, kcols).astype(float)
    per_row = [[] for _ in range(tm)]

    def regions(values, meta):
        for r in range(tm):
            per_row[r].extend((j, float(values[r, j]), float(meta[r, j])) for j in range(ki))

    if pat.is_dense:
        regions(area * elt, np.zeros_like(area))
        enc = {"values": m * k * elt, "metadata": 0}
    elif pat.is_nm:
        values, indices = formats.compress(a, pat.n, pat.m)
        packed = formats.encode_metadata(indices, pat.n, pat.m, fmt or "index")
        enc = {"values": int(values.size) * elt, "metadata": int(packed.nbytes)}
        regions(area * elt * pat.n / pat.m, area / (m * k) * packed.nbytes)
    elif fmt == "csr":
        nb = formats.csr_encode(a).nbytes()
        total = max(int(nnz.sum()), 1)
        regions(nnz * elt, nnz / total * nb["col_idx"])
        for r in range(tm):  # the row pointers of the tile row, read before its first item
            per_row[r].append((0, 0.0, nb["row_ptr"] * rows[r] / m))
        enc = {"values": int(nnz.sum()) * elt, "metadata": nb["metadata"]}
    elif fmt == "bitmask":
        nb = formats.bitmask_encode(a).nbytes()
        regions(nnz * elt, area / (m * k) * nb["mask"])
        enc = {"values": int(nnz.sum()) * elt, "metadata": nb["metadata"]}
    else:  # csb: whole blocks, each with its pointer, fetched by every tile row it spans
        csb = formats.csb_encode(a, CSB_BLOCK)
        nb = csb.nbytes()
        blk_nnz = np.diff(csb.block_ptr)
        br, bc = csb.block_grid
        total = max(int(blk_nnz.sum()), 1)
        meta = blk_nnz / total * (nb["row_idx"] + nb["col_idx"]) + nb["block_ptr"] / (br * bc)
        units = []
        for b in range(br * bc):
            i, jb = divmod(b, bc)
            r_lo, r_hi = i * CSB_BLOCK // plan.tile.cta_m, (min((i + 1) * CSB_BLOCK, m) - 1) // plan.tile.cta_m
            j0 = jb * CSB_BLOCK // plan.tile.cta_k
            units.append((range(r_lo, r_hi + 1), j0, float(blk_nnz[b] * elt), float(meta[b])))
        enc = {"values": int(nnz.sum()) * elt, "metadata": nb["metadata"]}
        enc["total"] = enc["values"] + enc["metadata"]
        return _index_units(units, tm), enc
    enc["total"] = enc["values"] + enc["metadata"]
    units = []
    for r in range(tm):
        units.extend((range(r, r + 1), j, v, mt) for j, v, mt in per_row[r])
    return _index_units(units, tm), enc


def _index_units(units, tm):
    """Per tile row: arrays (unit id, iteration, values, metadata) of the units it fetches."""
    by_row = [[] for _ in range(tm)]
    for uid, (rr, j, v, mt) in enumerate(units):
        for r in rr:
            by_row[r].append((uid, j, v, mt))
    vals = np.array([u[2] for u in units], dtype=float)
    meta = np.array([u[3] for u in units], dtype=float)
    rows = [np.array(x, dtype=float).reshape(-1, 4) for x in by_row]
    return rows, vals, meta


def tile_work(a: np.ndarray, passes: np.ndarray, plan) -> TileWork:
    """The items of every tile row of ``plan`` for the real operand ``a`` (dense representation;
    values count ``plan.dtype``'s bytes whatever ``a``'s numpy dtype).

    ``passes``: hardware passes per 16-row x k_slice MMA step of ``a`` (ones on native datapaths).
    """
    t, tc = plan.tile, plan.arch.tensor_core
    m, k = a.shape
    tm, ki = plan.tiles_m, plan.k_iters
    elt = DTYPE_BYTES[plan.dtype]
    rows, kcols = _sizes(m, t.cta_m, tm), _sizes(k, t.cta_k, ki)
    cols = _sizes(plan.n, t.cta_n, plan.tiles_n)
    nnz = _region_sums((a != 0).astype(np.int64), tm, t.cta_m, ki, t.cta_k)
    (fetch_rows, unit_values, unit_meta), enc = _fetches(a, plan, plan.fmt, nnz, rows, kcols, elt)

    skips = plan.pattern.is_unstructured
    passes_datapath = plan.datapath == "sparse-passes"
    ip = item_passes(passes, plan) if passes_datapath else None
    steps = (t.cta_m / MMA_ROWS) * (t.cta_k / (MMA_K_BYTES // elt))
    reenc = plan.demand.reencoded  # non-zeros per iteration the plan assumed
    work_rows, skipped, empty = [], 0, 0
    for r in range(tm):
        run = np.flatnonzero(nnz[r] > 0) if skips else np.arange(ki)
        compute = np.ones(len(run), dtype=bool)
        skipped += ki - len(run)
        if len(run) == 0:
            empty += 1
            run, compute = np.array([0]), np.zeros(1, dtype=bool)
        f = fetch_rows[r]
        # each unit goes with the first item at or after the iteration that needs it
        slot = np.minimum(np.searchsorted(run, f[:, 1], side="left"), len(run) - 1)
        a_values = np.bincount(slot, weights=f[:, 2], minlength=len(run))
        a_meta = np.bincount(slot, weights=f[:, 3], minlength=len(run))
        if passes_datapath:
            ps = ip[r, run] / (steps * plan.passes) if plan.passes > 0 else np.zeros(len(run))
            mac_steps = float(ip[r, run][compute].sum())
        else:
            ps = np.ones(len(run))
            mac_steps = float(steps * compute.sum())
        ns = nnz[r, run] / reenc if reenc else np.zeros(len(run))
        work_rows.append(RowWork(run, compute, a_values, a_meta, np.where(compute, ps, 0.0),
                                 np.where(compute, ns, 0.0), f[:, 0].astype(np.int64), mac_steps))
    return TileWork(plan, rows, cols, kcols, work_rows, unit_values, unit_meta, enc, int(nnz.sum()), elt,
                    skipped * plan.tiles_n, empty * plan.tiles_n)


def dram_reads(work: TileWork):
    """DRAM bytes per wave of the launch order under the schedule's reuse rules, on the real
    fetch units: an operand that fits in the usable L2 beside the other operand's per-wave
    working set is read once, at first touch; otherwise a unit the previous wave also used
    hits only if that wave's whole footprint fit in L2.

    Returns (per-CTA DRAM/L2 factor of its wave, DRAM bytes by operand)."""
    plan = work.plan
    arch = plan.arch
    ki = plan.k_iters
    per_wave = arch.sm.count * plan.ctas_per_sm
    rr, cc = launch_order(plan.tiles_m, plan.tiles_n, arch.tiles.raster_group_rows)
    ua = work.unit_values + work.unit_meta
    waves = []
    for s in range(0, plan.ctas, per_wave):
        r_w, c_w = rr[s:s + per_wave], cc[s:s + per_wave]
        a_ids = np.unique(np.concatenate([work.row[r].units for r in np.unique(r_w)]))
        b_ids = np.unique(np.concatenate([c * ki + work.row[r].iters[work.row[r].compute]
                                          for r, c in zip(r_w, c_w)]))
        l2 = sum(float(work.row[r].a_values.sum() + work.row[r].a_meta.sum() + work.b_bytes(r, c).sum())
                 for r, c in zip(r_w, c_w))
        waves.append((a_ids, b_ids, l2))
    b_unit = np.outer(work.cols, work.kcols).ravel() * float(work.elt)  # id c * ki + j
    a_fp = [float(ua[a].sum()) for a, _, _ in waves]
    b_fp = [float(b_unit[b].sum()) for _, b, _ in waves]
    l2_eff = arch.l2.size_mib * 2**20 * arch.l2.usable_fraction
    used_b = np.unique(np.concatenate([b for _, b, _ in waves]))
    a_resident = float(ua.sum()) + max(b_fp) <= l2_eff
    b_resident = float(b_unit[used_b].sum()) + max(a_fp) <= l2_eff

    def reads(i, ids, prev_ids, seen, resident):
        if resident:
            new = ids[~np.isin(ids, seen)] if len(seen) else ids
        elif i > 0 and a_fp[i - 1] + b_fp[i - 1] <= l2_eff:
            new = ids[~np.isin(ids, prev_ids)]
        else:
            new = ids
        return new

    factor, tot = [], {"a_values": 0.0, "a_metadata": 0.0, "b": 0.0}
    seen_a = seen_b = np.zeros(0, dtype=np.int64)
    for i, (a_ids, b_ids, l2) in enumerate(waves):
        pa = waves[i - 1][0] if i else seen_a
        pb = waves[i - 1][1] if i else seen_b
        na = reads(i, a_ids, pa, seen_a, a_resident)
        nb = reads(i, b_ids, pb, seen_b, b_resident)
        seen_a, seen_b = np.union1d(seen_a, a_ids), np.union1d(seen_b, b_ids)
        av, am, bb = float(work.unit_values[na].sum()), float(work.unit_meta[na].sum()), float(b_unit[nb].sum())
        tot["a_values"] += av
        tot["a_metadata"] += am
        tot["b"] += bb
        factor.append((av + am + bb) / l2 if l2 > 0 else 0.0)
    cta_factor = np.repeat(np.array(factor), per_wave)[: plan.ctas]
    c_total = sum(work.c_bytes(r, c) for r, c in zip(rr, cc))
    dram = {key: int(round(v)) for key, v in tot.items()}
    dram["c"] = int(round(c_total))
    dram["total"] = sum(dram.values())
    return cta_factor, dram, (rr, cc)
