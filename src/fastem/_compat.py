"""The private scikit-learn helpers fastem uses, imported in this one place.

``pyproject.toml`` pins scikit-learn to the range these were tested with; a
new scikit-learn that moves them breaks only this module.
"""

from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

__all__ = ["Interval", "StrOptions", "_check_sample_weight"]
