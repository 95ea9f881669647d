"""Every numeric field of the GPU schema is live or says why not.

The fields are found by introspection of :class:`sparsesim.arch.GpuArch` (nested tables,
dtype tables, the tile candidates), so a field added to the schema fails this test until
it is listed in ``LIVE`` (perturbed on a GEMM where its unit matters; the output it should
move must move, in the stated direction) or in ``BOOKKEEPING`` with the reason.
"""

from __future__ import annotations

import dataclasses
import typing

import pytest

from sparsesim.arch import GpuArch, derive, load_arch
from sparsesim.arch.datapath import sparse_datapath
from sparsesim.arch.load import arch_to_dict
from sparsesim.errors import InputError
from sparsesim.timing import simulate


def numeric_fields(cls, prefix=""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, meta = hints[f.name], f.metadata
        if dataclasses.is_dataclass(tp):
            yield from numeric_fields(tp, f"{prefix}{f.name}.")
        elif tp is tuple and dataclasses.is_dataclass(meta.get("item_type")):
            yield from numeric_fields(meta["item_type"], f"{prefix}{f.name}[].")
        elif tp is dict and meta.get("value_type") in (int, float):
            for key in meta.get("allowed_keys", ()):
                yield f"{prefix}{f.name}.{key}"
        elif tp in (int, float):
            yield f"{prefix}{f.name}"


def seconds(r):
    return r.seconds


def dram_total(r):
    return r.dram_bytes["total"]


def energy_j(r):
    return r.energy_j


def ctas_per_sm(r):
    return r.ctas_per_sm


def smem_read_bytes(r):
    return r.actions["smem_read_bytes"]


def l2_read_bytes(r):
    return r.actions["l2_read_bytes"]


BIG = (4096, 4096, 4096)
SKINNY = (4096, 16, 4096)  # few tokens: 64 CTAs, one per SM, latency and DRAM exposed

# field -> (arch, new value, GEMM (m, n, k, dtype, pattern, tile), output, direction,
#           other overrides that keep the config valid); direction +1: the output grows
LIVE = {
    "clock.boost_mhz": ("a100", 1200.0, None, None, -1, {}),  # datasheet peak (arch.peak_ops)
    "clock.sustained_mhz": ("a100", 1100.0, (*BIG, "fp16", "2:4", None), seconds, +1, {}),
    "sm.count": ("a100", 54, (*BIG, "fp16", "dense", None), seconds, +1, {}),
    "sm.tensor_cores_per_sm": ("a100", 2, (*BIG, "fp16", "2:4", None), seconds, +1, {}),
    "sm.register_file_kib": ("a100", 64, (2048, 2048, 2048, "fp16", "dense", 3), ctas_per_sm, -1, {}),
    "sm.shared_memory_kib": ("a100", 48, (2048, 2048, 2048, "fp16", "dense", 3), ctas_per_sm, -1, {}),
    "sm.shared_memory_bytes_per_cycle": ("a100", 64, (1024, 1024, 1024, "fp16", "dense", None), seconds, +1, {}),
    "sm.shared_memory_latency_cycles": ("a100", 116, (*SKINNY, "fp16", "2:4", 6), seconds, +1, {}),
    "sm.max_ctas_per_sm": ("a100", 1, (1024, 1024, 1024, "fp16", "dense", 6), ctas_per_sm, -1, {}),
    "tensor_core.dense_macs_per_cycle.int8": ("a100", 256, (*BIG, "int8", "dense", None), seconds, +1, {}),
    "tensor_core.dense_macs_per_cycle.fp8": ("h100", 512, (*BIG, "fp8", "dense", None), seconds, +1, {}),
    "tensor_core.dense_macs_per_cycle.fp16": ("a100", 128, (*BIG, "fp16", "dense", None), seconds, +1, {}),
    "tensor_core.dense_macs_per_cycle.bf16": ("a100", 128, (*BIG, "bf16", "dense", None), seconds, +1, {}),
    "tensor_core.dense_macs_per_cycle.tf32": ("a100", 64, (*BIG, "tf32", "dense", None), seconds, +1, {}),
    "tensor_core.dense_macs_per_cycle.fp4": ("rtx5080", 256, (*BIG, "fp4", "dense", None), seconds, +1, {}),
    "tensor_core.mma_latency_cycles": ("a100", 128, (*SKINNY, "fp16", "2:4", 6), seconds, +1, {}),
    "tensor_core.sparse_n": ("a100", 1, (*BIG, "fp16", "2:4", None), seconds, +1,
                             {"tensor_core.sparse_patterns": {"tf32": "1:4"}}),
    "tensor_core.sparse_m": ("a100", 8, (*BIG, "fp16", "2:4", None), seconds, +1,
                             {"tensor_core.metadata_bits": 3, "tensor_core.sparse_patterns": {"tf32": "1:4"}}),
    "tensor_core.sparse_speedup": ("a100", 1.5, (*BIG, "fp16", "2:4", None), seconds, +1, {}),
    "tensor_core.metadata_bits": ("a100", 3, (*BIG, "int8", "2:4", None), seconds, +1, {}),
    # the select stages lengthen every sparse MMA (fill, drain, dependent-MMA chains): small
    # effects, largest where few warps per SM leave MMA issue latency-bound
    "tensor_core.mux_delay_ps_per_level": ("a100", 100.0, (*SKINNY, "fp16", "2:4", 6), seconds, +1, {}),
    "tensor_core.decode_delay_ps_per_level": ("a100", 100.0, (*SKINNY, "fp16", "2:4", 6), seconds, +1, {}),
    "tensor_core.select_stage_slack_ps": ("a100", 12.5, (*SKINNY, "fp16", "2:4", 6), seconds, +1, {}),
    "tensor_core.mux_instances": ("a100", 64, (*BIG, "fp16", "2:4", None), seconds, +1, {}),
    "tensor_core.decoder_bits_per_cycle": ("a100", 32, (*BIG, "int8", "2:4", None), seconds, +1, {}),
    "tensor_core.unstructured_decode_per_cycle": ("a100", 2, (2048, 2048, 2048, "fp16", "unstructured:0.3", None),
                                                  seconds, +1, {}),
    "l2.size_mib": ("a100", 4.0, (2048, 2048, 2048, "fp16", "dense", 0), dram_total, +1, {}),
    "l2.bytes_per_cycle": ("h100", 2560, (*BIG, "fp16", "dense", None), seconds, +1, {}),
    "l2.latency_cycles": ("a100", 800, (1024, 1024, 1024, "fp16", "2:4", None), seconds, +1, {}),
    "l2.usable_fraction": ("a100", 0.1, (2048, 2048, 2048, "fp16", "dense", 0), dram_total, +1, {}),
    "dram.bandwidth_gbps": ("a100", 1000.0, (*SKINNY, "fp16", "2:4", None), seconds, +1, {}),
    "dram.latency_ns": ("a100", 1400.0, (1024, 1024, 1024, "fp16", "2:4", None), seconds, +1, {}),
    "efficiency.tensor_dense": ("a100", 0.6, (*BIG, "fp16", "dense", None), seconds, +1, {}),
    "efficiency.tensor_sparse": ("a100", 0.6, (*BIG, "fp16", "2:4", None), seconds, +1, {}),
    "efficiency.dram": ("a100", 0.5, (*SKINNY, "fp16", "2:4", None), seconds, +1, {}),
    "launch.overhead_us": ("a100", 8.0, (1024, 1024, 1024, "fp16", "2:4", None), seconds, +1, {}),
    "launch.cta_launch_cycles": ("a100", 2000, (1024, 1024, 1024, "fp16", "2:4", None), seconds, +1, {}),
    "tiles.stages": ("a100", 2, (2048, 2048, 2048, "fp16", "2:4", 2), seconds, +1, {}),
    # a warp tile run by a warpgroup spans all four tensor cores: skinny CTAs of 2 warp tiles
    # stop leaving half of them idle
    "tiles.warp_tile_warps": ("a100", 4, (*SKINNY, "fp16", "2:4", 6), seconds, -1, {}),
    # the cost model's knobs move energy, not time (sparsesim.cost; tests/test_cost.py pins the amounts)
    "technology.static_w": ("a100", 180.0, (*BIG, "fp16", "dense", None), energy_j, +1, {}),
    "technology.vdd_v": ("a100", 0.9, (*BIG, "fp16", "dense", None), energy_j, +1, {}),
    "technology.array_energy_factor": ("a100", 6.0, (*BIG, "fp16", "dense", None), energy_j, +1, {}),
    # the board's power limit sets the clock where it binds (sparsesim.cost.power)
    "board.power_limit_w": ("a100", 150.0, (*BIG, "fp16", "dense", None), seconds, +1, {}),
    "tiles.raster_group_rows": ("a100", 1, (*BIG, "fp16", "dense", 0), dram_total, +1, {}),
    # tile candidate 2 (128 x 128 x 32, warps 64 x 64), pinned
    "tiles.candidates[].cta_m": ("a100", 64, (*BIG, "fp16", "dense", 2), seconds, 0, {}),
    "tiles.candidates[].cta_n": ("a100", 64, (*BIG, "fp16", "dense", 2), seconds, 0, {}),
    "tiles.candidates[].cta_k": ("a100", 64, (*BIG, "fp16", "dense", 2), seconds, 0, {}),
    # narrower warp tiles re-read the operands from shared memory more often
    "tiles.candidates[].warp_m": ("a100", 32, (*BIG, "fp16", "dense", 2), smem_read_bytes, +1, {}),
    "tiles.candidates[].warp_n": ("a100", 32, (*BIG, "fp16", "dense", 2), smem_read_bytes, +1, {}),
    # a pinned candidate's own stages replace tiles.stages (3): fewer stages hide less latency
    "tiles.candidates[].stages": ("a100", 2, (2048, 2048, 2048, "fp16", "2:4", 2), seconds, +1, {}),
    # the GEMM library's kernels: the arch keeps one family ("@family") with one tile ("@tile") so the
    # knob's kernel is the one that runs; "@set" changes other fields of that family
    "library.kernels[].stages": ("a100", 2, (1024, 1024, 1024, "fp16", "dense", None), seconds, +1,
                                 {"@family": 0, "@tile": 4, "@tile_stages": None}),
    "library.kernels[].tiles[].stages": ("a100", 2, (1024, 1024, 1024, "fp16", "dense", None), seconds, +1,
                                         {"@family": 0, "@tile": 4}),
    # split-K spreads the 16 output tiles of a skinny GEMM over more SMs
    "library.kernels[].split_k_max": ("a100", 1, (2048, 64, 8192, "fp16", "dense", None), seconds, +1,
                                      {"@family": 0, "@tile": 5, "@set": {"stream_k": False}}),
    # a cluster's CTAs share the tiles they have in common through TMA multicast: fewer L2 reads
    "library.kernels[].cluster_m": ("h100", 1, (*BIG, "fp16", "dense", None), l2_read_bytes, +1,
                                    {"@family": 0, "@tile": 0}),
    "library.kernels[].cluster_n": ("h100", 2, (*BIG, "fp16", "dense", None), l2_read_bytes, -1,
                                    {"@family": 0, "@tile": 0}),
    # launching down all of M first re-reads the A panels from DRAM for every tile column
    "library.kernels[].raster_group_rows": ("a100", 65536, (*BIG, "fp16", "dense", None), dram_total, +1,
                                            {"@family": 0, "@tile": 0}),
    "library.kernels[].tiles[].cta_m": ("a100", 64, (*BIG, "fp16", "dense", None), seconds, 0, {"@family": 0, "@tile": 4}),
    "library.kernels[].tiles[].cta_n": ("a100", 64, (*BIG, "fp16", "dense", None), seconds, 0, {"@family": 0, "@tile": 4}),
    "library.kernels[].tiles[].cta_k": ("a100", 64, (*BIG, "fp16", "dense", None), seconds, 0, {"@family": 0, "@tile": 4}),
    "library.kernels[].tiles[].warp_m": ("a100", 32, (*BIG, "fp16", "dense", None), smem_read_bytes, +1,
                                         {"@family": 0, "@tile": 4}),
    "library.kernels[].tiles[].warp_n": ("a100", 32, (*BIG, "fp16", "dense", None), smem_read_bytes, +1,
                                         {"@family": 0, "@tile": 4}),
}

BOOKKEEPING = {
    "dram.channels": "the controllers are one interleaved port: addresses interleave at fine granularity, "
                     "so every stream spreads over all channels and bandwidth_gbps is their sum",
    "dram.size_gib": "capacity check only: simulate refuses a GEMM whose operands do not fit "
                     "(test_dram_capacity_is_checked); it does not change a time",
    "board.memory_clock_mhz": "the board's DRAM clock: dram.bandwidth_gbps (which the timing uses) follows from it "
                              "and the bus width, and the power limiter moves the SM clock, not this one "
                              "(tests/test_power.py checks the two agree for every shipped config)",
}

CANDIDATE = 2


def one_kernel(arch, extra):
    """``arch`` with its library cut to one family and one tile (``@family``, ``@tile``; ``@set``:
    other fields of that family; ``@tile_stages``: the tile's own stages, None to drop them)."""
    if "@family" not in extra:
        return load_arch(arch), dict(extra)
    extra = dict(extra)
    fam = arch_to_dict(load_arch(arch))["library"]["kernels"][extra.pop("@family")]
    tile = fam["tiles"][extra.pop("@tile")]
    if "@tile_stages" in extra:
        stages = extra.pop("@tile_stages")
        tile.pop("stages", None)
        if stages is not None:
            tile["stages"] = stages
    fam.update(extra.pop("@set", {}))
    fam["tiles"] = [tile]
    return derive(arch, {"library.kernels": [fam]}), extra


def perturbed(arch, path, value, extra):
    if path.startswith("library.kernels[]."):
        base, extra = one_kernel(arch, extra)
        fam = arch_to_dict(base)["library"]["kernels"][0]
        key = path.split(".")[-1]
        (fam["tiles"][0] if ".tiles[]." in path else fam)[key] = value
        return derive(base, {"library.kernels": [fam], **extra})
    extra = {k: v for k, v in extra.items() if not k.startswith("@")}
    if path.startswith("tiles.candidates[]."):
        key = path.split(".")[-1]
        cands = arch_to_dict(load_arch(arch))["tiles"]["candidates"]
        cands[CANDIDATE][key] = value
        return derive(arch, {"tiles.candidates": cands, **extra})
    return derive(arch, {path: value, **extra})


def test_every_numeric_field_is_live_or_bookkeeping():
    fields = set(numeric_fields(GpuArch))
    assert fields, "introspection found no field"
    assert not set(LIVE) & set(BOOKKEEPING)
    missing = fields - set(LIVE) - set(BOOKKEEPING)
    assert not missing, f"fields neither tested as live nor listed as bookkeeping: {sorted(missing)}"
    stale = (set(LIVE) | set(BOOKKEEPING)) - fields
    assert not stale, f"listed fields that are not in the schema: {sorted(stale)}"


@pytest.mark.parametrize("path", sorted(LIVE))
def test_knob_moves_what_it_should(path):
    name, value, gemm, output, direction, extra = LIVE[path]
    base = one_kernel(name, extra)[0]
    moved = perturbed(name, path, value, extra)
    if gemm is None:  # boost clock: the datasheet peak the reports quote
        before, after = base.peak_ops("fp16"), moved.peak_ops("fp16")
    else:
        m, n, k, dtype, pattern, tile = gemm
        before = output(simulate(base, m, n, k, dtype, pattern, tile=tile))
        after = output(simulate(moved, m, n, k, dtype, pattern, tile=tile))
    assert after != pytest.approx(before, rel=1e-6), f"{path}: {before} -> {after}"
    if direction:
        assert (after - before) * direction > 0, f"{path}: {before} -> {after}"


def test_dram_capacity_is_checked():
    tiny = derive("a100", {"dram.size_gib": 0.01})
    with pytest.raises(InputError, match="do not fit"):
        simulate(tiny, 4096, 4096, 4096, "fp16", "dense")
    simulate(tiny, 256, 256, 256, "fp16", "dense")


def test_index_scheme_moves_the_datapath():
    # a string knob: crossbar indices widen the multiplexers (area, energy); timing moves only
    # when the number of 2:1 levels does (3:1 and 4:1 both take two, 5:1 and 8:1 three)
    for arch, fan_in in (("a100", (3, 4)), ("a100-4of8", (5, 8))):
        ordered = sparse_datapath(load_arch(arch))
        crossbar = sparse_datapath(derive(arch, {"tensor_core.index_scheme": "crossbar"}))
        assert (ordered.mux_fan_in, crossbar.mux_fan_in) == fan_in
        assert ordered.mux_levels == crossbar.mux_levels


def knob_table():
    """(field, arch, GEMM, output, before, after) for every live knob."""
    rows = []
    for path in sorted(LIVE):
        name, value, gemm, output, _, extra = LIVE[path]
        base = one_kernel(name, extra)[0]
        moved = perturbed(name, path, value, extra)
        if gemm is None:
            rows.append((path, name, value, "-", "peak_ops fp16", base.peak_ops("fp16"), moved.peak_ops("fp16")))
            continue
        m, n, k, dtype, pattern, tile = gemm
        b = output(simulate(base, m, n, k, dtype, pattern, tile=tile))
        a = output(simulate(moved, m, n, k, dtype, pattern, tile=tile))
        rows.append((path, name, value, f"{m}x{n}x{k} {dtype} {pattern}", output.__name__, b, a))
    return rows


if __name__ == "__main__":  # python tests/test_knobs_gpu.py: the knob-sensitivity table
    print("| field | arch | -> value | GEMM | output | before | after | change |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path, name, value, gemm, out, b, a in knob_table():
        print(f"| {path} | {name} | {value} | {gemm} | {out} | {b:.6g} | {a:.6g} | {(a / b - 1) * 100:+.2f}% |")
    for path, why in sorted(BOOKKEEPING.items()):
        print(f"| {path} | bookkeeping: {why} | | | | | | |")
