"""Board power limit -> sustained SM clock of a long-running GEMM.

Model
-----
A GPU board holds its power draw at or under a limit (A100 SXM4: 400 W).  The
draw of a kernel splits into a part that does not scale with the SM clock
(``static_w``: leakage, HBM refresh, fans/VRM losses, uncore) and a dynamic part
that does::

    P(f) = static_w + dynamic_w * (f / f_boost) ** clock_exponent

``dynamic_w`` is what the kernel would draw *at the boost clock*; it depends on
how busy the datapath is and on what it does per cycle (a 2:4 sparse tensor-core
MMA reads twice as many B-operand elements per cycle as a dense one, plus the
metadata and the operand multiplexers; an int8 multiplier costs far less energy
than an fp16 one).  With the voltage rising roughly linearly with the clock in the
DVFS range, dynamic power goes as ``f * V^2 ~ f^3`` (``clock_exponent = 3``; an
assumption, documented in the arch config that uses it).

The steady-state clock is the highest clock whose power fits under the limit::

    f_ss = f_boost * min(1, ((power_limit_w - static_w) / dynamic_w) ** (1 / clock_exponent))

The limiter does not act instantly: a short kernel runs at (or near) the boost
clock and the clock relaxes towards ``f_ss`` with a time constant ``window_s``
(the limiter's averaging window together with the die heating up).  The mean clock
over a kernel that lasts ``T`` seconds is::

    f_mean(T) = f_ss + (f_boost - f_ss) * (window_s / T) * (1 - exp(-T / window_s))

This is the piece the timing engine can use for compute-bound phases:
``cycles / f_mean(T)`` with ``T`` itself the kernel time (solved by fixed-point
iteration in :func:`mean_clock_for_work`).

What it does *not* model: temperature-dependent leakage as a separate state, per-
rail limits, clock steps (the real clock moves in ~15 MHz bins), or the benchmark's
idle gaps between timed calls (it assumes each timed call starts un-throttled, which
holds when the harness synchronises and sleeps between calls, and not otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class PowerLimit:
    """Power-limit parameters of one board (see the module docstring)."""

    power_limit_w: float
    static_w: float
    boost_clock_ghz: float
    window_s: float
    clock_exponent: float = 3.0
    min_clock_ghz: float = 0.0

    def __post_init__(self):
        for name in ("power_limit_w", "boost_clock_ghz", "window_s", "clock_exponent"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"PowerLimit.{name} must be a positive number, got {v!r}")
        if not (0 <= self.static_w < self.power_limit_w):
            raise InputError(
                f"PowerLimit.static_w must be in [0, power_limit_w={self.power_limit_w}), got {self.static_w!r}"
            )
        if not (0 <= self.min_clock_ghz <= self.boost_clock_ghz):
            raise InputError(f"PowerLimit.min_clock_ghz must be in [0, boost_clock_ghz], got {self.min_clock_ghz!r}")


def steady_clock_ghz(limit: PowerLimit, dynamic_w: float) -> float:
    """Sustained clock of a kernel drawing ``dynamic_w`` (at boost) once the limiter has settled."""
    if not (math.isfinite(dynamic_w) and dynamic_w >= 0):
        raise InputError(f"dynamic_w must be a non-negative number of watts, got {dynamic_w!r}")
    headroom = limit.power_limit_w - limit.static_w
    if dynamic_w <= headroom:
        return limit.boost_clock_ghz
    f = limit.boost_clock_ghz * (headroom / dynamic_w) ** (1.0 / limit.clock_exponent)
    return max(f, limit.min_clock_ghz)


def mean_clock_ghz(limit: PowerLimit, dynamic_w: float, duration_s: float) -> float:
    """Mean clock over a kernel of ``duration_s`` seconds that starts at the boost clock."""
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise InputError(f"duration_s must be a non-negative number of seconds, got {duration_s!r}")
    f0 = limit.boost_clock_ghz
    fss = steady_clock_ghz(limit, dynamic_w)
    x = duration_s / limit.window_s
    # (1 - e^-x) / x, with its series near 0 for accuracy.
    g = 1.0 - x / 2.0 + x * x / 6.0 if x < 1e-6 else -math.expm1(-x) / x
    return fss + (f0 - fss) * g


def mean_clock_for_work(limit: PowerLimit, dynamic_w: float, seconds_at_boost: float, iterations: int = 40) -> float:
    """Mean clock of a compute-bound kernel that would take ``seconds_at_boost`` at the boost clock.

    The kernel time depends on the clock and the clock on the kernel time; the
    fixed point ``T = seconds_at_boost * f_boost / f_mean(T)`` is found by iteration
    (a contraction: ``f_mean`` falls slowly with ``T``).
    """
    if not (math.isfinite(seconds_at_boost) and seconds_at_boost >= 0):
        raise InputError(f"seconds_at_boost must be a non-negative number, got {seconds_at_boost!r}")
    f0 = limit.boost_clock_ghz
    f = f0
    for _ in range(iterations):
        t = seconds_at_boost * f0 / f
        f_new = mean_clock_ghz(limit, dynamic_w, t)
        if abs(f_new - f) <= 1e-9 * f0:
            return f_new
        f = f_new
    return f
