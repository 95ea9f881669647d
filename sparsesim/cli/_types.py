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


_REAL = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?|[+-]?(?:nan|inf)",
                   re.ASCII | re.IGNORECASE)


def real(text: str) -> float:
    """A number written with ASCII digits (``float()`` also takes other scripts' digits);
    NaN and infinity pass here and are refused by the check that knows the range."""
    if not _REAL.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected a number in digits 0-9, got {text!r}")
    return float(text)
