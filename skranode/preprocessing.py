"""Invertible feature transforms with log-Jacobians, so densities stay in original units."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from skranode.utils._fitting import fit_all_or_nothing

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from typing_extensions import Self

__all__ = ["LogitScaler"]

_OUT_OF_RANGE = ("clip", "nan", "error")


class LogitScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Min-max scale each feature into (0, 1), then apply the logit.

    The interval used for the min-max step is the fitted range widened by
    ``margin`` times its width on each side, so that the training events map to
    finite values away from the logit's poles. :meth:`log_abs_det_jacobian`
    gives ``log |det dy/dx|`` per event, which a density learned on the
    transformed features needs to be reported in the original units:
    ``log p_x(x) = log p_y(y(x)) + log |det dy/dx|``.

    Parameters
    ----------
    margin : float, default=0.02
        Fraction of the fitted range added on each side before the logit.
    out_of_range : {'clip', 'nan', 'error'}, default='clip'
        What happens to a value outside the widened range at transform time. The
        event is never dropped: ``'clip'`` moves every value beyond half of the
        margin onto that point, half-way between the fitted range and the edge
        of the widened one (so its transformed value and density stay those of
        an event just outside the training range: about 4.6 in logit units for
        the default margin, never the logit's pole, where a value clipped onto
        the very edge would get a log-density some 36 nats per feature too
        large), ``'nan'``
        returns NaN for it, ``'error'`` raises a ValueError naming how many events
        are outside.

    Attributes
    ----------
    data_min_ : ndarray of shape (n_features,)
        Smallest training value of each feature.
    data_max_ : ndarray of shape (n_features,)
        Largest training value of each feature.
    lower_ : ndarray of shape (n_features,)
        Lower edge of the widened range.
    width_ : ndarray of shape (n_features,)
        Width of the widened range.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen in :meth:`fit` when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode import LogitScaler
    >>> X = np.array([[0.0], [0.5], [1.0]])
    >>> LogitScaler(margin=0.25).fit_transform(X).round(3).ravel()
    array([-1.099,  0.   ,  1.099])
    """

    def __init__(self, margin=0.02, out_of_range="clip"):
        self.margin = margin
        self.out_of_range = out_of_range

    def _check_params(self):
        if not np.isscalar(self.margin) or not 0.0 < float(self.margin) < 10.0:
            raise ValueError(f"margin must be a positive number below 10; got {self.margin!r}.")
        if self.out_of_range not in _OUT_OF_RANGE:
            raise ValueError(
                f"out_of_range must be one of {_OUT_OF_RANGE}; got {self.out_of_range!r}."
            )

    @fit_all_or_nothing
    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn the range of each feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; must be finite.
        y : None
            Ignored.

        Returns
        -------
        self : LogitScaler
        """
        self._check_params()
        X = validate_data(self, X, dtype=np.float64)
        self.data_min_ = X.min(axis=0)
        self.data_max_ = X.max(axis=0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            span = self.data_max_ - self.data_min_
            lower = self.data_min_ - self.margin * span
            width = span * (1.0 + 2.0 * self.margin)
            # a constant feature, or one whose spread is lost in the rounding of its
            # values (the training events would fall on the edges), still gets an
            # interval of finite width
            inside = ((self.data_min_ - lower) / width > 0) & ((self.data_max_ - lower) / width < 1)
            flat = np.isfinite(width) & ~inside
            span = np.where(flat, np.maximum(np.abs(self.data_max_), 1.0), span)
            self.lower_ = self.data_min_ - self.margin * span
            self.width_ = span * (1.0 + 2.0 * self.margin)
            bad = ~(np.isfinite(self.lower_) & np.isfinite(self.lower_ + self.width_))
        if bad.any():
            raise ValueError(
                f"The range of feature(s) {np.flatnonzero(bad).tolist()} (widened by margin) "
                "overflows float64; rescale those features before fitting."
            )
        return self

    def _unit(self, X):
        u = (X - self.lower_) / self.width_
        outside = (u <= 0.0) | (u >= 1.0)
        if outside.any():
            n_out = int(outside.any(axis=1).sum())
            if self.out_of_range == "error":
                raise ValueError(
                    f"{n_out} event(s) lie outside the range fitted by LogitScaler "
                    "(widened by margin); refit on data covering them, raise margin, or "
                    "use out_of_range='clip'."
                )
            if self.out_of_range != "clip":
                u = np.where(outside, np.nan, u)
        if self.out_of_range == "clip":
            # half-way into the margin: the training values start at
            # margin / (1 + 2 margin) and are never moved
            inner = 0.5 * float(self.margin) / (1.0 + 2.0 * float(self.margin))
            u = np.clip(u, inner, 1.0 - inner)
        return u

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Scale into (0, 1) and apply the logit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data; must be finite.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_features)
            A new array.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        u = self._unit(X)
        return np.log(u) - np.log1p(-u)

    def inverse_transform(self, X: ArrayLike) -> np.ndarray:
        """Map logit values back to the original units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Transformed data.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        u = 0.5 * (1.0 + np.tanh(0.5 * X))  # the logistic function, stable for large |X|
        return self.lower_ + self.width_ * u

    def log_abs_det_jacobian(self, X: ArrayLike) -> np.ndarray:
        """``log |det dy/dx|`` of :meth:`transform` at each event.

        The transform acts on each feature separately, so this is
        ``sum_j [-log(width_j) - log(u_j) - log(1 - u_j)]`` with ``u`` the min-max
        scaled value.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the original units.

        Returns
        -------
        log_det : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        u = self._unit(X)
        return np.sum(-np.log(self.width_) - np.log(u) - np.log1p(-u), axis=1)
