"""SidebandDensity: the background model p_B(x | m) p_B(m) learned in the sidebands."""

from __future__ import annotations

import numbers
import warnings
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from skranode.exceptions import SkranodeConvergenceWarning
from skranode.flows import ConditionalFlowDensity
from skranode.mass_spectrum import fit_window_spectrum
from skranode.mass_window import DEFAULT_SIGNAL_REGION, MassWindow
from skranode.presets import BACKGROUND_FLOW
from skranode.training import convergence_note
from skranode.utils._fitting import fit_all_or_nothing, fit_weighted
from skranode.utils._scores import MeanLogLikelihoodMixin
from skranode.utils._torch import draw_seed
from skranode.utils._validation import (
    check_event_weights,
    check_mass,
    mass_units_hint,
    sampled_events,
    split_features_and_mass,
)

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike
    from typing_extensions import Self

    from skranode.utils._typing import Seed

__all__ = ["BACKGROUND_FLOW_RECIPE", "SidebandDensity", "default_background_flow"]

#: Parameters of :func:`default_background_flow` (a dict of
#: :data:`skranode.presets.BACKGROUND_FLOW`, the one owner).
BACKGROUND_FLOW_RECIPE = BACKGROUND_FLOW.params()


def default_background_flow():
    """The background model p_B(x | m) of :class:`SidebandDensity` (``density=None``).

    Four autoregressive rational-quadratic spline layers of 64 hidden units
    (8 bins on [-4, 4] standard deviations) with batch normalisation
    (:data:`skranode.presets.BACKGROUND_FLOW`), trained with AdamW at learning
    rate 1e-3 for at most 2000 optimizer steps on batches adapted to the data
    (``batch_size='auto'``: 1024 events for 30 000 training events, 2048 from
    50 000 on) along a cosine schedule, stopped after 10 epochs without a
    better validation loss; the 5 best epochs are averaged. The same recipe
    is :class:`~skranode.ANODE`'s data model and the main job's flow on a
    true background sample (in the sidebands the main job trains the affine
    flow, :data:`~skranode.presets.ANALYSIS_PRESETS`). About a minute for
    40 000 events on one CPU core.

    Why this recipe, measured on the real LHCO signal region with every
    other setting default (``benchmarks/bench_defaults_lhco.py``, the user
    guide's table):

    * a budget in optimizer steps: the former budget in epochs (15 of 4096
      events) gave 120 steps on its 31 800 training events, a classifier told
      the samples from true background with an AUC of 0.55 and R-ANODE lost
      the signal (max SIC 1 to 4);
    * splines: six affine (MAF) layers trained to convergence close to an
      AUC of 0.51 too and give R-ANODE a max SIC of 9-10, but leave the tails
      short, which CATHODE reads as an excess (max SIC about 4 against 6-7
      for the idealized detector); splines reach 6.4 there and R-ANODE 11.

    The published model (15 affine layers of 128 units, batches of 256, up
    to 100 epochs; ``ConditionalFlowDensity()``) needs about 25 minutes for
    the quick start's sidebands on a 2-core laptop.

    Returns
    -------
    flow : ConditionalFlowDensity
    """
    return ConditionalFlowDensity(**BACKGROUND_FLOW_RECIPE)


class SidebandDensity(MeanLogLikelihoodMixin, DensityMixin, BaseEstimator):
    """Background density learned in the sidebands and interpolated into the signal region.

    ``fit`` selects the sideband events itself: every event whose mass lies
    outside ``signal_region`` (and inside ``sideband``, when given; the edges
    follow :class:`~skranode.mass_window.MassWindow`: ``low <= m < high`` is the
    signal region) trains a
    conditional flow for p_B(x | m), and a smooth fit of the sideband mass
    spectrum gives p_B(m) inside the signal region. Pass *all* events (sidebands
    and signal region); the signal-region events are not used for the flow. With
    ``signal_region=None`` every event passed to ``fit`` is taken as background
    (select the sidebands yourself) and the mass spectrum is fitted on all of
    them.

    Parameters
    ----------
    signal_region : tuple of float or None, default=(3.3, 3.7)
        ``(low, high)`` window in mass that is excluded from the training
        (``low <= m < high``).
    sideband : tuple of float or None, default=None
        Outer limits ``(low, high)`` of the sidebands (``low <= m < high``);
        None uses every event outside the signal region.
    density : estimator or None, default=None
        Conditional density estimator for p_B(x | m) with ``fit(X, m)``,
        ``score_samples(X, m)`` and ``sample(m)``; None uses
        :func:`default_background_flow` (4 spline layers of 64 hidden units
        trained for at most 2000 optimizer steps: about a minute for 40 000
        events, not the published model's half hour). It is cloned in
        :meth:`fit`.
    mass_spectrum : estimator or None, default=None
        Model of the background mass spectrum; None uses
        :class:`~skranode.mass_spectrum.DijetMassSpectrum` (the 4-parameter dijet
        function).
    mass_column : int or None, default=None
        None: the mass is passed as ``m``. An int: the mass is that column of
        ``X`` (then ``m`` is ignored), the layout for pipelines.
    random_state : int, RandomState instance or None, default=None
        Seeds the density estimator when given (overrides its own).
    verbose : bool, default=False
        Show the training progress of the density (a bar over its epochs)
        when it has a ``verbose`` parameter.

    Attributes
    ----------
    density_ : estimator
        The fitted conditional density p_B(x | m).
    mass_spectrum_ : estimator or None
        The fitted mass spectrum, None when ``signal_region`` is None.
    n_sideband_ : int
        Number of sideband events used for training.
    n_signal_region_ : int
        Number of events passed to ``fit`` that lie in the signal region.
    converged_ : bool or None
        Whether the background flow's training converged
        (:func:`~skranode.training.has_converged`; a
        :class:`~skranode.exceptions.SkranodeConvergenceWarning` says so when
        not); None when ``density`` keeps no training history.
    n_features_in_ : int
        Number of columns of ``X`` seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names of ``X`` when it was a DataFrame with string names.

    Examples
    --------
    >>> from skranode import ConditionalFlowDensity, SidebandDensity
    >>> from skranode.datasets import make_lhco_like
    >>> df = make_lhco_like(n_background=20000, n_signal=0, random_state=0)
    >>> X, m = df[["mjmin", "delta_mj"]], df["mjj"]
    >>> flow = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=2)
    >>> bkg = SidebandDensity(density=flow, random_state=0).fit(X, m)
    >>> in_sr = (m > 3.3) & (m < 3.7)
    >>> bkg.score_samples(X[in_sr], m[in_sr]).shape == (in_sr.sum(),)
    True
    """

    _parameter_constraints = {
        "signal_region": [tuple, list, np.ndarray, None],
        "sideband": [tuple, list, np.ndarray, None],
        "density": [HasMethods(["fit", "score_samples", "sample"]), None],
        "mass_spectrum": [HasMethods(["fit", "log_pdf"]), None],
        "mass_column": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        signal_region=DEFAULT_SIGNAL_REGION,
        *,
        sideband=None,
        density=None,
        mass_spectrum=None,
        mass_column=None,
        random_state=None,
        verbose=False,
    ):
        self.signal_region = signal_region
        self.sideband = sideband
        self.density = density
        self.mass_spectrum = mass_spectrum
        self.mass_column = mass_column
        self.random_state = random_state
        self.verbose = verbose

    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, m: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Learn p_B(x | m) and p_B(m) from the sideband events.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            All events (sidebands and signal region).
        m : array-like of shape (n_samples,), default=None
            Mass of each event; ignored when ``mass_column`` is set.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative event weights (Monte Carlo generator or cross-section
            weights): the sideband events' weights go to the weighted
            likelihood of ``density`` and of ``mass_spectrum``.

        Returns
        -------
        self : SidebandDensity
        """
        self._validate_params()
        features, mass = split_features_and_mass(
            self, X, m, reset=True, mass_column=self.mass_column
        )
        weight = check_event_weights(sample_weight, features.shape[0], X=X)
        window = self._window()
        train = self._sideband_mask(mass, window)
        density = default_background_flow() if self.density is None else clone(self.density)
        if self.random_state is not None and "random_state" in density.get_params():
            density.set_params(random_state=draw_seed(self.random_state))
        if self.verbose and "verbose" in density.get_params():
            density.set_params(verbose=True)
        density_ = fit_weighted(
            density,
            features[train],
            mass[train],
            sample_weight=None if weight is None else weight[train],
            role="density",
        )
        history = getattr(density_, "history_", None)
        note = convergence_note(history, "the background flow of SidebandDensity")
        if note is not None:
            warnings.warn(note, SkranodeConvergenceWarning, stacklevel=3)
        if window is None:
            n_signal_region, spectrum_ = 0, None
        else:
            n_signal_region = int(window.in_signal_region(mass).sum())
            spectrum_ = fit_window_spectrum(self.mass_spectrum, window, mass, weight)
        # set together, after every step has succeeded: a failed refit leaves
        # the previous fit as it was
        self.density_ = density_
        self.mass_spectrum_ = spectrum_
        self.n_sideband_ = int(train.sum())
        self.n_signal_region_ = n_signal_region
        self.converged_ = None if history is None else bool(history.get("converged", True))
        return self

    def _window(self):
        """The :class:`~skranode.mass_window.MassWindow`, or None without a signal region."""
        if self.signal_region is None:
            return None
        return MassWindow.from_params(self.signal_region, self.sideband)

    def _sideband_mask(self, mass, window):
        if window is None:
            mask = np.ones(mass.shape[0], dtype=bool)
            if self.sideband is not None:  # the outer limits alone: [low, high)
                mask = MassWindow.from_params(self.sideband).in_signal_region(mass)
        else:
            if window.low >= mass.max() or window.high <= mass.min():
                raise ValueError(
                    f"signal_region {window.bounds} lies outside the mass range of the data "
                    f"[{mass.min():.4g}, {mass.max():.4g}]. "
                    f"{mass_units_hint(mass, window.center)}"
                )
            mask = window.in_sidebands(mass)
        if not mask.any():
            raise ValueError(
                "No event lies in the sidebands: every mass is inside signal_region "
                f"{self.signal_region} (or outside sideband {self.sideband}). Pass events "
                "from both sides of the signal region."
            )
        return mask

    def _check_input(self, X, m):
        check_is_fitted(self, "density_")
        return split_features_and_mass(self, X, m, reset=False, mass_column=self.mass_column)

    def score_samples(
        self, X: ArrayLike, m: ArrayLike | None = None, *, joint: bool = False
    ) -> np.ndarray:
        """Background log density of each event, in the original feature units.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.
        joint : bool, default=False
            False: ``log p_B(x | m)``. True: ``log p_B(x | m) + log p_B(m)`` with
            p_B(m) the fitted spectrum normalised inside the signal region.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        features, mass = self._check_input(X, m)
        log_p = self.density_.score_samples(features, mass)
        if joint:
            log_p = log_p + self.log_mass_density(mass)
        return log_p

    def log_mass_density(self, m: ArrayLike) -> np.ndarray:
        """``log p_B(m)`` from the sideband fit, normalised inside the signal region.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Masses.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "density_")
        if self.mass_spectrum_ is None:
            raise ValueError(
                "This SidebandDensity was fitted with signal_region=None, so it has no "
                "interpolated mass spectrum; set signal_region to use joint=True."
            )
        m = check_mass(m, None)
        return self.mass_spectrum_.log_pdf(m, window=tuple(self.signal_region))

    def transform_latent(self, X: ArrayLike, m: ArrayLike | None = None) -> np.ndarray:
        """Map events to the latent space of the background flow ``density_``.

        Part of the background-model protocol (:mod:`skranode.background`):
        LaCATHODE classifies there. Needs a density with ``transform_latent``
        (a :class:`~skranode.flows.ConditionalFlowDensity`).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features)
            Latent coordinates (standard normal where the model is right).
        """
        features, mass = self._check_input(X, m)
        if not hasattr(self.density_, "transform_latent"):
            raise ValueError(
                "The latent space is that of the background flow, but this "
                f"SidebandDensity's density is a {type(self.density_).__name__}, which has "
                "no transform_latent; use a ConditionalFlowDensity."
            )
        return self.density_.transform_latent(features, mass)

    def sample(self, m: ArrayLike, random_state: Seed = None) -> np.ndarray | pd.DataFrame:
        """Draw background events at the given masses.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Masses, typically inside the signal region.
        random_state : int, RandomState instance or None, default=None
            Seed for the draw.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            Events in the layout of ``X`` in :meth:`fit`. A DataFrame with the columns of
            ``feature_names_in_`` when fitted on a DataFrame.
        """
        check_is_fitted(self, "density_")
        mass = check_mass(m, None)
        features = self.density_.sample(mass, random_state=random_state)
        return sampled_events(self, features, mass)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags
