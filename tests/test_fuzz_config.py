"""Fuzzing the architecture config loader (table: tests/fuzzlib/config.py), plus the bugs it found."""

import math

import pytest

import fuzzlib  # noqa: F401 - registers the entry points
from fuzzlib.pytest_support import contract, entries
from sparsesim import ConfigError
from sparsesim.arch import derive, load_arch
from sparsesim.arch.load import MAX_BASE_DEPTH


@pytest.mark.parametrize("name", entries("config"))
def test_contract(name):
    contract(name, 25)


def _derived(tmp_path, text: bytes, name="top"):
    p = tmp_path / f"{name}.toml"
    p.write_bytes(text)
    return p


@pytest.mark.parametrize("text", [b'base = "a100"\nname = "x"\ndescription = "caf\xe9"\n', b"kind = \xff\n"])
def test_non_utf8_files_name_the_file_and_line(tmp_path, text):
    p = _derived(tmp_path, text)
    with pytest.raises(ConfigError, match=r"line \d+: not UTF-8"):
        load_arch(p)


def test_non_utf8_base_names_the_base(tmp_path):
    _derived(tmp_path, b'kind = "gpu"\ndescription = "caf\xe9"\n', "bad")
    p = _derived(tmp_path, b'base = "bad"\nname = "x"\ndescription = "y"\n')
    with pytest.raises(ConfigError, match="bad.toml: line 2: not UTF-8"):
        load_arch(p)


@pytest.mark.parametrize("key, value", [("dram.latency_ns", math.inf), ("clock.sustained_mhz", math.inf),
                                        ("dram.bandwidth_gbps", math.nan), ("sm.count", 2**63 - 1),
                                        ("sm.count", 2**31), ("l2.size_mib", 1e300), ("dram.latency_ns", 1e-300)])
def test_numbers_outside_what_the_model_takes(key, value):
    with pytest.raises(ConfigError, match=key.split(".")[-1]):
        derive("a100", {key: value})


def test_numbers_inside_the_bounds_simulate_finitely():
    import sparsesim

    for key, value in [("sm.count", 2**31 - 1), ("clock.sustained_mhz", 1e-12), ("dram.latency_ns", 1e12),
                       ("dram.bandwidth_gbps", 1e-12), ("l2.size_mib", 1e12)]:
        r = sparsesim.simulate(derive("a100", {key: value}), 4096, 4096, 4096, "fp16", "2:4")
        assert math.isfinite(r.seconds) and r.seconds > 0, key


def test_base_chains(tmp_path):
    def chain(depth):
        for i in range(depth):
            nxt = f"c{i + 1}" if i + 1 < depth else "a100"
            (tmp_path / f"c{i}.toml").write_text(f'base = "{nxt}"\nname = "c{i}"\ndescription = "link {i}"\n')
        return tmp_path / "c0.toml"

    assert load_arch(chain(MAX_BASE_DEPTH)).sm.count == 108
    with pytest.raises(ConfigError, match="longer than"):
        load_arch(chain(1200))  # was: RecursionError
    (tmp_path / "c0.toml").write_text('base = "c1"\n')
    (tmp_path / "c1.toml").write_text('base = "c0"\n')
    with pytest.raises(ConfigError, match="loops"):
        load_arch(tmp_path / "c0.toml")


@pytest.mark.parametrize("overrides", [None, [("sm.count", 4)], {"": 1}, {"sm..count": 1}, {7: 1},
                                       {"sm": 5, "sm.count": 4}, {"sm.count.x": 1}])
def test_derive_refuses_malformed_overrides(overrides):
    with pytest.raises(ConfigError):
        derive("a100", overrides)
