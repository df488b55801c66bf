"""Mixture: the estimator base shared by every family.

It owns what scikit-learn users know (validation, ``n_init``, ``warm_start``,
the convergence rule, ``predict*``, ``score*``, ``bic``/``aic``) and reaches the
numerics only through the family contract (``estep_stats``, ``m_step``,
``log_prob``, ``n_parameters``, ``sample``) and the drivers.
"""

import math
import warnings
from abc import abstractmethod
from numbers import Integral, Real
from time import perf_counter

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._drivers import exact_em
from ._sources import ArraySource
from ._threads import kernel_threads


class Mixture(DensityMixin, BaseEstimator):
    """Base class of fastem's mixtures; not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    # -- hooks a family estimator provides -------------------------------------------
    @abstractmethod
    def _make_family(self, n_features):
        """The family object (the contract of ``DESIGN.md``) for this estimator."""

    @abstractmethod
    def _check_init_parameters(self, n_features, dtype):
        """Validate user-given initial parameters (``weights_init`` and friends)."""

    @abstractmethod
    def _initial_params(self, family, source, random_state):
        """Initial parameters of one initialisation."""

    @abstractmethod
    def _params_to_attributes(self, params, dtype):
        """Set the fitted attributes from family parameters."""

    @abstractmethod
    def _params_from_attributes(self):
        """Family parameters from the fitted attributes (users may set them)."""

    _attributes_for_fitted = ("weights_", "means_")

    def _reg(self):
        return getattr(self, "reg_covar", 0.0)

    # -- input handling -----------------------------------------------------------------
    def _validate_X(self, X, reset):
        return validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
            reset=reset,
            order="C",
        )

    @staticmethod
    def _validate_sample_weight(sample_weight, X):
        """Float64 weights, or an empty array meaning 'all ones' (no N-sized copy)."""
        if sample_weight is None:
            return np.empty(0, dtype=np.float64)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must have at least one positive entry; all are 0.")
        return np.ascontiguousarray(sample_weight)

    # -- fitting --------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm.

        The model is fitted ``n_init`` times and the parameters of the
        initialisation with the largest lower bound are kept. Each run iterates
        E- and M-steps until the change of the mean log-likelihood per sample
        is below ``tol`` or ``max_iter`` is reached (a ``ConvergenceWarning``
        then). With ``warm_start``, later calls continue from the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one row per sample.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a row of weight 0 has no effect and an
            integer weight ``m`` acts like ``m`` copies of the row.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model to ``X`` and return the most probable component of each row.

        Equal to ``fit(X).predict(X)``: a final E-step with the retained
        parameters gives the labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        X = self._fit(X, sample_weight)
        return self._predict_validated(X)

    def _fit(self, X, sample_weight):
        self._validate_params()
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, n_samples = {n_samples}"
            )
        sample_weight = self._validate_sample_weight(sample_weight, X)
        if sample_weight.size and np.count_nonzero(sample_weight) < self.n_components:
            raise ValueError(
                f"Expected at least n_components = {self.n_components} samples with "
                f"positive weight, got {np.count_nonzero(sample_weight)}."
            )
        self._check_init_parameters(n_features, X.dtype)
        source = ArraySource(X, sample_weight)
        family = self._make_family(n_features)
        family.dtype = X.dtype

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        best = None
        self.converged_ = False
        with kernel_threads(self.n_jobs):
            family.set_shift(source)
            for init in range(n_init):
                self._verbose_init_begin(init)
                if do_init:
                    params = self._initial_params(family, source, random_state)
                    lower_bound = -np.inf
                else:
                    params = self._params_from_attributes()
                    lower_bound = self.lower_bound_
                if self.max_iter == 0:
                    result = (params, -np.inf, [], 0, False)
                else:
                    params, bounds, n_iter, converged = exact_em(
                        family,
                        source,
                        params,
                        reg=self._reg(),
                        tol=self.tol,
                        max_iter=self.max_iter,
                        lower_bound=lower_bound,
                        on_iteration=self._verbose_iteration,
                    )
                    self._verbose_init_end(bounds[-1], converged)
                    result = (params, bounds[-1], bounds, n_iter, converged)
                if best is None or result[1] > best[1] or best[1] == -np.inf:
                    best = result
        params, lower_bound, bounds, n_iter, converged = best
        self.converged_ = converged
        if not converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._params_to_attributes(params, X.dtype)
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = bounds
        return X

    # -- verbose output, as scikit-learn prints it -------------------------------------
    def _verbose_init_begin(self, init):
        if self.verbose >= 1:
            print(f"Initialization {init}")
            self._init_prev_time = self._iter_prev_time = perf_counter()

    def _verbose_iteration(self, n_iter, change):
        if self.verbose and n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = perf_counter()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - self._iter_prev_time:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self._iter_prev_time = now

    def _verbose_init_end(self, lower_bound, converged):
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            elapsed = perf_counter() - self._init_prev_time
            print(
                f"Initialization {message}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )

    # -- prediction -------------------------------------------------------------------------
    def _weighted_log_prob(self, X):
        params = self._params_from_attributes()
        family = self._make_family(X.shape[1])
        with kernel_threads(self.n_jobs):
            log_prob = family.log_prob(X, params)
        with np.errstate(divide="ignore"):
            log_prob += np.log(params.weights)
        return log_prob

    def _predict_validated(self, X):
        return self._weighted_log_prob(X).argmax(axis=1)

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        X = self._validate_X(X, reset=False)
        return self._predict_validated(X)

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; rows sum to 1.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        X = self._validate_X(X, reset=False)
        weighted = self._weighted_log_prob(X)
        norm = logsumexp(weighted, axis=1)
        with np.errstate(under="ignore"):
            return np.exp(weighted - norm[:, None]).astype(X.dtype, copy=False)

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log p(x)`` of every row.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        X = self._validate_X(X, reset=False)
        return logsumexp(self._weighted_log_prob(X), axis=1).astype(X.dtype, copy=False)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted mean with ``sample_weight``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the mean.

        Returns
        -------
        log_likelihood : float
            Mean log-likelihood of ``X`` under the model.
        """
        log_prob = self.score_samples(X).astype(np.float64)
        if sample_weight is None:
            return float(np.mean(log_prob))
        return float(np.average(log_prob, weights=np.asarray(sample_weight, dtype=float)))

    def _n_parameters(self):
        params = self._params_from_attributes()
        return self._make_family(params.means.shape[1]).n_parameters(params)

    def bic(self, X):
        """Bayesian information criterion of the model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        bic : float
            ``-2 log L + n_parameters * log(n_samples)``.
        """
        n_samples = np.shape(X)[0]
        return -2 * self.score(X) * n_samples + self._n_parameters() * math.log(n_samples)

    def aic(self, X):
        """Akaike information criterion of the model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        aic : float
            ``-2 log L + 2 n_parameters``.
        """
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw random rows from the fitted model.

        Uses ``random_state`` exactly as scikit-learn does, so the same seed
        gives the same rows.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows, grouped by component.
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        params = self._params_from_attributes()
        family = self._make_family(params.means.shape[1])
        rng = check_random_state(self.random_state)
        return family.sample(params, n_samples, rng)
