"""Mixture: the estimator base shared by every family.

It holds the parameters every mixture shares and the hooks a family estimator
provides, and combines the mixins that do the work: input validation
(``_inputs``), the fit (``_fitting``; ``n_init`` restarts together in
``_restarts``; online EM in ``_online``), ``predict*``/``score*``/``bic``/``aic``
(``_prediction``), ``sample`` (``_sampling``) and scikit-learn's verbose output
(``_verbose``). The numerics are reached only through the family contract
(``fastem.families.Family``), the initialisation (``fastem._init``) and the
drivers. See ``docs/architecture.md``.
"""

from abc import abstractmethod
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin

from . import _io
from ._compat import Interval, StrOptions
from ._fitting import FitMixin
from ._init import initial_stats
from ._inputs import InputMixin
from ._moments import data_moments
from ._online import OnlineEMMixin
from ._prediction import PredictionMixin
from ._restarts import RestartsMixin
from ._sampling import SamplingMixin
from ._verbose import VerboseMixin


class Mixture(
    FitMixin,
    RestartsMixin,
    InputMixin,
    PredictionMixin,
    SamplingMixin,
    OnlineEMMixin,
    VerboseMixin,
    DensityMixin,
    BaseEstimator,
):
    """Base class of fastem's mixtures; not for direct use.

    Subclasses keep an explicit ``__init__`` signature (scikit-learn's
    ``get_params`` reads it) that passes the shared parameters to this one,
    and provide the hooks below.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "progress": ["boolean"],
        "callback": [callable, None],
    }

    def __init__(
        self,
        n_components,
        *,
        tol,
        max_iter,
        n_init,
        init_params,
        weights_init,
        means_init,
        random_state,
        warm_start,
        verbose,
        verbose_interval,
        n_jobs,
        chunk_size,
        decay,
        progress,
        callback,
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.decay = decay
        self.progress = progress
        self.callback = callback

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _io.register_estimator(cls)

    # -- hooks a family estimator provides -------------------------------------------
    #: The family class (``fastem.families.Family``) of this estimator.
    _family_class = None

    #: Whether the ``n_init`` restarts initialise in shared passes
    #: (:func:`fastem._multi_init.initial_stats_many`, for estimators whose
    #: :meth:`_initial_stats` is the shared one); False initialises them one
    #: after the other with the estimator's own :meth:`_initial_params`.
    _shared_initialisation: ClassVar[bool] = True

    #: Whether NaN in the data means a missing value (marginalised, missing at random)
    #: instead of an error: validation, chunk checks and the ``allow_nan`` tag follow it.
    _allow_nan: ClassVar[bool] = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        return tags

    @abstractmethod
    def _make_family(self, n_features, dtype=np.float64, shift=None, missing=None):
        """The family object for ``n_features`` columns of ``dtype``, around ``shift``.

        ``missing``: whether the rows hold NaN where a pass over them has told
        (None: the family looks at each chunk); families without missing values
        ignore it.
        """

    @abstractmethod
    def _reg(self):
        """The regularisation handed to the family's M-step."""

    @abstractmethod
    def _check_init_parameters(self, n_features, dtype):
        """Validate user-given initial parameters (``weights_init`` and friends)."""

    @abstractmethod
    def _initial_params(self, family, source, random_state):
        """Initial parameters of one initialisation (see :meth:`_initial_stats`)."""

    @abstractmethod
    def _params_to_attributes(self, params, dtype):
        """Set the fitted attributes from family parameters."""

    @abstractmethod
    def _params_from_attributes(self):
        """Family parameters from the fitted attributes (users may set them)."""

    _attributes_for_fitted = ("weights_", "means_")

    def _set_fitted_params(self, params, dtype):
        """:meth:`_params_to_attributes`, refusing parameters that ``dtype`` cannot hold.

        A float32 fit keeps float32 attributes; float64 parameters beyond its
        range (a variance below about 1e-38 makes an infinite precision) would
        be inf or NaN there. That is a ``ValueError``, never a model with
        non-finite attributes (the fit's transaction then restores the
        estimator).
        """
        weights = np.asarray(params.weights, dtype=np.float64)
        if np.any(weights > 1.0):
            # Initial weights (max_iter=0) are scikit-learn's (N_k + 10 eps) / N; with
            # tiny sample weights the eps dominates. Probabilities, whatever the start.
            params.weights = weights / weights.sum()
        with np.errstate(over="ignore", invalid="ignore"):
            self._params_to_attributes(params, dtype)
        bad = [
            name
            for name, value in vars(self).items()
            if name.endswith("_")
            and not name.startswith("_")
            and isinstance(value, np.ndarray)
            and value.dtype.kind == "f"
            and not np.all(np.isfinite(value))
        ]
        if bad:
            raise ValueError(
                f"The fitted parameters do not fit in {np.dtype(dtype)}: {', '.join(bad)} "
                f"would hold infinity or NaN (a variance below what {np.dtype(dtype)} "
                "resolves makes an infinite precision). Fit float64 data, or regularise "
                "more (e.g. a larger reg_covar)."
            )

    def _initial_stats(self, family, source, random_state):
        """Statistics of the initial responsibilities chosen by ``init_params``."""
        return initial_stats(family, source, self.init_params, random_state)

    def _fit_family(self, source, missing_known=True):
        """The family for fitting ``source``: centred on the data where it sums around one.

        With ``missing_known``, the pass that found the centre also tells the
        family whether the rows hold NaN, so complete data is never looked at
        again; without it (online EM: more batches to come) it looks at each chunk.
        """
        shift = None
        if self._family_class.uses_shift:
            family = self._make_family(source.n_features, source.dtype)
            try:
                shift = data_moments(source, family.column_moments)[0]
            except ValueError as exc:
                # Every row was checked finite (and within LARGEST_VALUE) already, so
                # non-finite moments can only come from sums that overflow.
                if type(exc) is not ValueError or "NaN or infinity" not in str(exc):
                    raise  # a chunk's own error (ChunkError) or another problem
                raise ValueError(
                    "The column moments of the data overflow float64 although every value "
                    "is finite: the (weighted) sums of squared values are too large. Scale "
                    "the data (e.g. divide by its largest magnitude) or the sample weights "
                    "(only their ratios matter), then fit again."
                ) from exc
        missing = getattr(source, "has_missing", None) if missing_known else None
        return self._make_family(source.n_features, source.dtype, shift, missing)

    def save(self, path):
        """Save the mixture to a portable ``.npz`` file; read it back with :func:`fastem.load`.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, written exactly as named.
        """
        _io.save(self, path)
