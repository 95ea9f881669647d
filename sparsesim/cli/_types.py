"""Argument types of the command line that accept only what they say (ASCII digits)."""

from __future__ import annotations

import argparse
import re

_INT = re.compile(r"[+-]?[0-9]{1,30}", re.ASCII)


def integer(text: str) -> int:
    """An integer written with the digits 0-9 (``int()`` also takes other scripts' digits
    and ``_`` separators)."""
    if not _INT.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected an integer in digits 0-9, got {text!r}")
    return int(text)
