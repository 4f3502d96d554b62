"""nogil: the "escaping the GIL" notebook done in Rust, for Python.

- ``nogil.GaussianMixture``: scikit-learn's Gaussian mixture (same
  parameters, attributes and methods), each EM iteration one fused pass in
  Rust with the GIL released;
- ``nogil.summarize``, ``nogil.pairwise_sum``, ``nogil.count``: the notebook's
  kernels, on nogil's pinned thread pool, with the GIL released.
"""

from ._nogil import __version__
from .kernels import (
    CounterReport,
    build_info,
    count,
    counter_kinds,
    default_threads,
    fma_floor,
    pairwise_sum,
    summarize,
)
from .mixture import GaussianMixture

__all__ = [
    "GaussianMixture",
    "CounterReport",
    "build_info",
    "count",
    "counter_kinds",
    "default_threads",
    "fma_floor",
    "pairwise_sum",
    "summarize",
    "__version__",
]
