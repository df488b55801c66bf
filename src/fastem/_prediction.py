"""Per-row results of a fitted mixture: ``predict*``, ``score*``, ``bic``/``aic``."""

import copy
import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._make_source import adapter_for
from ._threads import kernel_threads
from .kernels.logsumexp import logsumexp_rows, normalise_rows


class PredictionMixin:
    """Predictions and scores of :class:`fastem._mixture.Mixture` (lazy on Dask arrays)."""

    def _weighted_log_prob(self, X):
        params = self._params_from_attributes()
        family = self._make_family(X.shape[1], X.dtype)
        with kernel_threads(self.n_jobs, X.shape[0]):
            log_prob = family.log_prob(X, params)
        with np.errstate(divide="ignore"):
            log_prob += np.log(params.weights)
        return log_prob

    def _posterior_log_prob(self, X):
        """The log-densities that ``predict`` and ``predict_proba`` rank and normalise.

        :meth:`_weighted_log_prob` itself; a family whose rows can be impossible
        under every component overrides it (their posterior is otherwise 0/0).
        """
        return self._weighted_log_prob(X)

    @staticmethod
    def _output_dtype(X):
        """dtype of ``predict_proba``/``score_samples`` for validated rows ``X``."""
        return X.dtype

    def _rowwise(self, X, method, n_columns, dtype):
        """``_<method>`` on validated rows, or lazily per block where an adapter holds ``X``.

        The one place where prediction dispatches on the kind of input: an
        adapter's blocks (Dask) run the public ``method`` of a copy of this
        estimator with one kernel thread each.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        adapter = adapter_for(X)
        if adapter is not None:
            single = copy.copy(self)
            single.n_jobs = 1
            return adapter.map_rows(X, getattr(single, method), n_columns, dtype)
        X = self._validate_X(X, reset=False)
        self._check_values(X)
        return getattr(self, "_" + method)(X)

    def _predict(self, X):
        return self._posterior_log_prob(X).argmax(axis=1)

    def _predict_proba(self, X):
        weighted = self._posterior_log_prob(X)
        with kernel_threads(self.n_jobs, X.shape[0]):
            normalise_rows(weighted)
        return weighted.astype(self._output_dtype(X), copy=False)

    def _score_samples(self, X):
        weighted = self._weighted_log_prob(X)
        with kernel_threads(self.n_jobs, X.shape[0]):
            log_prob = logsumexp_rows(weighted)
        return log_prob.astype(self._output_dtype(X), copy=False)

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data (a Dask array gives a lazy Dask array).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        return self._rowwise(X, "predict", None, np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data (a Dask array gives a lazy Dask array).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; rows sum to 1.
        """
        return self._rowwise(X, "predict_proba", self.n_components, np.float64)

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data (a Dask array gives a lazy Dask array).

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log p(x)`` of every row.
        """
        return self._rowwise(X, "score_samples", None, np.float64)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted mean with ``sample_weight``).

        Without weights this is exactly ``score_samples(X).mean()``, as in
        scikit-learn.

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
        log_prob = self.score_samples(X)
        if sample_weight is None:
            return float(log_prob.mean())
        if not isinstance(log_prob, np.ndarray):  # lazy (Dask): reduce where it lives
            return float((log_prob * sample_weight).sum() / sample_weight.sum())
        return float(np.average(log_prob, weights=np.asarray(sample_weight, dtype=np.float64)))

    def _n_parameters(self):
        check_is_fitted(self, self._attributes_for_fitted)
        return self._make_family(np.shape(self.means_)[1]).n_parameters()

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
        score, n_samples = self._score_and_rows(X)
        return -2 * score * n_samples + self._n_parameters() * math.log(n_samples)

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
        score, n_samples = self._score_and_rows(X)
        return -2 * score * n_samples + 2 * self._n_parameters()

    def _score_and_rows(self, X):
        """``(score(X), number of rows)`` for the information criteria."""
        return self.score(X), np.shape(X)[0]
