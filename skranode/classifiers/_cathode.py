"""CATHODEClassifier: data vs background samples in the signal region (and LaCATHODE)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, logit
from sklearn.base import clone
from sklearn.neighbors import KernelDensity
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

import skranode.background as bkg_protocol
from skranode.classifiers._stage import ClassifierStage, class_sample_weight
from skranode.mass_window import DEFAULT_SIGNAL_REGION, MassWindow
from skranode.sideband import SidebandDensity
from skranode.utils._fitting import fit_all_or_nothing, fit_weighted
from skranode.utils._torch import draw_seed
from skranode.utils._validation import (
    check_event_weights,
    join_features_and_mass,
    mass_units_hint,
    split_features_and_mass,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from typing_extensions import Self

    from skranode.utils._typing import Seed

__all__ = ["CATHODEClassifier"]

# Relative widening of the data's mass range when no signal region bounds the logit.
_RANGE_MARGIN = 1e-3


class CATHODEClassifier(bkg_protocol.SharedBackgroundMixin, ClassifierStage):
    """CATHODE: classify signal-region data against background samples from a density model.

    ``fit(X, m)`` (Hallin et al., arXiv:2109.00546):

    1. keeps the events inside ``signal_region`` (all of them when it is None):
       these are the data, class 1;
    2. draws ``oversampling`` times as many masses from a Gaussian kernel density
       estimate of the data masses, made on the logit of the mass scaled to the
       signal region (bandwidth ``mass_bandwidth``);
    3. samples background events at those masses from ``background``, a model
       of p_B(x | m) learned outside the signal region: class 0;
    4. trains ``n_ensemble`` classifiers on the features (not the mass), with
       class weights, each on its own background sample, and averages them.

    Where the background model is right, the classifier output is a monotonic
    function of the likelihood ratio p_data(x) / p_B(x), the optimal anomaly
    score. ``predict_proba(X)[:, 1]`` and :meth:`decision_function` are the
    anomaly scores (larger is more signal-like).

    With ``latent=True`` this is LaCATHODE (Hallin et al., arXiv:2210.14924):
    the data and the background samples, each with its mass, are mapped
    through the background flow (its epoch with the lowest validation loss) to
    the flow's Gaussian latent space, and the classifier works there. An
    invertible map keeps the likelihood ratio, so the optimal score is the same;
    but the background is a standard normal at every mass in that space, so a
    cut on the score keeps the same fraction of background at every mass and
    does not sculpt the mass spectrum, also outside the signal region, where
    CATHODE's classifier (which sees the mass-correlated features in data
    space) does. Scoring then needs the mass: ``predict_proba(X, m)`` or the
    ``mass_column`` layout.

    Parameters
    ----------
    background : estimator or None, default=None
        Model of the background p_B(x | m) with ``sample(m)`` (and, for
        ``latent=True``, a :class:`~skranode.flows.ConditionalFlowDensity`
        inside: a fitted :class:`~skranode.SidebandDensity` or
        ``ConditionalFlowDensity``).

        * A fitted estimator (also inside a
          :class:`~sklearn.frozen.FrozenEstimator`) is used as it is: it is
          never refitted nor modified, and :func:`~sklearn.base.clone` keeps the
          very same object, so cross-validation and grid searches over the
          classifier reuse the trained flow. This is the normal use: fit a
          ``SidebandDensity`` on the sidebands once, then build CATHODE on it.
        * An unfitted estimator is cloned and fitted in :meth:`fit` on *all*
          the events passed to ``fit`` (a ``SidebandDensity`` selects its
          sidebands itself, so then pass sidebands and signal region).
        * None: ``SidebandDensity(signal_region=signal_region)`` with the
          published flow, fitted as an unfitted estimator is.
    signal_region : tuple of float or None, default=(3.3, 3.7)
        ``(low, high)``: the events of :meth:`fit` with ``low <= m < high`` are
        the data (others only serve to fit an unfitted background); it also
        bounds the logit of the mass in the kernel density estimate. None: every
        event is data, and the logit is bounded by the data's mass range.
    latent : bool, default=False
        Classify in the background flow's latent space (LaCATHODE).
    oversampling : float, default=4.0
        Background samples per data event.
    mass_bandwidth : float, default=0.01
        Bandwidth of the Gaussian kernel density estimate of the logit-scaled
        mass.
    classifier : {'hgb', 'mlp'} or estimator, default='hgb'
        Base classifier: ``'hgb'`` is a
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` with early
        stopping (fast on a CPU), ``'mlp'`` the published 64-64-64
        :class:`TorchMLPClassifier`; any classifier with ``fit`` and
        ``predict_proba`` (and ``sample_weight`` unless ``class_weight=None``)
        is cloned.
    n_ensemble : int, default=5
        Number of classifiers, each with its own background sample and seed,
        whose predicted probabilities are averaged.
    class_weight : 'balanced', dict or None, default='balanced'
        Weights of the classes 0 (samples) and 1 (data); ``'balanced'`` undoes
        the oversampling.
    mass_column : int or None, default=None
        None: the mass is passed as ``m``. An int: the mass is that column of
        ``X`` (then ``m`` is ignored), the layout for pipelines and
        cross-validation tools; the column is not shown to the classifier.
    random_state : int, RandomState instance or None, default=None
        Seeds the mass and background samples and the classifiers.
    verbose : bool, default=False
        Show progress: the training of an unfitted ``background`` (when it
        has a ``verbose`` parameter) and a bar over the classifiers of the
        ensemble.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]``: 0 is the background samples, 1 the signal-region data (the
        signal-like class).
    estimators_ : list of estimators
        The fitted members of the ensemble.
    background_ : estimator
        The background model used: ``background`` itself when it was fitted,
        else the one fitted here.
    mass_kde_ : sklearn.neighbors.KernelDensity
        Density of ``logit((m - low) / (high - low))`` of the data masses.
    mass_window_ : tuple of float
        ``(low, high)`` of that scaling.
    n_data_ : int
        Number of data (signal-region) events.
    n_samples_ : int
        Number of background samples per member of the ensemble.
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    Notes
    -----
    The second argument of :meth:`fit` is the mass, not a label. Tools that
    treat ``y`` as class labels (``cross_val_predict`` with
    ``method='predict_proba'`` label-encodes it) need the ``mass_column``
    layout, where ``y`` is ignored by ``fit`` and is free to carry the truth
    labels for scorers such as :data:`skranode.metrics.max_sic_scorer`.

    Examples
    --------
    >>> from skranode import CATHODEClassifier, ConditionalFlowDensity, SidebandDensity
    >>> from skranode.datasets import make_lhco_like, signal_region_mask
    >>> df = make_lhco_like(n_background=20000, n_signal=100, random_state=0)
    >>> X, m = df[["mjmin", "delta_mj", "tau21_min", "tau21_max"]], df["mjj"]
    >>> flow = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=2)
    >>> bkg = SidebandDensity(density=flow, random_state=0).fit(X, m)
    >>> sr = signal_region_mask(m)
    >>> cathode = CATHODEClassifier(bkg, random_state=0).fit(X[sr], m[sr])
    >>> cathode.predict_proba(X[sr]).shape == (sr.sum(), 2)
    True
    """

    _parameter_constraints = {
        **ClassifierStage._stage_constraints,
        "background": [HasMethods(["sample"]), None],
        "signal_region": [tuple, list, np.ndarray, None],
        "latent": ["boolean"],
        "oversampling": [Interval(numbers.Real, 0, None, closed="neither")],
        "mass_bandwidth": [Interval(numbers.Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        background=None,
        *,
        signal_region=DEFAULT_SIGNAL_REGION,
        latent=False,
        oversampling=4.0,
        mass_bandwidth=0.01,
        classifier="hgb",
        n_ensemble=5,
        class_weight="balanced",
        mass_column=None,
        random_state=None,
        verbose=False,
    ):
        self.background = background
        self.signal_region = signal_region
        self.latent = latent
        self.oversampling = oversampling
        self.mass_bandwidth = mass_bandwidth
        self.classifier = classifier
        self.n_ensemble = n_ensemble
        self.class_weight = class_weight
        self.mass_column = mass_column
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Sample the background in the signal region and train the classifiers.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events: the signal-region data (events outside ``signal_region`` are
            used only to fit an unfitted ``background``).
        m : array-like of shape (n_samples,), default=None
            Mass of each event; ignored when ``mass_column`` is set.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative event weights: an unfitted ``background`` is fitted
            with them, the mass density of the samples is the weighted one of
            the data, and the data events enter the classifiers with their
            weights (normalised to a mean of 1 over the signal region; the
            generated events have weight 1), times the class weights.

        Returns
        -------
        self : CATHODEClassifier
        """
        self._validate_params()
        features, mass = split_features_and_mass(
            self, X, m, reset=True, mass_column=self.mass_column
        )
        rng = check_random_state(self.random_state)
        in_sr = self._signal_region_mask(mass)
        event_weight = check_event_weights(sample_weight, features.shape[0], X=X)
        data_weight = None
        if event_weight is not None:
            data_weight = event_weight[in_sr]
            if not data_weight.any():
                raise ValueError(
                    "Every signal-region event has zero sample_weight: the classifiers "
                    "need signal-region data of non-zero weight."
                )
            data_weight = data_weight / data_weight.mean()
        self.background_ = self._fitted_background(features, mass, rng, event_weight)
        data, data_mass = features[in_sr], mass[in_sr]
        # the data must lie in the background's own signal region: elsewhere it
        # was trained on these very events (its sidebands), and CATHODE would
        # compare the data with a model of themselves
        bkg_protocol.check_signal_region_events(
            self.background_,
            data_mass,
            "CATHODEClassifier",
            fix=f"the background was trained on those events (its sidebands), so CATHODE "
            f"would compare them with a model of themselves. Give the classifier the "
            f"background's signal_region (signal_region={self.signal_region} here).",
        )
        bkg_protocol.check_feature_names(self.background_, getattr(self, "feature_names_in_", None))
        bkg_protocol.check_support(self.background_, data, data_mass)
        self.n_data_ = int(data.shape[0])
        self.mass_window_ = self._mass_window(data_mass)
        self.mass_kde_ = KernelDensity(bandwidth=self.mass_bandwidth).fit(
            self._mass_to_logit(data_mass)[:, None], sample_weight=data_weight
        )
        self.n_samples_ = max(1, int(round(self.oversampling * self.n_data_)))
        if self.latent:
            data = self._to_latent(data, data_mass)
        self.classes_ = np.array([0, 1])
        codes = np.r_[np.ones(self.n_data_, dtype=np.int64), np.zeros(self.n_samples_, np.int64)]
        if data_weight is not None:
            data_weight = np.r_[data_weight, np.ones(self.n_samples_)]
        weight = class_sample_weight(self.class_weight, codes, self.classes_, data_weight)

        def training_sets():
            for _ in range(self.n_ensemble):
                samples = self._draw_samples(rng, data.shape[1])
                yield np.vstack([data, samples]), codes, weight

        return self._fit_ensemble(training_sets(), rng)

    def _signal_region_mask(self, mass):
        if self.signal_region is None:
            return np.ones(mass.shape[0], dtype=bool)
        window = MassWindow.from_params(self.signal_region)
        lo, hi = window.bounds
        mask = window.in_signal_region(mass)
        if not mask.any():
            raise ValueError(
                f"No event lies in signal_region {(lo, hi)}: the masses span "
                f"[{mass.min():.4g}, {mass.max():.4g}]. Pass the signal-region events, or "
                "signal_region=None to take every event as data. "
                f"{mass_units_hint(mass, window.center)}"
            )
        return mask

    def _fitted_background(self, features, mass, rng, weight=None):
        background = self.background
        if background is not None and bkg_protocol.is_fitted(background):
            return background
        if background is None:
            if self.signal_region is None:
                raise ValueError(
                    "background=None fits a SidebandDensity in the sidebands of "
                    "signal_region, but signal_region is None. Pass a fitted background "
                    "model, or set signal_region."
                )
            background = SidebandDensity(signal_region=tuple(self.signal_region))
        background = clone(background)
        if "random_state" in background.get_params():
            background.set_params(random_state=draw_seed(rng))
        if self.verbose and "verbose" in background.get_params():
            background.set_params(verbose=True)
        column = getattr(background, "mass_column", None)
        args = (
            (features, mass)
            if column is None
            else (join_features_and_mass(features, mass, column),)
        )
        return fit_weighted(background, *args, sample_weight=weight, role="background")

    def _mass_window(self, mass):
        if self.signal_region is not None:
            return MassWindow.from_params(self.signal_region).bounds
        lo, hi = float(mass.min()), float(mass.max())
        pad = _RANGE_MARGIN * (hi - lo) if hi > lo else max(abs(lo), 1.0) * _RANGE_MARGIN
        return lo - pad, hi + pad

    def _mass_to_logit(self, mass):
        lo, hi = self.mass_window_
        u = np.clip((mass - lo) / (hi - lo), 1e-9, 1.0 - 1e-9)
        return logit(u)

    def sample_masses(self, n_samples: int, random_state: Seed = None) -> np.ndarray:
        """Draw masses from the kernel density estimate of the data masses.

        Parameters
        ----------
        n_samples : int
            Number of masses.
        random_state : int, RandomState instance or None, default=None
            Seed for the draw.

        Returns
        -------
        m : ndarray of shape (n_samples,)
            Masses inside ``mass_window_``.
        """
        check_is_fitted(self, "mass_kde_")
        lo, hi = self.mass_window_
        t = self.mass_kde_.sample(n_samples, random_state=check_random_state(random_state))
        return lo + (hi - lo) * expit(t[:, 0])

    def _draw_samples(self, rng, n_features):
        masses = self.sample_masses(self.n_samples_, random_state=rng)
        samples = bkg_protocol.sample_features(
            self.background_, masses, draw_seed(rng), n_features_expected=n_features
        )
        if self.latent:
            samples = self._to_latent(samples, masses)
        return samples

    # ------------------------------------------------------------ latent space
    def _to_latent(self, features, mass):
        """Map events to the latent space of the background flow (its best epoch)."""
        return bkg_protocol.transform_latent(self.background_, features, mass)

    def transform_latent(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Map events to the latent space of the background flow.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            Events, in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features)
            Latent coordinates; standard normal for background events where the
            background model is right.
        """
        check_is_fitted(self, "background_")
        features, mass = split_features_and_mass(
            self, X, m, reset=False, mass_column=self.mass_column
        )
        return self._to_latent(features, mass)

    # ---------------------------------------------------------------- inference
    def _scoring_features(self, X, m):
        if not self.latent:
            return self._features_without_mass(X)
        if self.mass_column is None and m is None:
            raise ValueError(
                "This CATHODEClassifier has latent=True, so it scores events in the "
                "background flow's latent space, which depends on the mass: pass it as m "
                "(predict_proba(X, m)), or use mass_column."
            )
        return self.transform_latent(X, m)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the second argument of fit is the mass; the classes are made by fit
        tags.target_tags.required = False
        tags.classifier_tags.multi_class = False
        return tags
