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
    with pytest.raises(SparsesimError, match="vbmi2"):
        sparsesim.simulate("xeon-8280", 64, 64, 64, "int8", "2:4")
    with pytest.raises(InputError, match="statistical mode only"):
        sparsesim.simulate("xeon-8380", 64, 64, 64, "int8", "dense", mode="full")
