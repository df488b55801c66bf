"""Random rows drawn from a fitted mixture (``sample``)."""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted


class SamplingMixin:
    """``sample`` of :class:`fastem._mixture.Mixture`, drawing as scikit-learn does."""

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
        return self._draw(n_samples)

    def _sampling_family(self, params):
        """The family that draws the rows of :meth:`sample`."""
        return self._make_family(params.means.shape[1], np.asarray(self.means_).dtype)

    def _draw(self, n_samples):
        """``(rows, labels)`` drawn from the fitted model as the family encodes them."""
        check_is_fitted(self, self._attributes_for_fitted)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        params = self._params_from_attributes()
        # Initial weights (max_iter=0) are scikit-learn's (N_k + 10 eps) / N: they can
        # exceed 1 by round-off, which the multinomial refuses.
        weights = np.minimum(params.weights, 1.0)
        if weights[:-1].sum() > 1.0 + 1e-12:  # (numpy's own tolerance)
            weights = weights / weights.sum()
        params.weights = weights
        family = self._sampling_family(params)
        rng = check_random_state(self.random_state)
        return family.sample(params, n_samples, rng)
