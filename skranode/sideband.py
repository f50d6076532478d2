"""SidebandDensity: the background model p_B(x | m) p_B(m) learned in the sidebands."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from skranode.flows import ConditionalFlowDensity
from skranode.mass_spectrum import DijetMassSpectrum
from skranode.utils._validation import (
    check_mass,
    join_features_and_mass,
    split_features_and_mass,
)

__all__ = ["SidebandDensity", "check_signal_region"]


def check_signal_region(signal_region, name="signal_region"):
    """Validate a ``(low, high)`` mass window and return it as floats."""
    try:
        lo, hi = (float(v) for v in signal_region)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a pair (low, high); got {signal_region!r}.") from exc
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must satisfy low < high with finite values; got {(lo, hi)}.")
    return lo, hi


class SidebandDensity(DensityMixin, BaseEstimator):
    """Background density learned in the sidebands and interpolated into the signal region.

    ``fit`` selects the sideband events itself: every event whose mass lies
    outside ``signal_region`` (and inside ``sideband``, when given) trains a
    conditional flow for p_B(x | m), and a smooth fit of the sideband mass
    spectrum gives p_B(m) inside the signal region. Pass *all* events (sidebands
    and signal region); the signal-region events are not used for the flow. With
    ``signal_region=None`` every event passed to ``fit`` is taken as background
    (select the sidebands yourself) and the mass spectrum is fitted on all of
    them.

    Parameters
    ----------
    signal_region : tuple of float or None, default=(3.3, 3.7)
        ``(low, high)`` window in mass that is excluded from the training.
    sideband : tuple of float or None, default=None
        Outer limits ``(low, high)`` of the sidebands; None uses every event
        outside the signal region.
    density : estimator or None, default=None
        Conditional density estimator for p_B(x | m) with ``fit(X, m)``,
        ``score_samples(X, m)`` and ``sample(m)``; None uses
        ``ConditionalFlowDensity()`` (15 MAF layers of 128 hidden units, the
        published background model). It is cloned in :meth:`fit`.
    mass_spectrum : estimator or None, default=None
        Model of the background mass spectrum; None uses
        :class:`~skranode.mass_spectrum.DijetMassSpectrum` (the 4-parameter dijet
        function).
    mass_column : int or None, default=None
        None: the mass is passed as ``m``. An int: the mass is that column of
        ``X`` (then ``m`` is ignored), the layout for pipelines.
    random_state : int, RandomState instance or None, default=None
        Seeds the density estimator when given (overrides its own).

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
    }

    def __init__(
        self,
        signal_region=(3.3, 3.7),
        *,
        sideband=None,
        density=None,
        mass_spectrum=None,
        mass_column=None,
        random_state=None,
    ):
        self.signal_region = signal_region
        self.sideband = sideband
        self.density = density
        self.mass_spectrum = mass_spectrum
        self.mass_column = mass_column
        self.random_state = random_state

    def fit(self, X, m=None):
        """Learn p_B(x | m) and p_B(m) from the sideband events.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            All events (sidebands and signal region).
        m : array-like of shape (n_samples,), default=None
            Mass of each event; ignored when ``mass_column`` is set.

        Returns
        -------
        self : SidebandDensity
        """
        self._validate_params()
        features, mass = split_features_and_mass(
            self, X, m, reset=True, mass_column=self.mass_column
        )
        train = self._sideband_mask(mass)
        density = ConditionalFlowDensity() if self.density is None else clone(self.density)
        if self.random_state is not None and "random_state" in density.get_params():
            seed = check_random_state(self.random_state).randint(0, 2**31 - 1)
            density.set_params(random_state=seed)
        self.density_ = density.fit(features[train], mass[train])
        self.n_sideband_ = int(train.sum())
        if self.signal_region is None:
            self.n_signal_region_ = 0
            self.mass_spectrum_ = None
        else:
            lo, hi = check_signal_region(self.signal_region)
            self.n_signal_region_ = int(((mass > lo) & (mass < hi)).sum())
            spectrum = (
                DijetMassSpectrum(signal_region=(lo, hi))
                if self.mass_spectrum is None
                else clone(self.mass_spectrum)
            )
            window = self.sideband if self.sideband is not None else None
            keep = np.ones_like(train) if window is None else self._inside(mass, window)
            self.mass_spectrum_ = spectrum.fit(mass[keep])
        return self

    @staticmethod
    def _inside(mass, window):
        lo, hi = check_signal_region(window, "sideband")
        return (mass >= lo) & (mass <= hi)

    def _sideband_mask(self, mass):
        if self.signal_region is None:
            mask = np.ones(mass.shape[0], dtype=bool)
        else:
            lo, hi = check_signal_region(self.signal_region)
            if lo >= mass.max() or hi <= mass.min():
                raise ValueError(
                    f"signal_region {(lo, hi)} lies outside the mass range of the data "
                    f"[{mass.min():.4g}, {mass.max():.4g}]."
                )
            mask = (mass <= lo) | (mass >= hi)
            if self.sideband is not None:
                sb_lo, sb_hi = check_signal_region(self.sideband, "sideband")
                if sb_lo > lo or sb_hi < hi:
                    raise ValueError(
                        f"sideband={self.sideband!r} must enclose signal_region="
                        f"{self.signal_region!r}: the sidebands lie between them."
                    )
        if self.sideband is not None:
            mask &= self._inside(mass, self.sideband)
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

    def score_samples(self, X, m=None, *, joint=False):
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

    def log_mass_density(self, m):
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

    def score(self, X, m=None):
        """Mean ``log p_B(x | m)`` of the events (higher is better).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Events in the layout used in :meth:`fit`.
        m : array-like of shape (n_samples,), default=None
            Masses; ignored when ``mass_column`` is set.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X, m)))

    def sample(self, m, random_state=None):
        """Draw background events at the given masses.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Masses, typically inside the signal region.
        random_state : int, RandomState instance or None, default=None
            Seed for the draw.

        Returns
        -------
        X : ndarray of shape (n_samples, ``n_features_in_``)
            Events in the layout of ``X`` in :meth:`fit`.
        """
        check_is_fitted(self, "density_")
        mass = check_mass(m, None)
        features = self.density_.sample(mass, random_state=random_state)
        return join_features_and_mass(features, mass, self.mass_column)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags
