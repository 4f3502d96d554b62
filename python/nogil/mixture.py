"""``nogil.GaussianMixture``: scikit-learn's estimator, fitted by nogil's kernels.

The parameters, defaults, fitted attributes, methods, warnings and verbose
output are scikit-learn's (``sklearn.mixture.GaussianMixture``, whose
``fit_predict`` loop this module follows line for line); each E-step and
M-step is one call into Rust (``nogil._nogil``) that releases the GIL: a
single fused pass over the data computing every component's log-density, the
responsibilities and the M-step's sufficient statistics, on nogil's pinned
thread pool, bit-identical for any thread count and schedule.

What differs from scikit-learn, on purpose:

- ``n_threads`` (default: ``NOGIL_NUM_THREADS``, else every CPU this process
  may use) and ``schedule`` (OpenMP's ``OMP_SCHEDULE`` syntax: ``"static"``,
  ``"static,4"``, ``"dynamic,1"``, ``"guided,8"``);
- data are fitted in float64 (float32 and integer input are converted, as
  ``check_array(dtype=np.float64)`` converts them), so every fitted array is
  float64;
- ``init_params`` runs nogil's own k-means (k-means++ seeding then Lloyd),
  k-means++ and random draws, seeded from ``random_state``: the same kind of
  initialization as scikit-learn's, not the same numbers. Given the same
  initial parameters (``weights_init``, ``means_init``, ``precisions_init``),
  the fit is scikit-learn's to rounding;
- a NaN or infinity in the data is found by the Rust kernels (in parallel, with
  the GIL released) and named by row and column;
- with ``precisions_init`` and ``max_iter=0``, ``covariances_`` holds the
  inverses of the given precisions (scikit-learn leaves it unset).
"""

import math
import warnings
from numbers import Integral, Real
from time import time

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _nogil

_COVARIANCE_SHAPES = {
    "full": lambda k, d: (k, d, d),
    "tied": lambda k, d: (d, d),
    "diag": lambda k, d: (k, d),
    "spherical": lambda k, d: (k,),
}


def _check_shape(param, param_shape, name):
    if param.shape != param_shape:
        raise ValueError(
            "The parameter '%s' should have the shape of %s, but got %s"
            % (name, param_shape, param.shape)
        )


def _check_weights(weights, n_components):
    weights = check_array(weights, dtype=np.float64, ensure_2d=False)
    _check_shape(weights, (n_components,), "weights")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            "%.5f, min value %.5f" % (np.max(weights), np.min(weights))
        )
    if not abs(1.0 - np.sum(weights)) <= 1e-8:
        raise ValueError(
            "The parameter 'weights' should be normalized, but got sum(weights) = %.5f"
            % np.sum(weights)
        )
    return weights


def _check_means(means, n_components, n_features):
    means = check_array(means, dtype=np.float64, ensure_2d=False)
    _check_shape(means, (n_components, n_features), "means")
    return means


def _check_precisions(precisions, covariance_type, n_components, n_features):
    precisions = check_array(
        precisions,
        dtype=np.float64,
        ensure_2d=False,
        allow_nd=covariance_type == "full",
    )
    shape = _COVARIANCE_SHAPES[covariance_type](n_components, n_features)
    _check_shape(precisions, shape, "%s precision" % covariance_type)
    if covariance_type in ("full", "tied"):
        for p in precisions.reshape(-1, n_features, n_features):
            if not (
                np.all(np.isclose(p, p.T)) and np.all(np.linalg.eigvalsh(p) > 0.0)
            ):
                raise ValueError(
                    "'%s precision' should be symmetric, positive-definite"
                    % covariance_type
                )
    elif np.any(precisions <= 0.0):
        raise ValueError("'%s precision' should be positive" % covariance_type)
    return precisions


def _flat(a):
    return np.ascontiguousarray(a, dtype=np.float64).reshape(-1)


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM, a drop-in for scikit-learn's.

    Parameters are scikit-learn's ``sklearn.mixture.GaussianMixture``'s, with
    the same defaults and meaning, plus:

    n_threads : int or None, default=None
        Threads of the nogil pool the kernels run on (the calling thread
        included). None: ``NOGIL_NUM_THREADS``, else every CPU this process
        may use. One pool per thread count is made on first use and kept.
        The fitted parameters are bit-identical for every thread count.

    schedule : str, default="static"
        How each pass's blocks are dealt to the threads, in OpenMP's
        ``OMP_SCHEDULE`` syntax: ``"static"``, ``"static,C"``,
        ``"dynamic[,C]"``, ``"guided[,C]"``.

    Attributes are scikit-learn's: ``weights_``, ``means_``, ``covariances_``,
    ``precisions_``, ``precisions_cholesky_``, ``converged_``, ``n_iter_``,
    ``lower_bound_``, ``lower_bounds_``, ``n_features_in_`` (and
    ``feature_names_in_`` for data frames with string column names).
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [
            StrOptions({"kmeans", "random", "random_from_data", "k-means++"})
        ],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "schedule": [str],
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
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.schedule = schedule

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate model parameters with the EM algorithm.

        Fits ``n_init`` times and keeps the initialization with the largest
        lower bound; each runs at most ``max_iter`` EM iterations, until the
        lower bound changes by less than ``tol`` (else a
        ``ConvergenceWarning``). With ``warm_start``, later calls continue
        from the fitted model. Returns ``self``.
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None):
        """Fit as ``fit`` does, then return the most likely component of each row of X."""
        X = self._fit(X)
        return self._model().predict(X, **self._exec())

    def _exec(self):
        threads = self.n_threads
        if threads is not None and threads >= 2**64:
            # Past what the Rust side can even be handed; the library's own
            # check names its limit for anything smaller.
            raise ValueError(f"n_threads = {threads} is more threads than nogil starts")
        return {"threads": threads, "schedule": self.schedule}

    def _validate_X(self, X, reset):
        if reset:
            X = validate_data(
                self,
                X,
                dtype=np.float64,
                order="C",
                ensure_min_samples=2,
                ensure_all_finite=False,
            )
        else:
            X = validate_data(
                self, X, reset=False, dtype=np.float64, order="C", ensure_all_finite=False
            )
        # check_array keeps a misaligned array (one unpickled from a pickle
        # protocol 5 buffer, as Dask and multiprocessing send them), which
        # the Rust side cannot read as f64: an aligned copy then.
        return np.require(X, requirements=["A"])

    def _fit(self, X):
        X = self._validate_X(X, reset=True)
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {X.shape[0]}"
            )
        given = self._checked_initial_parameters(X.shape[1])

        # With warm_start, one initialization, on the first call only.
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1

        max_lower_bound = -np.inf
        best_lower_bounds = []
        self.converged_ = False
        random_state = check_random_state(self.random_state)

        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            model = self._initialize(X, random_state, given) if do_init else self._model()
            lower_bound = -np.inf if do_init else self.lower_bound_
            current_lower_bounds = []

            if self.max_iter == 0:
                best_model, best_n_iter = model, 0
            else:
                converged = False
                for n_iter in range(1, self.max_iter + 1):
                    prev_lower_bound = lower_bound
                    # The E-step under `model` and the M-step after it, in one
                    # pass with the GIL released; `lower_bound` is the mean
                    # log-likelihood under `model`, as scikit-learn's is.
                    model, lower_bound = self._step(model, X, n_iter)
                    current_lower_bounds.append(lower_bound)
                    change = lower_bound - prev_lower_bound
                    self._print_verbose_msg_iter_end(n_iter, change)
                    if abs(change) < self.tol:
                        converged = True
                        break
                self._print_verbose_msg_init_end(lower_bound, converged)

                if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                    max_lower_bound = lower_bound
                    best_model, best_n_iter = model, n_iter
                    best_lower_bounds = current_lower_bounds
                    self.converged_ = converged

        # As scikit-learn: no warning for max_iter=0, which asks for the
        # initialization alone.
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
            )

        self._set_model(best_model)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_lower_bounds
        return X

    def _step(self, model, X, n_iter):
        """One EM iteration: ``(next_model, lower_bound)`` (nogil.dask overrides it)."""
        return model.step(X, float(self.reg_covar), n_iter, **self._exec())

    def _checked_initial_parameters(self, n_features):
        """weights_init, means_init, precisions_init, checked as scikit-learn checks them."""
        k, t = self.n_components, self.covariance_type
        w = None if self.weights_init is None else _check_weights(self.weights_init, k)
        m = (
            None
            if self.means_init is None
            else _check_means(self.means_init, k, n_features)
        )
        p = (
            None
            if self.precisions_init is None
            else _check_precisions(self.precisions_init, t, k, n_features)
        )
        return w, m, p

    def _initialize(self, X, random_state, given):
        """The model EM starts from (scikit-learn's ``_initialize_parameters``)."""
        w, m, p = given
        # The seed of nogil's random choices, drawn from random_state so that
        # an int gives the same fit every time, None a new one, and a
        # RandomState instance advances.
        seed = int(random_state.randint(0, np.iinfo(np.int64).max, dtype=np.int64))
        common = dict(
            n_components=int(self.n_components),
            covariance_type=self.covariance_type,
            reg_covar=float(self.reg_covar),
            seed=seed,
            **self._exec(),
        )
        if w is None or m is None or p is None:
            base = self._initial_model(X, init=self.init_params, **common)
            if w is None and m is None and p is None:
                return base
            # As scikit-learn: what is not given comes from the
            # responsibilities of the init_params method.
            w = base.weights if w is None else w
            m = base.means if m is None else m
            c = base.covariances if p is None else None
        else:
            c = None
        return self._initial_model(
            X,
            init="given",
            weights=_flat(w),
            means=_flat(m),
            covariances=None if c is None else _flat(c),
            precisions=None if p is None else _flat(p),
            **common,
        )

    def _initial_model(self, X, **kwargs):
        """nogil's initialization on X (``nogil.dask`` overrides it for dask arrays)."""
        return _nogil.initial_model(X, **kwargs)

    # -------------------------------------------------- the fitted model

    def _set_model(self, model):
        self.weights_ = model.weights
        self.means_ = model.means
        self.covariances_ = model.covariances
        self.precisions_cholesky_ = model.precisions_cholesky
        u = self.precisions_cholesky_
        if self.covariance_type == "full":
            self.precisions_ = u @ np.swapaxes(u, 1, 2)
        elif self.covariance_type == "tied":
            self.precisions_ = u @ u.T
        else:
            self.precisions_ = u**2
        self._cache(model)

    def _cache(self, model):
        # The Rust model, with the attribute arrays it was read into, so that
        # attributes assigned by hand are noticed (see _model).
        self._nogil_model = (model,) + self._attributes()

    def _attributes(self):
        return (
            self.weights_,
            self.means_,
            getattr(self, "covariances_", None),
            self.precisions_cholesky_,
        )

    def _model(self):
        """The Rust model the fitted attributes describe."""
        cached = self.__dict__.get("_nogil_model")
        if cached is not None and all(
            a is b for a, b in zip(cached[1:], self._attributes())
        ):
            return cached[0]
        # Attributes assigned by hand: the model scikit-learn's predict would
        # use, from weights_, means_ and precisions_cholesky_ (the
        # covariances are the inverses of the precisions).
        return self._model_from(self._covariances_from_precisions_cholesky())

    def _model_from(self, covariances):
        means = np.asarray(self.means_, dtype=np.float64)
        if means.ndim != 2:
            raise ValueError(f"means_ should be 2-D, got shape {means.shape}")
        return _nogil.model_from_parameters(
            self.covariance_type,
            means.shape[1],
            _flat(self.weights_),
            _flat(means),
            _flat(covariances),
        )

    def _covariances_from_precisions_cholesky(self):
        u = np.asarray(self.precisions_cholesky_, dtype=np.float64)
        if self.covariance_type in ("full", "tied"):
            inv = np.linalg.inv(u)
            c = np.swapaxes(inv, -1, -2) @ inv
            return (c + np.swapaxes(c, -1, -2)) / 2
        return 1.0 / u**2

    def __getstate__(self):
        # A copy: BaseEstimator's may be the instance's own __dict__.
        state = dict(super().__getstate__())
        # The Rust model is not picklable; __setstate__ rebuilds it.
        state.pop("_nogil_model", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "weights_" in state and "covariances_" in state:
            # Exactly the fitted model: fit reads its attributes from a
            # model built from the same parameters by the same arithmetic.
            self._cache(self._model_from(self.covariances_))

    # ------------------------------------------------------------- predict

    def score_samples(self, X):
        """Log-likelihood of each row of X under the model, shape (n_samples,)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._model().score_samples(X, **self._exec())

    def score(self, X, y=None):
        """Mean log-likelihood per row of X under the model."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return float(self._model().score(X, **self._exec()))

    def predict(self, X):
        """The most likely component of each row of X, shape (n_samples,)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._model().predict(X, **self._exec())

    def predict_proba(self, X):
        """Responsibilities of each component for each row, shape (n_samples, n_components)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._model().predict_proba(X, **self._exec())

    def _n_parameters(self):
        _, n_features = self.means_.shape
        k = self.n_components
        cov_params = {
            "full": k * n_features * (n_features + 1) / 2.0,
            "diag": k * n_features,
            "tied": n_features * (n_features + 1) / 2.0,
            "spherical": k,
        }[self.covariance_type]
        return int(cov_params + n_features * k + k - 1)

    def bic(self, X):
        """Bayesian information criterion of the model on X (lower is better)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        n = X.shape[0]
        score = float(self._model().score(X, **self._exec()))
        return -2 * score * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion of the model on X (lower is better)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        n = X.shape[0]
        score = float(self._model().score(X, **self._exec()))
        return -2 * score * n + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw n_samples points from the mixture: ``(X, labels)``.

        scikit-learn's algorithm and random stream (numpy, from
        ``random_state``), so the same parameters and random_state give the
        same points as scikit-learn's ``sample``.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %r . The sampling requires at "
                "least one sample." % (n_samples,)
            )
        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        n_samples_comp = rng.multinomial(n_samples, self.weights_)
        if self.covariance_type == "full":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, covariance, int(sample))
                    for (mean, covariance, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
                    )
                ]
            )
        elif self.covariance_type == "tied":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, self.covariances_, int(sample))
                    for (mean, sample) in zip(self.means_, n_samples_comp)
                ]
            )
        else:
            X = np.vstack(
                [
                    mean
                    + rng.standard_normal(size=(sample, n_features))
                    * np.sqrt(covariance)
                    for (mean, covariance, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
                    )
                ]
            )
        y = np.concatenate(
            [np.full(int(c), i, dtype=np.int64) for i, c in enumerate(n_samples_comp)]
        )
        return X, y

    # ------------------------------------------------- verbose, as sklearn

    def _print_verbose_msg_init_beg(self, n_init):
        if self.verbose == 1:
            print("Initialization %d" % n_init)
        elif self.verbose >= 2:
            print("Initialization %d" % n_init)
            self._init_prev_time = time()
            self._iter_prev_time = self._init_prev_time

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print("  Iteration %d" % n_iter)
            elif self.verbose >= 2:
                cur_time = time()
                print(
                    "  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                    % (n_iter, cur_time - self._iter_prev_time, diff_ll)
                )
                self._iter_prev_time = cur_time

    def _print_verbose_msg_init_end(self, lb, init_has_converged):
        converged_msg = "converged" if init_has_converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {converged_msg}.")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(
                f"Initialization {converged_msg}. time lapse {t:.5f}s\t lower bound"
                f" {lb:.5f}."
            )
