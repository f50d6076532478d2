"""The likelihood of the signal fraction ``w`` from held-out density ratios.

Given each held-out event's ``log p_S - log p_B`` (from k-fold or cross-fitted
models), the mixture log-likelihood ``LL(w) - LL(0) = sum_i log(1 + w (r_i - 1))``
is concave in ``w``: :func:`mixture_w_hat` finds its maximum,
:func:`mixture_profile` the maximum, the 68 % / 95 % intervals, the one-sided
95 % CL upper limit and the likelihood-ratio significance as a
:class:`WProfile`; :func:`with_background_spread` widens them by the spread over
background templates (and a spurious-signal and a signal-model term);
:func:`profile_notes` names their edge cases; :func:`profile_intervals` reads
intervals off a likelihood on a grid (the GBI scan of
:func:`skranode.inference.w_profile`). Nothing here trains a model.
"""

import copy
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from skranode.exceptions import SkranodeWarning
from skranode.utils._validation import check_event_weights

__all__ = [
    "DROP_68",
    "DROP_95",
    "DROP_UL95",
    "MAX_EVENT_GAIN",
    "WProfile",
    "mixture_delta_loglik",
    "mixture_profile",
    "mixture_w_hat",
    "profile_intervals",
    "profile_notes",
    "with_background_spread",
]

#: Drops of the log-likelihood from its maximum that bound the 68 % and 95 %
#: intervals of one parameter (Wilks): chi2_1 quantiles halved.
DROP_68 = 0.5
DROP_95 = 0.5 * 3.841458820694124

#: Drop that bounds the one-sided 95 % CL upper limit on ``w`` (the statistic
#: ``q_w`` of Cowan, Cranmer, Gross & Vitells, arXiv:1007.1727: ``2 drop`` is
#: the 90 % quantile of chi2_1, i.e. 1.645 squared).
DROP_UL95 = 0.5 * 2.705543454095404


# ----------------------------------------------------------------------- the math
def _refine_maximum(w, ll):
    """Best-fit ``w`` and log-likelihood from the grid, refined by a parabola.

    The parabola (in ``w``, not ``log w``: for a fixed p_S the mixture
    log-likelihood is concave in ``w``) goes through the highest grid point and
    its two neighbours; its vertex, clipped to the neighbours' range, is the
    estimate. At an end of the grid, or when the three points are not concave,
    the highest grid point itself is returned.
    """
    k = int(np.argmax(ll))
    if k == 0 or k == len(w) - 1:
        return float(w[k]), float(ll[k])
    x, y = w[k - 1 : k + 2], ll[k - 1 : k + 2]
    a, b, c = np.polyfit(x - x[1], y, 2)
    if not a < 0:
        return float(w[k]), float(ll[k])
    vertex = float(np.clip(-b / (2 * a), x[0] - x[1], x[2] - x[1]))
    return vertex + float(x[1]), max(float(a * vertex**2 + b * vertex + c), float(ll[k]))


def _crossing(w, r, level, w_hat, side):
    """Where the signed root ``r`` crosses ``level`` on one side of the maximum."""
    if side < 0:
        idx = np.flatnonzero(w < w_hat)[::-1]
    else:
        idx = np.flatnonzero(w > w_hat)
    prev_w, prev_r = w_hat, 0.0
    for i in idx:
        if abs(r[i]) >= level:
            t = (level - abs(prev_r)) / (abs(r[i]) - abs(prev_r))
            return prev_w + t * (w[i] - prev_w)
        prev_w, prev_r = w[i], r[i]
    return None  # the log-likelihood never drops far enough on this side


def profile_intervals(w_grid, loglik, drops=(DROP_68, DROP_95)):
    """Maximum-likelihood ``w`` and likelihood-drop intervals of a profile.

    Parameters
    ----------
    w_grid : array-like of shape (n_points,)
        Values of ``w >= 0``, one of which should be 0 (the background-only
        point) for the significance and for intervals that reach down to 0.
    loglik : array-like of shape (n_points,)
        Total log-likelihood at each ``w`` (any additive constant).
    drops : sequence of float, default=(0.5, 1.92)
        Drops of the log-likelihood from its maximum that bound each interval.

    Returns
    -------
    w_hat : float
        Maximum-likelihood ``w`` (see :func:`w_profile`, Notes).
    loglik_max : float
        Log-likelihood at ``w_hat``.
    intervals : list of tuple of float
        ``(low, high)`` for each drop: the ``w`` where the log-likelihood is
        within the drop of its maximum. ``low`` is the smallest grid value
        (0) when the log-likelihood there is still within the drop; ``high``
        is the largest grid value, with a warning, when it never drops enough.
    """
    w = np.asarray(w_grid, dtype=np.float64).reshape(-1)
    ll = np.asarray(loglik, dtype=np.float64).reshape(-1)
    if w.shape != ll.shape or w.size < 2:
        raise ValueError(
            f"w_grid and loglik must be 1-D of the same length >= 2; got {w.size} and "
            f"{ll.size} values."
        )
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(ll))):
        raise ValueError("w_grid and loglik must be finite.")
    if np.any(w < 0) or np.any(np.diff(np.sort(w)) == 0):
        raise ValueError("w_grid must hold distinct values >= 0.")
    order = np.argsort(w)
    w, ll = w[order], ll[order]
    w_hat, ll_max = _refine_maximum(w, ll)
    # For an exactly parabolic profile the signed root of twice the drop is
    # linear in w on each side of the maximum, so interpolating it linearly
    # between grid points finds the crossings exactly.
    r = np.sign(w - w_hat) * np.sqrt(np.maximum(2.0 * (ll_max - ll), 0.0))
    intervals = []
    for drop in drops:
        level = math.sqrt(2.0 * float(drop))
        low = _crossing(w, r, level, w_hat, -1)
        high = _crossing(w, r, level, w_hat, +1)
        if high is None:
            warnings.warn(
                f"The log-likelihood stays within {drop:.3g} of its maximum up to the "
                f"largest w of the grid ({w[-1]:.4g}): the upper end of the interval is "
                "cut there. Extend w_grid.",
                SkranodeWarning,
                stacklevel=3,
            )
            high = float(w[-1])
        intervals.append((float(w[0]) if low is None else float(low), float(high)))
    return w_hat, ll_max, intervals


@dataclass
class WProfile:
    """Likelihood of the signal fraction ``w``, from :func:`w_profile` or :func:`w_cross_fit`.

    Attributes
    ----------
    w_grid : ndarray of shape (n_points,)
        The values of ``w``, sorted, starting with 0.
    delta_loglik : ndarray of shape (n_points,)
        Total held-out log-likelihood at each ``w`` minus its value at ``w = 0``
        (so ``delta_loglik[0] == 0``).
    q : ndarray of shape (n_points,)
        ``2 * delta_loglik``, the likelihood-ratio statistic against ``w = 0``.
    w_hat : float
        Maximum-likelihood ``w``.
    delta_loglik_max : float
        ``delta_loglik`` at ``w_hat``.
    interval_68, interval_95 : tuple of float
        ``(low, high)`` intervals from the log-likelihood drops 0.5 and 1.92.
    significance : float
        ``sqrt(max(0, 2 delta_loglik_max))``, in standard deviations.
    n_eval : int
        Number of held-out events whose log-likelihood was summed.
    loglik_zero : float
        Total held-out log-likelihood at ``w = 0``, ``sum log p_B``.
    estimators : list
        :func:`w_profile`: the fitted estimators of each ``w > 0``, in grid
        order (per ``w``: one per fold with ``cv``, times ``n_repeats``);
        :func:`w_cross_fit`: those of each fold (``n_repeats`` per fold).
    log_ratio : ndarray of shape (n_samples,) or None
        :func:`w_cross_fit` only: held-out ``log p_S - log p_B`` of every
        event, in the order of ``X`` (None for :func:`w_profile`).
    upper_limit_95 : float or None
        One-sided 95 % CL upper limit on ``w``: where ``2 (LL(w_hat) - LL(w))``
        reaches 2.71 above ``w_hat`` (from ``w = 0`` when ``w_hat = 0``).
        Like the intervals it is statistical only, given p_S and p_B.
    w_max : float or None
        Largest ``w`` considered (``w_hat`` and the intervals are cut there).
    w_hat_templates : ndarray or None
        After :func:`with_background_spread`: ``w_hat`` under each background
        template.
    w_std_background : float or None
        After :func:`with_background_spread`: the background-model part of
        the uncertainty on ``w``: their standard deviation, with the
        spurious signal added in quadrature.
    w_std_signal_model : float or None
        After :func:`with_background_spread`: the signal-model part (its
        ``signal_model`` argument); the widened numbers use both parts.
    interval_68_statistical, interval_95_statistical, upper_limit_95_statistical, \
significance_statistical : tuple, float or None
        After :func:`with_background_spread`: the statistical-only numbers
        (``interval_68``, ``interval_95``, ``upper_limit_95`` and
        ``significance`` then include the background-model part).
    """

    # the curves are long: the repr shows the numbers a physicist quotes
    w_grid: np.ndarray = field(repr=False)
    delta_loglik: np.ndarray = field(repr=False)
    q: np.ndarray = field(repr=False)
    w_hat: float
    delta_loglik_max: float
    interval_68: tuple
    interval_95: tuple
    significance: float
    n_eval: int
    loglik_zero: float
    estimators: list = field(default_factory=list, repr=False)
    log_ratio: np.ndarray = field(default=None, repr=False)
    upper_limit_95: float = None
    w_max: float = None
    w_hat_templates: np.ndarray = field(default=None, repr=False)
    w_std_background: float = None
    w_std_signal_model: float = None
    interval_68_statistical: tuple = None
    interval_95_statistical: tuple = None
    upper_limit_95_statistical: float = None
    significance_statistical: float = None

    def covers(self, w, level=95):
        """Whether the ``level`` (68 or 95) % interval contains ``w``."""
        if level not in (68, 95):
            raise ValueError(f"level must be 68 or 95; got {level!r}.")
        low, high = self.interval_68 if level == 68 else self.interval_95
        return bool(low <= w <= high)


class _HeldOutMixture:
    """``LL(w) - LL(0) = sum_i log(1 + w (r_i - 1))`` for fixed ratios ``r_i = p_S / p_B``.

    Concave in ``w`` (its second derivative is ``-sum (r_i - 1)^2 / (...)^2``),
    so the maximum and the drop crossings are unique roots.
    """

    def __init__(self, log_ratio, weight=None):
        self.log_ratio = np.asarray(log_ratio, dtype=np.float64)
        # event weights multiply each event's term (None: every event counts once)
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float64)

    def _sum(self, terms):
        return np.sum(terms) if self.weight is None else np.dot(self.weight, terms)

    def __call__(self, w):
        if w <= 0:
            return 0.0
        return float(self._sum(np.logaddexp(math.log1p(-w), math.log(w) + self.log_ratio)))

    def slope(self, w):
        # d/dw log((1 - w) + w r) = (r - 1) / ((1 - w) + w r), with r = exp(log_ratio)
        log_den = np.logaddexp(math.log1p(-w), math.log(w) + self.log_ratio) if w > 0 else 0.0
        with np.errstate(over="ignore", invalid="ignore"):  # w = 0, huge ratio: +inf
            terms = np.exp(self.log_ratio - log_den) - np.exp(-log_den)
            if self.weight is not None:  # a zero weight on an infinite term is no term
                terms = np.where(self.weight > 0, terms, 0.0)
            return float(self._sum(terms))

    def maximum(self, w_max):
        if self.slope(0.0) <= 0:
            return 0.0
        if self.slope(w_max) >= 0:
            return w_max
        return brentq(self.slope, 0.0, w_max, xtol=1e-12, rtol=1e-10)

    def summary(self, w_max, drops=(DROP_68, DROP_95)):
        """``w_hat``, ``LL(w_hat) - LL(0)`` and the intervals of each drop on ``[0, w_max]``."""
        w_hat = self.maximum(w_max)
        ll_max = self(w_hat)
        intervals = []
        for drop in drops:
            level = ll_max - drop
            low = 0.0 if w_hat == 0 or 0.0 >= level else self.crossing(level, 0.0, w_hat)
            if w_hat >= w_max or self(w_max) >= level:
                high = w_max
            else:
                high = self.crossing(level, w_hat, w_max)
            intervals.append((float(low), float(high)))
        return float(w_hat), float(ll_max), intervals

    def crossing(self, level, lo, hi):
        """The ``w`` in ``[lo, hi]`` where ``LL(w) - LL(0)`` equals ``level`` (one side)."""
        return brentq(lambda w: self(w) - level, lo, hi, xtol=1e-12, rtol=1e-10)


#: An event whose term in LL(w_hat) - LL(0) exceeds this many nats has
#: p_S / p_B above about e^(MAX_EVENT_GAIN - log w): no signal model trained on
#: a few hundred signal events makes such a ratio; a background density that
#: (nearly) vanishes there does.
MAX_EVENT_GAIN = 20.0


def _warn_on_dominant_events(log_ratio, w_hat, ll_max):
    if w_hat <= 0:
        return
    gain = np.logaddexp(math.log1p(-w_hat), math.log(w_hat) + log_ratio)
    big = gain > MAX_EVENT_GAIN
    if big.any():
        share = float(np.sum(gain[big]) / ll_max) if ll_max > 0 else 1.0
        warnings.warn(
            f"{int(big.sum())} event(s) (first at row {int(np.flatnonzero(big)[0])}) each "
            f"add more than {MAX_EVENT_GAIN:g} to the log-likelihood ratio, together "
            f"{100 * min(share, 1.0):.0f} % of it: the background model gives them almost "
            "no density (typically events outside the range it was trained on), so w_hat, "
            "the intervals and the significance measure that, not a signal. Inspect "
            "profile.log_ratio and the background model's range.",
            SkranodeWarning,
            stacklevel=3,
        )


def mixture_w_hat(log_ratio, *, w_max=0.5, sample_weight=None):
    """Maximum-likelihood signal fraction of a mixture with fixed densities.

    The ``w`` in ``[0, w_max]`` that maximises ``sum_i log(1 - w + w r_i)``,
    ``r_i = p_S(x_i) / p_B(x_i)`` (concave in ``w``, so the root of its
    slope is unique); the ``w_hat`` of :func:`mixture_profile` without its
    intervals.

    Parameters
    ----------
    log_ratio : array-like of shape (n_samples,)
        ``log p_S - log p_B`` of each event; finite.
    w_max : float, default=0.5
        Largest ``w`` considered.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative event weights: each event's term counts ``weight``
        times (the point estimate only; the intervals of
        :func:`mixture_profile` count events).

    Returns
    -------
    w_hat : float
    """
    log_ratio = np.asarray(log_ratio, dtype=np.float64).reshape(-1)
    if log_ratio.size == 0 or not np.all(np.isfinite(log_ratio)):
        raise ValueError("log_ratio must be a non-empty array of finite values.")
    if not (isinstance(w_max, numbers.Real) and 0 < w_max < 1):
        raise ValueError(f"w_max must be in (0, 1); got {w_max!r}.")
    weight = check_event_weights(sample_weight, log_ratio.shape[0])
    return float(_HeldOutMixture(log_ratio, weight).maximum(float(w_max)))


def mixture_profile(log_ratio, *, w_max=0.5, loglik_zero=0.0):
    """The likelihood of ``w`` from held-out ``log p_S / p_B`` of every event.

    With p_S and p_B fixed (trained on other events), the mixture
    log-likelihood ``LL(w) - LL(0) = sum_i log(1 - w + w r_i)`` is concave in
    ``w``: this finds its maximum, the 68 % and 95 % intervals, the one-sided
    95 % CL upper limit and the significance of ``w > 0``, all from the exact
    function (no grid). :func:`w_cross_fit` uses it; so does a scan, whose
    fold models give the ratios.

    Parameters
    ----------
    log_ratio : array-like of shape (n_samples,)
        ``log p_S - log p_B`` of each event, from models that did not train on it.
    w_max : float in (0, 1), default=0.5
        Largest ``w`` considered.
    loglik_zero : float, default=0.0
        ``sum log p_B`` of the events, stored as ``loglik_zero``.

    Returns
    -------
    profile : WProfile
        With ``log_ratio`` and ``upper_limit_95`` set and no ``estimators``.

    Raises
    ------
    ValueError
        If a ratio is not finite or ``w_max`` is not in (0, 1).
    """
    log_ratio = np.asarray(log_ratio, dtype=np.float64).reshape(-1)
    if not (isinstance(w_max, numbers.Real) and 0 < w_max < 1):
        raise ValueError(f"w_max must be in (0, 1); got {w_max!r}.")
    if log_ratio.size == 0:
        raise ValueError("log_ratio holds no event.")
    if not np.all(np.isfinite(log_ratio)):
        raise ValueError(
            "log p_S - log p_B is not finite for some held-out events (a density of 0 or inf)."
        )
    ll = _HeldOutMixture(log_ratio)
    w_hat, ll_max, intervals = ll.summary(w_max, drops=(DROP_68, DROP_95, DROP_UL95))
    _warn_on_dominant_events(log_ratio, w_hat, ll_max)
    top = min(w_max, max(2.5 * intervals[1][1], 1e-3))
    grid = np.linspace(0.0, top, 201)
    delta = np.array([0.0] + [ll(w) for w in grid[1:]])
    return WProfile(
        w_grid=grid,
        delta_loglik=delta,
        q=2.0 * delta,
        w_hat=float(w_hat),
        delta_loglik_max=float(ll_max),
        interval_68=intervals[0],
        interval_95=intervals[1],
        significance=math.sqrt(max(0.0, 2.0 * ll_max)),
        n_eval=int(log_ratio.size),
        loglik_zero=float(loglik_zero),
        log_ratio=log_ratio,
        upper_limit_95=float(intervals[2][1]),
        w_max=float(w_max),
    )


def _checked_templates(profile, template_log_ratios, spurious, signal_model):
    """The template ratios of :func:`with_background_spread` as a 2-D array, checked."""
    templates = np.atleast_2d(np.asarray(template_log_ratios, dtype=np.float64))
    if templates.shape[0] < 2 or templates.size == 0:
        raise ValueError(
            f"with_background_spread needs at least two templates; got {templates.shape[0]}."
        )
    if profile.log_ratio is not None and templates.shape[1] != profile.log_ratio.size:
        raise ValueError(
            f"template_log_ratios has {templates.shape[1]} events per template; the profile "
            f"has {profile.log_ratio.size}. Pass the same held-out events in the same order."
        )
    if not np.all(np.isfinite(templates)):
        raise ValueError("A template gives a non-finite log p_S - log p_B.")
    for name, value in (("spurious", spurious), ("signal_model", signal_model)):
        if not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    return templates


def with_background_spread(profile, template_log_ratios, *, spurious=0.0, signal_model=0.0):
    """Add the background-model uncertainty to a w likelihood.

    The held-out likelihood of :func:`mixture_profile` takes the background
    density as exact. Here the same signal densities are divided by several
    background *templates* (models trained on other resamples of the
    sidebands, with other seeds or architectures): the spread of ``w_hat``
    over the templates, ``sigma_B`` (standard deviation, ``ddof=1``), is the
    background-model part of the uncertainty, added in quadrature to each
    side of the statistical intervals of ``profile``::

        low  = w_hat - sqrt((w_hat - low_stat)^2 + (z sigma_B)^2)   (>= 0)
        high = w_hat + sqrt((high_stat - w_hat)^2 + (z sigma_B)^2)

    with ``z`` = 1, 1.96 and 1.645 for the 68 %, 95 % and one-sided 95 %
    limits, and the significance becomes ``w_hat / sqrt(sigma_stat^2 +
    sigma_B^2)`` with ``sigma_stat = w_hat / Z_stat``. Templates trained on the
    same sidebands share part of their error, which their spread does not
    show; ``spurious`` adds a further term in quadrature to ``sigma_B``: the
    *spurious signal*, the ``w_hat`` that the same procedure finds where there
    is no signal to find (the scan and the main job use the held-out
    sideband events, a truth-free control). ``profile`` is
    typically the likelihood under the templates' average density (an
    ensemble, better than any member); the spread of single templates is
    then a conservative measure of the ensemble's error. With a handful of
    templates ``sigma_B`` is itself uncertain by about ``1 / sqrt(2 (K - 1))``;
    the coverage this gives is measured in ``benchmarks/bench_calibration.py``
    (user guide).

    Parameters
    ----------
    profile : WProfile
        The nominal profile (from :func:`mixture_profile` or :func:`w_cross_fit`).
    template_log_ratios : array-like of shape (n_templates, n_samples)
        ``log p_S - log p_B,j`` of the same held-out events (in the order of
        ``profile.log_ratio``) for each template ``j``; at least two.
    spurious : float, default=0.0
        Spurious-signal uncertainty on ``w`` (>= 0), added in quadrature.
    signal_model : float, default=0.0
        Signal-model uncertainty on ``w`` (>= 0), for example the spread of
        ``w_hat`` over signal models trained from different starts; added in
        quadrature to the background-model part in the intervals, the upper
        limit and the significance, and kept apart in ``w_std_signal_model``.

    Returns
    -------
    profile : WProfile
        A copy whose intervals, upper limit and significance include the
        background-model part, with the statistical-only numbers in the
        ``*_statistical`` attributes, ``w_hat_templates``,
        ``w_std_background`` and ``w_std_signal_model``. ``w_hat`` is unchanged.

    Raises
    ------
    ValueError
        If there are fewer than two templates, a ratio is not finite or the
        shapes do not match.
    """
    templates = _checked_templates(profile, template_log_ratios, spurious, signal_model)
    w_max = profile.w_max if profile.w_max is not None else 0.5
    w_hats = np.array([_HeldOutMixture(row).maximum(w_max) for row in templates])
    sigma_background = math.hypot(float(np.std(w_hats, ddof=1)), float(spurious))
    sigma_b = math.hypot(sigma_background, float(signal_model))
    w_hat = profile.w_hat

    def widen(interval, z):
        low = w_hat - math.hypot(w_hat - interval[0], z * sigma_b)
        high = w_hat + math.hypot(interval[1] - w_hat, z * sigma_b)
        return (max(0.0, low), min(w_max, high))

    z_stat = profile.significance
    if w_hat > 0 and z_stat > 0:
        z_total = w_hat / math.hypot(w_hat / z_stat, sigma_b)
    else:
        z_total = 0.0
    upper = profile.upper_limit_95
    if upper is not None:
        upper = min(w_max, w_hat + math.hypot(upper - w_hat, 1.6448536269514722 * sigma_b))
    out = copy.copy(profile)
    out.interval_68_statistical = profile.interval_68
    out.interval_95_statistical = profile.interval_95
    out.upper_limit_95_statistical = profile.upper_limit_95
    out.significance_statistical = profile.significance
    out.interval_68 = widen(profile.interval_68, 1.0)
    out.interval_95 = widen(profile.interval_95, 1.959963984540054)
    out.upper_limit_95 = upper
    out.significance = float(z_total)
    out.w_hat_templates = w_hats
    out.w_std_background = sigma_background
    out.w_std_signal_model = float(signal_model)
    return out


def profile_notes(profile):
    """Edge cases of a w likelihood that make its numbers need a caveat.

    Parameters
    ----------
    profile : WProfile
        From :func:`w_cross_fit` or :func:`mixture_profile`.

    Returns
    -------
    notes : list of str
        One sentence per problem found (empty when none): ``w_hat`` at 0 or at
        ``w_max``, an interval cut at ``w_max``, a likelihood ratio dominated by
        a few events (more than :data:`MAX_EVENT_GAIN` nats each, or the top 5
        events giving more than half of ``LL(w_hat) - LL(0)``).
    """
    notes = []
    w_max = profile.w_max
    if w_max is not None and profile.w_hat >= w_max:
        notes.append(
            f"w_hat is at the largest w considered ({w_max:g}): the likelihood still rises "
            "there, which a small signal does not do; the background model is off"
        )
    elif w_max is not None and profile.interval_95[1] >= w_max:
        notes.append(f"the 95 % interval is cut at the largest w considered ({w_max:g})")
    if profile.w_hat == 0:
        notes.append("w_hat is 0: no excess; quote the upper limit")
    if profile.log_ratio is not None and profile.w_hat > 0 and profile.delta_loglik_max > 0:
        w_hat = profile.w_hat
        gain = np.logaddexp(math.log1p(-w_hat), math.log(w_hat) + profile.log_ratio)
        n_big = int(np.sum(gain > MAX_EVENT_GAIN))
        top5 = float(np.sort(gain)[-5:].sum()) / profile.delta_loglik_max
        if n_big:
            notes.append(
                f"{n_big} event(s) each add more than {MAX_EVENT_GAIN:g} nats to the "
                "likelihood ratio: the background model gives them almost no density"
            )
        elif top5 > 0.5 and profile.significance > 2:
            notes.append(
                f"the 5 most signal-like events give {100 * min(top5, 1):.0f} % of the "
                "likelihood ratio: the significance rests on a handful of events"
            )
    return notes


def mixture_delta_loglik(w, log_ratio):
    """``LL(w) - LL(0) = sum_i log((1 - w) + w r_i)`` of held-out ratios ``r_i = p_S / p_B``.

    Parameters
    ----------
    w : float
        Signal fraction in ``[0, 1)``.
    log_ratio : array-like of shape (n_events,)
        ``log p_S - log p_B`` of each held-out event.

    Returns
    -------
    delta_loglik : float
    """
    return _HeldOutMixture(log_ratio)(w)
