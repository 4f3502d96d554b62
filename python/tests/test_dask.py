"""nogil.dask on a two-process LocalCluster: the fit equals the local fit
bit for bit for several chunkings, survives a killed worker, names a bad
chunk, and predicts lazily."""

import concurrent.futures
import os
import signal

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import nogil  # noqa: E402
import nogil.dask  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

# Every test ends within this many seconds, or fails (never hangs).
LIMIT = 120

K, D = 3, 2


def within(fn, *args):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result(timeout=LIMIT)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def data(n=4096 * 5 + 300, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 1.0], [2.0, 7.0]])
    return centres[rng.integers(0, K, n)] + rng.standard_normal((n, D))


def given(covariance_type="full"):
    means = np.array([[0.5, 0.0], [5.0, 1.5], [2.0, 6.0]])
    precisions = {
        "full": np.tile(np.eye(D), (K, 1, 1)),
        "diag": np.ones((K, D)),
    }[covariance_type]
    return dict(
        weights_init=np.full(K, 1 / K), means_init=means, precisions_init=precisions
    )


def params(covariance_type="full", **kw):
    return dict(
        n_components=K,
        covariance_type=covariance_type,
        max_iter=8,
        tol=0.0,
        **given(covariance_type),
        **kw,
    )


FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def assert_same_fit(a, b):
    for name in FITTED:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.lower_bounds_ == b.lower_bounds_
    assert a.n_iter_ == b.n_iter_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("chunks", [10**9, 7000, 4096, 1000, (500, 19000, 1280)])
def test_fit_equals_the_local_fit_bit_for_bit(client, chunks, covariance_type):
    x = data()
    local = nogil.GaussianMixture(**params(covariance_type)).fit(x)
    X = da.from_array(x, chunks=(chunks, D))
    dist = within(nogil.dask.GaussianMixture(**params(covariance_type)).fit, X)
    assert_same_fit(dist, local)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_reduction_over_many_chunks_keeps_the_bits(client):
    # About 64 blocks, one chunk each: the reduction's tasks merge 8 nodes,
    # then the 8 results, so pieces of the tree meet two levels up.
    x = data(300_000, seed=3)
    local = nogil.GaussianMixture(**{**params(), "max_iter": 3}).fit(x)
    X = da.from_array(x, chunks=(4000, D))
    gm = nogil.dask.GaussianMixture(**{**params(), "max_iter": 3})
    assert X.numblocks[0] > 64
    assert_same_fit(within(gm.fit, X), local)


def test_fit_on_numpy_is_the_local_fit():
    x = data(3000)
    a = nogil.dask.GaussianMixture(**params(), random_state=0).fit(x)
    b = nogil.GaussianMixture(**params(), random_state=0).fit(x)
    assert_same_fit(a, b)


def test_kmeans_init_runs_on_the_distributed_data(client):
    x = data()
    X = da.from_array(x, chunks=(5000, D))
    gm = within(nogil.dask.GaussianMixture(K, random_state=0, max_iter=50).fit, X)
    assert gm.converged_
    order = np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(
        gm.means_[order], [[0.0, 0.0], [2.0, 7.0], [6.0, 1.0]], atol=0.1
    )


def init_params(init, covariance_type="full", **kw):
    defaults = dict(
        n_components=K,
        covariance_type=covariance_type,
        init_params=init,
        random_state=7,
        max_iter=4,
        tol=0.0,
    )
    return {**defaults, **kw}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "init, covariance_type",
    [
        ("kmeans", "full"),
        ("kmeans", "diag"),
        ("k-means++", "full"),
        ("random", "full"),
        ("random", "spherical"),
        ("random_from_data", "tied"),
    ],
)
@pytest.mark.parametrize("chunks", [10**9, 4096, (500, 19000, 1280)])
def test_init_params_on_the_distributed_data_equal_the_local_fit(
    client, init, covariance_type, chunks
):
    x = data()
    local = nogil.GaussianMixture(**init_params(init, covariance_type)).fit(x)
    X = da.from_array(x, chunks=(chunks, D))
    gm = nogil.dask.GaussianMixture(**init_params(init, covariance_type))
    assert_same_fit(within(gm.fit, X), local)


def test_the_initialization_alone_and_partly_given_parameters(client):
    # max_iter=0 returns the initial model, as scikit-learn does.
    x = data()
    X = da.from_array(x, chunks=(7000, D))
    kw = init_params("kmeans", max_iter=0)
    local = nogil.GaussianMixture(**kw).fit(x)
    dist = within(nogil.dask.GaussianMixture(**kw).fit, X)
    assert_same_fit(dist, local)
    assert dist.n_iter_ == 0 and not dist.converged_
    # Given means, the rest from k-means on the distributed rows.
    kw = init_params("kmeans", means_init=given()["means_init"])
    with pytest.warns(ConvergenceWarning):
        local = nogil.GaussianMixture(**kw).fit(x)
    assert_same_fit(within(nogil.dask.GaussianMixture(**kw).fit, X), local)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_the_initialization_never_collects_the_data(client, monkeypatch, init):
    # Everything that reaches the client during the fit: the results of
    # dask.compute (block values, statistics) and the rows gathered.
    x = data(200_000, seed=5)
    X = da.from_array(x, chunks=(30_000, D))
    received, gathered = [], []
    compute = nogil.dask.dask.compute

    def counting_compute(*args, **kw):
        out = compute(*args, **kw)
        received.append(sum(np.asarray(o, dtype=object).nbytes for o in out))
        return out

    gather = nogil.dask._Rows.gather

    def counting_gather(self, rows):
        gathered.append(len(rows))
        return gather(self, rows)

    monkeypatch.setattr(nogil.dask.dask, "compute", counting_compute)
    monkeypatch.setattr(nogil.dask._Rows, "gather", counting_gather)
    local = nogil.GaussianMixture(**init_params(init)).fit(x)
    assert_same_fit(within(nogil.dask.GaussianMixture(**init_params(init)).fit, X), local)
    assert received and gathered
    # A few centres and candidates, never the data (200,000 rows).
    assert sum(gathered) <= 10 * K, gathered
    assert max(received) < x.nbytes / 100, max(received)


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random"])
def test_a_nan_met_by_the_initialization_names_its_chunk(client, init):
    x = data()
    x[9000, 1] = np.nan
    X = da.from_array(x, chunks=(4096, D))
    gm = nogil.dask.GaussianMixture(**init_params(init))
    with pytest.raises(ValueError, match=r"chunk 2 \(rows 8192\.\.12288\).*row 808, column 1"):
        within(gm.fit, X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_worker_killed_during_the_fit_changes_nothing(client):
    x = data()
    local = nogil.GaussianMixture(**params()).fit(x)
    X = da.from_array(x, chunks=(4096, D))
    gm = nogil.dask.GaussianMixture(**params())
    step = gm._step
    killed = []

    def step_then_kill(model, X, n_iter):
        out = step(model, X, n_iter)
        if n_iter == 3:
            # One worker process dies (its persisted chunks with it); its
            # nanny starts another, and Dask recomputes what was lost.
            victim = sorted(client.scheduler_info()["workers"])[0]
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return out

    gm._step = step_then_kill
    within(gm.fit, X)
    assert killed
    assert_same_fit(gm, local)


def test_a_chunk_with_nan_is_a_value_error_naming_it(client):
    x = data()
    x[9000, 1] = np.nan
    X = da.from_array(x, chunks=(4096, D))
    with pytest.raises(ValueError, match=r"chunk 2 \(rows 8192\.\.12288\).*row 808, column 1"):
        within(nogil.dask.GaussianMixture(**params()).fit, X)


def test_a_chunk_that_is_not_numbers_is_a_value_error_naming_it(client):
    x = data(9000).astype(object)
    x[5000, 0] = "five"
    X = da.from_array(x, chunks=(4096, D))
    with pytest.raises(ValueError, match=r"chunk 1 .*float64"):
        within(nogil.dask.GaussianMixture(**params()).fit, X)


def test_predict_on_dask_arrays_is_lazy_and_the_local_answer(client):
    x = data()
    gm = nogil.dask.GaussianMixture(**params()).fit(x)
    X = da.from_array(x, chunks=(3000, D))
    labels, proba, scores = (gm.predict(X), gm.predict_proba(X), gm.score_samples(X))
    for lazy in (labels, proba, scores):
        assert isinstance(lazy, da.Array)
    assert proba.shape == (len(x), K)
    assert np.array_equal(within(labels.compute), gm.predict(x))
    assert np.array_equal(within(proba.compute), gm.predict_proba(x))
    assert np.array_equal(within(scores.compute), gm.score_samples(x))
    with pytest.raises(ValueError, match="features"):
        gm.predict(da.zeros((10, 3), chunks=5))


def test_unknown_chunk_sizes_and_1d_input_are_refused(client):
    X = da.from_array(data(5000), chunks=(1000, D))
    with pytest.raises(ValueError, match="unknown"):
        nogil.dask.GaussianMixture(K).fit(X[X[:, 0] > 0])
    with pytest.raises(ValueError, match="2-D"):
        nogil.dask.GaussianMixture(K).fit(da.zeros(10, chunks=5))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_worker_killed_during_the_seeding_changes_nothing(client, monkeypatch):
    # The seeding's distances live on the workers between its steps: kill
    # one worker after the second step, and Dask recomputes its chunks'
    # distances from their steps' graph.
    x = data()
    kw = init_params("kmeans")
    local = nogil.GaussianMixture(**kw).fit(x)
    X = da.from_array(x, chunks=(4096, D))
    seed = nogil.dask._Rows.seed
    killed = []

    def seed_then_kill(self, update, centres, block):
        out = seed(self, update, centres, block)
        if update != "set" and not killed:
            victim = sorted(client.scheduler_info()["workers"])[0]
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return out

    monkeypatch.setattr(nogil.dask._Rows, "seed", seed_then_kill)
    gm = within(nogil.dask.GaussianMixture(**kw).fit, X)
    assert killed
    assert_same_fit(gm, local)
