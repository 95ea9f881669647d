"""Fuzzing the command line (table: tests/fuzzlib/cli.py), plus the bugs it found: bad input
ends with one error line and exit status 2, never a traceback."""

import io
import json

import numpy as np
import pytest

import fuzzlib  # noqa: F401 - registers the entry points
from fuzzlib.core import invoke
from fuzzlib.pytest_support import contract, entries

EXAMPLES = {"cli simulate": 10, "cli ports": 8, "cli masks": 6}


@pytest.mark.parametrize("name", entries("cli"))
def test_contract(name):
    contract(name, EXAMPLES.get(name, 15))


def _refused(argv, *words):
    r = invoke(argv)
    assert r.exc is None, r.exc
    assert r.code == 2, (r.code, r.err)
    line = r.err.strip().splitlines()[-1]
    assert line.startswith("sparsesim") and "error" in line and "Traceback" not in r.err, r.err
    for w in words:
        assert w in line, (w, line)
    return line


@pytest.fixture
def weights(tmp_path):
    p = tmp_path / "w.npy"
    np.save(p, np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32))
    return p


def test_file_system_errors(tmp_path, weights):
    (tmp_path / "dir").mkdir()
    _refused(["compress", weights, "-o", tmp_path / "dir"], "directory")
    _refused(["compress", weights, "-o", "/proc/sparsesim-test/x.npz"], "/proc")
    _refused(["compress", tmp_path / "dir", "-o", tmp_path / "o.npz"])
    (tmp_path / "empty.npy").write_bytes(b"")
    _refused(["compress", tmp_path / "empty.npy", "-o", tmp_path / "o.npz"], "empty.npy")
    _refused(["decompress", tmp_path / "missing.npz", "-o", tmp_path / "o.npy"], "missing.npz")


def _archive(tmp_path, weights, **change):
    out = tmp_path / "w.npz"
    assert invoke(["compress", weights, "-o", out]).code == 0
    z = dict(np.load(out))
    header = json.loads(str(z["header"])) | change.pop("header", {})
    z["header"] = np.array(json.dumps(header))
    z.update(change)
    buf = io.BytesIO()
    np.savez(buf, **z)
    out.write_bytes(buf.getvalue())
    return out


def test_corrupt_archives_are_refused(tmp_path, weights):
    o = tmp_path / "o.npy"
    _refused(["decompress", _archive(tmp_path, weights, header={"k": -5}), "-o", o], "k")
    good = dict(np.load(_archive(tmp_path, weights)))
    _refused(["decompress", _archive(tmp_path, weights, values=good["values"][:, :-2]), "-o", o])
    _refused(["decompress", _archive(tmp_path, weights, header={"pattern": "٢:٤"}), "-o", o])
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip")
    _refused(["decompress", tmp_path / "junk.npz", "-o", o])
    assert not o.exists()  # never a wrong matrix with exit 0


@pytest.mark.parametrize("argv", [
    ["simulate", "--arch", "a100", "--gemm", "٢x2x2"],
    ["simulate", "--arch", "a100", "--gemm", "1_0x10x10"],
    ["simulate", "--arch", "a100", "--gemm", "64x64x64", "--seed", "-1"],
    ["simulate", "--arch", "a100", "--gemm", "99999999999999999999x1x1"],
    ["simulate", "--arch", "a100", "--gemm", "100000x100000x1", "--mode", "exec"],
    ["simulate", "--arch", "a100", "--gemm", "64x64x64", "--limit", "bogus=1"],
    ["simulate", "--arch", "a100", "--gemm", "64x64x64", "--pattern", "unstructured", "--density", "nan"],
    ["ports", "--arch", "xeon-8280", "--kernel", "vnni", "--iterations", "10000000"],
    ["ports", "--arch", "xeon-8280", "--kernel", "vnni", "--iterations", "٩٦"],
    ["traffic", "--shape", "٢x4"],
    [],
])
def test_bad_arguments_get_one_line(argv):
    _refused(argv)


def test_limits_are_raised_from_the_command_line():
    r = invoke(["simulate", "--arch", "a100", "--gemm", "512x512x512", "--mode", "full", "--json",
                "--limit", "full_cta_iterations=100000"])
    assert r.code == 0 and json.loads(r.out)["mode"] == "full"
    _refused(["simulate", "--arch", "a100", "--gemm", "512x512x512", "--mode", "full",
              "--limit", "full_cta_iterations=2"], "full_cta_iterations")
