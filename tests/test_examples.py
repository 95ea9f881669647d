"""The scripts in examples/ run and print the README's figures (same numbers as reports/default)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_sweep_to_pandas_example_matches_the_committed_report():
    pytest.importorskip("pandas")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "sweep_to_pandas.py")], capture_output=True,
                       text=True, timeout=600, cwd=ROOT / "tests")
    assert r.returncode == 0, r.stderr
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(r"^(2:4|4:8)\s+([\d.]+)\s+([\d.]+)$", r.stdout, re.M)}
    md = (ROOT / "reports" / "default" / "report.md").read_text()
    section = md.split("### bert-base", 1)[1]
    for pat in ("2:4", "4:8"):
        cells = re.search(rf"^\| {pat} \| ([\d.]+)x \| ([\d.]+)x \| ([\d.]+)x \|", section, re.M).groups()
        assert rows[pat] == (cells[0], cells[2])  # a100, h100 (a100-4of8 is the middle column)
    assert "attn.qk" in r.stdout


def test_power_clocks_example_prints_the_figures_of_docs_power():
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "power_clocks.py")], capture_output=True,
                       text=True, timeout=600, cwd=ROOT / "tests")
    assert r.returncode == 0, r.stderr
    doc = (ROOT / "docs" / "power.md").read_text()
    # the 2:4 / dense energy per SM cycle and the hard-capped clocks quoted in docs/power.md
    ratio = re.search(r"2:4 / dense = ([\d.]+)", r.stdout).group(1)
    assert f"({ratio}x)" in doc
    capped = re.findall(r"^\s+factor 12\s+16384\s+(dense|2:4)\s+(\d+)", r.stdout, re.M)
    assert f"{capped[0][1]} / {capped[1][1]} MHz" in doc
