"""Running table entries as bounded hypothesis tests (tests/test_fuzz_*.py)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from .core import BAD, ENTRIES, run_case


def entries(group: str) -> list[str]:
    return sorted(n for n, e in ENTRIES.items() if e.group == group and e.in_scope)


def contract(name: str, examples: int) -> None:
    """Run ``examples`` derandomized hypothesis draws of entry ``name``."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, 2**32 - 1))
    def run(seed):
        check_seed(name, seed)

    run()


def check_seed(name: str, seed: int) -> None:
    """Draw case ``seed`` of entry ``name`` and assert the contract holds for it."""
    import numpy as np

    e = ENTRIES[name]
    rng = np.random.default_rng([seed, 7])
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = e.gen(rng, Path(d))
        out = run_case(e, case)
    assert out.outcome not in BAD, f"{name} seed {seed}: {out.outcome}: {case.kind}: {out.detail}"
