"""The selection of a bump hunt: a cut on an anomaly score at a background efficiency.

One rule for every bump hunt of skranode (the scan's windows, the main job's
k-fold stage, :func:`~skranode.bump_hunt.enhanced_bump_hunt`): the threshold
is the ``1 - efficiency`` quantile of the scores of reference events (the
sideband events), and an event is selected when its score reaches it.

A score that depends on the event's mass (R-ANODE's ``log p_S(x | m_c) -
log p_B(x | m)`` does, through ``p_B``) selects a different fraction of the
background at each mass, and one global threshold then *makes* a bump. The
mass-decorrelated cut, as the LHC's decorrelated taggers do, moves the
threshold with the mass: :func:`fit_mass_quantile` fits the ``1 - efficiency``
quantile of the scores of *background* events (drawn from the background
model at masses spread over the fit range) as a smooth function ``t(m)``, and
the cut is applied to ``score - t(m)`` (``baseline=`` of
:func:`cut_at_efficiency`), its level still set on the sideband events.
:func:`selection_flatness` checks the result where it can be checked on data:
the selected fraction per mass bin of the sidebands against a flat one.
"""

from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import legendre
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm

__all__ = [
    "FLATNESS_BINS",
    "FLATNESS_P_MIN",
    "QUANTILE_BINS",
    "QUANTILE_MAX_DEGREE",
    "QUANTILE_P_MIN",
    "Flatness",
    "MassQuantile",
    "ScoreCut",
    "cut_at_efficiency",
    "fit_mass_quantile",
    "selection_flatness",
    "sideband_tilt",
]

#: Mass bins (equal counts of background samples) whose score quantiles
#: :func:`fit_mass_quantile` fits.
QUANTILE_BINS = 20

#: Highest degree of the polynomial ``t(m)`` of :func:`fit_mass_quantile`.
QUANTILE_MAX_DEGREE = 4

#: :func:`fit_mass_quantile` takes the lowest degree whose chi-square exceeds
#: that of the highest degree with a p-value of at least this.
QUANTILE_P_MIN = 0.01

#: Mass bins (equal counts of sideband events) of :func:`selection_flatness`.
FLATNESS_BINS = 6

#: Below this chi-square p-value the selected fraction is not flat in mass,
#: and a window's significance is not trusted.
FLATNESS_P_MIN = 0.01


@dataclass(frozen=True)
class ScoreCut:
    """A threshold on an anomaly score and the events it selects.

    Attributes
    ----------
    threshold : float
        Events with a score ``>= threshold`` are selected.
    selected : ndarray of bool of shape (n_events,)
        Which events pass.
    efficiency : float
        The fraction of reference events the cut was asked to keep.
    n_reference, n_reference_pass : int
        Reference (sideband) events, and how many of them pass.
    """

    threshold: float
    selected: np.ndarray = field(repr=False)
    efficiency: float
    n_reference: int
    n_reference_pass: int

    @property
    def achieved_efficiency(self):
        """Fraction of the reference events that pass the cut."""
        return self.n_reference_pass / self.n_reference

    @property
    def tied(self):
        """Whether ties at the threshold let far more events pass than asked.

        More than ``max(1.5 * efficiency * n, efficiency * n + 5)`` of the
        ``n`` reference events: a score constant over many events.
        """
        asked = self.efficiency * self.n_reference
        return self.n_reference_pass > max(1.5 * asked, asked + 5)

    def tie_note(self):
        """The sentence that reports a tied cut (see :attr:`tied`)."""
        return (
            f"the anomaly scores are tied at the cut: {self.achieved_efficiency:.3g} of the "
            f"sideband events pass it, not the {self.efficiency} asked (a score constant "
            "over many events); the bump hunt has much less power than it should"
        )


def cut_at_efficiency(scores, reference, efficiency, *, baseline=None):
    """Cut the scores where a fraction ``efficiency`` of the reference events passes.

    Parameters
    ----------
    scores : ndarray of shape (n_events,)
        Anomaly scores of all events (finite).
    reference : ndarray of bool of shape (n_events,)
        The events that set the threshold (the sideband events).
    efficiency : float in (0, 1]
        Fraction of them to keep; 1 keeps every event.
    baseline : ndarray of shape (n_events,) or None, default=None
        A mass-dependent threshold of each event (``t(m)`` of a
        :class:`MassQuantile`): the cut is applied to ``scores - baseline``
        and ``threshold`` is then relative to it. None: one threshold.

    Returns
    -------
    cut : ScoreCut
    """
    if baseline is not None:
        scores = scores - baseline
    if efficiency == 1:
        threshold = -np.inf
    else:
        threshold = float(np.quantile(scores[reference], 1.0 - efficiency, method="higher"))
    selected = scores >= threshold
    return ScoreCut(
        threshold=threshold,
        selected=selected,
        efficiency=efficiency,
        n_reference=int(reference.sum()),
        n_reference_pass=int((selected & reference).sum()),
    )


@dataclass(frozen=True)
class MassQuantile:
    """The ``1 - efficiency`` quantile of background scores as a function of mass.

    Attributes
    ----------
    coef : ndarray of shape (degree + 1,)
        Legendre coefficients of ``t(m)`` in the mass mapped from
        ``mass_range`` to [-1, 1].
    mass_range : tuple of float
        The masses it was fitted over (outside them it is held at the edges).
    efficiency : float
        The tail fraction it was fitted at.
    n_samples : int
        Background events it was fitted on.
    p_value : float
        Chi-square p-value of the polynomial against the binned quantiles
        (small: the curve misses structure of the quantile in mass).
    """

    coef: np.ndarray = field(repr=False)
    mass_range: tuple
    efficiency: float
    n_samples: int
    p_value: float

    @property
    def degree(self):
        """Degree of the polynomial."""
        return self.coef.size - 1

    def __call__(self, mass):
        """``t(m)`` at each mass (the baseline of :func:`cut_at_efficiency`)."""
        lo, hi = self.mass_range
        u = 2.0 * (np.clip(np.asarray(mass, dtype=np.float64), lo, hi) - lo) / (hi - lo) - 1.0
        return legendre.legval(u, self.coef)


def _binned_quantiles(scores, mass, efficiency, n_bins):
    """Each mass bin's quantile, its mean mass, and its error from the order statistics."""
    order = np.argsort(mass, kind="stable")
    centres, quantiles, errors = [], [], []
    for part in np.array_split(order, n_bins):
        ranked = np.sort(scores[part])
        n = ranked.size
        # the order statistics one binomial standard deviation either side of the quantile
        rank = (1.0 - efficiency) * (n - 1)
        step = np.sqrt(n * efficiency * (1.0 - efficiency))
        below = ranked[int(np.clip(np.floor(rank - step), 0, n - 1))]
        above = ranked[int(np.clip(np.ceil(rank + step), 0, n - 1))]
        centres.append(np.mean(mass[part]))
        quantiles.append(np.quantile(ranked, 1.0 - efficiency))
        errors.append(max((above - below) / 2.0, 1e-12))
    return np.asarray(centres), np.asarray(quantiles), np.asarray(errors)


def fit_mass_quantile(
    scores, mass, efficiency, mass_range, *, n_bins=QUANTILE_BINS, max_degree=QUANTILE_MAX_DEGREE
):
    """Fit the ``1 - efficiency`` quantile of background scores as a smooth function of mass.

    The background events (drawn from a background model at masses spread
    over ``mass_range``, scored like the data) are split into ``n_bins`` mass
    bins of equal counts. Each bin's quantile, at the bin's mean mass, gets
    its statistical error from the order statistics around it. The curve is a
    Legendre polynomial fitted to them by weighted least squares, of the
    lowest degree that the polynomial of ``max_degree`` does not describe
    significantly better (chi-square difference p-value at least
    :data:`QUANTILE_P_MIN`): a low degree borrows the precision of every bin,
    where the bins themselves would move the selected fraction from bin to bin
    by their noise, and a wiggle of the curve would make a bump of its own.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        Scores of background events (finite, or -inf where the signal model
        gives no density).
    mass : ndarray of shape (n_samples,)
        Their masses.
    efficiency : float in (0, 1)
        The tail fraction: the curve keeps this fraction above it at each mass.
    mass_range : tuple of float
        ``(low, high)`` of the fit (a window's sideband limits).
    n_bins : int, default=QUANTILE_BINS
    max_degree : int, default=QUANTILE_MAX_DEGREE

    Returns
    -------
    curve : MassQuantile

    Raises
    ------
    ValueError
        With fewer than ``25 / efficiency`` background events per bin (the
        quantile of a bin would rest on fewer than 25 events above it).
    """
    scores = np.asarray(scores, dtype=np.float64)
    mass = np.asarray(mass, dtype=np.float64)
    if not 0 < efficiency < 1:
        raise ValueError(f"efficiency must lie in (0, 1); got {efficiency!r}.")
    need = int(np.ceil(n_bins * 25 / efficiency))
    if scores.size < need:
        raise ValueError(
            f"{scores.size} background events are too few to fit the {1 - efficiency:g} "
            f"quantile in {n_bins} mass bins (at least {need})."
        )
    if np.any(np.isnan(scores) | (scores == np.inf)):
        raise ValueError("the background events' scores must be finite or -inf (never NaN, +inf).")
    lo, hi = (float(v) for v in mass_range)
    centres, quantiles, errors = _binned_quantiles(scores, mass, efficiency, n_bins)
    u = 2.0 * (np.clip(centres, lo, hi) - lo) / (hi - lo) - 1.0
    def fit(degree):
        coef = legendre.legfit(u, quantiles, degree, w=1.0 / errors)
        return coef, float(np.sum(((legendre.legval(u, coef) - quantiles) / errors) ** 2))

    # the lowest degree that the highest does not describe significantly better
    # (a chi-square difference test, as the dijet searches choose their
    # function): noise in the bins must not buy wiggles, which would make
    # bumps of their own
    fits = [fit(degree) for degree in range(max_degree + 1)]
    chi2_full = fits[-1][1]
    for degree, (_, chi2) in enumerate(fits):
        if degree == max_degree or chi2_dist.sf(chi2 - chi2_full, max_degree - degree) >= (
            QUANTILE_P_MIN
        ):
            break
    coef = fits[degree][0]
    p_value = float(chi2_dist.sf(chi2, n_bins - coef.size))
    return MassQuantile(
        coef=coef, mass_range=(lo, hi), efficiency=float(efficiency),
        n_samples=int(scores.size), p_value=p_value,
    )


@dataclass(frozen=True)
class Flatness:
    """The selected fraction per mass bin of the reference events, against a flat one.

    Attributes
    ----------
    low, high : ndarray of shape (n_bins,)
        Mass limits of each bin (equal counts of reference events; a bin that
        would straddle the signal region is split at its edges, and a bin
        without reference events dropped).
    n_events, n_selected : ndarray of int of shape (n_bins,)
        Reference events per bin and how many of them are selected.
    n_signal : ndarray of shape (n_bins,)
        Selected events per bin that the fitted peak expects (0 without one).
    chi2 : float
        ``sum (k - f n)^2 / (n f (1 - f))`` with ``f`` the overall selected
        fraction, both counts less the peak's events.
    dof : int
        ``n_bins`` less the parameters of the selection set on the same events.
    p_value : float
        Chi-square p-value of a flat selected fraction.
    """

    low: np.ndarray
    high: np.ndarray
    n_events: np.ndarray
    n_selected: np.ndarray
    n_signal: np.ndarray
    chi2: float
    dof: int
    p_value: float

    @property
    def fraction(self):
        """Selected fraction of the background per bin (the peak's events taken out)."""
        return (self.n_selected - self.n_signal) / np.maximum(self.n_events - self.n_signal, 1)

    @property
    def flat(self):
        """Whether the p-value is at least :data:`FLATNESS_P_MIN`."""
        return self.p_value >= FLATNESS_P_MIN

    def note(self):
        """The sentence that reports a selection that is not flat in mass (None when flat)."""
        if self.flat:
            return None
        lo, hi = float(np.min(self.fraction)), float(np.max(self.fraction))
        return (
            f"the cut keeps {lo:.3g} to {hi:.3g} of the sideband events from one mass bin to "
            f"another (flat: chi-square p = {self.p_value:.2g} < {FLATNESS_P_MIN}): the "
            "selection sculpts the mass spectrum and can make a bump; the significance is "
            "not trusted"
        )


def selection_flatness(
    selected, mass, reference, *, n_bins=FLATNESS_BINS, split_at=None, peak=None, n_fitted=1
):
    """Test (chi-square) that a selection keeps one fraction of the reference events at every mass.

    Parameters
    ----------
    selected : ndarray of bool of shape (n_events,)
    mass : ndarray of shape (n_events,)
    reference : ndarray of bool of shape (n_events,)
        The events tested (the sideband events: the signal region may hold signal).
    n_bins : int, default=FLATNESS_BINS
        Bins of equal counts of reference events, shared equally by the parts
        of the mass range between the ``split_at`` masses that hold reference
        events (the two sidebands).
    split_at : tuple of float or None, default=None
        Masses (the signal region's edges) that are bin edges.
    peak : tuple of float or None, default=None
        ``(n_signal, mean, sigma)``: a Gaussian peak of selected events fitted
        by the bump hunt. Its tails reach into the sidebands (a quarter of a
        peak of 5 % width in a window of 0.4 TeV at 3.5 TeV): where
        ``n_signal > 0`` its expected events per bin are taken out of both
        counts, so that a resonance does not read as a sculpted selection.
    n_fitted : int, default=1
        Parameters of the selection set on these same events (1: its level;
        2: its level and its slope, :func:`sideband_tilt`): the chi-square has
        ``n_bins - n_fitted`` degrees of freedom.

    Returns
    -------
    flatness : Flatness
    """
    m = np.asarray(mass, dtype=np.float64)[reference]
    k = np.asarray(selected, dtype=bool)[reference]
    # equal counts within each part between the split masses (the two sidebands
    # get the same number of bins, however steeply the spectrum falls)
    cuts = [v for v in sorted(split_at or ()) if m.min() < v < m.max()]
    limits = [m.min(), *cuts, np.nextafter(m.max(), np.inf)]
    parts = [
        m[(m >= a) & (m < b)] for a, b in zip(limits[:-1], limits[1:], strict=True)
    ]
    per_part = max(1, n_bins // sum(part.size > 0 for part in parts))
    edges = [limits[0]]
    for part, upper in zip(parts, limits[1:], strict=True):
        if part.size:
            edges.extend(np.quantile(part, np.linspace(0.0, 1.0, per_part + 1))[1:-1])
        edges.append(upper)
    edges = np.unique(edges)
    index = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, edges.size - 2)
    n = np.bincount(index, minlength=edges.size - 1)
    n_sel = np.bincount(index, weights=k, minlength=edges.size - 1).astype(np.int64)
    used = n > 0
    signal = np.zeros(n.size)
    if peak is not None and peak[0] > 0:
        n_signal, mean, sigma = peak
        signal = n_signal * np.diff(norm.cdf((edges - mean) / sigma))
        signal = np.minimum(signal, 0.9 * np.minimum(n_sel, n))
    low, high = edges[:-1][used], edges[1:][used]
    n, n_sel, signal = n[used], n_sel[used], signal[used]
    n_bkg, k_bkg = n - signal, n_sel - signal
    f = k_bkg.sum() / n_bkg.sum() if n_bkg.sum() > 0 else 0.0
    if 0 < f < 1:
        chi2 = float(np.sum((k_bkg - f * n_bkg) ** 2 / (n_bkg * f * (1 - f))))
    else:
        chi2 = 0.0
    dof = int(n.size - n_fitted)
    p = float(chi2_dist.sf(chi2, dof)) if dof > 0 else 1.0
    return Flatness(
        low=low, high=high, n_events=n, n_selected=n_sel, n_signal=signal, chi2=chi2, dof=dof,
        p_value=p,
    )


def sideband_tilt(scores, mass, low, high, efficiency, pivot):
    """The slope in mass that makes a cut keep the same fraction of both sidebands.

    A threshold ``t(m)`` fitted on events drawn from a learned background is
    as right as that background: a model that is a little off in one sideband
    tilts the selected fraction across the window (the flatness check then
    fails, and the signal region between them is off by the interpolated
    amount). The data correct the tilt: the slope ``b`` such that the cut on
    ``scores - b (m - pivot)``, its level set on both sidebands together,
    keeps the same fraction of the low and of the high sideband events. The
    model keeps the shape of the threshold (its curvature across the signal
    region, which the sidebands cannot measure); the data set its level and
    its slope.

    Parameters
    ----------
    scores : ndarray of shape (n_events,)
        Scores less their mass-dependent threshold (``score - t(m)``).
    mass : ndarray of shape (n_events,)
    low, high : ndarray of bool of shape (n_events,)
        The events of the low and of the high sideband.
    efficiency : float in (0, 1)
    pivot : float
        The mass where the tilt is zero (the window centre).

    Returns
    -------
    slope : float
        ``b`` (0 when a sideband is empty or holds fewer than ``5 / efficiency``
        events: too few to measure its selected fraction).
    """
    need = 5.0 / efficiency
    if low.sum() < need or high.sum() < need:
        return 0.0
    side = low | high
    x, m, is_low = scores[side], mass[side] - pivot, low[side]

    def imbalance(b):
        shifted = x - b * m
        threshold = np.quantile(shifted, 1.0 - efficiency, method="higher")
        passing = shifted >= threshold
        return passing[is_low].mean() - passing[~is_low].mean()

    # the imbalance rises with the slope (a threshold rising with the mass
    # keeps fewer high-mass events): bracket its zero and bisect
    spread = float(np.subtract(*np.quantile(x, [0.99, 0.01])))
    span = float(np.ptp(m)) or 1.0
    lo_b, hi_b = -spread / span, spread / span
    if imbalance(lo_b) > 0 or imbalance(hi_b) < 0:
        return 0.0
    for _ in range(40):
        mid = 0.5 * (lo_b + hi_b)
        if imbalance(mid) > 0:
            hi_b = mid
        else:
            lo_b = mid
    return 0.5 * (lo_b + hi_b)
