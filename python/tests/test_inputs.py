"""Inputs are converted as scikit-learn's check_array converts them, and
C-contiguous float64 is read in place."""

import numpy as np
import pytest
from conftest import blobs

import nogil


@pytest.fixture(scope="module")
def reference():
    X, _, _ = blobs(n=300, d=4, k=3, seed=11)
    g = nogil.GaussianMixture(3, random_state=0).fit(X)
    return X, g


def same_fit(a, b):
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    assert a.lower_bounds_ == b.lower_bounds_


def wider(X):
    """X as a non-contiguous view: every other column of a wider array."""
    w = np.zeros((X.shape[0], 2 * X.shape[1]))
    w[:, ::2] = X
    v = w[:, ::2]
    assert not v.flags.c_contiguous and not v.flags.f_contiguous
    return v


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(np.asfortranarray, id="fortran"),
        pytest.param(wider, id="non-contiguous"),
        pytest.param(lambda X: X.tolist(), id="list"),
        pytest.param(lambda X: tuple(map(tuple, X)), id="tuple"),
        pytest.param(lambda X: X[::-1][::-1], id="reversed-view"),
    ],
)
def test_layouts_give_the_c_contiguous_answer(reference, convert):
    X, g = reference
    h = nogil.GaussianMixture(3, random_state=0).fit(convert(X))
    same_fit(h, g)
    Xc = convert(X)
    np.testing.assert_array_equal(g.predict(Xc), g.predict(X))
    np.testing.assert_array_equal(g.score_samples(Xc), g.score_samples(X))
    np.testing.assert_array_equal(g.predict_proba(Xc), g.predict_proba(X))


def test_float32_is_fitted_as_its_float64_values(reference):
    X, _ = reference
    X32 = X.astype(np.float32)
    a = nogil.GaussianMixture(3, random_state=0).fit(X32)
    b = nogil.GaussianMixture(3, random_state=0).fit(X32.astype(np.float64))
    same_fit(a, b)
    assert a.means_.dtype == np.float64
    np.testing.assert_array_equal(a.score_samples(X32), b.score_samples(X32.astype(np.float64)))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_and_bool_dtypes_are_their_float64_values(dtype):
    rng = np.random.default_rng(0)
    Xi = np.concatenate([rng.integers(0, 3, (100, 2)), rng.integers(8, 11, (100, 2))])
    Xi = (Xi > 5) if dtype is np.bool_ else Xi.astype(dtype)
    kw = dict(random_state=0, reg_covar=1e-2)
    a = nogil.GaussianMixture(2, **kw).fit(Xi)
    b = nogil.GaussianMixture(2, **kw).fit(Xi.astype(np.float64))
    same_fit(a, b)


def test_read_only_and_memory_mapped_data(reference, tmp_path):
    X, g = reference
    ro = X.copy()
    ro.flags.writeable = False
    same_fit(nogil.GaussianMixture(3, random_state=0).fit(ro), g)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    same_fit(nogil.GaussianMixture(3, random_state=0).fit(mm), g)
    np.testing.assert_array_equal(g.predict(mm), g.predict(X))


def test_c_contiguous_float64_is_not_copied(reference):
    X, g = reference
    # What the estimator hands to the Rust kernels is the caller's array itself.
    assert g._validate_X(X, reset=False) is X
    est = nogil.GaussianMixture(3)
    assert est._validate_X(X, reset=True) is X
    # ... and anything else is converted to a new C-contiguous float64 array.
    F = np.asfortranarray(X)
    converted = est._validate_X(F, reset=True)
    assert converted.flags.c_contiguous and converted.dtype == np.float64
    assert not np.shares_memory(converted, F)


def test_the_rust_layer_refuses_what_it_cannot_read_in_place(reference):
    # The Rust functions never read an array with the wrong strides: they
    # ask for C order and refuse anything else.
    X, g = reference
    model = g._model()
    with pytest.raises(ValueError, match="C-contiguous"):
        model.predict(np.asfortranarray(X))
    with pytest.raises(TypeError):
        model.predict(X.astype(np.float32))


def test_kernels_convert_their_input():
    x = np.arange(1000, dtype=np.float64)
    expected = nogil.summarize(x)
    assert expected == (1000, 499500.0)
    assert nogil.summarize(list(range(1000))) == expected
    assert nogil.summarize(x.astype(np.float32)) == expected
    assert nogil.summarize(x.astype(np.int32)) == expected
    w = np.zeros(2000)
    w[::2] = x
    assert nogil.summarize(w[::2]) == expected
    assert nogil.pairwise_sum(w[::2]) == nogil.pairwise_sum(x) == 499500.0**2


def test_a_misaligned_array_is_copied_not_refused():
    # As pickle protocol 5 buffers from Dask or multiprocessing can come.
    x = np.random.default_rng(0).standard_normal((200, 2))
    raw = np.zeros(x.nbytes + 1, dtype=np.uint8)
    y = np.frombuffer(raw.data, dtype=np.uint8, count=x.nbytes, offset=1).view(np.float64)
    y = y.reshape(200, 2)
    assert not y.flags.aligned
    y[...] = x
    a = nogil.GaussianMixture(2, random_state=0).fit(y)
    b = nogil.GaussianMixture(2, random_state=0).fit(x)
    assert np.array_equal(a.means_, b.means_)
    assert np.array_equal(a.predict(y), b.predict(x))
