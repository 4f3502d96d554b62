"""Per-EM-iteration time of nogil.GaussianMixture and scikit-learn's, side by side.

    python python/bench.py [--repeat 3] [--threads N] [--shapes 4000000x2x4,...]

For each shape (n points x d features, K components, full covariances) both
estimators fit the same data from the same initial parameters (weights_init,
means_init, precisions_init) with tol=0, so each runs exactly max_iter
iterations. The time per iteration is the difference of two fits' wall times,
(T(1 + m) - T(1)) / m, which cancels what a fit does once (validation,
initialization, scikit-learn's final E-step); m is at least 3 and large
enough for about half a second of iterations. Each fit is timed --repeat times
and the fastest is taken: on a shared machine the fastest run is the least
disturbed one (medians of three went negative here when other builds ran).
Beside nogil's time, the FMA floor: the iteration's n*K*(d^2 + 2d)
multiply-adds at this machine's FMA rate (nogil.fma_floor, measured in the
same run), and their ratio. After timing, the two fits at the same max_iter are compared: the largest
relative difference of weights, means and covariances, and of the lower
bound.

This is a benchmark, not a test: it asserts nothing about speed. The figures
quoted in README.md come from it.
"""

import argparse
import math
import os
import platform
import subprocess
import sys
import time
import warnings

# Run as a script, Python puts this file's folder first on sys.path, where
# nogil/ is the package's source without its compiled module: import the
# installed package instead.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGaussianMixture  # noqa: E402

import nogil  # noqa: E402

SHAPES = [(4_000_000, 2, 4), (200_000, 16, 8), (50_000, 64, 16), (20_000, 256, 8), (4_000, 1000, 4)]


def make_problem(n, d, k, seed=0):
    """K well separated Gaussian clusters, and initial parameters near them."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 6.0, size=(k, d))
    labels = rng.integers(0, k, size=n)
    X = centers[labels] + rng.standard_normal((n, d))
    init = dict(
        weights_init=np.full(k, 1.0 / k),
        means_init=centers + rng.normal(0.0, 0.5, size=(k, d)),
        precisions_init=np.repeat(np.eye(d)[None], k, axis=0),
    )
    return X, init


def fit_time(cls, X, k, init, max_iter, extra):
    est = cls(k, tol=0.0, max_iter=max_iter, **init, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(X)
        t = time.perf_counter() - t0
    assert est.n_iter_ == max_iter
    return t, est


def per_iteration(cls, X, k, init, repeat, extra, span=0.5):
    """(T(1 + m) - T(1)) / m, with m (at least 3) giving about `span` seconds
    of iterations, so that the difference stands well above the noise."""
    lo = [fit_time(cls, X, k, init, 1, extra)[0] for _ in range(repeat)]
    estimate = max(fit_time(cls, X, k, init, 4, extra)[0] - min(lo), 1e-6) / 3
    m = max(3, min(500, math.ceil(span / estimate)))
    hi = [fit_time(cls, X, k, init, 1 + m, extra)[0] for _ in range(repeat)]
    return (min(hi) - min(lo)) / m


def rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="fits per timing (the fastest counts)")
    ap.add_argument("--threads", type=int, default=None, help="nogil threads (default: all)")
    ap.add_argument(
        "--shapes",
        default=",".join(f"{n}x{d}x{k}" for n, d, k in SHAPES),
        help="comma-separated NxDxK",
    )
    args = ap.parse_args()
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]

    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i.get('architecture', '?')} {i['num_threads']} threads"
            for i in threadpool_info()
        )
    except ImportError:
        blas = "unknown"
    import sklearn

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs")
    print(f"nogil {nogil.__version__}: {nogil.build_info()}; threads {args.threads or nogil.default_threads()}")
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, BLAS: {blas}")
    print(f"full covariances, tol=0, fastest of {args.repeat} fits per timing")
    print("load average at start: %.2f %.2f %.2f\n" % os.getloadavg())
    header = f"{'n x d, K':>18} | {'nogil ms/iter':>13} | {'FMA floor ms':>12} | {'nogil/floor':>11} | {'sklearn ms/iter':>15} | {'speedup':>8} | {'max rel diff params':>19} | {'lower bound':>11}"
    print(header)
    print("-" * len(header))
    extra = {"n_threads": args.threads}
    for n, d, k in shapes:
        X, init = make_problem(n, d, k)
        t_sk = per_iteration(SkGaussianMixture, X, k, init, args.repeat, {})
        t_ng = per_iteration(nogil.GaussianMixture, X, k, init, args.repeat, extra)
        # The iteration's multiply-adds at the FMA units' rate, measured
        # now: the quadratic form and the moments (triangular factor,
        # symmetric moments) and x - mu, r*(x - mu).
        floor = nogil.fma_floor(n * k * (d * d + 2 * d), threads=args.threads, runs=args.repeat)
        _, sk = fit_time(SkGaussianMixture, X, k, init, 4, {})
        _, ng = fit_time(nogil.GaussianMixture, X, k, init, 4, extra)
        diff = max(rel(ng.weights_, sk.weights_), rel(ng.means_, sk.means_), rel(ng.covariances_, sk.covariances_))
        lb = abs(ng.lower_bound_ - sk.lower_bound_) / abs(sk.lower_bound_)
        print(
            f"{f'{n} x {d}, {k}':>18} | {1e3 * t_ng:13.3f} | {1e3 * floor:12.3f} | {t_ng / floor:10.2f}x | {1e3 * t_sk:15.1f} | {t_sk / t_ng:7.1f}x | {diff:19.1e} | {lb:11.1e}",
            flush=True,
        )
    print("\nload average at end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
