"""The format commands from the shell: round trips, atomic output, clear errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sparsesim.cli import main
from sparsesim.formats import prune


def run(*args):
    return subprocess.run([sys.executable, "-m", "sparsesim", *args], capture_output=True, text=True)


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("sparsesim ")
    r = run("--help")
    assert r.returncode == 0 and "compress" in r.stdout


@pytest.mark.parametrize("encoding", ["index", "combinatorial", "bitmask", "cutlass"])
def test_compress_decompress_roundtrip(tmp_path, encoding, capsys):
    w = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float16)
    src = tmp_path / "w.npy"
    np.save(src, w)
    assert main(["compress", str(src), "--out", str(tmp_path / "c.npz"), "--encoding", encoding]) == 0
    assert main(["decompress", str(tmp_path / "c.npz"), "--out", str(tmp_path / "d.npy")]) == 0
    assert np.load(tmp_path / "d.npy").tobytes() == prune(w, 2, 4).tobytes()
    assert "of dense" in capsys.readouterr().out


def test_errors_leave_no_partial_output(tmp_path, capsys):
    w = np.full((4, 8), np.nan, dtype=np.float32)
    np.save(tmp_path / "nan.npy", w)
    out = tmp_path / "x.npz"
    assert main(["compress", str(tmp_path / "nan.npy"), "--out", str(out)]) == 2
    assert "NaN/Inf" in capsys.readouterr().err
    assert not out.exists() and os.listdir(tmp_path) == ["nan.npy"]
    assert main(["compress", str(tmp_path / "missing.npy"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["compress", str(tmp_path / "nan.npy"), "--out", str(out), "--pattern", "4:4"]) == 2
    assert "N must be smaller than M" in capsys.readouterr().err


def test_traffic_json(capsys):
    assert main(["traffic", "--shape", "64x64", "--dtype", "int8", "--pattern", "2:4", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["encoding"] for r in rows} == {"index", "combinatorial", "bitmask"}
    assert all(r["values"] == 64 * 32 for r in rows)
