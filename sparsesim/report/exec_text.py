"""Prose of the exec-mode report (numbers come from the tables it is given)."""

from __future__ import annotations


def render(agg, cpu, occ, timing, command, meta, tables) -> str:
    parts = [f"# Exec mode on all-MiniLM-L6-v2\n\n`{command}`\n"]
    for name in ("traffic", "occupancy", "time", "error", "cpu", "timing"):
        parts.append(f"## {name}\n\n{tables[name]}")
    return "\n".join(parts)
