"""Bit-exact sparse formats: N:M compression and metadata, the CUTLASS 2:4 layout,
CSR, CSB and bitmask encodings, and exact traffic byte counts.

Layer rule: this package knows nothing of timing, sweeps or the CLI.
"""

from .cutlass import from_cutlass, to_cutlass
from .metadata import ENCODINGS, bits_per_group, decode as decode_metadata, encode as encode_metadata, metadata_bytes
from .nm import compress, compress_packed, decompress, is_nm_sparse, prune
from .traffic import UNSTRUCTURED_FORMATS, compression_table, nnz_for_density, traffic_bytes
from .unstructured import CSB, CSR, Bitmask, bitmask_encode, csb_encode, csr_encode

__all__ = [
    "prune", "compress", "compress_packed", "decompress", "is_nm_sparse",
    "ENCODINGS", "encode_metadata", "decode_metadata", "bits_per_group", "metadata_bytes",
    "to_cutlass", "from_cutlass",
    "CSR", "CSB", "Bitmask", "csr_encode", "csb_encode", "bitmask_encode",
    "traffic_bytes", "nnz_for_density", "compression_table", "UNSTRUCTURED_FORMATS",
]
