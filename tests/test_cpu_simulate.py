"""``sparsesim.simulate`` routes CPU archs to the port model and returns the shared result object."""

import pytest

import sparsesim
from sparsesim import InputError, SparsesimError


def test_cpu_arch_through_simulate():
    dense = sparsesim.simulate("xeon-8380", 4096, 16, 4096, "int8", "dense")
    sparse = sparsesim.simulate("xeon-8380", 4096, 16, 4096, "int8", "2:4")
    d = sparse.to_dict()
    for key in ("cycles", "seconds", "bound", "utilization", "dram_bytes"):
        assert key in d
    assert d["dram_bytes"]["a_metadata"] > 0 and dense.to_dict()["dram_bytes"]["a_metadata"] == 0
    # few activation columns: weight traffic bounds it, and 2:4 halves the weight values
    assert sparse.seconds < dense.seconds


def test_cpu_arch_errors():
    with pytest.raises(SparsesimError, match="int8 or fp32"):
        sparsesim.simulate("xeon-8280", 64, 64, 64, "fp16", "dense")
    no_bw = sparsesim.arch.derive("xeon-8180", {"core.isa": "avx512f avx512cd avx512dq"})
    with pytest.raises(SparsesimError, match="avx512bw"):
        sparsesim.simulate(no_bw, 64, 64, 64, "int8", "2:4")
    with pytest.raises(InputError, match="'statistical' or 'exec'"):
        sparsesim.simulate("xeon-8380", 64, 64, 64, "int8", "dense", mode="full")


def test_two_four_kernel_is_the_fastest_the_isa_allows():
    """Cascade Lake has no VBMI2 (no VPEXPANDB): 2:4 runs the VPSHUFB-routed kernel; Zen 4
    has both and the port model picks per GEMM: the routed kernel (fewer multiply-pipe
    cycles) when compute-bound, the decompressing one (fewer weight bytes) when the
    weights stream from DRAM."""
    assert sparsesim.simulate("xeon-8280", 4096, 4096, 4096, "int8", "2:4").datapath == "x86 vnni-2to4-mux"
    assert sparsesim.simulate("xeon-8180", 4096, 4096, 4096, "int8", "2:4").datapath == "x86 avx512-int8-2to4-mux"
    big = sparsesim.simulate("zen4-genoa", 4096, 4096, 4096, "int8", "2:4")
    small = sparsesim.simulate("zen4-genoa", 4096, 1, 4096, "int8", "2:4")
    assert big.datapath == "x86 vnni-2to4-mux" and small.datapath == "x86 vnni-2to4"
    dense = sparsesim.simulate("zen4-genoa", 4096, 4096, 4096, "int8", "dense")
    assert 1.4 < dense.seconds / big.seconds < 1.6  # 4 vs 3 multiply-pipe slots per 128 dense MACs
