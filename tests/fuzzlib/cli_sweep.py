"""Entry points of sweeps and their results: ``sparsesim sweep``, ``report``, ``study``, the
``sparsesim.sweep`` API, ``read_results`` and the density-grid parser.

A valid sweep here is small (one or two GEMMs from a CSV list, a few patterns, in-process);
its table is checked against the number of points counted from the arguments and a
result for each of them.  Results files for ``report`` and ``read_results`` come from one
such sweep, then are damaged the ways a file on disk gets damaged.
"""

from __future__ import annotations

import shutil
import sqlite3

from .cli import _out_path
from .core import Case, entry
from .values import pick

GEMMS = "m,n,k,name\n64,64,64,a\n128,256,512,b\n"
ARCHS = [("a100", True), ("h100", True), ("a100-4of8", True), ("nope", False), ("", False), ("xeon-8280", None)]
PATTERNS = [("dense", 0), ("2:4", 0), ("4:8", 0), ("unstructured:csr", 1), ("unstructured:bitmask", 1),
            ("unstructured:coo", None), ("٢:٤", None), ("2:3", None), ("", 0)]
DENSITIES = [("0.1,0.5", 2), ("0.25", 1), ("0.5:1.0:0.25", 3), ("0.1:nan:0.1", None), ("0", None), ("1.5", None),
             ("٠.٥", None), ("0.05:1.0:1e-9", None), ("a", None), (",", None)]


def _write_gemms(tmp, rng, clean=False):
    p = tmp / "g.csv"
    style = rng.integers(10)
    if style < 8 or clean:
        p.write_text(GEMMS)
        return p, True, 2
    p.write_bytes(pick(rng, [b"m,n,k\n\xff,1,1\n", b"m,n,k\n0,1,1\n", b"m,n,k\n" + str(2**41).encode() + b",1,1\n"]))
    return p, False, 0


def expected_points(archs, layers, patterns, densities):
    """Rows of a sweep counted from its arguments (dense baselines added, repeats merged)."""
    specs = []
    for s in patterns:
        s = s.strip().lower()
        if s and s not in specs:
            specs.append(s)
    if "dense" not in specs:
        specs.append("dense")
    per_layer = sum(densities if s.startswith("unstructured") else 1 for s in specs)
    return len(dict.fromkeys(archs)) * layers * per_layer


def _valid(table):
    """The entries of a (value, validity) table that are valid (the happy path)."""
    return [e for e in table if e[1] is not None and e[1] is not False and e[0]]


def gen_sweep(rng, tmp):
    clean = rng.random() < 0.35  # a sweep that must run: its rows are checked point by point
    wl, wv, layers = _write_gemms(tmp, rng, clean)
    archs, av = [], True
    for _ in range(int(rng.integers(1, 3))):
        a, ok = pick(rng, _valid(ARCHS) if clean else ARCHS)
        archs.append(a)
        av = False if ok is False or av is False else (None if ok is None or av is None else True)
    pats, pv, fmts = [], True, 0
    for _ in range(int(rng.integers(1, 4))):
        p, kind = pick(rng, [e for e in PATTERNS if e[1] is not None and e[0]] if clean else PATTERNS)
        pats.append(p)
        pv = pv and kind is not None
    if not any(p.strip() for p in pats):
        pv = False
    dens, dv = pick(rng, _valid(DENSITIES) if clean else DENSITIES)
    if clean:
        out, ov = tmp / ("o" + pick(rng, [".csv", ".sqlite", ".parquet"])), True
    else:
        out, ov = _out_path(rng, tmp, pick(rng, [".csv", ".csv", ".sqlite", ".parquet", ".txt"]))
    if str(out).endswith(".txt"):
        ov = False
    argv = ["sweep", "--workload", wl, "--patterns", ",".join(pats), "--densities", dens, "--out", out, "--jobs", "1",
            "-q"]
    for a in archs:
        argv += ["--arch", a]
    valid = wv and av and pv and ov
    if any(p.startswith("unstructured") and p[13:] in ("csr", "csb", "bitmask") for p in pats) and dv is None:
        valid = False
    elif dv is None:
        valid = valid and None  # a bad grid matters only to unstructured patterns
    extra = 12 if clean else rng.integers(12)
    if extra == 0:
        argv += ["--mode", pick(rng, ["bogus", "exec", "Full", ""])]
        valid = False
    elif extra == 1:
        argv[argv.index("--jobs") + 1] = pick(rng, ["0", "-2", "x", "٣", "100000"])
        valid = False
    elif extra == 2:
        argv += ["--scheduler", pick(rng, ["garbage", "tcp://", "tcp://host:99999", "http://x:1"])]
        valid = False
    elif extra == 3:
        argv += ["--evaluator", pick(rng, ["os:getcwd", "nomodule:f", "os", "os:path", ":f", ".x:y"])]
        valid = False
    elif extra == 4:
        argv += ["--dtype", pick(rng, ["fp32", "", "fp99", "int8"])]
        valid = valid and None if argv[-1] == "int8" else False
    elif extra == 5:
        argv += ["--batch", pick(rng, ["0", "-1", "٣", "2"])]
        valid = valid and None if argv[-1] == "2" else False
    elif extra == 6:
        argv += ["--set", pick(rng, ["dram.bandwidth_gbps=1000,2000", "dram.bandwidth_gbps=nan", "bogus.key=1",
                                     "dram.bandwidth_gbps=1:1e9:1e-3"])]
        valid = valid and None if argv[-1].endswith("1000,2000") else False
    elif extra == 7:
        rep, rv = _out_path(rng, tmp, "")
        argv += ["--report", rep]
        valid = valid and (None if rv or str(rep).endswith("odir") else False)
    elif extra == 8:
        argv += ["--weights", pick(rng, [tmp / "nowhere.safetensors", wl]), "--seed", pick(rng, ["-1", "0"])]
        valid = False
    elif extra == 9 and ov:
        valid = valid and None
        _damage_existing(rng, out)
    n_archs = [a for a in archs if a]
    return Case((argv,), {}, valid, " ".join(str(a) for a in argv[1:] if str(a) not in (str(wl),))[-110:],
                {"out": out, "expect": expected_points(n_archs, layers, pats, dv or 0) if valid else None})


def _damage_existing(rng, out):
    """An output file already there: a foreign CSV, a table of another version, junk."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pick(rng, [b"a,b\n1,2\n", b"arch,seconds,model,other\nx,1,m,2\n", b"\xff\xfe junk",
                               b"SQLite format 3\x00" + b"\x00" * 100]))


def check_sweep(case, run):
    from sparsesim.dse import read_results

    want = case.ctx["expect"]
    if want is None:
        return None
    rows = read_results(case.ctx["out"])
    if len(rows) != want:
        return f"{len(rows)} rows, {want} points planned"
    bad = [r for r in rows if r["error"] or not (r["seconds"] and r["seconds"] > 0)]
    if bad:
        return f"{len(bad)} rows without a result: {bad[0]['error'][:100]}"
    if any(r["pattern"] == "dense" and r["speedup"] != 1.0 for r in rows):
        return "a dense row's speedup is not 1"
    return None


@entry("cli sweep", "cli", gen_sweep, weight=0.8, check=check_sweep)
def cli_sweep(case):
    return case.args[0]


# ------------------------------------------------------------------ results files
_CACHE: dict = {}


def results_files(tmp):
    """A small sweep's results (.csv, .parquet, .sqlite): made once per process."""
    if "dir" not in _CACHE:
        import tempfile
        from pathlib import Path

        from sparsesim.dse import plan_points, run_sweep

        d = Path(tempfile.mkdtemp(prefix="sparsesim-fuzz-results-"))
        (d / "g.csv").write_text(GEMMS)
        pts = plan_points(["a100"], [d / "g.csv"], "dense,2:4,unstructured:csr", "0.1,0.5", mode="statistical")
        _CACHE["rows"] = run_sweep(pts, d / "r.csv", jobs=1).total  # one row per planned point
        assert _CACHE["rows"] == len(pts) == 8, "the sample sweep plans 2 layers x (dense, 2:4, csr x 2 densities)"
        shutil.copy(d / "r.sqlite", d / "store.sqlite")
        _CACHE["dir"] = d
    return _CACHE["dir"]


def damaged_results(rng, tmp):
    """A results file and whether it is intact (None: a value that may or may not be refused)."""
    src = results_files(tmp)
    kind = pick(rng, ["r.csv", "r.csv", "r.parquet", "store.sqlite"])
    p = tmp / kind.replace("store", "r")
    shutil.copy(src / kind, p)
    style = rng.integers(12)
    if style < 3:
        return p, True, f"{kind} intact"
    if kind == "store.sqlite":
        return _damage_store(rng, p, style)
    data = p.read_bytes()
    if style == 3:
        p.write_bytes(data[: int(rng.integers(1, len(data)))])
        return p, None, f"{kind} truncated"
    if style == 4:
        i = int(rng.integers(len(data)))
        p.write_bytes(data[:i] + b"\xff" + data[i:])
        return p, False, f"{kind} bad byte"
    if kind == "r.parquet":
        p.write_bytes(pick(rng, [b"PAR1junkPAR1", b"", b"a,b\n"]))
        return p, False, "parquet junk"
    lines = data.split(b"\n")
    row = int(rng.integers(1, len(lines) - 1))
    cells = lines[row].split(b",")
    if style == 5:
        col = int(rng.integers(len(cells)))
        cells[col] = pick(rng, [b"abc", b"\xd9\xa3", b"1_0", b"--1", b"1e999999", b"true"])
        lines[row] = b",".join(cells)
        p.write_bytes(b"\n".join(lines))
        return p, None, f"csv cell {col} replaced"  # a text column takes anything
    if style == 6:
        lines[row] += b",extra"
        p.write_bytes(b"\n".join(lines))
        return p, False, "csv extra field"
    if style == 7:
        lines[row] = lines[row][: len(lines[row]) // 2]
        p.write_bytes(b"\n".join(lines))
        return p, False, "csv torn line"
    if style == 8:
        lines[0] = lines[0].replace(b",model", b"")
        p.write_bytes(b"\n".join(lines))
        return p, False, "csv of an earlier version"
    if style == 9:
        lines.insert(row, b'"unterminated,1,2')
        p.write_bytes(b"\n".join(lines))
        return p, False, "csv unterminated quote"
    if style == 10:
        p.unlink()
        p.mkdir()
        return p, False, "a folder"
    p.write_bytes(b"")
    return p, None, "empty file"


def _damage_store(rng, p, style):
    if style == 3:
        data = p.read_bytes()
        p.write_bytes(data[: int(rng.integers(1, len(data)))])
        return p, None, "store truncated"
    if style == 4:
        p.write_bytes(pick(rng, [b"not a database at all", b"", b"SQLite format 3\x00" + b"\xff" * 200]))
        return p, False, "store junk"
    db = sqlite3.connect(str(p))
    try:
        if style == 5:
            db.execute("UPDATE results SET seconds = 'abc' WHERE rowid = 1")
            label, valid = "text in a number column", False
        elif style == 6:
            db.execute("ALTER TABLE results ADD COLUMN newer TEXT")
            label, valid = "store of another version", False
        elif style == 7:
            db.execute("DROP TABLE results")
            label, valid = "no results table", False
        elif style == 8:
            db.execute("UPDATE results SET m = 2.5 WHERE rowid = 2")
            label, valid = "float in an integer column", False
        else:
            db.execute("UPDATE results SET prunable = 7 WHERE rowid = 1")
            label, valid = "7 in a boolean column", False
        db.commit()
    finally:
        db.close()
    return p, valid, label


def gen_read_results(rng, tmp):
    p, valid, label = damaged_results(rng, tmp)
    return Case((p,), {}, valid, label, {})


def check_read(case, rows):
    if case.valid is True and len(rows) != _CACHE["rows"]:
        return f"{len(rows)} rows read back, {_CACHE['rows']} written"
    return None


@entry("dse.read_results", "api", gen_read_results, weight=0.8, check=check_read)
def call_read_results(case):
    from sparsesim.dse import read_results

    return read_results(case.args[0])


def gen_report(rng, tmp):
    p, valid, label = damaged_results(rng, tmp)
    out, ov = _out_path(rng, tmp, "")
    if str(out).endswith("odir"):
        ov = True
    if valid and ov and rng.random() < 0.6:  # rendering takes a second or two: keep a few
        p, valid, label = tmp / "none.csv", False, "no such file"
    return Case((["report", p, "--out", out, "-q"],), {}, valid and ov, f"report {label} -> {str(out)[-16:]}",
                {"out": out})


def check_report(case, run):
    return None if (case.ctx["out"] / "report.md").is_file() else "no report.md written"


@entry("cli report", "cli", gen_report, weight=0.3, check=check_report)
def cli_report(case):
    return case.args[0]


# ------------------------------------------------------------------ sparsesim.sweep and the grid
def gen_api_sweep(rng, tmp):
    clean = rng.random() < 0.35  # a sweep that must run; its rows are counted
    wl, wv, layers = _write_gemms(tmp, rng, clean)
    n = 2 if clean else None
    arch, av = pick(rng, [("a100", True), (["a100", "h100"], True), ("nope", False), (None, False), (5, False),
                          ([], False), (["a100", "nope"], False)][:n])
    pats, pv = pick(rng, [("dense,2:4", True), (["dense", "unstructured:csr"], True), ("", False), (None, False),
                          ([2, 4], False), ("2:4,bogus", False)][:n])
    dens, dv = pick(rng, [("0.5", True), ([0.25, 0.5], True), ([True], False), ("0.1:nan:0.1", False), (None, False),
                          (b"0.5", False)][:n])
    kw = {"patterns": pats, "densities": dens, "jobs": 1, "as_frame": False}
    valid = wv and av and pv and (dv or not (isinstance(pats, list) and "unstructured:csr" in pats))
    if not dv and valid:
        valid = None
    style = 10 if clean else rng.integers(10)
    if style == 0:
        kw["mode"] = pick(rng, ["bogus", None, 3, "exec"])
        valid = False
    elif style == 1:
        kw["jobs"] = pick(rng, [0, -1, True, 1.5, 10**6])
        valid = False
    elif style == 2:
        kw["evaluator"] = pick(rng, [5, "os:getcwd", len, lambda: 1])
        # len takes one argument, so it is an evaluator; it fails on each point, and the API
        # returns those rows with their error (the command line exits 2 for them)
        valid = False if kw["evaluator"] is not len else (valid and None)
    elif style == 3:
        kw["seed"] = pick(rng, [-1, 1.5, "x"])
        valid = False
    elif style == 4:
        kw["scheduler"] = pick(rng, ["garbage", 5])
        valid = False
    elif style == 5:
        kw["dtype"] = pick(rng, ["fp32", None, 3, "int8"])
        valid = valid and None if kw["dtype"] == "int8" else False
    elif style == 6:
        kw["out"], ov = _out_path(rng, tmp, pick(rng, [".csv", ".txt"]))
        valid = valid and ov and str(kw["out"]).endswith(".csv")
    expect = None
    if valid is True:
        archs = [arch] if isinstance(arch, str) else arch
        pat_list = pats.split(",") if isinstance(pats, str) else pats
        expect = expected_points(archs, layers, pat_list, 1 if isinstance(dens, str) else len(dens))
    return Case((arch, wl), kw, valid, f"sweep({arch!r}, ..., {kw})"[:120], {"expect": expect})


def check_api_sweep(case, rows):
    want = case.ctx["expect"]
    if want is None:
        return None
    if len(rows) != want:
        return f"{len(rows)} rows, {want} points planned"
    if any(r["error"] or not r["seconds"] > 0 for r in rows):
        return "a row without a result"
    return None


@entry("dse.sweep (sparsesim.sweep)", "api", gen_api_sweep, weight=0.5, check=check_api_sweep)
def call_api_sweep(case):
    import sparsesim

    return sparsesim.sweep(*case.args, **case.kwargs)


def gen_grid(rng, tmp):
    text, n = pick(rng, DENSITIES + [([0.5, 0.25], 2), ([float("nan")], None), ((), None), (None, None),
                                     ("0.05:1.0:0.05", 20), ("1e-300:1:1e-3", None), ("0.5:0.1:0.1", None)])
    return Case((text,), {}, n is not None, f"densities {text!r}", {"n": n})


def check_grid(case, grid):
    n = case.ctx["n"]
    if len(grid) != n or list(grid) != sorted(set(grid)) or not all(0 < g <= 1 for g in grid):
        return f"{len(grid)} densities {grid[:4]}, expected {n}"
    return None


@entry("dse.parse_densities", "api", gen_grid, weight=0.3, check=check_grid)
def call_grid(case):
    from sparsesim.dse import parse_densities

    return parse_densities(*case.args)


# ------------------------------------------------------------------ the study (bad input only: a run takes minutes)
def gen_study(rng, tmp):
    out, ov = _out_path(rng, tmp, "")
    argv = ["study", pick(rng, ["datapath", "datapath", "other"]), "--out", out, "-q"]
    bad = argv[1] != "datapath" or not (ov or str(out).endswith("odir"))
    if not bad or rng.random() < 0.5:
        style = rng.integers(3)
        if style == 0:
            argv += ["--jobs", pick(rng, ["0", "-1", "x", "100000"])]
        elif style == 1:
            argv += ["--weights", pick(rng, [tmp / "none.safetensors", tmp])]
        else:
            (tmp / "junk.safetensors").write_bytes(b"\x00" * 20)
            argv += ["--weights", tmp / "junk.safetensors"]
    return Case((argv,), {}, False, " ".join(map(str, argv))[-90:], {})


@entry("cli study", "cli", gen_study, weight=0.1)
def cli_study(case):
    return case.args[0]
