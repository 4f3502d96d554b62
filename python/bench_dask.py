"""Per-EM-iteration time of nogil.dask on a 2-process LocalCluster against the
local fit, and the scheduler's overhead per iteration.

Each figure is ``(T(1 + m) - T(1)) / m`` from the fastest of 3 fits at each
iteration count (``tol=0``, the same given initial parameters), so the
initialization, the persist and the first iteration's start-up cancel out.

- 4·10⁶ × 2, K = 4: the data made chunk by chunk on the workers
  (``dask.array.random``) and persisted; the local fit runs on the same rows
  computed to this process. overhead = dask − local per iteration.
- the initialization alone (``max_iter=0``, ``init_params="kmeans"``:
  k-means++ seeding, then Lloyd's rounds, every pass on the workers) on the
  same 4·10⁶ × 2, local and dask, fastest of 3.
- 7.5·10⁷ × 2 (1.2 GB), K = 4, with ``--large``: more than one worker's
  memory limit (1 GiB), so it only fits spread over both; dask only.

    python python/bench_dask.py [--large]
"""

import os
import sys
import time

import numpy as np

import dask.array as da
import distributed

import nogil
import nogil.dask

K = 4


def init(d):
    return dict(
        weights_init=np.full(K, 1 / K),
        means_init=np.array([[5.0 * i] * d for i in range(K)]),
        precisions_init=np.tile(np.eye(d), (K, 1, 1)),
    )


def make(n, d, chunk):
    rng = da.random.RandomState(0)
    shift = da.from_array(np.arange(n) % K, chunks=chunk)[:, None] * 5.0
    return rng.standard_normal((n, d), chunks=(chunk, d)) + shift


def fastest(fit, runs=3):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fit()
        best = min(best, time.perf_counter() - t)
    return best


def per_iteration(cls, X, d, m):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)

    def fit(iters):
        return lambda: cls(K, max_iter=iters, tol=0.0, **init(d)).fit(X)

    return (fastest(fit(1 + m)) - fastest(fit(1))) / m


def main():
    print("load average at start:", os.getloadavg())
    print("nogil", nogil.build_info())
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit="1GiB",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    n, d = 4_000_000, 2
    # Chunks of whole blocks (62 592 rows at this n), so fit need not rechunk.
    X = make(n, d, 8 * 62_592).persist()
    distributed.wait(X)
    x = X.compute()
    m = 10
    local = per_iteration(nogil.GaussianMixture, x, d, m)
    dist = per_iteration(nogil.dask.GaussianMixture, X, d, m)
    print(f"{n:.0e} x {d}: local {local * 1e3:.1f} ms/iter, dask {dist * 1e3:.1f} "
          f"ms/iter, overhead {(dist - local) * 1e3:.1f} ms/iter "
          f"({X.numblocks[0]} chunks)")
    for name, cls, data in (("local", nogil.GaussianMixture, x), ("dask", nogil.dask.GaussianMixture, X)):
        best = fastest(lambda: cls(K, max_iter=0, random_state=0).fit(data))
        print(f"{n:.0e} x {d}: k-means initialization, {name} {best * 1e3:.0f} ms")
    del x, X
    if "--large" in sys.argv:
        n = 75_000_000
        X = make(n, d, 38 * 65_536).persist()
        distributed.wait(X)
        m = 3
        dist = per_iteration(nogil.dask.GaussianMixture, X, d, m)
        print(f"{n:.1e} x {d} ({n * d * 8 / 2**30:.2f} GiB, 1 GiB per worker): "
              f"dask {dist * 1e3:.0f} ms/iter ({X.numblocks[0]} chunks)")
    print("load average at end:", os.getloadavg())
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
