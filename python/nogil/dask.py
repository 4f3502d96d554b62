"""``nogil.dask.GaussianMixture``: the same estimator, fitted on a Dask array.

Each EM iteration is one map over the row chunks, on the workers (each
chunk's sufficient statistics computed by nogil with the GIL released), and
one tree reduction of the statistics; the M-step runs on the client. The
data never go to the client; per iteration, each chunk sends its blocks'
statistics combined into the complete subtrees of the pass's fixed tree it
holds (a few nodes of ``K·(1 + d + d(d+1)/2) + 1`` numbers each), and each
reduction node sends the same.

**Same answer as one machine.** A local pass splits the ``n`` rows into
blocks of ``B = pass_block(n)`` rows and merges the blocks' statistics in a
fixed pairwise tree. ``fit`` rechunks the rows (on the workers) so that every
chunk boundary falls on a block boundary, each chunk computes the statistics
of its whole blocks and merges the complete subtrees it holds, and the
reduction merges the subtrees in exactly the local tree's order. So the fit
is bit for bit the local fit of the same rows, for any input chunking and
any number of workers, provided that

- the initial model is the same: ``init_params`` (k-means, k-means++,
  random_from_data, random) run on the distributed rows, in the same blocks
  and with the same draws from ``random_state`` as the local fit (nogil's
  initialization driver runs on the client and asks the workers for each
  pass's block values, merged in the same tree), so they start from the
  local fit's model; given ``weights_init``, ``means_init`` and
  ``precisions_init`` it is too; and
- every worker and the local fit run the same SIMD path (AVX-512 sums 8
  lanes, AVX2 and portable 4): ``nogil.build_info()`` tells it, and
  ``NOGIL_SIMD`` picks one.

**Memory.** With ``persist=True`` (the default) the block-aligned array is
persisted on the workers for the fit: each worker holds its share of the
data (float64, ``8·n·d`` bytes in all) plus, while a chunk runs, nogil's
pass over it (a few hundred KiB) and the chunk's statistics. k-means and
k-means++ seeding keep each row's distance to its nearest chosen centre on
the workers while they run (``8·n`` bytes in all, twice that while a step
replaces the last one). With ``persist=False`` nothing is kept and each
iteration recomputes the chunks from their graph (e.g. ``dask.array.random``),
for data larger than the cluster's memory. Only statistics, a few rows (the
chosen centres) and one distance sum per block reach the client.

**Faults.** A worker lost during a fit loses nothing: Dask recomputes its
chunks and reruns their tasks, and the statistics are those of the same rows
(the fit's answer is unchanged). A chunk with NaN or infinity, or one whose
dtype cannot be converted to float64, ends the fit with a ``ValueError``
naming the chunk and its rows.
"""

import math
import operator

import numpy as np

from . import _nogil
from .mixture import GaussianMixture as _LocalGaussianMixture

try:
    import dask
    import dask.array as da
except ImportError as e:  # pragma: no cover - the extra is missing
    raise ImportError(
        'nogil.dask needs dask and distributed: pip install "nogil[dask]"'
    ) from e


def _levels(m):
    """Node counts of the fixed tree over ``m`` leaves, level by level."""
    counts = [m]
    while counts[-1] > 1:
        counts.append(math.ceil(counts[-1] / 2))
    return counts


def _combine(nodes, m):
    """Merges sibling nodes of the fixed tree over ``m`` leaves, in its order.

    ``nodes`` maps ``(level, i)`` to statistics; node ``i`` of level ``l + 1``
    is node ``2i`` of level ``l`` plus node ``2i + 1`` (left + right,
    elementwise, as the library's tree adds them), or node ``2i`` itself when
    it is level ``l``'s odd last one. A node is merged only with its sibling,
    so whatever pieces of the tree come together, the sums have the bits of
    the library's.
    """
    counts = _levels(m)
    work = sorted(nodes)
    while work:
        level, i = work.pop(0)
        if (level, i) not in nodes or counts[level] == 1:
            continue
        parent = (level + 1, i // 2)
        if i % 2 == 0 and i == counts[level] - 1:
            nodes[parent] = nodes.pop((level, i))
        elif i % 2 == 0 and (level, i + 1) in nodes:
            nodes[parent] = nodes.pop((level, i)) + nodes.pop((level, i + 1))
        elif i % 2 == 1 and (level, i - 1) in nodes:
            nodes[parent] = nodes.pop((level, i - 1)) + nodes.pop((level, i))
        else:
            continue
        work.append(parent)
        work.sort()
    return nodes


def _merge(m, *parts):
    """The nodes of adjacent ``parts`` together, siblings merged: the same
    sums however the parts are grouped, since ``_combine`` merges by place
    in the fixed tree."""
    nodes = {}
    for p in parts:
        nodes.update(p)
    return _combine(nodes, m)


# Nodes one reduction task merges: each level of tasks costs the scheduler
# a round of transfers, so a wide tree (depth log₈ of the chunks) is cheaper
# than a pairwise one; a task holds at most this many nodes' statistics.
_FAN_IN = 8


def _rebuild(spec):
    kind, args = spec
    if kind == "parameters":
        t, d, *arrays = args
        return _nogil.model_from_parameters(t, d, *map(_own, arrays))
    x, kwargs = args
    return _nogil.initial_model(_own(x), **kwargs)


def _named(x, first_row, index, run):
    """``run(x)`` on a chunk converted to float64, its errors naming the chunk."""
    rows = f"chunk {index} (rows {first_row}..{first_row + len(x)})"
    try:
        x = _own(x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{rows}: cannot be converted to float64: {e}") from None
    try:
        return run(x)
    except ValueError as e:
        raise ValueError(f"{rows}: {e} (row numbers within the chunk)") from None


def _leaves(values, first_row, block, m):
    """One chunk's blocks' values, merged into the subtrees it holds."""
    first = first_row // block
    return _combine({(0, first + j): values[j] for j in range(len(values))}, m)


def _chunk_nodes(x, spec, block, first_row, n, m, index, threads, schedule):
    """The statistics of one chunk's blocks, merged into the subtrees it holds."""
    stats = _named(
        x,
        first_row,
        index,
        lambda x: _rebuild(spec).summarize_blocks(x, block, threads, schedule),
    )
    return _leaves(stats, first_row, block, m)


def _pass_nodes(x, spec, block, first_row, m, index, threads, schedule):
    """One chunk's blocks' values of an initialization pass, merged likewise."""
    kind, values, second, seed = spec
    spec = (kind, _own(values), second, seed)
    values = _named(
        x,
        first_row,
        index,
        lambda x: _nogil.run_block_pass(x, first_row, block, spec, threads, schedule),
    )
    return _leaves(values, first_row, block, m)


def _seed_chunk(x, closest, block, update, centres, first_row, index, threads, schedule):
    """One k-means++ step on a chunk: ``(closest, blocks' values)``."""
    closest = None if closest is None else _own(closest)
    centres = _own(centres)
    return _named(
        x,
        first_row,
        index,
        lambda x: _nogil.run_seed_step(
            x, closest, block, update, centres, threads, schedule
        ),
    )


def _seed_scan(x, closest, lo, hi, pending, acc, target):
    """The sampling's look at rows ``lo..hi`` of a chunk (``closest`` unchanged)."""
    pending = None if pending is None else _own(pending)
    return _nogil.run_seed_scan(_own(x[lo:hi]), _own(closest[lo:hi]), pending, acc, target)


def _reduce_tree(parts, m):
    """The root of the fixed tree over ``m`` blocks from the chunks' ``parts``
    (delayed node maps), merged ``_FAN_IN`` at a time on the workers."""
    while len(parts) > 1:
        parts = [
            dask.delayed(_merge, pure=False)(m, *parts[j : j + _FAN_IN])
            if j + 1 < len(parts)
            else parts[j]
            for j in range(0, len(parts), _FAN_IN)
        ]
    (nodes,) = dask.compute(parts[0])
    (root,) = nodes.values()
    return root


class _Rows:
    """The rows of a block-aligned dask array as nogil's initialization reads
    them (the library's ``ChunkedRows``): each method is one round of tasks
    on the workers, called by the driver in ``_nogil.initial_model``.

    The seeding's distances (one per row) stay on the workers, persisted
    chunk by chunk from one step to the next; a scan reads a copy.
    """

    def __init__(self, X, block, offsets, ex):
        self.X = X
        self.shape = X.shape
        self.block = block
        self.offsets = offsets
        self.m = math.ceil(X.shape[0] / block)
        self.chunks = list(X.to_delayed().ravel())
        self.ex = ex
        self.closest = None

    def gather(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)
        got = _own(self.X[unique].compute())
        return _own(got[inverse]).reshape(-1)

    def reduce(self, spec, block):
        self._check(block)
        ex = self.ex
        parts = [
            dask.delayed(_pass_nodes, pure=False)(
                chunk, spec, block, int(o), self.m, i, ex["threads"], ex["schedule"]
            )
            for i, (chunk, o) in enumerate(zip(self.chunks, self.offsets))
        ]
        return _own(_reduce_tree(parts, self.m))

    def seed(self, update, centres, block):
        self._check(block)
        ex = self.ex
        before = [None] * len(self.chunks) if update == "set" else self.closest
        steps = [
            dask.delayed(_seed_chunk, pure=False)(
                chunk, c, block, update, centres, int(o), i, ex["threads"], ex["schedule"]
            )
            for i, (chunk, c, o) in enumerate(zip(self.chunks, before, self.offsets))
        ]
        steps = dask.persist(*steps)
        self.closest = [dask.delayed(operator.getitem)(s, 0) for s in steps]
        values = dask.compute(*[dask.delayed(operator.getitem)(s, 1) for s in steps])
        return _own(np.concatenate(values)).reshape(-1)

    def scan(self, b, pending, acc, target, block):
        self._check(block)
        first = b * block
        i = int(np.searchsorted(self.offsets, first, side="right")) - 1
        lo = first - int(self.offsets[i])
        task = dask.delayed(_seed_scan, pure=False)(
            self.chunks[i], self.closest[i], lo, lo + block, pending, acc, target
        )
        (hit, acc) = dask.compute(task)[0]
        return hit, acc

    def _check(self, block):
        if block != self.block:
            raise RuntimeError(
                f"nogil internal error: a pass in blocks of {block} rows over "
                f"chunks aligned to {self.block}"
            )


class GaussianMixture(_LocalGaussianMixture):
    """``nogil.GaussianMixture`` whose ``fit`` takes a ``dask.array.Array``.

    Parameters and fitted attributes are ``nogil.GaussianMixture``'s, plus:

    persist : bool, default=True
        Keep the (block-aligned) data on the workers during the fit; False
        recomputes the chunks every iteration.

    ``fit`` on a numpy array is the local fit. ``predict``, ``predict_proba``
    and ``score_samples`` of a dask array return dask arrays, lazily.
    """

    _parameter_constraints: dict = {
        **_LocalGaussianMixture._parameter_constraints,
        "persist": ["boolean"],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        schedule="static",
        persist=True,
    ):
        super().__init__(
            n_components,
            covariance_type=covariance_type,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            weights_init=weights_init,
            means_init=means_init,
            precisions_init=precisions_init,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
            n_threads=n_threads,
            schedule=schedule,
        )
        self.persist = persist

    # ------------------------------------------------------------- data

    def _validate_X(self, X, reset):
        if not isinstance(X, da.Array):
            return super()._validate_X(X, reset)
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D dask array, got {X.ndim}-D")
        n, d = X.shape
        if any(math.isnan(c) for c in X.chunks[0]):
            raise ValueError(
                "the dask array's chunk sizes are unknown: call "
                "X.compute_chunk_sizes() first"
            )
        if reset:
            if n < 2:
                raise ValueError(
                    f"Found array with {n} sample(s) while a minimum of 2 is required."
                )
            if d == 0:
                raise ValueError("Found array with 0 feature(s)")
            self.n_features_in_ = d
        elif d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _aligned(self, X):
        """X with one column chunk and every row-chunk boundary on a block boundary."""
        n, d = X.shape
        k = int(self.n_components)
        probe = _nogil.model_from_parameters(
            self.covariance_type,
            d,
            np.full(k, 1.0 / k),
            np.zeros(k * d),
            _flat_identity(self.covariance_type, k, d),
        )
        block = probe.pass_block(n)
        rows = X.chunks[0]
        bounds = np.cumsum(rows)[:-1]
        if len(X.chunks[1]) != 1 or np.any(bounds % block):
            typical = int(np.median(rows))
            size = block * max(1, round(typical / block))
            X = X.rechunk({0: size, 1: -1})
        return X, block

    # -------------------------------------------------------------- fit

    def _fit(self, X):
        if not isinstance(X, da.Array):
            self._dask = None
            return super()._fit(X)
        X = self._validate_X(X, reset=True)
        X, block = self._aligned(X)
        if self.persist:
            X = X.persist()
        n = X.shape[0]
        offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int)
        self._dask = (X, block, offsets, n, {})
        try:
            super()._fit(X)
        finally:
            self._dask = None
        return X

    def _step(self, model, X, n_iter):
        if self._dask is None:
            return super()._step(model, X, n_iter)
        X, block, offsets, n, specs = self._dask
        m = math.ceil(n / block)
        spec = specs.get(id(model), (None, None))[1]
        if spec is None:
            spec = (
                "parameters",
                (
                    model.covariance_type,
                    model.n_features,
                    _flat(model.weights),
                    _flat(model.means),
                    _flat(model.covariances),
                ),
            )
        ex = self._exec()
        parts = [
            dask.delayed(_chunk_nodes, pure=False)(
                chunk, spec, block, int(o), n, m, i, ex["threads"], ex["schedule"]
            )
            for i, (chunk, o) in enumerate(zip(X.to_delayed().ravel(), offsets))
        ]
        root = _reduce_tree(parts, m)
        if not np.isfinite(root[-1]):
            raise ValueError(
                f"the log-likelihood is not finite at iteration {n_iter}"
            )
        nxt = model.next_from_stats(_own(root), n, float(self.reg_covar))
        return nxt, float(root[-1]) / n

    def _initial_model(self, X, **kwargs):
        if not isinstance(X, da.Array):
            return super()._initial_model(X, **kwargs)
        X, block, offsets, n, specs = self._dask
        if kwargs["init"] != "given":
            return _nogil.initial_model(_Rows(X, block, offsets, self._exec()), **kwargs)
        # Complete parameters (all the estimator passes as "given") use no
        # data: a few rows satisfy the library's checks, so the model is the
        # local fit's exactly; the workers rebuild it the same way.
        rows = _own(X[: max(int(self.n_components), 2)].compute())
        model = _nogil.initial_model(rows, **kwargs)
        rebuild = {k: v for k, v in kwargs.items() if k not in ("threads", "schedule")}
        specs[id(model)] = (model, ("initial", (rows, rebuild)))
        return model

    def fit_predict(self, X, y=None):
        """Fit as ``fit`` does, then the labels of X (a dask array for a dask array)."""
        if isinstance(X, da.Array):
            return self.fit(X).predict(X)
        return super().fit_predict(X, y)

    # ---------------------------------------------------------- predict

    def _params_spec(self):
        model = self._model()
        return (
            "parameters",
            (
                model.covariance_type,
                model.n_features,
                _flat(model.weights),
                _flat(model.means),
                _flat(model.covariances),
            ),
        )

    def _lazy(self, X, method, width):
        spec = self._params_spec()
        ex = self._exec()
        X = X.rechunk({1: -1})

        def run(chunk):
            x = _own(chunk)
            return getattr(_rebuild(spec), method)(x, ex["threads"], ex["schedule"])

        if width is None:
            dtype = np.int64 if method == "predict" else np.float64
            return X.map_blocks(run, drop_axis=1, dtype=dtype)
        return X.map_blocks(run, chunks=(X.chunks[0], (width,)), dtype=np.float64)

    def predict(self, X):
        """Labels of each row; a dask array for a dask array, lazily."""
        if isinstance(X, da.Array):
            self._check_dask_input(X)
            return self._lazy(X, "predict", None)
        return super().predict(X)

    def predict_proba(self, X):
        """Responsibilities; a dask array for a dask array, lazily."""
        if isinstance(X, da.Array):
            self._check_dask_input(X)
            return self._lazy(X, "predict_proba", int(self.n_components))
        return super().predict_proba(X)

    def score_samples(self, X):
        """ln p(x) of each row; a dask array for a dask array, lazily."""
        if isinstance(X, da.Array):
            self._check_dask_input(X)
            return self._lazy(X, "score_samples", None)
        return super().score_samples(X)

    def _check_dask_input(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        self._validate_X(X, reset=False)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_dask", None)
        return state


def _own(x):
    """x as C-contiguous, aligned float64: arrays that crossed the wire (pickle
    protocol 5 buffers) may be misaligned, which the Rust side refuses."""
    return np.require(x, dtype=np.float64, requirements=["C", "A"])


def _flat(a):
    return np.ascontiguousarray(a, dtype=np.float64).reshape(-1)


def _flat_identity(covariance_type, k, d):
    if covariance_type == "full":
        return np.tile(np.eye(d), (k, 1, 1)).reshape(-1)
    if covariance_type == "tied":
        return np.eye(d).reshape(-1)
    if covariance_type == "diag":
        return np.ones(k * d)
    return np.ones(k)
