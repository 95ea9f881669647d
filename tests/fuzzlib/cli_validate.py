"""Entry points of validation: ``sparsesim validate`` and ``sparsesim calibrate``.

The measured-timing CSV is the user's file here: a few rows of the shipped A100 PCIe set
(small GEMMs, so a valid case takes seconds), then damaged the ways such a file gets
damaged (bytes that are not UTF-8, a missing column, a cell that is not a number, a torn
line, a GPU or dtype nobody maps), plus bad options (arch maps, modes, folds, outputs).
"""

from __future__ import annotations

from pathlib import Path

from .cli import _out_path
from .core import Case, entry
from .values import pick

MEASURED = Path(__file__).resolve().parents[2] / "validation" / "gpu_2to4_a100_pcie.csv"
GPU = "A100-PCIe-80GB"


def _rows(n):
    lines = MEASURED.read_text(encoding="utf-8").splitlines()
    return lines[0], lines[1:1 + n]


def measured_file(rng, tmp, n_rows=6):
    """A measured-timing CSV and whether it is valid (None: may or may not be refused)."""
    header, rows = _rows(n_rows)
    p = tmp / "measured.csv"
    style = int(rng.integers(16))
    if style < 6:
        p.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return p, True, "measured intact"
    data = [header, *rows]
    i = int(rng.integers(1, len(data)))
    cells = data[i].split(",")
    if style == 6:
        raw = ("\n".join(data) + "\n").encode()
        j = int(rng.integers(len(raw)))
        p.write_bytes(raw[:j] + b"\xff" + raw[j:])
        return p, False, "measured bad byte"
    if style == 7:
        col = int(rng.integers(5))
        data[0] = ",".join(c for k, c in enumerate(header.split(",")) if k != col)
        p.write_text("\n".join(data) + "\n")
        return p, False, f"measured without column {col}"
    if style == 8:
        col = pick(rng, [2, 3, 4, 6, 7])  # m, n, k, dense_us, sparse_us
        cells[col] = pick(rng, ["abc", "-5", "0", "nan", "inf", "1e999", "٣", "1_0", ""])
        data[i] = ",".join(cells)
        p.write_text("\n".join(data) + "\n", encoding="utf-8")
        return p, False, f"measured cell {col} = {cells[col]!r}"
    if style == 9:
        data[i] = data[i][: len(data[i]) // 3]
        p.write_text("\n".join(data) + "\n")
        return p, False, "measured torn line"
    if style == 10:
        cells[0] = pick(rng, ["B300-Mystery", "", "A100-PCIe-80GB\x00"])
        data[i] = ",".join(cells)
        p.write_text("\n".join(data) + "\n")
        return p, False, "measured unknown GPU"
    if style == 11:
        cells[1] = pick(rng, ["fp64", "", "FP16x", "int4"])
        data[i] = ",".join(cells)
        p.write_text("\n".join(data) + "\n")
        return p, False, f"measured dtype {cells[1]!r}"
    if style == 12:
        p.write_bytes(pick(rng, [b"", header.encode() + b"\n"]))
        return p, False, "measured without rows"
    if style == 13:
        p.mkdir()
        return p, False, "measured is a folder"
    if style == 14:
        return tmp / "missing.csv", False, "measured missing"
    cells[5] = pick(rng, ["X", "", "both"])  # sparse_operand
    data[i] = ",".join(cells)
    p.write_text("\n".join(data) + "\n")
    return p, None, f"measured sparse_operand {cells[5]!r}"


def _and(valid, other):
    """Validity of a case with two parts (False wins, then None)."""
    if valid is False or other is False:
        return False
    return None if valid is None or other is None else True


def gen_validate(rng, tmp):
    m, valid, label = measured_file(rng, tmp)
    argv = ["validate", "--measured", m, "-q"]
    amap, av = pick(rng, [(f"{GPU}=a100-pcie", True), (f"{GPU}=a100", True), (f"{GPU}=nope", False),
                          ("garbage", False), (f"{GPU}=", False), ("=a100", False), (None, True)])
    if amap is not None:
        argv += ["--arch-map", amap]
    elif valid is not False:
        valid = None  # the default map may not name this GPU
    valid = _and(valid, av)
    extra = int(rng.integers(8))
    if extra == 0:
        argv += ["--mode", pick(rng, ["bogus", "exec", "", "full"])]
        valid = _and(valid, None if argv[-1] == "full" else False)
    elif extra == 1:
        argv += ["--calibration", pick(rng, [tmp / "none.toml", m, tmp])]
        valid = _and(valid, False)
    elif extra == 2:
        out, ov = _out_path(rng, tmp, "")
        argv += ["--out", out]
        valid = _and(valid, None if ov or str(out).endswith("odir") else False)
    elif extra == 3:
        argv += ["--skip-backend", pick(rng, ["cuSPARSELt", "nothing-matches", ""])]
        valid = _and(valid, None)
    elif extra == 4:
        argv += ["--cross-validation", pick(rng, [tmp / "none.json", m])]
        valid = _and(valid, False)
    elif extra == 5:
        argv += ["--json"]
    label = f"validate {label} " + " ".join(str(a) for a in argv[4:])[-80:]
    return Case((argv,), {}, valid, label, {})


@entry("cli validate", "cli", gen_validate, weight=0.3)
def cli_validate(case):
    return case.args[0]


def gen_calibrate(rng, tmp):
    m, valid, label = measured_file(rng, tmp)
    if label == "measured unknown GPU":
        valid = None  # calibrate reads only its GPU's rows; a row of another GPU is left alone
    out, ov = _out_path(rng, tmp, ".toml")
    argv = ["calibrate", "--measured", m, "--min-mnk", "1", "--folds", "2", "--out", out, "-q"]
    valid = _and(valid, ov)
    arch, av = pick(rng, [("a100-pcie", True), ("a100-pcie", True), ("nope", False), ("", False)])
    argv += ["--arch", arch]
    valid = _and(valid, av)
    extra = int(rng.integers(8))
    if extra == 0:
        argv[argv.index("--folds") + 1] = pick(rng, ["0", "1", "x", "-2", "٢", "1000"])
        valid = _and(valid, None if argv[argv.index("--folds") + 1] == "1000" else False)
    elif extra == 1:
        argv[argv.index("--min-mnk") + 1] = pick(rng, ["-5", "abc", "1e400", "99999999999999999999999"])
        valid = _and(valid, False if argv[argv.index("--min-mnk") + 1] in ("-5", "abc") else None)
    elif extra == 2:
        argv += ["--gpu", pick(rng, ["H100-PCIe", "", "nobody"])]
        valid = _and(valid, False)
    elif extra == 3:
        cv, cvv = _out_path(rng, tmp, ".json")
        argv += ["--cv-out", cv]
        valid = _and(valid, cvv)
    elif extra == 4:
        argv += ["--no-power", "--json"]
    label = f"calibrate {label} " + " ".join(str(a) for a in argv[4:])[-80:]
    return Case((argv,), {}, valid, label, {"out": out})


def check_calibrate(case, run):
    if case.valid is True and not Path(case.ctx["out"]).is_file():
        return "exit 0 but no override file written"
    return None


@entry("cli calibrate", "cli", gen_calibrate, weight=0.15, check=check_calibrate)
def cli_calibrate(case):
    return case.args[0]
