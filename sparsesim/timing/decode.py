"""Metadata decode: the unit that turns per-value indices into multiplexer selects.

For each kept value of A the tensor core reads its ``metadata_bits``-bit index from
the metadata register and expands it into the one-hot select lines of the operand-B
multiplexers.  Its width (indices per cycle per tensor core) and latency follow from
the datapath (:func:`sparsesim.arch.datapath.sparse_datapath`: metadata port bits /
index bits; gate levels over the select-stage slack).  Every ``mma.sp`` issue along N
(8 columns) decodes its fragment's indices again.  Operands stored in a format the
tensor core does not take (CSR, CSB, bitmask, or an N:M other than the hardware's)
are first re-encoded into hardware N:M passes (or decompressed to dense) in shared
memory, ``unstructured_decode_per_cycle`` non-zeros per cycle per SM; that work is
charged to this unit as well.
"""

from __future__ import annotations

from .pipeline import Unit


def decode_cycles(indices: float, indices_per_cycle: float, reencoded: float = 0.0,
                  reencoded_per_cycle: float = 1.0) -> float:
    """Busy cycles of the decoder for ``indices`` hardware indices and ``reencoded`` non-zeros."""
    c = indices / indices_per_cycle if indices else 0.0
    return c + (reencoded / reencoded_per_cycle if reencoded else 0.0)


class MetadataDecoder(Unit):
    """The SM's index decoders: busy ``cycles`` per item, ``latency`` cycles deep."""

    def __init__(self, cycles, latency, stats, port=None):
        super().__init__("decode", cycles, latency, stats, "decode", port)
