"""The classifier stage shared by the whole family: an averaged ensemble of classifiers.

Every classifier of :mod:`skranode.classifiers` ends in the same stage: ``n_ensemble``
copies of a base classifier (histogram gradient boosting by default, the
published 64-64-64 MLP, or any scikit-learn classifier) are trained with
class weights on a labelled sample and their predicted probabilities are
averaged. The estimators differ only in where that labelled sample comes from.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data
from tqdm.auto import tqdm

from skranode.classifiers._mlp import TorchMLPClassifier
from skranode.utils._scores import ProbaScoresMixin
from skranode.utils._torch import draw_seed
from skranode.utils._validation import check_numeric_frame, split_features_and_mass

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["make_base_classifier"]


def make_base_classifier(classifier):
    """The unfitted base classifier named by a ``classifier`` parameter.

    Parameters
    ----------
    classifier : {'hgb', 'mlp'} or estimator
        ``'hgb'``: :class:`~sklearn.ensemble.HistGradientBoostingClassifier` with
        learning rate 0.05, up to 500 iterations and early stopping (20 rounds
        without improvement of the loss on a 20 % validation split); fast on a
        CPU. ``'mlp'``: :class:`TorchMLPClassifier` with its defaults, the
        published CATHODE classifier (three hidden layers of 64 units). An
        estimator with ``fit`` and ``predict_proba``: a clone of it.

    Returns
    -------
    estimator : classifier
    """
    if isinstance(classifier, str):
        if classifier == "hgb":
            return HistGradientBoostingClassifier(
                learning_rate=0.05,
                max_iter=500,
                early_stopping=True,
                validation_fraction=0.2,
                n_iter_no_change=20,
            )
        if classifier == "mlp":
            return TorchMLPClassifier()
        raise ValueError(f"Unknown classifier {classifier!r}; use 'hgb', 'mlp' or an estimator.")
    return clone(classifier)


def class_sample_weight(class_weight, codes, classes, sample_weight=None):
    """Per-event weights from ``class_weight`` times ``sample_weight``.

    ``'balanced'`` gives every class the same total weight (computed with the
    sample weights, so that a zero weight is the same as a removed event).

    Returns
    -------
    weight : ndarray of shape (n_samples,) or None
        None when neither class nor sample weights apply.
    """
    if class_weight is None and sample_weight is None:
        return None
    weight = np.ones(codes.shape[0]) if sample_weight is None else np.array(sample_weight)
    if class_weight is None:
        return weight
    if isinstance(class_weight, str):  # 'balanced'
        totals = np.bincount(codes, weights=weight, minlength=classes.size)
        present = totals > 0
        per_class = np.zeros(classes.size)
        per_class[present] = totals.sum() / (present.sum() * totals[present])
        return weight * per_class[codes]
    per_class = np.ones(classes.size)
    known = {c.item() if hasattr(c, "item") else c for c in classes}
    for label, value in class_weight.items():
        if label not in known:
            raise ValueError(
                f"class_weight has the label {label!r}, which is not a class; the classes "
                f"are {list(classes)}."
            )
        per_class[np.flatnonzero(classes == label)[0]] = float(value)
    return weight * per_class[codes]


class ClassifierStage(ProbaScoresMixin, ClassifierMixin, BaseEstimator):
    """Base of the family: fits and averages the ensemble; subclasses make the sample.

    Subclasses have the parameters ``classifier``, ``n_ensemble``,
    ``class_weight``, ``mass_column`` and ``random_state``, set ``classes_`` and
    call :meth:`_fit_ensemble`; they implement :meth:`_scoring_features`.
    """

    _stage_constraints = {
        "classifier": [StrOptions({"hgb", "mlp"}), HasMethods(["fit", "predict_proba"])],
        "n_ensemble": [Interval(numbers.Integral, 1, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "mass_column": [numbers.Integral, None],
        "random_state": ["random_state"],
    }

    def _fit_ensemble(self, training_sets, rng):
        """Fit one base classifier per ``(X, codes, weight)`` from ``training_sets``."""
        members = []
        bar = tqdm(
            training_sets,
            total=self.n_ensemble,
            desc=f"{type(self).__name__} classifiers",
            disable=not getattr(self, "verbose", False),
            leave=False,
        )
        for X, codes, weight in bar:
            clf = make_base_classifier(self.classifier)
            seed = draw_seed(rng)
            if "random_state" in clf.get_params():
                clf.set_params(random_state=seed)
            if weight is None:
                clf.fit(X, codes)
            elif not has_fit_parameter(clf, "sample_weight"):
                raise ValueError(
                    f"The classifier {type(clf).__name__} does not accept sample_weight in "
                    "fit, which the class weights need; use class_weight=None or another "
                    "classifier."
                )
            else:
                clf.fit(X, codes, sample_weight=weight)
            seen = getattr(clf, "classes_", None)
            if seen is not None and len(seen) != self.classes_.size:
                raise ValueError(
                    f"A member of the ensemble saw {len(seen)} of the {self.classes_.size} "
                    "classes; give every class events with a positive weight."
                )
            members.append(clf)
        self.estimators_ = members
        return self

    # ---------------------------------------------------------------- inference
    def _scoring_features(self, X, m):
        """Validated features (in the space the classifiers were trained in)."""
        raise NotImplementedError

    def _drop_mass_column(self, X):
        """Drop column ``mass_column`` of an already validated ``X`` (no copy of the caller's)."""
        if self.mass_column is None:
            return X
        n_cols = X.shape[1]
        col = self.mass_column
        if isinstance(col, bool) or not -n_cols <= col < n_cols:
            raise ValueError(
                f"mass_column={col!r} is not a column of X, which has {n_cols} column(s)."
            )
        if n_cols < 2:
            raise ValueError(
                f"X has {n_cols} feature(s); with mass_column={col} one of them is the mass, "
                "which leaves no feature for the classifier."
            )
        return np.delete(X, col % n_cols, axis=1)

    def _features_without_mass(self, X):
        """Validate ``X`` and drop the mass column when ``mass_column`` is set."""
        if self.mass_column is None:
            check_numeric_frame(X, type(self).__name__)
            return validate_data(self, X, reset=False, dtype=np.float64)
        features, _ = split_features_and_mass(
            self, X, None, reset=False, mass_column=self.mass_column
        )
        return features

    def predict_proba(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Class probabilities averaged over the ensemble.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events, in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; needed only by estimators that say so (latent CATHODE
            without ``mass_column``), ignored otherwise.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            For the binary estimators, column 1 is the signal-like class.
        """
        check_is_fitted(self, "estimators_")
        features = self._scoring_features(X, m)
        proba = np.zeros((features.shape[0], self.classes_.size))
        for clf in self.estimators_:
            proba += clf.predict_proba(features)
        return proba / len(self.estimators_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
