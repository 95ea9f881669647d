"""The sparse datapath derived from first principles (sparsesim.arch.datapath)."""

from __future__ import annotations

from itertools import combinations
from math import comb

import pytest

from sparsesim.arch import derive, load_arch
from sparsesim.arch.datapath import sparse_datapath
from sparsesim.errors import ConfigError


def positions_of_kth_kept_value(n, m):
    """Positions the k-th kept value of a group takes over every N:M mask (enumerated)."""
    seen = [set() for _ in range(n)]
    for mask in combinations(range(m), n):  # sorted: kept values keep their order
        for k, pos in enumerate(mask):
            seen[k].add(pos)
    return seen


def mux_tree(inputs):
    """Build a tree of 2:1 muxes over ``inputs`` leaves; return (cells, depth)."""
    level = [0] * inputs  # depth of each signal
    cells = 0
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            nxt.append(max(level[i], level[i + 1]) + 1)
            cells += 1
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return cells, level[0]


@pytest.mark.parametrize("n,m", [(1, 2), (2, 4), (4, 8), (1, 4), (2, 8)])
def test_ordered_fan_in_is_what_a_kept_value_can_reach(n, m):
    a = load_arch("a100")
    d = sparse_datapath(a, n, m)
    reach = max(len(s) for s in positions_of_kth_kept_value(n, m))
    assert d.index_scheme == "ordered"
    assert d.mux_fan_in == reach == m - n + 1
    cells, depth = mux_tree(d.mux_fan_in)
    assert d.mux_levels == depth and cells == d.mux_fan_in - 1


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8)])
def test_crossbar_fan_in_is_every_position(n, m):
    a = derive("a100", {"tensor_core.index_scheme": "crossbar"})
    d = sparse_datapath(a, n, m)
    assert d.mux_fan_in == m
    assert d.mux_levels == mux_tree(m)[1]
    # and 2**metadata_bits names every position
    assert 2 ** d.metadata_bits >= m


def test_shipped_configs_2of4_vs_4of8():
    d24 = sparse_datapath(load_arch("a100"))
    d48 = sparse_datapath(load_arch("a100-4of8"))
    dxb = sparse_datapath(load_arch("a100-4of8-crossbar"))
    assert (d24.mux_fan_in, d24.mux_levels, d24.metadata_bits) == (3, 2, 2)
    assert (d48.mux_fan_in, d48.mux_levels, d48.metadata_bits) == (5, 3, 3)
    assert (dxb.mux_fan_in, dxb.mux_levels, dxb.metadata_bits) == (8, 3, 3)
    # a100: 25 ps per level, 50 ps of slack per select stage -> two levels per stage
    assert d24.mux_latency_cycles == 1 and d48.mux_latency_cycles == 2 and dxb.mux_latency_cycles == 2
    assert d24.select_latency_cycles < d48.select_latency_cycles == dxb.select_latency_cycles
    # same multiplier lanes (same density), more 2:1 cells per lane with the crossbar
    assert d24.mux_instances == d48.mux_instances == dxb.mux_instances == 256
    assert (d24.mux_fan_in - 1, d48.mux_fan_in - 1, dxb.mux_fan_in - 1) == (2, 4, 7)


def test_lanes_follow_the_sparse_multiply_rate():
    a = load_arch("a100")
    d = sparse_datapath(a)
    # fp16: 256 dense MAC/cycle x 2 (sparse) x 1/2 (kept) = 256 multiplies, 16-bit lanes;
    # int8: 512 multiplies of 8-bit operands, two per 16-bit lane
    assert d.mux_operand_bits == 16
    assert d.selects_needed_per_cycle(a, "fp16") == 256 == d.selects_needed_per_cycle(a, "int8")
    assert d.lanes == 256
    h = sparse_datapath(load_arch("h100"))
    assert h.lanes == 512 and h.mux_operand_bits == 16


def test_decoder_width_is_port_bits_over_index_bits():
    a24, a48 = load_arch("a100"), load_arch("a100-4of8")
    d24, d48 = sparse_datapath(a24), sparse_datapath(a48)
    assert d24.decoder_width == 128 // 2 == 64
    assert d48.decoder_width == 128 // 3 == 42
    # int8 at the full sparse rate: 512 multiplies / 8 columns per index = 64 indices per cycle
    assert d24.decodes_needed_per_cycle(a24, "int8") == 64 <= d24.decoder_width
    assert d48.decodes_needed_per_cycle(a48, "int8") == 64 > d48.decoder_width  # binds
    assert d48.decodes_needed_per_cycle(a48, "fp16") == 32 <= d48.decoder_width  # does not
    # decoder levels: an AND of b literals per output
    assert (d24.decode_levels, d48.decode_levels) == (1, 2)


def test_latency_follows_delay_and_clock():
    a = load_arch("a100-4of8")
    roomy = derive(a, {"tensor_core.select_stage_slack_ps": 75.0})
    assert sparse_datapath(roomy).mux_latency_cycles == 1
    slow = derive(a, {"tensor_core.mux_delay_ps_per_level": 100.0})
    assert sparse_datapath(slow).mux_latency_cycles == 6  # 300 ps / 50 ps
    # a stage never holds more than one clock period: at 10 GHz a 100 ps stage is 100 ps
    fast = derive(a, {"tensor_core.select_stage_slack_ps": 1000.0, "clock.sustained_mhz": 10000.0,
                      "tensor_core.mux_delay_ps_per_level": 60.0})
    assert sparse_datapath(fast).mux_latency_cycles == 2  # 180 ps over 100 ps stages


def test_metadata_storage():
    a = load_arch("a100")
    d = sparse_datapath(a)
    # Little's law: 4 tensor cores x (32 + 1 + 1) cycles x 64 indices/cycle x 2 bits
    assert d.metadata_register_bytes == 4 * 34 * 64 * 2 // 8
    # largest A100 tile 256 x 32: 256 rows x 16 kept values x 2 bits
    assert d.metadata_smem_bytes_per_stage == 256 * 16 * 2 // 8
    d48 = sparse_datapath(load_arch("a100-4of8"))
    assert d48.metadata_smem_bytes_per_stage == 256 * 16 * 3 // 8


def test_provisioned_muxes_bind_and_bad_designs_are_refused():
    a = derive("a100", {"tensor_core.mux_instances": 64})
    assert sparse_datapath(a).mux_selects_per_cycle == 64
    with pytest.raises(ConfigError, match="metadata_bits"):
        derive("a100-4of8-crossbar", {"tensor_core.metadata_bits": 2})
    with pytest.raises(ConfigError, match="decoder_bits_per_cycle"):
        derive("a100-4of8", {"tensor_core.decoder_bits_per_cycle": 2})
    with pytest.raises(ConfigError, match="0 < N < M"):
        sparse_datapath(load_arch("a100"), 4, 4)
    # 2 bits cannot name 8 crossbar positions, but 3 ordered positions of 2:4 fit in 2
    assert comb(4, 2) == 6 and sparse_datapath(load_arch("a100")).metadata_bits == 2
