"""GEMM library kernel selection: candidates, split-K, stream-K, clusters, main loops, warm L2."""

import pytest

from sparsesim.arch import derive, load_arch
from sparsesim.arch.load import arch_to_dict
from sparsesim.errors import ConfigError, InputError
from sparsesim.patterns import parse_pattern
from sparsesim.timing import library, simulate
from sparsesim.timing.workload import KernelSpec, build_plan


def _only(arch, family, tile, **fields):
    """``arch`` whose library holds one family cut to one tile (fields of the family changed)."""
    fam = arch_to_dict(load_arch(arch))["library"]["kernels"][family]
    fam["tiles"] = [fam["tiles"][tile]]
    fam.update(fields)
    return derive(arch, {"library.kernels": [fam]})


def test_result_names_the_kernel_and_why():
    r = simulate("a100", 4096, 4096, 4096, "fp16", "2:4")
    k = r.kernel
    assert k["family"].startswith("cuSPARSELt") and k["schedule"] in ("data-parallel", "split-k", "stream-k")
    assert k["candidates"] > k["simulated"] >= 2
    assert "bound by" in k["why"] and "runner-up" in k["why"]
    assert k["tile"] == f"{r.tile['cta_m']}x{r.tile['cta_n']}x{r.tile['cta_k']}"
    assert simulate("a100", 4096, 4096, 4096, "int8", "dense").kernel["family"] == "cuBLASLt sm80 imma"


def test_winner_is_the_fastest_simulated_candidate():
    arch = load_arch("a100")
    pat = parse_pattern("dense")
    runs = library.candidates(arch, 2048, 512, 4096, "fp16", pat, None)
    ranked = library.shortlist(runs)
    r = simulate(arch, 2048, 512, 4096, "fp16", "dense")
    names = [x.name for x in ranked]
    assert r.kernel["name"] in names
    # each shortlisted candidate alone is never faster than the winner
    for run in ranked:
        t = run.tile
        fam = next(i for i, f in enumerate(arch.library.kernels) if f.name == run.family)
        idx = next(i for i, x in enumerate(arch.library.kernels[fam].tiles) if x == t)
        alone = simulate(_only("a100", fam, idx, split_k_max=run.spec.split_k if run.schedule == "split-k" else 1,
                               stream_k=run.schedule == "stream-k"), 2048, 512, 4096, "fp16", "dense")
        assert alone.seconds >= r.seconds * (1 - 1e-9)


def test_split_k_fills_the_machine_on_skinny_gemms_and_pays_its_reduction():
    arch = _only("a100", 0, 5, stream_k=False)  # 128x64x32 tiles: 2048x64 gives 16 output tiles
    no_split = _only("a100", 0, 5, stream_k=False, split_k_max=1)
    r, r1 = simulate(arch, 2048, 64, 8192, "fp16", "dense"), simulate(no_split, 2048, 64, 8192, "fp16", "dense")
    assert r.kernel["schedule"] == "split-k" and r.kernel["split_k"] >= 2
    assert r.seconds < 0.7 * r1.seconds
    assert r.ctas == 16 * r.kernel["split_k"]
    assert "split" in r.kernel["why"]
    # the partial sums: fp32 tiles of every slice, read back by the reduction
    plan = build_plan(arch, 2048, 64, 8192, "fp16", parse_pattern("dense"), None, arch.library.kernels[0].tiles[0],
                      spec=KernelSpec(6, 1, 8, split_k=4))
    assert plan.reduction_bytes == 4 * 2048 * 64 * 4 + 2048 * 64 * 2
    assert plan.k_iters == 8192 // 4 // 32


def test_stream_k_balances_a_partial_last_wave():
    dp = _only("a100", 0, 0, stream_k=False, split_k_max=1)  # 256x128 tiles, one CTA per SM
    sk = _only("a100", 0, 0, stream_k=True, split_k_max=1)
    # 3584 x 4096: 14 x 32 = 448 tiles = 4 waves of 108 + 16: the last wave 15 % full
    a, b = simulate(dp, 3584, 4096, 4096, "fp16", "dense"), simulate(sk, 3584, 4096, 4096, "fp16", "dense")
    assert b.kernel["schedule"] == "stream-k" and b.seconds < 0.95 * a.seconds
    # full waves only: no stream-K candidate, the same kernel
    full = (108 * 256, 128, 4096)
    assert simulate(sk, *full, "fp16", "dense").kernel["schedule"] == "data-parallel"


def test_cluster_multicast_and_tensor_core_operand_path():
    h = load_arch("h100")
    pat = parse_pattern("dense")
    t = h.library.kernels[0].tiles[0]
    lone = build_plan(h, 4096, 4096, 4096, "fp16", pat, None, t, spec=KernelSpec(4, 4, 8, mainloop="wgmma"))
    pair = build_plan(h, 4096, 4096, 4096, "fp16", pat, None, t, spec=KernelSpec(4, 4, 8, cluster_m=2, mainloop="wgmma"))
    # B tiles shared by the two CTAs along M: half the B bytes from L2, the same bytes into shared memory
    b_share = 4096 * 4096 * 2 / (pair.tiles_n * pair.k_iters)
    assert lone.demand.l2_bytes - pair.demand.l2_bytes == pytest.approx(b_share / 2)
    assert lone.demand.smem_fill_bytes == pair.demand.smem_fill_bytes
    # wgmma reads its operands through the tensor core's own path: the load/store port carries fills only
    assert lone.demand.smem_port_bytes == 0 and lone.demand.smem_read_bytes > 0
    ms = build_plan(h, 4096, 4096, 4096, "fp16", pat, None, t, spec=KernelSpec(4, 4, 8))
    assert ms.demand.smem_port_bytes == ms.demand.smem_read_bytes


def test_tcgen05_reads_each_stage_once_and_keeps_accumulators_in_tensor_memory():
    b = load_arch("b200")
    fam = b.library.kernels[0]
    t = fam.tiles[0]  # 128x256: the warp tile is the CTA tile
    p = build_plan(b, 8192, 8192, 8192, "fp16", parse_pattern("dense"), None, t,
                   spec=KernelSpec(3, 4, 8, mainloop="tcgen05"))
    a_stage, b_stage = t.cta_m * t.cta_k * 2, t.cta_k * t.cta_n * 2
    assert p.demand.smem_read_bytes == a_stage + b_stage
    assert p.mma.warps_per_cta == 4  # all four tensor cores of the SM


def test_warm_l2_reads_resident_operands_from_l2():
    cold = simulate("h100", 2048, 64, 4096, "fp16", "dense")
    warm = simulate("h100", 2048, 64, 4096, "fp16", "dense", warm_l2=True)
    assert warm.dram_bytes["a_values"] == 0 and warm.dram_bytes["b"] == 0
    assert warm.seconds < cold.seconds
    big_cold = simulate("h100", 16384, 16384, 16384, "fp16", "dense")
    big_warm = simulate("h100", 16384, 16384, 16384, "fp16", "dense", warm_l2=True)
    assert big_warm.seconds == pytest.approx(big_cold.seconds)  # 1.5 GB does not stay in 50 MB


def test_library_config_errors_name_the_key():
    fam = arch_to_dict(load_arch("a100"))["library"]["kernels"][0]
    for field, value, msg in (("op", "both", "op"), ("mainloop", "simt", "mainloop"), ("dtypes", "fp16,fp9", "dtypes")):
        bad = dict(fam, **{field: value})
        with pytest.raises(ConfigError, match=msg):
            derive("a100", {"library.kernels": [bad]})
    with pytest.raises(ConfigError, match="library.kernels"):
        derive("a100", {"library.kernels": [dict(fam, stages="3")]})


def test_no_kernel_fits_is_refused():
    fam = arch_to_dict(load_arch("a100"))["library"]["kernels"][0]
    huge = dict(fam, tiles=[{"cta_m": 256, "cta_n": 256, "cta_k": 512, "warp_m": 64, "warp_n": 64, "stages": 8}])
    arch = derive("a100", {"library.kernels": [huge]})
    with pytest.raises(InputError, match="fits one SM"):
        simulate(arch, 1024, 1024, 1024, "fp16", "dense")


def test_configs_without_a_library_use_the_tiles_table():
    doc = arch_to_dict(load_arch("a100"))
    doc.pop("library")
    doc.pop("source", None)
    from sparsesim.arch import build_arch

    bare = build_arch({**doc, "name": "bare"}, "test")
    r = simulate(bare, 4096, 4096, 4096, "fp16", "dense")
    assert r.kernel["family"] == "tiles" and r.kernel["schedule"] == "data-parallel"


def test_output_type_sets_the_c_bytes():
    dflt = simulate("a100", 4096, 4096, 512, "int8", "dense")
    int8 = simulate("a100", 4096, 4096, 512, "int8", "dense", out_dtype="int8")
    assert dflt.dram_bytes["c"] == 4096 * 4096 * 4 and int8.dram_bytes["c"] == 4096 * 4096
    with pytest.raises(InputError, match="out_dtype"):
        simulate("a100", 64, 64, 64, "int8", "dense", out_dtype="fp4")
    from sparsesim.validate.engine import out_dtypes

    assert out_dtypes("family=x; out dense=INT32 sparse=BF16") == ("int32", "bf16")
    assert out_dtypes("hw=A100; out=int8") == ("int8", "int8") and out_dtypes("") == (None, None)
