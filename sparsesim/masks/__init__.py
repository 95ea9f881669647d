"""Mask design space: which weights a sparsity constraint lets us keep.

* :mod:`.transposable` - transposable N:M masks (N:M along rows and columns of
  every M x M block): exact (assignment / min-cost-flow LP), greedy
  2-approximation, brute-force oracle.
* :mod:`.diversity` - mask diversity: exact counts of the masks unstructured,
  N:M, transposable N:M and sequential N:M constraints allow.
* :mod:`.permute` - input-channel permutation search before N:M pruning, the
  compressed form that carries the permutation, and its run-time cost model.
* :mod:`.hierarchical` - hierarchical N:M (vector-wise column pruning on top of
  N:M): prune, compress, decompress, densities and traffic bytes.
* :mod:`.report` - kept-magnitude study on real weights (``sparsesim masks``).
"""

from ._util import kept_fraction, kept_l1
from .diversity import count_regular_blocks, log10_mask_diversity, mask_diversity
from .hierarchical import (
    HierarchicalCompressed,
    HierarchicalPattern,
    hierarchical_compress,
    hierarchical_decompress,
    hierarchical_densities,
    hierarchical_for_density,
    hierarchical_mask,
    hierarchical_prune,
    hierarchical_traffic_bytes,
    parse_hierarchical,
)
from .permute import (
    PermutationResult,
    compress_permuted,
    decompress_permuted,
    invert_permutation,
    nm_kept_l1,
    permutation_cost,
    search_permutation,
)
from .transposable import enumerate_block_masks, is_transposable, transposable_mask

__all__ = [
    "transposable_mask",
    "is_transposable",
    "enumerate_block_masks",
    "kept_l1",
    "kept_fraction",
    "mask_diversity",
    "log10_mask_diversity",
    "count_regular_blocks",
    "search_permutation",
    "PermutationResult",
    "nm_kept_l1",
    "compress_permuted",
    "decompress_permuted",
    "invert_permutation",
    "permutation_cost",
    "HierarchicalPattern",
    "HierarchicalCompressed",
    "parse_hierarchical",
    "hierarchical_mask",
    "hierarchical_prune",
    "hierarchical_compress",
    "hierarchical_decompress",
    "hierarchical_densities",
    "hierarchical_for_density",
    "hierarchical_traffic_bytes",
]
