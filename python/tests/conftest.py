"""Shared data for the nogil tests.

SCIPY_ARRAY_API is set before scipy or scikit-learn is imported, so that
check_estimator's array API check runs instead of being skipped.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def blobs(n=600, d=3, k=3, seed=0, spread=5.0):
    """k Gaussian clusters with different covariances, n points in all."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, spread, size=(k, d))
    labels = rng.integers(0, k, size=n)
    scales = rng.uniform(0.5, 1.5, size=(k, d))
    mix = rng.normal(0.0, 0.3, size=(k, d, d)) + np.eye(d)
    noise = rng.standard_normal((n, d)) * scales[labels]
    X = centers[labels] + np.einsum("nij,nj->ni", mix[labels], noise)
    return X, labels, centers


def initial_parameters(X, k, covariance_type, seed=1):
    """Initial weights, means and precisions in scikit-learn's shapes, not the answer."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    means = X[rng.choice(len(X), size=k, replace=False)] + rng.normal(0, 0.1, (k, d))
    weights = rng.uniform(0.5, 1.0, size=k)
    weights /= weights.sum()
    a = rng.normal(0.0, 0.2, size=(k, d, d))
    full = np.eye(d) + a @ np.swapaxes(a, 1, 2)
    precisions = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.5, 2.0, size=(k, d)),
        "spherical": rng.uniform(0.5, 2.0, size=k),
    }[covariance_type]
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


@pytest.fixture(scope="session")
def data():
    return blobs()
