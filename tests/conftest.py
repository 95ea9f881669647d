"""Shared fixtures."""

import pytest


@pytest.fixture(params=["vnni", "portable"])
def int8_backend(request):
    """Run a test on the AVX-512 VNNI kernels (where this CPU has them) and on the portable
    kernels (what runs on a CPU without VNNI), then restore the default."""
    from sparsesim.kernels import simd

    if request.param == "vnni" and not simd.has_path("vnni"):
        pytest.skip("this CPU (or NUMBA_CPU_NAME) has no AVX512_VNNI: only the portable kernels run here")
    simd.set_backend("auto" if request.param == "vnni" else "portable")
    try:
        yield request.param
    finally:
        simd.set_backend(None)
