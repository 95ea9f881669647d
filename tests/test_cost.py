"""Energy and area per action (sparsesim.cost): tables, scaling rules, knobs, results."""

from __future__ import annotations

import json
import re
from math import log

import pytest

import sparsesim
from sparsesim.arch import derive, load_arch
from sparsesim.cost import (
    action_energies,
    datapath_area,
    dram_pj_per_bit,
    dynamic_energy_j,
    energy_breakdown,
    load_node,
    node_names,
)
from sparsesim.cost.energy import mac_pj, multiply_pj, sram_pj_per_byte
from sparsesim.cost.tables import TABLE_DIR
from sparsesim.errors import ConfigError

# Published numbers typed in here, independently of the package's tables.
HOROWITZ_45NM_PJ = {"int8_mult": 0.2, "int32_add": 0.1, "fp16_mult": 1.1, "fp32_mult": 3.7, "fp32_add": 0.9,
                    "sram_8kib_64b": 10.0, "sram_32kib_64b": 20.0, "sram_1mib_64b": 100.0}
HP45 = (1.018, -0.3107, 0.1539)  # Stillmaker & Baas 2017, energy polynomial coefficients
HP7 = (0.1776, -0.09097, 0.02447)
HP16 = (0.2958, -0.1241, 0.03024)


def poly(c, v):
    return c[0] * v * v + c[1] * v + c[2]


def factor_45_to_7(v7=0.7):
    return poly(HP7, v7) / poly(HP45, 0.9)


# ----------------------------------------------------------------------------- tables

def test_anchor_table_holds_the_published_numbers():
    n45 = load_node("n45")
    for k, v in HOROWITZ_45NM_PJ.items():
        assert n45.energy_pj(k) == v
    assert mac_pj(n45, "int8") == pytest.approx(0.2 + 0.1)
    assert mac_pj(n45, "fp16") == pytest.approx(1.1 + 0.9)
    # the float-multiply rule passes through both published points
    assert multiply_pj(n45, "fp32") == pytest.approx(3.7)
    assert multiply_pj(n45, "fp16") == pytest.approx(1.1)
    assert multiply_pj(n45, "fp8") < multiply_pj(n45, "bf16") < multiply_pj(n45, "fp16")


def test_stillmaker_transfer_reproduces_the_published_worked_example(tmp_path):
    # Stillmaker & Baas (corrigendum): 1 pJ/op at 65 nm, 1.3 V -> 32 nm (HP), 0.9 V = 0.1755 pJ/op
    (tmp_path / "n65.toml").write_text(
        'node = "n65"\nvdd_v = 1.3\nenergy_vs_vdd = [3.755, -4.398, 1.975]\n[energy_pj]\nop = 1.0\n')
    (tmp_path / "n32.toml").write_text(
        'node = "n32"\nbase = "n65.toml"\nvdd_v = 0.9\nenergy_vs_vdd = [0.8367, -0.4341, 0.1701]\n')
    n32 = load_node(str(tmp_path / "n32.toml"))
    # the example's factors 0.4571 and 2.604, rounded as printed, give 0.1755
    assert poly((0.8367, -0.4341, 0.1701), 0.9) == pytest.approx(0.4571, abs=5e-5)
    assert poly((3.755, -4.398, 1.975), 1.3) == pytest.approx(2.604, abs=5e-4)
    assert n32.energy_pj("op") == pytest.approx(0.1755, abs=1e-4)
    assert n32.chain == ("n32", "n65")


def test_node_scaling_follows_the_cited_factors():
    n45, n7, n5, n4 = (load_node(n) for n in ("n45", "n7", "n5", "n4"))
    f = factor_45_to_7()
    assert n7.energy_pj("fp16_mult") == pytest.approx(1.1 * f)
    assert n7.area("fp16_mult") == pytest.approx(1640 / 17, rel=2e-3)  # area 45 -> 7 nm: 1/17
    assert n5.energy_pj("fp16_mult") == pytest.approx(1.1 * f * 0.70)  # TSMC N5: -30 % power
    assert n5.area("mux2") == pytest.approx(n7.area("mux2") / 1.8, rel=1e-3)  # 1.8x density
    assert n4.area("mux2") == pytest.approx(n5.area("mux2") * 0.94)
    assert n4.energy_pj("int8_mult") == pytest.approx(n5.energy_pj("int8_mult"))
    # within a node, energy follows the node's own polynomial in the supply
    assert n7.energy_pj("fp32_add", 0.9) / n7.energy_pj("fp32_add", 0.7) == pytest.approx(
        poly(HP7, 0.9) / poly(HP7, 0.7))
    assert set(node_names()) >= {"n45", "n7", "n5", "n4"}


def test_sram_rule_is_exact_at_the_anchors_and_close_to_a_square_root_law():
    n45 = load_node("n45")
    for cap, e64 in ((8 << 10, 10.0), (32 << 10, 20.0), (1 << 20, 100.0)):
        assert sram_pj_per_byte(n45, cap) == pytest.approx(e64 / 8)
    # between anchors the energy grows about as sqrt(capacity) (wire length of the array)
    for cap in (16 << 10, 64 << 10, 256 << 10):
        sqrt_law = 10.0 / 8 * (cap / (8 << 10)) ** 0.5
        assert sram_pj_per_byte(n45, cap) == pytest.approx(sqrt_law, rel=0.15)
    assert sram_pj_per_byte(n45, 40 << 20) == sram_pj_per_byte(n45, 1 << 20)  # no extrapolation


def test_dram_table_follows_its_sources():
    assert dram_pj_per_bit("hbm2") == 3.9
    assert dram_pj_per_bit("gddr6x") == pytest.approx(0.85 * dram_pj_per_bit("gddr6"))
    assert dram_pj_per_bit("gddr7") == pytest.approx(dram_pj_per_bit("gddr6") / 1.5)
    assert dram_pj_per_bit("hbm3") == pytest.approx(3.9 * (1.1 / 1.2) ** 2, rel=2e-3)
    with pytest.raises(ConfigError, match="hbm9"):
        dram_pj_per_bit("hbm9")


def test_every_table_number_cites_a_source_or_is_an_assumption():
    for path in TABLE_DIR.glob("*.toml"):
        text = path.read_text()
        sources = set(re.findall(r"^#\s+(\[[A-Z0-9]+\])", text, re.M))
        assert sources, path
        for line in text.splitlines():
            code = line.split("#", 1)[0]
            if re.search(r"=\s*[\d\[-]", code):
                assert "#" in line, f"{path.name}: no source on {line!r}"
                comment = line.split("#", 1)[1]
                assert any(s in comment for s in sources) or "assumption" in comment, f"{path.name}: {line!r}"


# ----------------------------------------------------------------------------- energy

def _sram_by_hand(cap_bytes):
    """Horowitz SRAM reads per byte, power law between the 32 KB and 1 MB points (45 nm)."""
    k = log(100.0 / 20.0) / log(32.0)
    return 20.0 / 8 * (cap_bytes / (32 << 10)) ** k


def test_energy_is_counts_times_energy_per_action_by_hand():
    r = sparsesim.simulate("a100", 256, 512, 1024, "fp16", "dense")
    a, f = r.actions, factor_45_to_7()
    mac = (1.1 + 0.9) * f
    rf = _sram_by_hand(256 * 1024 / 4) * f  # 256 KB register file, one quarter per tensor core
    smem = _sram_by_hand(164 * 1024) * f
    l2 = 100.0 / 8 * f  # 40 MB L2 priced as 1 MB arrays
    dram = 3.9 * 8  # HBM2e
    mmas = a["multiplies"] * 2 / 4096  # mma.m16n8k16: 2048 MACs
    rf_bytes = mmas * (16 * 16 * 2 + 16 * 8 * 2 + 2 * 16 * 8 * 4) + a["smem_read_bytes"]
    dram_bytes = a["dram_read_bytes"] + a["dram_write_bytes"]
    # the GPU entries of the 16 nm table (AccelWattch idle SM 250 pJ/cycle, Dally's 30 pJ per
    # instruction at 0.8 V) moved to 7 nm 0.7 V; the tensor-core lane 3.5x its MAC
    f16 = poly(HP7, 0.7) / poly(HP16, 0.8)
    assert mmas + (a["smem_read_bytes"] + a["smem_write_bytes"]) / 512 == pytest.approx(a["warp_instructions"])
    assert a["sm_cycles"] == pytest.approx(108 * r.kernel_cycles)
    pj = (a["multiplies"] * mac * 3.5 + rf_bytes * rf + (a["smem_read_bytes"] + a["smem_write_bytes"]) * smem
          + (a["l2_read_bytes"] + dram_bytes) * l2 + dram_bytes * dram
          + a["warp_instructions"] * 30.0 * f16 + a["sm_cycles"] * 250.0 * f16)
    expected = pj * 1e-12 + 90.0 * r.seconds
    assert r.energy_j == pytest.approx(expected, rel=1e-9)
    assert sum(r.energy_breakdown_j.values()) == pytest.approx(r.energy_j)
    assert r.avg_power_w == pytest.approx(r.energy_j / r.seconds)
    assert r.energy_breakdown_j["mux"] == 0 and r.energy_breakdown_j["decode"] == 0


def test_sparse_energy_adds_mux_and_decode_by_hand():
    r = sparsesim.simulate("a100", 512, 512, 1024, "fp16", "2:4")
    f = factor_45_to_7()
    fa_bit = 0.1 / 32 * f  # a full-adder bit: a 32-bit add / 32
    mux2 = fa_bit * 1.862 / 4.256  # NanGate MUX2_X1 / FA_X1
    nand2 = fa_bit * 0.798 / 4.256
    select = (3 - 1) * 16 * mux2  # 3:1 = two 2:1 cells per bit, 16-bit operand
    decode = (3 * 1 + 0.5 * 2) * nand2 + 2 / 8 * _sram_by_hand(64 * 1024) * f
    b = r.energy_breakdown_j
    assert b["mux"] == pytest.approx(r.actions["mux_selects"] * select * 1e-12, rel=1e-9)
    assert b["decode"] == pytest.approx(r.actions["metadata_decodes"] * decode * 1e-12, rel=1e-9)
    assert b["mux"] > 0 and b["decode"] > 0


def test_4of8_costs_more_per_select_and_area_than_2of4_crossbar_more_than_ordered():
    archs = [load_arch(n) for n in ("a100", "a100-4of8", "a100-4of8-crossbar")]
    sel = [action_energies(a, "fp16")["mux_select"] for a in archs]
    dec = [action_energies(a, "fp16")["metadata_decode"] for a in archs]
    area = [datapath_area(a) for a in archs]
    assert sel[0] < sel[1] < sel[2]
    assert dec[0] < dec[1] < dec[2]
    assert area[0].sparse_mux_um2 < area[1].sparse_mux_um2 < area[2].sparse_mux_um2
    assert area[0].sparse_um2 < area[1].sparse_um2 < area[2].sparse_um2
    assert area[0].dense_um2 == area[1].dense_um2 == area[2].dense_um2
    # mux area: instances x (fan_in - 1) x 16 bits x MUX2_X1 scaled to 7 nm
    mux2_7nm = 1.862 * load_node("n7").area("mux2") / 1.862
    assert area[1].sparse_mux_um2 == pytest.approx(256 * 4 * 16 * mux2_7nm)
    assert area[2].sparse_mux_um2 == pytest.approx(256 * 7 * 16 * mux2_7nm)


def test_dense_datapath_area_by_hand():
    a = datapath_area(load_arch("a100"))
    # fp16 array: 256 MACs of (16b FP multiplier + 32b FP adder) at 45 nm, / 17 to 7 nm
    assert a.dense_dtype == "fp16"
    assert a.dense_um2 == pytest.approx(256 * (1640 + 4184) / 17, rel=2e-3)
    assert a.tensor_cores == 432 and 0 < a.sparse_fraction < 0.1


# ----------------------------------------------------------------------------- knobs

KNOBS = [
    ("technology.node", "n5", {"energy", "area"}),
    ("technology.vdd_v", 0.8, {"energy"}),
    ("technology.dram", "gddr6", {"energy"}),
    ("technology.static_w", 150.0, {"energy"}),
    ("technology.energy_pj", {"mac_fp16": 1.0}, {"energy"}),
    ("technology.energy_pj", {"mux2_bit": 0.05}, {"energy"}),
    ("technology.area_um2", {"mux2": 1.0}, {"area"}),
    ("technology.area_um2", {"mac_fp16": 10000.0}, {"area"}),
]


@pytest.mark.parametrize("key, value, moves", KNOBS)
def test_every_technology_knob_moves_what_it_claims(key, value, moves):
    base = sparsesim.simulate("a100", 512, 512, 1024, "fp16", "2:4")
    r = sparsesim.simulate(derive("a100", {key: value}), 512, 512, 1024, "fp16", "2:4")
    assert r.seconds == base.seconds  # energy and area do not feed back into timing
    assert (r.energy_j != pytest.approx(base.energy_j, rel=1e-6)) == ("energy" in moves)
    assert (r.area != base.area) == ("area" in moves)


def test_supply_scales_dynamic_energy_not_static():
    a = load_arch("a100")
    lo, hi = action_energies(a, "fp16", 0.7), action_energies(a, "fp16", 0.9)
    assert hi["mac"] / lo["mac"] == pytest.approx(poly(HP7, 0.9) / poly(HP7, 0.7))
    assert hi["static_w"] == lo["static_w"]
    r = sparsesim.simulate(a, 1024, 1024, 1024, "fp16", "dense")
    b9 = energy_breakdown(a, r.actions, r.dtype, r.datapath, r.seconds, vdd=0.9)
    assert b9["tensor"] > r.energy_breakdown_j["tensor"] and b9["static"] == r.energy_breakdown_j["static"]
    # power at a clock: static + the actions' energy at that clock's supply over the kernel time
    dyn = dynamic_energy_j(a, r.actions, r.dtype, r.datapath)
    assert dyn + 90.0 * r.seconds == pytest.approx(r.energy_j)
    assert dynamic_energy_j(a, r.actions, r.dtype, r.datapath, vdd=0.9) == pytest.approx(
        sum(v for k, v in b9.items() if k != "static"))


def test_overrides_are_given_at_the_config_supply():
    a = derive("a100", {"technology.energy_pj": {"mac_fp16": 0.5}, "technology.vdd_v": 0.8})
    assert action_energies(a, "fp16")["mac"] == pytest.approx(0.5e-12)
    assert action_energies(a, "fp16", 0.9)["mac"] == pytest.approx(0.5e-12 * poly(HP7, 0.9) / poly(HP7, 0.8))


@pytest.mark.parametrize("override, key", [
    ({"technology.node": "n2"}, "technology.node"),
    ({"technology.dram": "hbm9"}, "technology.dram"),
    ({"technology.energy_pj": {"mac_fp64": 1.0}}, "technology.energy_pj.mac_fp64"),
    ({"technology.area_um2": {"sram": 1.0}}, "technology.area_um2.sram"),
    ({"technology.static_w": -1.0}, "technology.static_w"),
])
def test_bad_technology_names_the_key(override, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        derive("a100", override)


def test_node_may_be_a_table_file_that_overrides_entries(tmp_path):
    p = tmp_path / "mynode.toml"
    p.write_text('node = "my7"\nbase = "n7"\n[energy_pj]\nfp16_mult = 0.5  # test\n')
    a = derive("a100", {"technology.node": str(p)})
    n7 = load_node("n7")
    assert action_energies(a, "fp16")["mac"] == pytest.approx((0.5 + n7.energy_pj("fp32_add")) * 1e-12)
    assert datapath_area(a).dense_um2 == datapath_area(load_arch("a100")).dense_um2


def test_arch_without_technology_has_no_energy():
    a = load_arch("a100")
    plain = sparsesim.arch.build_arch(
        {k: v for k, v in sparsesim.arch.arch_to_dict(a).items() if k not in ("technology", "source")},
        "test", source="")
    assert plain.technology is None
    assert derive(plain, {"dram.bandwidth_gbps": 1000.0}).technology is None
    r = sparsesim.simulate(plain, 256, 256, 256, "fp16", "dense")
    assert r.energy_j is None and r.area is None and r.to_dict()["energy_j"] is None


def test_shipped_gpu_configs_name_their_technology():
    assert load_arch("a100").technology.node == "n7" and load_arch("a100").technology.dram == "hbm2e"
    assert load_arch("h100").technology.node == "n4" and load_arch("h100").technology.dram == "hbm3"
    assert load_arch("a100-4of8").technology == load_arch("a100").technology


def test_cli_prints_energy_and_area(capsys):
    from sparsesim.cli import main

    assert main(["simulate", "--arch", "a100", "--gemm", "512x512x512", "--pattern", "2:4"]) == 0
    out = capsys.readouterr().out
    assert "energy" in out and "avg power" in out and "sparse additions" in out
    assert main(["simulate", "--arch", "a100", "--gemm", "512x512x512", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["energy_j"] > 0 and d["avg_power_w"] > 0 and "static" in d["energy_breakdown_j"]
    assert d["area"]["node"] == "n7" and d["area"]["sparse_fraction"] > 0


def test_breakdown_units_are_the_declared_ones():
    """Sweep rows carry one column per unit of ENERGY_UNITS: the breakdown must name exactly those."""
    from sparsesim.cost.energy import ENERGY_UNITS

    r = sparsesim.simulate("a100", 1024, 1024, 1024, "fp16", "2:4")
    assert tuple(r.energy_breakdown_j) == ENERGY_UNITS
    assert abs(sum(r.energy_breakdown_j.values()) - r.energy_j) <= 1e-12 * r.energy_j
