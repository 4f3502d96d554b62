"""nogil.GaussianMixture against scikit-learn's, from the same initial parameters."""

import io
import re
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, blobs, initial_parameters
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import nogil

RTOL = 1e-8  # the issue asks for 1e-6 or better


def close(a, b, rtol=RTOL):
    """Relative closeness of arrays, with zeros (off-diagonal terms) judged
    against the array's largest magnitude."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)))


def fit_both(X, k, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = nogil.GaussianMixture(k, **kw).fit(X)
        theirs = SkGaussianMixture(k, **kw).fit(X)
    return ours, theirs


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_from_same_initial_parameters(data, covariance_type):
    X, _, _ = data
    init = initial_parameters(X, 3, covariance_type)
    ours, theirs = fit_both(X, 3, covariance_type=covariance_type, tol=1e-10, max_iter=500, **init)

    assert ours.converged_ and theirs.converged_
    assert ours.n_iter_ == theirs.n_iter_ > 3
    for attr in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]:
        a, b = getattr(ours, attr), getattr(theirs, attr)
        assert a.shape == b.shape, attr
        assert a.dtype == np.float64
        close(a, b)
    close(ours.lower_bound_, theirs.lower_bound_)
    close(ours.lower_bounds_, theirs.lower_bounds_)
    assert ours.n_features_in_ == theirs.n_features_in_ == 3

    Y = blobs(n=200, seed=7)[0]
    np.testing.assert_array_equal(ours.predict(Y), theirs.predict(Y))
    assert ours.predict(Y).dtype == theirs.predict(Y).dtype
    close(ours.predict_proba(Y), theirs.predict_proba(Y), rtol=1e-6)
    close(ours.score_samples(Y), theirs.score_samples(Y))
    close(ours.score(Y), theirs.score(Y))
    close(ours.bic(Y), theirs.bic(Y))
    close(ours.aic(Y), theirs.aic(Y))
    assert ours._n_parameters() == theirs._n_parameters()
    np.testing.assert_array_equal(ours.fit_predict(X), theirs.fit_predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precisions_cholesky_is_upper_and_factors_the_precision(data, covariance_type):
    X, _, _ = data
    g = nogil.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    u = g.precisions_cholesky_
    if covariance_type in ("full", "tied"):
        u3 = u.reshape(-1, 3, 3)
        assert np.all(np.tril(u3, -1) == 0.0), "scikit-learn's factor is upper triangular"
        cov = g.covariances_.reshape(-1, 3, 3)
        for ui, ci in zip(u3, cov):
            close(ui @ ui.T @ ci, np.eye(3), rtol=1e-10)
    else:
        close(u**2 * g.covariances_, np.ones_like(u), rtol=1e-12)


def test_the_fit_is_sklearn_in_a_real_init(data):
    # Different k-means, same optimum: on well separated clusters both
    # initializations lead EM to the same maximum.
    X, _, _ = data
    ours = nogil.GaussianMixture(3, random_state=0, tol=1e-8).fit(X)
    theirs = SkGaussianMixture(3, random_state=0, tol=1e-8).fit(X)
    order = np.argsort(ours.means_[:, 0])
    their_order = np.argsort(theirs.means_[:, 0])
    close(ours.means_[order], theirs.means_[their_order], rtol=1e-5)
    close(ours.lower_bound_, theirs.lower_bound_, rtol=1e-7)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data", "random"])
def test_every_init_params_finds_the_clusters(init_params):
    X, labels, centers = blobs(n=900, k=3, seed=3, spread=8.0)
    g = nogil.GaussianMixture(
        3, init_params=init_params, n_init=3, random_state=0, max_iter=300
    ).fit(X)
    assert g.converged_
    found = g.means_[np.argsort(g.means_[:, 0])]
    true = centers[np.argsort(centers[:, 0])]
    assert np.max(np.abs(found - true)) < 0.5
    # Each cluster is one component.
    pred = g.predict(X)
    for c in range(3):
        assert np.bincount(pred[labels == c]).max() >= 0.97 * np.sum(labels == c)


def test_max_iter_0_returns_the_initial_model_as_sklearn_does(data):
    X, _, _ = data
    init = initial_parameters(X, 3, "full")
    init.pop("precisions_init")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning either
        ours = nogil.GaussianMixture(3, max_iter=0, random_state=0, **init).fit(X)
        theirs = SkGaussianMixture(3, max_iter=0, random_state=0, **init).fit(X)
    for g in (ours, theirs):
        assert g.n_iter_ == 0
        assert g.converged_ is False
        assert g.lower_bound_ == -np.inf
        assert g.lower_bounds_ == []
    np.testing.assert_array_equal(ours.means_, init["means_init"])
    np.testing.assert_array_equal(ours.weights_, init["weights_init"])


def test_max_iter_0_with_precisions_init_is_that_model():
    X = blobs()[0]
    init = initial_parameters(X, 3, "full")
    g = nogil.GaussianMixture(3, max_iter=0, **init).fit(X)
    close(g.precisions_, init["precisions_init"], rtol=1e-12)
    close(np.linalg.inv(g.covariances_), init["precisions_init"], rtol=1e-10)


def test_not_converged_warns_and_keeps_the_model(data):
    X, _, _ = data
    init = initial_parameters(X, 3, "diag")
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ours = nogil.GaussianMixture(3, covariance_type="diag", max_iter=2, **init).fit(X)
    with pytest.warns(ConvergenceWarning):
        theirs = SkGaussianMixture(3, covariance_type="diag", max_iter=2, **init).fit(X)
    assert ours.converged_ is False and ours.n_iter_ == 2
    close(ours.means_, theirs.means_)
    close(ours.lower_bounds_, theirs.lower_bounds_)


def test_warm_start_continues_as_sklearn_does(data):
    X, _, _ = data
    init = initial_parameters(X, 3, "full")
    ours = nogil.GaussianMixture(3, warm_start=True, max_iter=1, tol=1e-10, **init)
    theirs = SkGaussianMixture(3, warm_start=True, max_iter=1, tol=1e-10, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(4):
            ours.fit(X)
            theirs.fit(X)
            close(ours.means_, theirs.means_)
            close(ours.lower_bound_, theirs.lower_bound_)
            assert ours.n_iter_ == theirs.n_iter_ == 1
    # Four warm one-iteration fits are one four-iteration fit.
    cold = nogil.GaussianMixture(3, max_iter=4, tol=1e-10, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold.fit(X)
    np.testing.assert_array_equal(ours.means_, cold.means_)
    np.testing.assert_array_equal(ours.covariances_, cold.covariances_)


def test_n_init_keeps_the_best_lower_bound():
    X = blobs(n=400, k=4, seed=5, spread=3.0)[0]
    single = [
        nogil.GaussianMixture(4, init_params="random_from_data", random_state=rs).fit(X)
        for rs in range(3)
    ]
    rs = np.random.RandomState(0)
    many = nogil.GaussianMixture(4, init_params="random_from_data", n_init=6, random_state=rs).fit(X)
    # The best of six initializations is at least as good as each of three others' typical fits
    assert many.lower_bound_ >= np.median([s.lower_bound_ for s in single]) - 1e-12
    # n_init=1 fits are deterministic for an int random_state
    again = nogil.GaussianMixture(4, init_params="random_from_data", random_state=1).fit(X)
    np.testing.assert_array_equal(again.means_, single[1].means_)


def test_partial_initial_parameters_are_used():
    X = blobs()[0]
    means = initial_parameters(X, 3, "full")["means_init"]
    g = nogil.GaussianMixture(3, means_init=means, max_iter=0, init_params="random", random_state=0).fit(X)
    np.testing.assert_array_equal(g.means_, means)
    assert abs(g.weights_.sum() - 1) < 1e-12


@pytest.mark.parametrize("n_threads, schedule", [(1, "static"), (2, "guided"), (3, "dynamic,7"), (2, "static,5")])
def test_threads_and_schedules_give_the_same_bits(data, n_threads, schedule):
    X, _, _ = data
    base = nogil.GaussianMixture(3, random_state=0, n_threads=1).fit(X)
    g = nogil.GaussianMixture(3, random_state=0, n_threads=n_threads, schedule=schedule).fit(X)
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        np.testing.assert_array_equal(getattr(g, attr), getattr(base, attr))
    assert g.lower_bounds_ == base.lower_bounds_
    np.testing.assert_array_equal(g.score_samples(X), base.score_samples(X))


def test_verbose_prints_what_sklearn_prints(data):
    X, _, _ = data
    init = initial_parameters(X, 3, "full")
    outputs = []
    for cls in (nogil.GaussianMixture, SkGaussianMixture):
        buf = io.StringIO()
        with redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cls(3, verbose=1, verbose_interval=2, n_init=2, max_iter=5, tol=0, **init).fit(X)
        outputs.append(buf.getvalue())
    assert outputs[0] == outputs[1]
    assert "  Iteration 4\n" in outputs[0]

    buf = io.StringIO()
    with redirect_stdout(buf):
        nogil.GaussianMixture(3, verbose=2, verbose_interval=1, tol=1e-3, **init).fit(X)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "Initialization 0"
    assert re.fullmatch(r"  Iteration 1\t time lapse \d+\.\d{5}s\t ll change inf", lines[1])
    assert re.fullmatch(
        r"Initialization converged\. time lapse \d+\.\d{5}s\t lower bound -?\d+\.\d{5}\.", lines[-1]
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_is_sklearn_sample(data, covariance_type):
    X, _, _ = data
    init = initial_parameters(X, 3, covariance_type)
    ours, theirs = fit_both(X, 3, covariance_type=covariance_type, random_state=4, tol=1e-8, **init)
    xo, yo = ours.sample(500)
    xt, yt = theirs.sample(500)
    np.testing.assert_array_equal(yo, yt)
    assert yo.dtype == yt.dtype
    close(xo, xt, rtol=1e-6)
    with pytest.raises(ValueError, match="n_samples"):
        ours.sample(0)


@pytest.mark.parametrize("d, k", [(48, 3), (64, 4), (131, 2)])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_large_d_fits_are_sklearns_after_the_same_iterations(d, k, covariance_type):
    # From d = 48 the moments and the full-factor densities are the
    # register-blocked kernels' (micro-tiles along the coordinates): the
    # same model as scikit-learn's after the same iterations, to the
    # issue's 1e-6 and closer.
    X = blobs(n=12 * d, d=d, k=k, seed=d)[0]
    init = initial_parameters(X, k, covariance_type, seed=d)
    kw = dict(covariance_type=covariance_type, tol=0.0, max_iter=5, reg_covar=1e-6, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = nogil.GaussianMixture(k, **kw).fit(X)
        theirs = SkGaussianMixture(k, **kw).fit(X)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        close(getattr(ours, attr), getattr(theirs, attr), rtol=1e-7)
    close(ours.lower_bound_, theirs.lower_bound_, rtol=1e-9)
    close(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9)
