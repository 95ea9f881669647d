import pytest

from sparsesim import PatternError, SparsesimError, parse_pattern


@pytest.mark.parametrize("spec,n,m", [("1:2", 1, 2), ("2:4", 2, 4), ("4:8", 4, 8), ("2:8", 2, 8), ("15:16", 15, 16), (" 2:4 ", 2, 4)])
def test_nm_specs(spec, n, m):
    p = parse_pattern(spec)
    assert p.is_nm and (p.n, p.m) == (n, m)
    assert p.density == n / m


def test_index_and_combinatorial_bits():
    assert parse_pattern("2:4").index_bits == 2
    assert parse_pattern("4:8").index_bits == 3
    assert parse_pattern("2:4").combinatorial_bits == 3  # C(4,2) = 6
    assert parse_pattern("4:8").combinatorial_bits == 7  # C(8,4) = 70
    assert parse_pattern("1:2").combinatorial_bits == 1


def test_dense_and_unstructured():
    assert parse_pattern("dense").is_dense and parse_pattern("dense").density == 1.0
    p = parse_pattern("unstructured", density=0.3)
    assert p.is_unstructured and p.density == 0.3
    assert parse_pattern("unstructured:0.25").density == 0.25
    assert parse_pattern("unstructured:csr", density=0.1).density == 0.1
    assert parse_pattern("unstructured:1").density == 1.0


@pytest.mark.parametrize(
    "spec,density,msg",
    [
        ("4:4", None, "N must be smaller than M"),
        ("5:4", None, "N must be smaller than M"),
        ("0:4", None, "N must be at least 1"),
        ("2:6", None, "power of two"),
        ("2:32", None, "power of two"),
        ("2:1", None, "power of two"),
        ("a:b", None, "integers"),
        ("2:4:8", None, "N:M"),
        ("sparse", None, "not understood"),
        ("unstructured", None, "needs a density"),
        ("unstructured", 0.0, "outside (0, 1]"),
        ("unstructured", 1.5, "outside (0, 1]"),
        ("unstructured", -0.1, "outside (0, 1]"),
        ("unstructured:x", None, "not a number"),
        ("2:4", 0.3, "fixed density"),
        ("dense", 0.5, "fixed density"),
    ],
)
def test_invalid_specs_raise_pattern_error(spec, density, msg):
    with pytest.raises(PatternError, match=msg.replace("(", r"\(").replace(")", r"\)")) as ei:
        parse_pattern(spec, density)
    assert isinstance(ei.value, SparsesimError)


def test_non_string_spec():
    with pytest.raises(PatternError, match="must be a string"):
        parse_pattern(24)


def test_str_roundtrip():
    for spec in ["dense", "2:4", "4:8", "unstructured:0.5"]:
        assert str(parse_pattern(spec)) == spec
        assert parse_pattern(str(parse_pattern(spec))) == parse_pattern(spec)
