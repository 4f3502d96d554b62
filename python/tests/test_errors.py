"""Misuse raises ValueError (or MemoryError) with a message that says what is wrong."""

import numpy as np
import pytest
from conftest import blobs, initial_parameters
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import nogil
from nogil import _nogil


@pytest.fixture(scope="module")
def fitted():
    X, _, _ = blobs(n=300, d=3, k=3, seed=1)
    return X, nogil.GaussianMixture(3, random_state=0).fit(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_data_is_named_by_row_and_column(fitted, bad):
    X, g = fitted
    Xb = X.copy()
    Xb[123, 2] = bad
    msg = r"the data hold a NaN or infinite value, first at row 123, column 2"
    with pytest.raises(ValueError, match=msg):
        nogil.GaussianMixture(3).fit(Xb)
    for method in ["predict", "predict_proba", "score_samples", "score", "bic", "aic"]:
        with pytest.raises(ValueError, match=msg):
            getattr(g, method)(Xb)


def test_non_finite_data_in_a_warm_start(fitted):
    X, _ = fitted
    g = nogil.GaussianMixture(3, warm_start=True, random_state=0).fit(X)
    Xb = X.copy()
    Xb[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7, column 1"):
        g.fit(Xb)


def test_shapes(fitted):
    X, g = fitted
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        nogil.GaussianMixture(2).fit(X[:, 0])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        g.predict(X[0])
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        nogil.GaussianMixture(2).fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        g.predict(np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"1 sample\(s\)"):
        nogil.GaussianMixture(1).fit(X[:1])
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        nogil.GaussianMixture(2).fit(np.empty((10, 0)))
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        g.predict(X[:, :2])
    with pytest.raises(ValueError, match="X has 4 features, but GaussianMixture is expecting 3"):
        g.score(np.hstack([X, X[:, :1]]))
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        nogil.GaussianMixture(5).fit(X[:4])
    with pytest.raises(ValueError, match="Found array with dim 3"):
        nogil.GaussianMixture(2).fit(X.reshape(100, 3, 3))


def test_not_fitted():
    for method in ["predict", "predict_proba", "score_samples", "score"]:
        with pytest.raises(NotFittedError):
            getattr(nogil.GaussianMixture(), method)(np.zeros((3, 2)))
    with pytest.raises(NotFittedError):
        nogil.GaussianMixture().sample(3)


@pytest.mark.parametrize(
    "param, value, match",
    [
        ("n_components", 0, "'n_components' parameter of GaussianMixture must be an int in the range"),
        ("n_components", 2.5, "'n_components'"),
        ("tol", -1.0, "'tol' parameter"),
        ("reg_covar", -1e-6, "'reg_covar' parameter"),
        ("max_iter", -1, "'max_iter' parameter"),
        ("n_init", 0, "'n_init' parameter"),
        ("covariance_type", "banded", "'covariance_type' parameter"),
        ("init_params", "kmeans||", "'init_params' parameter"),
        ("random_state", "seed", "'random_state' parameter"),
        ("warm_start", "yes", "'warm_start' parameter"),
        ("verbose_interval", 0, "'verbose_interval' parameter"),
        ("n_threads", 0, "'n_threads' parameter"),
        ("schedule", 4, "'schedule' parameter"),
    ],
)
def test_bad_parameters_are_rejected_as_sklearn_rejects_them(fitted, param, value, match):
    X, _ = fitted
    with pytest.raises(InvalidParameterError, match=match) as e:
        nogil.GaussianMixture(**{"n_components": 2, param: value}).fit(X)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(schedule="fastest"), "schedule: schedule \"fastest\": expected static, dynamic or guided"),
        (dict(schedule="guided,0"), "the guided schedule was given a chunk size of 0"),
        (dict(schedule="dynamic,x"), "chunk \"x\" is not a non-negative integer"),
        (dict(n_threads=100_000), "100000 threads were requested; nogil starts at most 4096"),
        (dict(n_threads=2**70), "more threads than nogil starts"),
    ],
)
def test_what_only_the_library_checks_has_its_message(fitted, kw, match):
    X, _ = fitted
    with pytest.raises(ValueError, match=match):
        nogil.GaussianMixture(2, **kw).fit(X)


def test_bad_initial_parameters(fitted):
    X, _ = fitted
    good = initial_parameters(X, 3, "full")

    def fit(**kw):
        nogil.GaussianMixture(3, **{**good, **kw}).fit(X)

    with pytest.raises(ValueError, match="'weights' should be normalized"):
        fit(weights_init=[0.5, 0.3, 0.3])
    with pytest.raises(ValueError, match=r"'weights' should be in the range \[0, 1\]"):
        fit(weights_init=[1.5, -0.25, -0.25])
    with pytest.raises(ValueError, match=r"'weights' should have the shape of \(3,\)"):
        fit(weights_init=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(3, 3\)"):
        fit(means_init=good["means_init"].T[:2])
    with pytest.raises(ValueError, match="Input contains NaN"):
        fit(means_init=np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match=r"'full precision' should have the shape of \(3, 3, 3\)"):
        fit(precisions_init=np.eye(3))
    with pytest.raises(ValueError, match="'full precision' should be symmetric, positive-definite"):
        fit(precisions_init=-good["precisions_init"])
    with pytest.raises(ValueError, match="'diag precision' should be positive"):
        nogil.GaussianMixture(3, covariance_type="diag", precisions_init=-np.ones((3, 3))).fit(X)
    # Symmetric to scikit-learn's 1e-5 but not to the library's 1e-10: its message.
    p = good["precisions_init"].copy()
    p[1, 0, 1] += 1e-7
    with pytest.raises(ValueError, match="precisions_init for component 1 is not symmetric positive definite"):
        fit(precisions_init=p)


def test_failures_during_the_fit_have_the_library_message():
    # Duplicated points and no regularization: a singular covariance.
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 20, axis=0)
    with pytest.raises(ValueError, match="is not positive definite even after reg_covar was added"):
        nogil.GaussianMixture(3, reg_covar=0.0, random_state=0).fit(X)
    # Values whose squares overflow.
    Y = blobs(n=100, d=2, k=2)[0] * 1e200
    with pytest.raises(ValueError, match="overflow|standardize the data"):
        nogil.GaussianMixture(2, random_state=0).fit(Y)


def test_a_rust_panic_is_an_ordinary_exception():
    with pytest.raises(RuntimeError, match="a Rust panic, caught.*a test panic"):
        _nogil._panic_for_test()
    # The interpreter and the pools carry on.
    assert nogil.summarize(np.ones(10)) == (10, 10.0)


def test_kernel_arguments():
    x = np.ones(100)
    for bad in [0, -1, 2.5, True, "2"]:
        with pytest.raises(ValueError, match="threads must be an int >= 1"):
            nogil.summarize(x, threads=bad)
    with pytest.raises(ValueError, match="X must be 1-D"):
        nogil.summarize(np.ones((3, 3)))
    with pytest.raises(ValueError, match="X must be 1-D"):
        nogil.pairwise_sum(np.ones((3, 3)))
    with pytest.raises(ValueError, match="parts must be an int >= 1"):
        nogil.summarize(x, parts=0)
    with pytest.raises(ValueError, match="give parts or compensated=True, not both"):
        nogil.summarize(x, parts=2, compensated=True)
    with pytest.raises(ValueError, match="method = \"fast\" is invalid"):
        nogil.pairwise_sum(x, method="fast")
    with pytest.raises(ValueError, match="parts is for method=\"strided\""):
        nogil.pairwise_sum(x, parts=2)
    with pytest.raises(ValueError, match="kind = \"lossy\" is invalid: expected one of racy, locked"):
        nogil.count("lossy", 10)
    with pytest.raises(ValueError, match="increments must be an int >= 0"):
        nogil.count("atomic", -5)
    with pytest.raises(ValueError, match="the guided schedule was given a chunk size of 0"):
        nogil.pairwise_sum(x, schedule="guided,0")
    with pytest.raises(ValueError, match="nogil starts at most 4096"):
        nogil.summarize(x, threads=5000)
    with pytest.raises(ValueError, match="too large"):
        nogil.count("atomic", 2**64)


def _fit_in_child(queue):
    X = blobs(n=300, d=3, k=3, seed=1)[0]
    g = nogil.GaussianMixture(3, random_state=0).fit(X)
    queue.put((g.means_, nogil.summarize(np.ones(100_000), threads=2)))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_makes_its_own_pools(fitted):
    # The parent's pools have worker threads; a fork copies the pools but not
    # their threads. The child must not wait for them forever.
    import multiprocessing

    X, g = fitted
    nogil.summarize(np.ones(100_000), threads=2)  # the parent's pools exist
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_fit_in_child, args=(queue,))
    child.start()
    try:
        means, summary = queue.get(timeout=120)
        child.join(timeout=120)
    finally:
        if child.is_alive():  # it hung: end it rather than leave it behind
            child.kill()
            child.join()
    assert child.exitcode == 0
    np.testing.assert_array_equal(means, g.means_)
    assert summary == (100_000, 100_000.0)
