"""Reference classifiers: supervised, idealized anomaly detector, and CWoLa.

* :class:`SupervisedClassifier` and :class:`IdealAD` are ordinary scikit-learn
  classifiers: ``fit(X, y)`` with ``y`` the labels. They differ in what the
  labels mean (truth signal/background vs data/reference background).
* :class:`CWoLaClassifier` takes the mass instead, ``fit(X, m)``, and derives
  its labels from it (signal region vs sidebands).
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import validate_data

from skranode.classifiers._stage import ClassifierStage, class_sample_weight
from skranode.mass_window import DEFAULT_SIGNAL_REGION, MassWindow
from skranode.utils._fitting import fit_all_or_nothing
from skranode.utils._validation import (
    check_aligned,
    check_event_weights,
    check_numeric_frame,
    split_features_and_mass,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from typing_extensions import Self

__all__ = ["CWoLaClassifier", "IdealAD", "SupervisedClassifier"]


class _LabelledStage(ClassifierStage):
    """The classifier stage trained on labels ``y`` given by the caller."""

    _binary_only = False

    def __init__(
        self,
        classifier="hgb",
        *,
        n_ensemble=5,
        class_weight="balanced",
        mass_column=None,
        random_state=None,
    ):
        self.classifier = classifier
        self.n_ensemble = n_ensemble
        self.class_weight = class_weight
        self.mass_column = mass_column
        self.random_state = random_state

    _parameter_constraints = dict(ClassifierStage._stage_constraints)

    @fit_all_or_nothing
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Train the ensemble on the labelled events.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events (with the mass in column ``mass_column`` when it is set; that
            column is not shown to the classifier).
        y : array-like of shape (n_samples,)
            Labels; see the class description for their meaning.
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights, multiplied with the class weights.

        Returns
        -------
        self
        """
        self._validate_params()
        check_numeric_frame(X, type(self).__name__)
        check_aligned(X, sample_weight, name="sample_weight")
        X, y = validate_data(self, X, y, dtype=np.float64)
        features = self._drop_mass_column(X)
        check_classification_targets(y)
        if self._binary_only:
            y_type = type_of_target(y, input_name="y", raise_unknown=True)
            if y_type != "binary":
                raise ValueError(
                    "Only binary classification is supported: "
                    f"{type(self).__name__} separates two samples. The type of the target "
                    f"is {y_type!r}."
                )
        self.classes_, codes = self._encode_labels(y)
        if self.classes_.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs events of two classes; y holds one class only "
                f"({self.classes_[0]!r})."
            )
        sample_weight = check_event_weights(sample_weight, features.shape[0])
        weight = class_sample_weight(self.class_weight, codes, self.classes_, sample_weight)
        rng = check_random_state(self.random_state)
        return self._fit_ensemble(((features, codes, weight) for _ in range(self.n_ensemble)), rng)

    def _encode_labels(self, y):
        """``(classes_, codes)``: the classes in sorted order and each label's index."""
        encoder = LabelEncoder().fit(y)
        return encoder.classes_, encoder.transform(y)

    def _scoring_features(self, X, m):
        return self._features_without_mass(X)


class SupervisedClassifier(_LabelledStage):
    """Fully supervised baseline: the classifier stage trained on truth labels.

    With ``y = 1`` for signal and ``0`` for background events (from simulation)
    this is the upper bound on what any weakly supervised method can reach with
    the same features and classifier. Any labels work (multiclass included):
    it is a plain scikit-learn classifier.

    Parameters
    ----------
    classifier : {'hgb', 'mlp'} or estimator, default='hgb'
        Base classifier: ``'hgb'`` is a
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` with early
        stopping, ``'mlp'`` the published 64-64-64 :class:`TorchMLPClassifier`;
        any classifier with ``fit`` and ``predict_proba`` is cloned.
    n_ensemble : int, default=5
        Number of classifiers, trained with different seeds, whose predicted
        probabilities are averaged.
    class_weight : 'balanced', dict or None, default='balanced'
        ``'balanced'`` gives each class the same total weight; a dict maps a
        label to its weight; None uses the sample weights only.
    mass_column : int or None, default=None
        Column of ``X`` holding the resonant mass, which the classifier does not
        see (it is dropped); None: every column is a feature.
    random_state : int, RandomState instance or None, default=None
        Seeds the members of the ensemble.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    estimators_ : list of estimators
        The fitted members of the ensemble.
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit` (the mass included).
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    See Also
    --------
    IdealAD : the same stage trained on data vs a true background sample.

    Examples
    --------
    >>> from skranode.classifiers import SupervisedClassifier
    >>> from skranode.datasets import make_lhco_like
    >>> df = make_lhco_like(n_background=3000, n_signal=3000, random_state=0)
    >>> X, y = df[["mjmin", "delta_mj", "tau21_min", "tau21_max"]], df["label"]
    >>> clf = SupervisedClassifier(random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """


class IdealAD(_LabelledStage):
    """Idealized anomaly detector: data vs a true background sample.

    The classifier stage of :class:`CATHODEClassifier` trained against a sample
    of real (simulated) background events in the signal region instead of
    generated ones: the upper bound of CATHODE-like methods, reached with a
    perfect background model.

    The background sample enters through the labels, so that IdealAD is an
    ordinary binary scikit-learn classifier (``clone``, cross-validation and
    pipelines split both samples consistently): stack the data and the
    reference background into one ``X`` and set ``y = 1`` for the data events
    (signal plus background, unlabelled) and ``y = 0`` for the reference
    background events. Other labels work when ``data_label`` names the one
    that marks the data (``data_label='data'`` with ``'data'``/``'reference'``):
    the data class is stated, never guessed from the order of the labels. The
    classes are balanced by ``class_weight='balanced'``.

    Parameters
    ----------
    classifier : {'hgb', 'mlp'} or estimator, default='hgb'
        Base classifier: ``'hgb'`` is a
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` with early
        stopping, ``'mlp'`` the published 64-64-64 :class:`TorchMLPClassifier`;
        any classifier with ``fit`` and ``predict_proba`` is cloned.
    n_ensemble : int, default=5
        Number of classifiers, trained with different seeds, whose predicted
        probabilities are averaged.
    class_weight : 'balanced', dict or None, default='balanced'
        ``'balanced'`` gives both samples the same total weight.
    mass_column : int or None, default=None
        Column of ``X`` holding the resonant mass, which the classifier does not
        see (it is dropped); None: every column is a feature.
    data_label : int, float, str or bool, default=1
        The label of the data events in ``y``; the other label is the
        reference background. A ``y`` without it is refused.
    random_state : int, RandomState instance or None, default=None
        Seeds the members of the ensemble.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels, the reference first: ``classes_[1]`` is
        ``data_label``, the class of :meth:`decision_function` and of
        ``predict_proba(X)[:, 1]``.
    estimators_ : list of estimators
        The fitted members of the ensemble.
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit` (the mass included).
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skranode.classifiers import IdealAD
    >>> from skranode.datasets import make_lhco_like, signal_region_mask
    >>> cols = ["mjmin", "delta_mj", "tau21_min", "tau21_max"]
    >>> data = make_lhco_like(n_background=20000, n_signal=300, random_state=0)
    >>> ref = make_lhco_like(n_background=20000, n_signal=0, random_state=1)
    >>> data = data[signal_region_mask(data["mjj"])]
    >>> ref = ref[signal_region_mask(ref["mjj"])]
    >>> X = pd.concat([data[cols], ref[cols]])
    >>> y = np.r_[np.ones(len(data)), np.zeros(len(ref))]
    >>> iad = IdealAD(random_state=0).fit(X, y)
    >>> score = iad.decision_function(data[cols])  # larger: more signal-like
    """

    _binary_only = True

    _parameter_constraints = {
        **ClassifierStage._stage_constraints,
        "data_label": [numbers.Real, str, "boolean"],
    }

    def __init__(
        self,
        classifier="hgb",
        *,
        n_ensemble=5,
        class_weight="balanced",
        mass_column=None,
        data_label=1,
        random_state=None,
    ):
        super().__init__(
            classifier,
            n_ensemble=n_ensemble,
            class_weight=class_weight,
            mass_column=mass_column,
            random_state=random_state,
        )
        self.data_label = data_label

    def _encode_labels(self, y):
        """The reference label first and the data label second, as ``data_label`` says."""
        labels = np.unique(y)
        is_data = labels == self.data_label
        if labels.size == 2 and not is_data.any():
            named = [v for v in labels.tolist() if "data" in str(v).lower()]
            example = (named or labels.tolist())[0]
            raise ValueError(
                f"IdealAD(data_label={self.data_label!r}) finds no event labelled "
                f"{self.data_label!r} in y, whose labels are "
                f"{', '.join(repr(v) for v in labels.tolist())}. Say which label marks the "
                f"data events, e.g. IdealAD(data_label={example!r}); the other "
                "label is the reference background."
            )
        classes = np.r_[labels[~is_data], labels[is_data]]
        return classes, (np.asarray(y) == classes[-1]).astype(np.int64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


class CWoLaClassifier(ClassifierStage):
    """Classification without labels: signal region vs sidebands.

    ``fit(X, m)`` takes all events with their resonant mass and labels them
    itself: ``1`` for events in ``signal_region`` and ``0`` for those in the
    sidebands (outside the signal region and inside ``sideband`` when given;
    events outside ``sideband`` are not used). The classifier sees the features
    only. A localized signal makes the signal region differ from the sidebands,
    so the classifier learns to find it (Metodiev, Nachman and Thaler,
    arXiv:1708.02949; Collins, Howe and Nachman, arXiv:1805.02664) --- but it
    also learns every background feature that changes with the mass, which is
    why it degrades when the features correlate with ``mjj``.

    Parameters
    ----------
    signal_region : tuple of float, default=(3.3, 3.7)
        ``(low, high)``: events with ``low <= m < high`` are labelled 1.
    sideband : tuple of float or None, default=None
        Outer limits ``(low, high)`` of the sidebands; None uses every event
        outside the signal region.
    classifier : {'hgb', 'mlp'} or estimator, default='hgb'
        Base classifier; see :class:`SupervisedClassifier`.
    n_ensemble : int, default=5
        Number of classifiers whose predicted probabilities are averaged.
    class_weight : 'balanced', dict or None, default='balanced'
        Weights of the classes 0 (sidebands) and 1 (signal region).
    mass_column : int or None, default=None
        None: the mass is passed as ``m``. An int: the mass is that column of
        ``X`` (then ``m`` is ignored), the layout for pipelines; the column is
        dropped before the classifier.
    random_state : int, RandomState instance or None, default=None
        Seeds the members of the ensemble.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]``; 1 is the signal region (the signal-like class).
    estimators_ : list of estimators
        The fitted members of the ensemble.
    n_signal_region_ : int
        Number of signal-region events used.
    n_sideband_ : int
        Number of sideband events used.
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    Examples
    --------
    >>> from skranode.classifiers import CWoLaClassifier
    >>> from skranode.datasets import make_lhco_like
    >>> df = make_lhco_like(n_background=20000, n_signal=200, random_state=0)
    >>> X = df[["mjmin", "delta_mj", "tau21_min", "tau21_max"]]
    >>> cwola = CWoLaClassifier(sideband=(3.0, 4.2), random_state=0).fit(X, df["mjj"])
    >>> cwola.predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        **ClassifierStage._stage_constraints,
        "signal_region": [tuple, list, np.ndarray],
        "sideband": [tuple, list, np.ndarray, None],
    }

    def __init__(
        self,
        signal_region=DEFAULT_SIGNAL_REGION,
        *,
        sideband=None,
        classifier="hgb",
        n_ensemble=5,
        class_weight="balanced",
        mass_column=None,
        random_state=None,
    ):
        self.signal_region = signal_region
        self.sideband = sideband
        self.classifier = classifier
        self.n_ensemble = n_ensemble
        self.class_weight = class_weight
        self.mass_column = mass_column
        self.random_state = random_state

    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Label the events by their mass and train the ensemble.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            All events (signal region and sidebands).
        m : array-like of shape (n_samples,), default=None
            Mass of each event; ignored when ``mass_column`` is set.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative event weights, multiplied by the class weights.

        Returns
        -------
        self : CWoLaClassifier
        """
        self._validate_params()
        features, mass = split_features_and_mass(
            self, X, m, reset=True, mass_column=self.mass_column
        )
        window = MassWindow.from_params(self.signal_region, self.sideband)
        lo, hi = window.bounds
        in_sr = window.in_signal_region(mass)
        keep = window.in_range(mass)
        self.n_signal_region_ = int(in_sr.sum())
        self.n_sideband_ = int(window.in_sidebands(mass).sum())
        if self.n_signal_region_ == 0 or self.n_sideband_ == 0:
            raise ValueError(
                f"CWoLa needs events in the signal region {(lo, hi)} and in the sidebands, "
                f"but one class is empty: {self.n_signal_region_} signal-region and "
                f"{self.n_sideband_} sideband events (mass range [{mass.min():.4g}, "
                f"{mass.max():.4g}])."
            )
        self.classes_ = np.array([0, 1])
        codes = in_sr[keep].astype(np.int64)
        event_weight = check_event_weights(sample_weight, features.shape[0], X=X)
        if event_weight is not None:
            event_weight = event_weight[keep]
        weight = class_sample_weight(self.class_weight, codes, self.classes_, event_weight)
        rng = check_random_state(self.random_state)
        train = features[keep]
        return self._fit_ensemble(((train, codes, weight) for _ in range(self.n_ensemble)), rng)

    def _scoring_features(self, X, m):
        return self._features_without_mass(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the second argument of fit is the mass, from which the labels are made
        tags.target_tags.required = False
        tags.classifier_tags.multi_class = False
        return tags
