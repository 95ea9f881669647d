"""The sparse-datapath study: mask counts, a small run end to end, the committed report's model."""

from itertools import combinations
from math import comb
from pathlib import Path

import numpy as np
import pytest

from sparsesim.report.datapath_study import DATAPATHS, executable_masks

ROOT = Path(__file__).resolve().parent.parent


def test_executable_masks_count_the_routable_keep_masks():
    # every sorted choice of N positions satisfies i <= p_i <= i + M - N: ordered muxes reach all
    for n, m in ((1, 2), (2, 4), (4, 8), (2, 8), (1, 4)):
        assert executable_masks(n, m, "ordered") == executable_masks(n, m, "crossbar") == comb(m, n)
    # and the ordered window is exact: shrink it by one and masks are lost
    lost = sum(1 for kept in combinations(range(8), 4) if any(p > i + 3 for i, p in enumerate(kept)))
    assert lost > 0


def _weights(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(3)
    tensors = {"enc.0.weight": rng.standard_normal((32, 64)).astype(np.float32),
               "enc.1.weight": rng.laplace(size=(16, 128)).astype(np.float32),
               "embeddings.word.weight": rng.standard_normal((50, 64)).astype(np.float32)}
    path = tmp_path / "w.safetensors"
    safetensors.save_file(tensors, str(path))
    return path, tensors


def _kept(w, n, m):
    """Independent reference: per group of M along a row, the N largest |w|, over all |w|."""
    a = np.abs(w.astype(np.float64))
    total = 0.0
    for row in a:
        for g in range(0, len(row), m):
            total += sum(sorted(row[g:g + m])[-n:])
    return total / a.sum()


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    from sparsesim.report import datapath_study as S

    tmp = tmp_path_factory.mktemp("study")
    weights, tensors = _weights(tmp)
    cands = {"tensor_core.decoder_bits_per_cycle": [64, 128, 256], "dram.bandwidth_gbps": [1500.0, 2039.0]}
    orig = S.run_study

    def small(out_dir, **kw):
        return orig(out_dir, workloads=("bert-large",), candidates=cands, **kw)

    S.run_study = small
    try:
        files = S.write_study(tmp / "out", jobs=1, weights=weights, command="sparsesim study datapath --out X")
    finally:
        S.run_study = orig
    return tmp / "out", files, tensors


def test_small_study_writes_a_complete_report(small_study):
    out, files, tensors = small_study
    md = (out / "report.md").read_text()
    assert files[0] == out / "report.md"
    for name in ("comparison", "pareto", "deciding"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG" and f"]({name}.png)" in md
    for section in ("## Conclusion", "**Verdict.**", "## The datapaths", "## Side by side", "## Pareto fronts",
                    "## The parameter that decides it", "sparsesim sweep --arch a100 --arch a100-4of8"):
        assert section in md
    assert "`tensor_core.decoder_bits_per_cycle`" in md.split("## Conclusion")[1].split("## The datapaths")[0]
    # the accuracy proxy: means over the non-embedding layers, against an independent count
    w = [tensors["enc.0.weight"], tensors["enc.1.weight"]]
    for pat in ("2:4", "4:8"):
        n, m = (int(x) for x in pat.split(":"))
        mean = sum(_kept(x, n, m) for x in w) / 2
        assert f"{100 * mean:.2f}" in md
    assert (out / "accuracy.csv").read_text().count("\n") == 3
    assert (out / "results.csv").is_file() and list(out.glob("sweep_tensor_core.decoder_bits_per_cycle.*"))


def test_study_numbers_follow_the_model(small_study):
    from sparsesim.dse import read_results
    from sparsesim.report.datapath_study import StudyResult
    from sparsesim.report.datapath_render import comparison, datapath_facts, fronts, sensitivity

    out, _, _ = small_study
    rows = read_results(out / "results.csv")
    assert {(r["arch"], r["pattern"]) for r in rows} == {(a, p) for a, p in DATAPATHS} | {
        (a, "dense") for a, _ in DATAPATHS}
    sweep = next(out.glob("sweep_tensor_core.decoder_bits_per_cycle.*"))
    res = StudyResult(rows, [{"layer": "x", "2:4": 0.7, "2:4 +perm": 0.72, "4:8": 0.75, "4:8 +perm": 0.76,
                              "unstructured 50%": 0.8}],
                      {a: (70, 70) for a, _ in DATAPATHS}, {"tensor_core.decoder_bits_per_cycle": read_results(sweep)})
    facts = datapath_facts(res)
    assert [f["fan_in"] for f in facts] == [3, 5, 8]
    assert facts[0]["area_mm2"] < facts[1]["area_mm2"] < facts[2]["area_mm2"]
    comp = comparison(res, ["bert-large"], ["fp16", "int8"])
    for case in comp.values():
        for v in case.values():
            assert v["speedup"] > 1.0 and v["dram_rel"] < 1.0
        # 3-bit indices move more metadata than 2-bit ones
        assert case["a100-4of8"]["meta"] > case["a100"]["meta"]
    sens = sensitivity(res)["tensor_core.decoder_bits_per_cycle"]
    assert sens["values"] == [64, 128, 256]
    # a 64-bit metadata port binds int8 4:8 (21 indices per cycle) harder than 2:4 (32)
    assert sens["ratio"][("bert-large", "int8")][0] < sens["ratio"][("bert-large", "int8")][-1]
    for entries in fronts(res, ["bert-large"], ["fp16", "int8"]).values():
        on = {(e["arch"], e["label"]) for e in entries if e["on_front"]}
        # same masks and speed, more area: the crossbar never makes the front; dense a100 always does
        assert ("a100-4of8-crossbar", "4:8") not in on and ("a100", "dense") in on


def test_committed_datapath_study_comes_from_the_current_model():
    from sparsesim.dse import read_results
    from sparsesim.dse.fingerprint import model_fingerprint
    from sparsesim.dse.grid import expand
    from sparsesim.dse.store import decode_params

    folder = ROOT / "reports" / "datapath"
    tables = [folder / "results.csv", *sorted(folder.glob("sweep_*.parquet")), *sorted(folder.glob("sweep_*.csv"))]
    assert (folder / "report.md").is_file() and len(tables) >= 2
    current = {}
    for table in tables:
        if table.suffix == ".parquet":
            pytest.importorskip("pyarrow")
        stale = set()
        for r in read_results(table):
            design = (r["arch"], r["params"])
            if design not in current:
                values = decode_params(r["params"])
                current[design] = (model_fingerprint(expand([r["arch"]], {k: [v] for k, v in values.items()})[0].loaded)
                                   if values else model_fingerprint(r["arch"]))
            if r["model"] != current[design]:
                stale.add(r["arch"])
        assert not stale, (f"{table.relative_to(ROOT)} was produced by another model for {sorted(stale)}: "
                           "regenerate it with `sparsesim study datapath --out reports/datapath` and commit it")
