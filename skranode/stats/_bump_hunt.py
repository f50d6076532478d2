"""The bump hunt of a window: the score cut, the peak fit, its widening and its toys.

After a cut on an anomaly score (:func:`~skranode.stats.cut_at_efficiency`)
the selected masses of a window and its sidebands are fitted with the dijet
function plus a Gaussian peak at the window centre
(:func:`~skranode.mass_spectrum.fit_resonance`); the likelihood ratio of the
peak is the local significance, as in the LHC dijet resonance searches. Where
the signal-region scores depend on a background template, the fitted yield's
spread over the templates widens it (:func:`template_spread`,
:func:`widened_significance`). :func:`toy_null` gives its empirical null from
pseudo-data of its own background fit. The scan and the main job both call
:func:`window_bump_hunt`; nothing here trains a model.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from skranode.mass_spectrum import ResonanceFit, fit_resonance, resonance_toys
from skranode.stats._selection import (
    Flatness,
    ScoreCut,
    cut_at_efficiency,
    selection_flatness,
    sideband_tilt,
)

__all__ = [
    "BUMP_HUNT_PARAMS",
    "SIGNAL_WIDTH",
    "ToyNull",
    "WindowBumpHunt",
    "fit_peak",
    "template_spread",
    "toy_null",
    "widened_significance",
    "window_bump_hunt",
]

#: Parameters of the dijet function of the bump hunt (3: two shape
#: parameters). Over a window and its sidebands (about 1.2 TeV) the
#: 4-parameter function bends to absorb a peak of 5 % width, while 3
#: describe the selected background spectrum (measured in the user guide).
BUMP_HUNT_PARAMS = 3

#: Below this goodness-of-fit p-value of the bump hunt's fit
#: (:attr:`~skranode.mass_spectrum.ResonanceFit.gof_p_value`) the dijet
#: function does not describe the selected spectrum and the significance,
#: which assumes it does, is not trusted.
GOF_P_MIN = 0.01

#: Relative mass resolution of the resonance searched: the width of the
#: Gaussian peak of the bump hunt is this times the window centre.
SIGNAL_WIDTH = 0.05


def fit_peak(selected_masses, window, signal_width=SIGNAL_WIDTH, *, uncertainty=True):
    """The peak fit of a window: the dijet function plus a Gaussian at its centre.

    Parameters
    ----------
    selected_masses : ndarray of shape (n_selected,)
        Masses of the selected events.
    window : MassWindow
        With its sideband limits: the fit range.
    signal_width : float, default=SIGNAL_WIDTH
        Width of the peak relative to the window centre.
    uncertainty : bool, default=True
        Compute the yield's standard deviation.

    Returns
    -------
    fit : ResonanceFit

    Raises
    ------
    ValueError
        When too few events are selected to fit.
    """
    return fit_resonance(
        selected_masses,
        mass=window.center,
        width=signal_width * window.center,
        mass_range=(window.sideband_low, window.sideband_high),
        n_params=BUMP_HUNT_PARAMS,
        uncertainty=uncertainty,
    )


def widened_significance(z_statistical, n_signal, sigma_background):
    """A likelihood-ratio significance with a further uncertainty on the fitted yield.

    ``n / sqrt((n / Z_stat)^2 + sigma_B^2)``: the statistical standard
    deviation implied by ``Z_stat`` and the background-model one added in
    quadrature (the rule of :func:`~skranode.stats.with_background_spread`);
    0 stays 0.
    """
    if z_statistical == 0 or n_signal == 0:
        return 0.0
    return float(n_signal / math.hypot(n_signal / z_statistical, sigma_background))


def template_spread(
    scores, mass, signal_region, templates, threshold, window, signal_width, *, baseline=None
):
    """Standard deviation of the fitted signal yield over the background templates.

    The same cut and fit with each template's score (a row of ``templates``)
    for the signal-region events; the other events keep ``scores``.
    ``baseline`` is the cut's mass-dependent threshold (see
    :func:`~skranode.stats.cut_at_efficiency`).
    """
    n_template = []
    for row in templates:
        alt = scores.copy()
        alt[signal_region] = row
        if baseline is not None:
            alt -= baseline
        fit = fit_peak(mass[alt >= threshold], window, signal_width, uncertainty=False)
        n_template.append(fit.n_signal)
    return float(np.std(n_template, ddof=1))


@dataclass(frozen=True)
class WindowBumpHunt:
    """What :func:`window_bump_hunt` finds.

    Attributes
    ----------
    cut : ScoreCut
        The selection.
    flatness : Flatness
        Its selected fraction per mass bin of the outer halves of the
        sidebands (away from a resonance's tails) against a flat one
        (:func:`~skranode.stats.selection_flatness`).
    fit : ResonanceFit
        The peak fit of the selected masses.
    n_signal_std_background : float or None
        Spread of the fitted yield over the background templates (None
        without templates).
    significance : float
        The local significance: ``fit.significance`` widened by that spread.
    threshold_slope : float or None
        With a ``baseline``: the slope in mass added to it so that both
        sidebands keep the same fraction (:func:`~skranode.stats.sideband_tilt`).
    """

    cut: ScoreCut
    flatness: Flatness
    fit: ResonanceFit
    n_signal_std_background: float | None
    significance: float
    threshold_slope: float | None = None

    @property
    def significance_statistical(self):
        """The peak's likelihood-ratio significance alone."""
        return float(self.fit.significance)

    def gof_note(self):
        """The sentence that reports a fit the dijet function cannot make (None when good)."""
        p = self.fit.gof_p_value
        if not p < GOF_P_MIN:  # NaN (too few events) included
            return None
        return (
            f"the dijet function does not describe the selected mass spectrum (goodness of "
            f"fit p = {p:.2g} < {GOF_P_MIN}): the local significance assumes it does and is "
            "not trusted"
        )


def window_bump_hunt(
    scores,
    mass,
    signal_region,
    window,
    *,
    efficiency,
    signal_width=SIGNAL_WIDTH,
    templates=None,
    baseline=None,
):
    """Cut the scores at a sideband efficiency and fit the selected mass spectrum.

    Parameters
    ----------
    scores : ndarray of shape (n_events,)
        Finite anomaly scores of the events of the window and its sidebands.
    mass : ndarray of shape (n_events,)
        Their masses.
    signal_region : ndarray of bool of shape (n_events,)
        Which events lie in the signal region (the others set the cut).
    window : MassWindow
        The window and its sidebands.
    efficiency : float
        Fraction of the sideband events kept.
    signal_width : float, default=SIGNAL_WIDTH
        Relative width of the peak.
    templates : ndarray of shape (n_templates, n_sr_events) or None
        Alternative signal-region scores, one row per background template:
        their spread widens the significance (:func:`template_spread`).
    baseline : ndarray of shape (n_events,) or None, default=None
        The mass-dependent threshold ``t(m)`` of each event (a
        :class:`~skranode.stats.MassQuantile` of background events' scores):
        the mass-decorrelated cut of :func:`~skranode.stats.cut_at_efficiency`,
        its slope across the window corrected on the sideband events
        (:func:`~skranode.stats.sideband_tilt`). None: one threshold for
        every mass.

    Returns
    -------
    result : WindowBumpHunt

    Raises
    ------
    ValueError
        When the selected spectrum cannot be fitted.
    """
    # the outer halves of the sidebands, where a resonance in the signal region
    # leaks little (a peak of 5 % width at 3.5 TeV with 0.4 TeV sidebands: 1 %
    # of its events beyond each): a resonance's events in the inner halves would
    # tilt the threshold against the background there and read as sculpting
    guard = 0.5 * min(window.low - window.sideband_low, window.sideband_high - window.high)
    outer_low = window.in_low_sideband(mass) & (mass < window.low - guard)
    outer_high = window.in_high_sideband(mass) & (mass >= window.high + guard)
    slope = None
    if baseline is not None:
        # the data set the threshold's slope across the window, the model its shape
        slope = sideband_tilt(
            scores - baseline, mass, outer_low, outer_high, efficiency, window.center
        )
        baseline = baseline + slope * (mass - window.center)
    cut = cut_at_efficiency(scores, ~signal_region, efficiency, baseline=baseline)
    fit = fit_peak(mass[cut.selected], window, signal_width)
    flatness = selection_flatness(
        cut.selected,
        mass,
        outer_low | outer_high,
        split_at=(window.low - guard, window.high + guard),
        n_fitted=1 if slope is None else 2,
    )
    z = float(fit.significance)
    spread = None
    if templates is not None:
        spread = template_spread(
            scores, mass, signal_region, templates, cut.threshold, window, signal_width,
            baseline=baseline,
        )
        z = widened_significance(z, fit.n_signal, spread)
    return WindowBumpHunt(
        cut=cut,
        flatness=flatness,
        fit=fit,
        n_signal_std_background=spread,
        significance=z,
        threshold_slope=slope,
    )


@dataclass(frozen=True)
class ToyNull:
    """The bump hunt against pseudo-data of its own background fit (:func:`toy_null`).

    Attributes
    ----------
    p_value, significance : float
        Fraction of pseudo-experiments reaching the observed significance
        (``(1 + hits) / (1 + n_fitted)``) and its one-sided Gaussian equivalent.
    n_toys, n_fitted : int
        Pseudo-experiments drawn and fitted.
    z_mean, z_std : float or None
        Mean and standard deviation of their significances.
    resolves_below : float
        Smallest p-value they resolve.
    beyond_every_toy : bool
        No pseudo-experiment reached the observed significance.
    """

    p_value: float
    significance: float
    n_toys: int
    n_fitted: int
    z_mean: float | None
    z_std: float | None
    resolves_below: float
    beyond_every_toy: bool


def toy_null(bump, window, signal_width, n_toys, random_state):
    """The empirical null of a window's bump hunt (:func:`~skranode.mass_spectrum.resonance_toys`).

    Each pseudo-spectrum is drawn from the background-only fit of
    ``bump.fit``, refitted and widened by the same template spread.

    Parameters
    ----------
    bump : WindowBumpHunt
    window : MassWindow
    signal_width : float
    n_toys : int
        Pseudo-experiments (> 0).
    random_state : int

    Returns
    -------
    null : ToyNull
    """
    toys = resonance_toys(
        bump.fit,
        mass=window.center,
        width=signal_width * window.center,
        mass_range=(window.sideband_low, window.sideband_high),
        n_params=BUMP_HUNT_PARAMS,
        n_toys=int(n_toys),
        random_state=random_state,
    )
    toys = toys[np.isfinite(toys[:, 0])]
    z = toys[:, 0]
    if bump.n_signal_std_background is not None:
        sigma = bump.n_signal_std_background
        z = np.array([widened_significance(zt, nt, sigma) for zt, nt in toys])
    hits = int(np.sum(z >= bump.significance))
    p = (1 + hits) / (1 + z.size)
    return ToyNull(
        p_value=p,
        significance=float(norm.isf(p)),
        n_toys=int(n_toys),
        n_fitted=int(z.size),
        z_mean=float(np.mean(z)) if z.size else None,
        z_std=float(np.std(z, ddof=1)) if z.size > 1 else None,
        resolves_below=1.0 / (1 + z.size),
        beyond_every_toy=hits == 0,
    )
