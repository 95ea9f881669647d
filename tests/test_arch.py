"""Architecture configs: shipped files, composition, validation errors, kind registry."""

from __future__ import annotations

import dataclasses
import re
import tomllib

import pytest

import sparsesim
from sparsesim.arch import available_archs, derive, load_arch, register_kind
from sparsesim.arch.load import DEFAULT_DIR
from sparsesim.errors import ConfigError
from toy_arch import ToyArch

GPU_CONFIGS = ["a100", "h100", "a100-4of8", "a100-pcie", "h100-pcie", "l40s", "rtx4090", "rtx5080", "b200", "gb10", "a100-4of8-crossbar", "h200"]


@pytest.mark.parametrize("name", GPU_CONFIGS)
def test_shipped_gpu_configs_load(name):
    a = load_arch(name)
    assert a.kind == "gpu" and a.name == name
    assert a.sm.count > 0 and a.tiles.candidates
    assert sparsesim.load_arch(name) is a  # cached, same object
    assert load_arch(a) is a  # objects pass through


def test_peaks_match_datasheets():
    # A100: 312 TFLOPS fp16 dense, 624 TOPS int8 dense; H100 SXM: 989.4 fp16, 1978.9 fp8
    a100, h100 = load_arch("a100"), load_arch("h100")
    assert a100.peak_ops("fp16") / 1e12 == pytest.approx(312, rel=0.002)
    assert a100.peak_ops("int8") / 1e12 == pytest.approx(624, rel=0.002)
    assert a100.peak_ops("fp16", sparse=True) / 1e12 == pytest.approx(624, rel=0.002)
    assert h100.peak_ops("fp16") / 1e12 == pytest.approx(989.4, rel=0.002)
    assert h100.peak_ops("fp8") / 1e12 == pytest.approx(1978.9, rel=0.002)
    assert not a100.supports("fp8") and h100.supports("fp8")


def test_derived_4of8_overrides_only_the_sparse_datapath():
    base, d = load_arch("a100"), load_arch("a100-4of8")
    tc = d.tensor_core
    assert (tc.sparse_n, tc.sparse_m, tc.metadata_bits, tc.index_scheme) == (4, 8, 3, "ordered")
    assert tc.mux_delay_ps_per_level == base.tensor_core.mux_delay_ps_per_level
    assert d.dram == base.dram and d.sm == base.sm and d.tiles == base.tiles
    assert tc.dense_macs_per_cycle == base.tensor_core.dense_macs_per_cycle


@pytest.mark.parametrize("name", GPU_CONFIGS)
def test_every_number_cites_a_source_or_is_an_assumption(name):
    text = (DEFAULT_DIR / f"{name}.toml").read_text()
    sources = set(re.findall(r"^#\s+(\[[A-Z]+\])", text, re.M))
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        if re.search(r"=\s*[\d{]|^\s*\{", code) and not code.strip().startswith("candidates"):
            assert "#" in line, f"{name}: no source comment on {line!r}"
            comment = line.split("#", 1)[1]
            cited = any(s in comment for s in sources) or "assumption" in comment
            cited = cited or re.search(r"Hubara|whitepaper|datasheet|log2|\[WP\]", comment)
            assert cited, f"{name}: comment cites no source and is not marked as assumption: {line!r}"


def _write(tmp_path, name, text):
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def _a100_doc():
    with open(DEFAULT_DIR / "a100.toml", "rb") as f:
        return tomllib.load(f)


def _dump(doc):
    """Tiny TOML writer for the shapes used in configs (tables of scalars / inline tables)."""
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace('"', '\\"') + '"'
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {val(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {val(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def test_roundtrip_writer_builds_same_arch(tmp_path):
    p = _write(tmp_path, "copy", _dump(_a100_doc()))
    a = load_arch(p)
    assert dataclasses.replace(a, source="") == dataclasses.replace(load_arch("a100"), name="copy", source="") \
        or a.dram == load_arch("a100").dram


@pytest.mark.parametrize("mutate, key, expected", [
    (lambda d: d["sm"].update(count="108"), "sm.count", "int"),
    (lambda d: d["dram"].update(bandwidth_gbps="fast"), "dram.bandwidth_gbps", "float"),
    (lambda d: d["clock"].update(boost_mhz=True), "clock.boost_mhz", "float"),
    (lambda d: d["sm"].update(warp_schedulers=4), "sm.warp_schedulers", "unknown key"),
    (lambda d: d.update(extra=1), "extra", "unknown key"),
    (lambda d: d["dram"].pop("latency_ns"), "dram.latency_ns", "missing key"),
    (lambda d: d.pop("l2"), "l2", "missing key"),
    (lambda d: d["tensor_core"]["dense_macs_per_cycle"].update(fp64=1024), "tensor_core.dense_macs_per_cycle.fp64", "unknown key"),
    (lambda d: d["tensor_core"]["dense_macs_per_cycle"].update(fp16=2.5), "tensor_core.dense_macs_per_cycle.fp16", "int"),
    (lambda d: d["efficiency"].update(dram=1.2), "efficiency.dram", "fraction"),
    (lambda d: d["tiles"]["candidates"][0].update(cta_m="x"), "tiles.candidates[0].cta_m", "int"),
    (lambda d: d["tiles"].update(candidates=[]), "tiles.candidates", "array"),
    (lambda d: d["sm"].update(count=-3), "sm.count", "positive"),
])
def test_bad_configs_name_file_key_and_type(tmp_path, mutate, key, expected):
    doc = _a100_doc()
    mutate(doc)
    p = _write(tmp_path, "bad", _dump(doc))
    with pytest.raises(ConfigError) as ei:
        load_arch(p)
    msg = str(ei.value)
    assert str(p) in msg and key in msg and expected in msg, msg


def test_invalid_toml_and_missing_files(tmp_path):
    p = _write(tmp_path, "broken", "name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_arch(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_arch(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="unknown architecture 'z9000'.*a100"):
        load_arch("z9000")
    with pytest.raises(ConfigError):
        load_arch(3.5)


def test_base_composition_and_cycles(tmp_path):
    p = _write(tmp_path, "slowmem", 'base = "a100"\nname = "slowmem"\ndescription = "x"\n'
               "[dram]\nbandwidth_gbps = 1000.0  # assumption: test\n")
    a = load_arch(p)
    assert a.dram.bandwidth_gbps == 1000.0 and a.dram.latency_ns == load_arch("a100").dram.latency_ns
    # derived of a derived, resolved next to the file first
    q = _write(tmp_path, "slower", 'base = "slowmem"\nname = "slower"\ndescription = "y"\n[clock]\nsustained_mhz = 1000.0\n')
    b = load_arch(q)
    assert b.dram.bandwidth_gbps == 1000.0 and b.clock.sustained_mhz == 1000.0 and b.clock.boost_mhz == 1410
    _write(tmp_path, "loop1", 'base = "loop2"\n')
    r = _write(tmp_path, "loop2", 'base = "loop1"\n')
    with pytest.raises(ConfigError, match="loops"):
        load_arch(r)
    s = _write(tmp_path, "badbase", 'base = 7\n')
    with pytest.raises(ConfigError, match="'base'"):
        load_arch(s)


def test_derive_validates_and_names():
    a = derive("a100", {"dram.bandwidth_gbps": 900.0, "efficiency": {"dram": 0.8}})
    assert a.dram.bandwidth_gbps == 900.0 and a.efficiency.dram == 0.8
    assert a.name.startswith("a100+")
    with pytest.raises(ConfigError, match="sm.count"):
        derive("a100", {"sm.count": "many"})
    with pytest.raises(ConfigError, match="metadata_bits"):
        derive("a100", {"tensor_core.metadata_bits": 1})
    with pytest.raises(ConfigError, match="metadata_bits.*5 positions"):
        derive("a100-4of8", {"tensor_core.metadata_bits": 2})
    with pytest.raises(ConfigError, match="index_scheme"):
        derive("a100", {"tensor_core.index_scheme": "benes"})
    with pytest.raises(ConfigError, match="unknown key 'tensor_core.mux_fan_in'"):
        derive("a100", {"tensor_core.mux_fan_in": 3})  # follows from the pattern, not set


def test_search_path_env(tmp_path, monkeypatch):
    _write(tmp_path, "mygpu", 'base = "a100"\nname = "mygpu"\ndescription = "z"\n')
    monkeypatch.setenv("SPARSESIM_ARCH_PATH", str(tmp_path))
    assert "mygpu" in available_archs() and "a100" in available_archs()
    assert load_arch("mygpu").sm.count == 108


def test_other_kinds_register_beside_gpu(tmp_path):
    register_kind("toykind", ToyArch)
    register_kind("toykind", ToyArch)  # idempotent
    p = _write(tmp_path, "toy", 'name = "toy"\nkind = "toykind"\ndescription = "t"\n[core]\nlanes = 4\n')
    t = load_arch(p)
    assert isinstance(t, ToyArch) and t.core.lanes == 4 and t.source == str(p.resolve())
    bad = _write(tmp_path, "toy2", 'name = "t"\nkind = "toykind"\ndescription = "t"\n[core]\nlanes = 4\nwidth = 2\n')
    with pytest.raises(ConfigError, match="core.width"):
        load_arch(bad)
    with pytest.raises(ValueError):
        register_kind("gpu", ToyArch)
    unk = _write(tmp_path, "alien", 'name = "a"\nkind = "quantum"\n')
    with pytest.raises(ConfigError, match="unknown architecture kind 'quantum'"):
        load_arch(unk)
    nokind = _write(tmp_path, "nokind", 'name = "a"\n')
    with pytest.raises(ConfigError, match="missing key 'kind'"):
        load_arch(nokind)


@pytest.mark.parametrize("name, dtype, tflops", [
    ("a100-pcie", "fp16", 312), ("h100-pcie", "fp16", 756.4), ("h100-pcie", "fp8", 1513),
    ("rtx4090", "fp16", 165.2), ("rtx4090", "int8", 660.6), ("l40s", "fp16", 362.05),
    ("rtx5080", "int8", 450.2), ("b200", "fp16", 2250), ("b200", "fp8", 4500),
])
def test_board_variant_peaks_match_their_datasheets(name, dtype, tflops):
    # dense tensor peaks at the clock each config says the datasheet quotes them at
    # (fp16 on GeForce parts: the fp32-accumulate rate the benchmarks use)
    assert load_arch(name).peak_ops(dtype) / 1e12 == pytest.approx(tflops, rel=0.003)


def test_pcie_boards_differ_from_sxm_where_the_board_differs():
    a, ap = load_arch("a100"), load_arch("a100-pcie")
    h, hp = load_arch("h100"), load_arch("h100-pcie")
    assert ap.dram.bandwidth_gbps < a.dram.bandwidth_gbps and ap.sm == a.sm
    assert hp.sm.count == 114 and h.sm.count == 132 and hp.dram.bandwidth_gbps == 2000.0
    assert hp.tensor_core.dense_macs_per_cycle == h.tensor_core.dense_macs_per_cycle
