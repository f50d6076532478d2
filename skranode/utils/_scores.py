"""Scoring methods derived from one per-event method, for classifiers and densities."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logit

from skranode.utils._math import weighted_mean

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["PROBA_EPS", "MeanLogLikelihoodMixin", "ProbaScoresMixin"]

#: Clip for probabilities before the logit in ``decision_function``.
PROBA_EPS = 1e-12


class ProbaScoresMixin:
    """``decision_function`` and ``predict`` from ``predict_proba(X, m=None)`` and ``classes_``."""

    def decision_function(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Anomaly score: the log-odds of the averaged probabilities.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events, in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; see :meth:`predict_proba`.

        Returns
        -------
        score : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``logit(p1)`` for two classes (larger is more signal-like); the log
            of each class probability for more.
        """
        proba = np.clip(self.predict_proba(X, m), PROBA_EPS, 1.0 - PROBA_EPS)
        if self.classes_.size == 2:
            return logit(proba[:, 1])
        return np.log(proba)

    def predict(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Most probable class of each event.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events, in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; see :meth:`predict_proba`.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X, m)
        return self.classes_[np.argmax(proba, axis=1)]


class MeanLogLikelihoodMixin:
    """``score``: the weighted mean of a density estimator's per-event log-likelihood.

    The per-event term is :meth:`_log_likelihood`, by default
    ``score_samples``; an estimator whose ``score_samples`` is not its
    likelihood (ANODE's and R-ANODE's ratios) overrides the hook. Put the
    mixin before :class:`~sklearn.base.DensityMixin` among the bases.
    """

    def _log_likelihood(self, X, m):
        return self.score_samples(X, m)

    def score(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> float:
        """Mean log-likelihood of the events under the fitted density (higher is better).

        The criterion by which :class:`~sklearn.model_selection.GridSearchCV`
        compares settings on held-out events (for R-ANODE the mixture
        ``w p_S + (1 - w) p_B`` with ``w = w_``, for ANODE ``p_data``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights of the mean (GridSearchCV passes each test fold's).

        Returns
        -------
        score : float
        """
        return weighted_mean(self._log_likelihood(X, m), sample_weight)
