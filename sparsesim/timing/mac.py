"""The MAC array (tensor cores of one SM) and the accumulators.

The array retires ``dense_macs_per_cycle`` multiply-accumulates per tensor core per cycle
on dense operands and ``sparse_speedup`` times that on operands in the hardware's N:M
pattern (half the multiplies, each standing for two dense MACs), scaled by the achievable
fraction of peak (``efficiency.tensor_dense`` / ``tensor_sparse``: issue slots lost to
address math, ``ldmatrix`` and barriers).  Partial tiles at the matrix edge still execute
whole MMAs (padding).

Issue is also limited by latency (Little's law).  A tensor core runs the MMAs of the warps
on its sub-partition; the successive MMAs of one accumulator fragment (16 x 8 of C) along K
depend on each other, so a fragment issues at most once per ``latency`` cycles (the MMA
pipeline, plus the decode and mux stages in front of the multipliers for sparse MMAs); and
each round of MMAs needs the next k-step's operand fragments, loaded from shared memory one
round ahead (``operand_latency``).  With ``independent`` fragments per tensor core and one
MMA issued every ``issue_cycles``, a round lasts ``max(independent * issue_cycles, latency,
operand_latency)``: small warp tiles, few resident warps or CTAs per SM (small GEMMs, few
tokens, the last wave) expose latency.  A tensor core whose sub-partition holds no warp is
idle.  Products accumulate in registers (fp32 / int32) until the last main-loop iteration;
then the epilogue writes the C tile through L2 to DRAM.
"""

from __future__ import annotations

from .pipeline import Unit, hold


def issue_limited_cycles(work: float, issue_cycles: float, independent: float, latency: float,
                         operand_latency: float = 0.0) -> float:
    """Cycles for ``work`` cycles' worth of MMAs (at the issue rate) on a tensor core with
    ``independent`` accumulator fragments to interleave (Little's law)."""
    if work <= 0:
        return 0.0
    round_ = independent * issue_cycles
    return work * max(1.0, latency / round_, operand_latency / round_)


class MacArray(Unit):
    """The SM's tensor cores: busy ``cycles`` per item; an MMA's result lands ``latency`` after issue."""

    def __init__(self, cycles, latency, stats, port=None):
        super().__init__("tensor", cycles, latency, stats, "tensor", port)


class Accumulators:
    """Register accumulators of the tiles; ``drain`` is the epilogue (generator).

    The last MMAs' results land ``latency`` after their issue; the SM then stores C
    through its load/store path (``smem``: the L1/shared-memory port) and the CTA exits:
    stores are posted, so L2 and DRAM absorb them while the SM already runs its next CTA
    (the caller charges that write-back to the next CTA's iterations).  ``final``: no CTA
    follows on this slot, so the kernel's end waits for these stores to be acknowledged
    by L2 (their L2 bandwidth, then the L2 latency).  For a lockstep group of ``members``
    SMs whose last data arrived ``spread`` cycles apart, the first members' stores start
    that much earlier (filling the L2 while the last member computes).
    """

    def __init__(self, env, smem, l2, sm_c_bytes: float, c_bytes: float, latency: float, final=True,
                 members=1):
        self.env, self.smem, self.l2 = env, smem, l2
        self.sm_c_bytes, self.c_bytes, self.latency, self.final = sm_c_bytes, c_bytes, latency, final
        self.members = members

    def drain(self, stats, spread=0.0):
        env = self.env
        yield env.timeout(self.latency)  # the last MMA's results land
        if self.sm_c_bytes > 0:
            yield from hold(env, self.smem, self.smem.cycles_for(self.sm_c_bytes), stats, "smem")
        if self.final and self.c_bytes > 0:
            w = self.l2.cycles_for(self.c_bytes)
            _, end = self.l2.reserve(w, at=env.now - spread)
            stats["l2"] += w
            end = max(end, env.now + w / self.members)  # the last member's own stores
            yield env.timeout(end - env.now + self.l2.latency)
