"""Every kernel call releases the GIL: a Python thread keeps counting through it.

How the test tells a released GIL from a held one without timing anything:
the interpreter's switch interval is raised to 30 s for the test, so a thread
that holds the GIL is never asked to give it up during the call. The
counting thread sleeps briefly between counts (so it gives the GIL back
itself, and the main thread gets it back at once when a call returns).
Then, while the main thread is inside a nogil call:

- if the call holds the GIL, the counting thread cannot run a single Python
  statement, and the count does not move;
- if the call releases it, the counting thread counts throughout.

The main thread's own Python code between kernel calls (the EM loop) holds
the GIL too, so the count can only move while a kernel call runs or the main
thread blocks; the data are C-contiguous float64, so no numpy conversion
(which could release the GIL itself) runs either.
"""

import sys
import threading
import warnings

import numpy as np
import pytest
from conftest import initial_parameters
from sklearn.exceptions import ConvergenceWarning

import nogil


class Counter:
    def __init__(self):
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.count += 1
            # Releases the GIL; the main thread takes it whenever it wants it.
            self.stop.wait(0.0002)

    def __enter__(self):
        self.old_interval = sys.getswitchinterval()
        self.thread.start()
        while self.count == 0:  # started and counting
            self.stop.wait(0.001)
        sys.setswitchinterval(30.0)
        return self

    def __exit__(self, *exc):
        sys.setswitchinterval(self.old_interval)
        self.stop.set()
        self.thread.join()


def counted_during(call):
    """How many times the counting thread counted while `call` ran."""
    with Counter() as c:
        before = c.count
        call()
        after = c.count
    return after - before


def test_the_counter_cannot_count_while_python_holds_the_gil():
    # The control: a long computation that holds the GIL throughout (a
    # builtin's C loop never hands the GIL over by itself).
    assert counted_during(lambda: sum(range(30_000_000))) == 0


def clusters(n, d, k, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) + 5.0 * rng.integers(0, k, size=(n, 1))


def test_a_python_thread_counts_while_a_fit_runs():
    X = clusters(2_000_000, 8, 4, seed=2)
    init = initial_parameters(X, 4, "full")
    gmm = nogil.GaussianMixture(4, max_iter=8, tol=0, **init)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(X)

    counted = counted_during(fit)
    assert gmm.n_iter_ == 8
    # About one count per 0.3 ms of kernel time, and the fit's kernels take
    # hundreds of milliseconds. Held through the kernels, the GIL would still
    # let the counter in a few times per iteration wherever numpy releases it
    # in the fit's Python code (eigvalsh, matmul): about 20 counts in all.
    assert counted >= 300, counted


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score", "bic"]
)
def test_every_estimator_kernel_call_releases_the_gil(method):
    X = clusters(2_000_000, 4, 8, seed=3)
    gmm = nogil.GaussianMixture(8, max_iter=2, tol=0, **initial_parameters(X, 8, "full"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(X[:10_000])
    assert counted_during(lambda: getattr(gmm, method)(X)) >= 20


def test_the_notebook_kernels_release_the_gil():
    x = np.random.default_rng(0).standard_normal(60_000)
    assert counted_during(lambda: nogil.pairwise_sum(x)) >= 20
    assert counted_during(lambda: nogil.pairwise_sum(x, method="tasks", schedule="dynamic,1")) >= 20
    assert counted_during(lambda: nogil.count("locked", 30_000_000)) >= 20
    big = np.ones(10_000_000)
    assert counted_during(lambda: [nogil.summarize(big, parts=3) for _ in range(30)]) >= 20
