"""The scoring methods every probabilistic classifier of skranode derives from predict_proba."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["PROBA_EPS", "ProbaScoresMixin"]

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
