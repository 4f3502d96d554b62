"""The notebook's experiments from Python: summarize, pairwise_sum, counters."""

import math

import numpy as np
import pytest

import nogil

SCHEDULES = ["static", "static,3", "dynamic,1", "dynamic,64", "guided", "guided,8"]


def test_summarize_is_len_and_sum():
    rng = np.random.default_rng(0)
    x = rng.integers(-1000, 1000, size=1_000_003).astype(np.float64)
    n, s = nogil.summarize(x)
    assert n == x.size
    assert s == math.fsum(x)  # small integers: every partial sum is exact


def test_the_seed_cell_6_mean():
    rng = np.random.default_rng(1)
    X = rng.standard_normal(10_000_000) + 8.342
    x0, x1 = nogil.summarize(X)
    assert x0 == 10_000_000
    assert abs(x1 / x0 - 8.342) < 1e-3
    assert abs(x1 - math.fsum(X)) <= 1e-12 * abs(x1)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_summarize_is_the_same_bits_for_every_thread_count_and_schedule(threads, schedule):
    x = np.random.default_rng(2).standard_normal(300_001)
    assert nogil.summarize(x, threads=threads, schedule=schedule) == nogil.summarize(x, threads=1)


def test_strided_and_compensated_summaries():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(100_000) * 1e3
    for parts in [1, 2, 4, 7]:
        n, s = nogil.summarize(x, parts=parts)
        assert n == x.size
        assert abs(s - math.fsum(x)) <= 1e-9 * np.abs(x).sum()
        # Deterministic for a given parts, whatever the threads.
        assert nogil.summarize(x, parts=parts, threads=1) == nogil.summarize(x, parts=parts, threads=2)
    # Cancellation the plain sum gets wrong and the compensated one does not.
    y = np.array([1e16, 1.0, -1e16] * 1000)
    assert nogil.summarize(y, compensated=True) == (3000, 1000.0)
    assert nogil.summarize(np.array([]), compensated=True) == (0, 0.0)


@pytest.mark.parametrize("method", ["blocked", "tasks", "strided", "exact"])
def test_pairwise_sum_every_method(method):
    rng = np.random.default_rng(4)
    x = rng.integers(-5, 6, size=3001).astype(np.float64)
    expected = float(x.sum()) ** 2  # exact: small integers
    assert nogil.pairwise_sum(x, method=method) == expected
    assert nogil.pairwise_sum(x, method=method, threads=1, schedule="static") == expected
    assert nogil.pairwise_sum(x, method=method, threads=3, schedule="guided,4") == expected
    # Random data: the O(n^2) value, bit-identical across threads (for the
    # strided method, for a given number of partitions).
    y = rng.standard_normal(2000)
    parts = {"parts": 3} if method == "strided" else {}
    a = nogil.pairwise_sum(y, method=method, threads=1, **parts)
    assert a == nogil.pairwise_sum(y, method=method, threads=2, schedule="dynamic,1", **parts)
    assert abs(a - math.fsum(y) ** 2) <= 1e-9 * np.abs(y).sum() ** 2


def test_pairwise_sum_strided_parts():
    x = np.arange(1, 101, dtype=np.float64)
    for parts in [1, 3, 4, 100, 250]:
        assert nogil.pairwise_sum(x, method="strided", parts=parts) == 5050.0**2


def test_counter_kinds():
    assert nogil.counter_kinds() == ["racy", "locked", "split", "atomic", "sharded"]


@pytest.mark.parametrize("kind", ["locked", "atomic", "sharded"])
def test_exact_counters_lose_nothing(kind):
    r = nogil.count(kind, 2_000_000, threads=2)
    assert (r.kind, r.threads, r.expected, r.value, r.lost) == (kind, 2, 2_000_000, 2_000_000, 0)
    assert r.seconds >= 0.0


@pytest.mark.parametrize("kind", ["racy", "split"])
def test_racy_counters(kind):
    # On one thread nothing races: exact.
    r1 = nogil.count(kind, 1_000_000, threads=1)
    assert (r1.value, r1.lost) == (1_000_000, 0)
    # On several, updates may be lost, and the report adds up.
    r = nogil.count(kind, 5_000_000, threads=2, schedule="guided")
    assert 0 < r.value <= r.expected == 5_000_000
    assert r.lost == r.expected - r.value
    assert nogil.count(kind, 0, threads=2).value == 0


def test_fma_floor_times_the_multiply_adds_and_refuses_bad_arguments():
    t = nogil.fma_floor(10**7, threads=2, runs=2)
    assert 0.0 < t < 60.0
    assert nogil.fma_floor(0) >= 0.0
    for kw in [dict(fmas=-1), dict(fmas=1.5), dict(fmas=10**13), dict(fmas=10, threads=0), dict(fmas=10, runs=0)]:
        with pytest.raises(ValueError):
            nogil.fma_floor(**kw)
