"""Reports of sweep results: figures (PNG + SVG) and a report.md that embeds them.

``write_report(rows, out_dir)`` is what ``sparsesim report RESULTS --out DIR`` runs.
Every file is written atomically; report.md is written last, so a report folder
whose report.md exists is complete.
"""

from __future__ import annotations

from pathlib import Path

from ..dse.store import make_readable, typed_row


def _typed(rows):
    from .data import label_designs

    rows = label_designs([typed_row(r) for r in rows])
    # One workload swept at several batch sizes, dtypes or timing modes (e.g. two
    # sweeps into one table): tell the variants apart in figures and tables, so
    # that network totals never add up rows of different variants.
    tags = (("batch", "b{}"), ("dtype", "{}"), ("mode", "{}"))
    seen = {}
    for r in rows:
        for col, _ in tags:
            seen.setdefault((r["workload"], col), set()).add(r[col])
    for r in rows:
        parts = [fmt.format(r[col]) for col, fmt in tags if len(seen[(r["workload"], col)]) > 1]
        if parts:
            r["workload"] = "-".join([r["workload"], *parts])
    return rows


def write_report(rows, out_dir, source=None, title=None, progress=False) -> list[Path]:
    """Write the figures and report.md for ``rows`` into ``out_dir``.

    ``rows`` are result rows (typed, or text cells as read from CSV).  Returns the
    paths written, report.md first.  ``progress``: a tqdm bar over the figures.
    """
    from ..io import write_text_atomic
    from . import data, markdown, plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = data.fill_missing_speedup(_typed(rows))
    totals = data.network_totals(rows)
    figures = plots.write_figures(rows, out_dir, totals, progress=progress)
    text = markdown.render(rows, totals, figures, title=title, source=source, out_dir=out_dir)
    md = out_dir / "report.md"
    write_text_atomic(md, text)
    make_readable(md)
    return [md] + [p for paths in figures.values() for p in paths]


__all__ = ["write_report"]
