"""Metadata decode: the unit that turns per-value indices into multiplexer selects.

For each kept value of A the tensor core reads its ``metadata_bits``-bit index
(2 bits for 2:4, 3 for 4:8) and expands it into the select lines of the operand-B
multiplexer.  Throughput is ``decode_indices_per_cycle`` per tensor core; every
``mma.sp`` issue along N (8 columns) decodes its fragment's indices again.
Operands stored in a format the tensor core does not take (CSR, CSB, bitmask, or
an N:M other than the hardware's) are first re-encoded into hardware N:M passes
(or decompressed to dense) in shared memory, ``unstructured_decode_per_cycle``
non-zeros per cycle per SM; that work is charged to this unit as well.
"""

from __future__ import annotations


class MetadataDecoder:
    def __init__(self, cycles_per_iter: float, latency_cycles: float):
        self.cycles = float(cycles_per_iter)
        self.latency = float(latency_cycles) if cycles_per_iter > 0 else 0.0

    def part(self):
        return (self.cycles, "decode")
