"""The notebook's experiments, with nogil in place of Cython.

Each function converts its input to a C-contiguous float64 vector (a copy
only when it is not one already), then runs one Rust kernel on nogil's
pinned pool with the GIL released:

- ``summarize(X)``: ``(len(X), sum(X))``, the seed's cells 5-11;
- ``pairwise_sum(X)``: ``sum_i sum_j X[i]*X[j]``, cells 12-14 and 20-36;
- ``count(kind, n)``: the racy, locked and split counters of cells 2-4, plus
  an atomic and a sharded one.

``threads`` is the pool's thread count (None: ``NOGIL_NUM_THREADS``, else
every CPU this process may use); ``schedule`` is OpenMP's ``OMP_SCHEDULE``
syntax (``"static"``, ``"dynamic,1"``, ``"guided"``, ``"guided,8"``).
"""

from collections import namedtuple
from numbers import Integral

import numpy as np

from . import _nogil

CounterReport = namedtuple(
    "CounterReport", ["kind", "threads", "expected", "value", "lost", "seconds"]
)
CounterReport.__doc__ = """What one counting run shows: the final value, the value
an exact counter ends at, the updates lost, and the wall time in seconds."""


def _count_arg(name, value, minimum, optional=True):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value >= 2**64:
        raise ValueError(f"{name} = {value} is too large (at most 2**64 - 1)")
    return int(value)


def _vector(X):
    x = np.ascontiguousarray(X, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"X must be 1-D, got an array of shape {x.shape}")
    return x


def summarize(X, *, threads=None, schedule="static", parts=None, compensated=False):
    """``(len(X), sum(X))`` of a 1-D array, in parallel (the seed's ``summarize``).

    By default the sum is taken over fixed contiguous blocks combined in a
    fixed tree: the same bits for every thread count and schedule.
    ``parts=p`` sums the seed's strided partitions ``X[i::p]`` instead (cell 8),
    each thread streaming the whole array; ``compensated=True`` uses a
    Neumaier-compensated sum, correct to about one rounding.
    """
    x = _vector(X)
    threads = _count_arg("threads", threads, 1)
    parts = _count_arg("parts", parts, 1)
    return _nogil.summarize(x, threads, schedule, parts, bool(compensated))


def pairwise_sum(X, *, threads=None, schedule="guided", method="blocked", parts=None):
    """``sum_i sum_j X[i]*X[j]`` of a 1-D array, computed the seed's O(n^2) way.

    method:
      ``"blocked"``: the fast kernel, ``prange`` over blocks of rows (cell 30);
      ``"tasks"``: one task per element (cell 32's joblib tasks);
      ``"strided"``: one task per partition ``X[i::parts]`` (cell 34;
      ``parts`` defaults to the thread count);
      ``"exact"``: the answer in O(n), as ``(sum X)**2`` with a compensated sum.
    Every method gives the same bits for every thread count and schedule.
    """
    x = _vector(X)
    threads = _count_arg("threads", threads, 1)
    parts = _count_arg("parts", parts, 1)
    return _nogil.pairwise_sum(x, threads, schedule, method, parts)


FMA_FLOOR_MAX = 10**12


def fma_floor(fmas, *, threads=None, runs=3):
    """Seconds that ``fmas`` multiply-adds take at this machine's peak: run in
    registers (no memory traffic), spread evenly over ``threads``, the
    fastest of ``runs`` timings. A kernel that does ``fmas`` multiply-adds
    cannot run faster; ``python/bench.py`` prints it beside each fit."""
    fmas = _count_arg("fmas", fmas, 0, optional=False)
    if fmas > FMA_FLOOR_MAX:
        raise ValueError(f"fmas = {fmas} is more than fma_floor times ({FMA_FLOOR_MAX}: seconds at most)")
    threads = _count_arg("threads", threads, 1)
    runs = _count_arg("runs", runs, 1, optional=False)
    return _nogil.fma_floor(fmas, threads, runs)


def counter_kinds():
    """The counter kinds, in the seed's order: racy, locked, split, atomic, sharded."""
    return list(_nogil.counter_kinds())


def count(kind, increments=10_000_000, *, threads=None, schedule="guided"):
    """The seed's counters: ``increments`` increments of one shared counter.

    ``kind``: ``"racy"`` (read, add, write: loses updates, cell 2),
    ``"locked"`` (a lock around each increment: exact and serial, cell 3),
    ``"split"`` (read outside the lock, write inside: loses updates, cell 4),
    ``"atomic"`` (one fetch-add each), ``"sharded"`` (a padded slot per thread).
    Returns a ``CounterReport``.
    """
    increments = _count_arg("increments", increments, 0, optional=False)
    threads = _count_arg("threads", threads, 1)
    return CounterReport(*_nogil.count(kind, increments, threads, schedule))


def build_info():
    """What the Rust extension was compiled with: target, SIMD features, profile."""
    return _nogil.build_info()


def default_threads():
    """The thread count used when none is given."""
    return _nogil.default_threads()
