"""Measured-timing CSV: the shipped files parse, bad rows name file, line and column."""

from pathlib import Path

import pytest

from sparsesim.errors import FormatError, InputError
from sparsesim.validate.measured import COLUMNS, format_measured_csv, parse_measured_text, read_measured

ROOT = Path(__file__).resolve().parents[1]
HEADER = ",".join(COLUMNS)


def test_shipped_published_file():
    rows = read_measured(ROOT / "validation" / "gpu_2to4_published.csv")
    assert len(rows) == 27
    r4096 = next(r for r in rows if r.dtype == "fp16" and r.m == 4096 and r.source == "S1")
    assert r4096.dense_us == pytest.approx(589.722)
    assert r4096.speedup == pytest.approx(1.81)
    assert r4096.is_large and r4096.line == 8
    bf = [r for r in rows if r.dtype == "bf16"]
    assert len(bf) == 4 and all(r.sparse_us is None for r in bf)
    # speedup-only rows give a derived sparse time
    assert bf[1].sparse_us_effective == pytest.approx(586 / 1.71)
    small = next(r for r in rows if r.m == 512)
    assert not small.is_large


def test_shipped_int8_file():
    rows = read_measured(ROOT / "validation" / "gpu_2to4_a100_int8.csv")
    assert len(rows) == 11 and {r.dtype for r in rows} == {"int8"}
    for r in rows:
        assert r.speedup == pytest.approx(r.dense_us / r.sparse_us, rel=0.01)


def test_speedup_derived_and_comments_keep_line_numbers():
    text = "# a comment\n\n" + HEADER + "\n# another\nA100,fp16,64,64,64,W,4.0,2.0,,lib,X,\n"
    (row,) = parse_measured_text(text, "f.csv")
    assert row.speedup == pytest.approx(2.0)
    assert row.line == 5 and row.file == "f.csv"


@pytest.mark.parametrize(
    "line, column, needle",
    [
        ("A100,fp17,64,64,64,W,4,2,2,lib,X,", "dtype", "fp16"),
        ("A100,fp16,0,64,64,W,4,2,2,lib,X,", "m", "positive integer"),
        ("A100,fp16,64,6.5,64,W,4,2,2,lib,X,", "n", "positive integer"),
        ("A100,fp16,64,64,64,B,4,2,2,lib,X,", "sparse_operand", "'W'"),
        ("A100,fp16,64,64,64,W,,2,2,lib,X,", "dense_us", "empty"),
        ("A100,fp16,64,64,64,W,-4,2,2,lib,X,", "dense_us", "positive"),
        ("A100,fp16,64,64,64,W,4,nan,2,lib,X,", "sparse_us", "finite"),
        ("A100,fp16,64,64,64,W,4,,,lib,X,", "sparse_us", "both are empty"),
        ("A100,fp16,64,64,64,W,4,2,1.5,lib,X,", "speedup", "dense_us / sparse_us"),
        (",fp16,64,64,64,W,4,2,2,lib,X,", "gpu", "GPU name"),
    ],
)
def test_bad_field_names_file_line_column(line, column, needle):
    text = HEADER + "\nA100,fp16,64,64,64,W,4,2,2,lib,X,\n" + line + "\n"
    with pytest.raises(FormatError) as ei:
        parse_measured_text(text, "bad.csv")
    msg = str(ei.value)
    assert "bad.csv" in msg and "line 3" in msg and f"column '{column}'" in msg and needle in msg


def test_bad_header_and_field_count():
    with pytest.raises(FormatError, match="missing notes"):
        parse_measured_text(HEADER.replace(",notes", "") + "\n", "h.csv")
    with pytest.raises(FormatError, match="unknown tokens"):
        parse_measured_text(HEADER + ",tokens\n", "h.csv")
    with pytest.raises(FormatError, match="line 2: expected 12 comma-separated fields, got 3"):
        parse_measured_text(HEADER + "\nA100,fp16,64\n", "h.csv")
    with pytest.raises(FormatError, match="no data rows"):
        parse_measured_text(HEADER + "\n", "h.csv")
    with pytest.raises(FormatError, match="no header"):
        parse_measured_text("# only a comment\n", "h.csv")


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_measured(tmp_path / "nope.csv")


def test_writer_round_trip():
    rows = read_measured(ROOT / "validation" / "gpu_2to4_published.csv")
    text = format_measured_csv(rows, comments=["made by a test", "second line"])
    assert text.startswith("# made by a test\n# second line\n" + HEADER + "\n")
    back = parse_measured_text(text, "rt.csv")
    assert len(back) == len(rows)
    for a, b in zip(rows, back):
        assert (a.gpu, a.dtype, a.m, a.n, a.k, a.backend, a.source, a.notes) == (b.gpu, b.dtype, b.m, b.n, b.k, b.backend, b.source, b.notes)
        assert b.dense_us == pytest.approx(a.dense_us, rel=1e-6)
        assert b.speedup == pytest.approx(a.speedup, rel=1e-3)
        assert (a.sparse_us is None) == (b.sparse_us is None)
