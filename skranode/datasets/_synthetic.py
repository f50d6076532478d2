"""Synthetic dijet events that mimic the LHC Olympics 2020 R&D dataset.

The generator is a parametric toy, tuned so that in the signal region
3.3 < mjj < 3.7 TeV its marginals and correlations are close to those of the
real R&D events (see :func:`make_lhco_like`). It is vectorized numpy: one
million events take about a second.
"""

import numbers

import numpy as np
from scipy.special import expit, logit, ndtr, ndtri
from scipy.stats import norm

from skranode.datasets._base import check_count, check_generator, check_positive, to_output
from skranode.mass_window import check_interval

__all__ = [
    "DIJET_PARAMS",
    "LHCOLikeBackgroundDensity",
    "dijet_pdf",
    "lhco_like_jet_log_density",
    "make_lhco_like",
]

#: Centre-of-mass energy (TeV) that sets the scale x = mjj / sqrt(s) of the dijet function.
SQRT_S = 13.0

#: Parameters (p1, p2, p3) of the background dijet function
#: ``(1 - x)**p1 / x**(p2 + p3 * ln x)``. With ``mjj_range=(2.8, 7.0)`` they put
#: 12.1 % of the background in 3.3 < mjj < 3.7 TeV, as in the real R&D set.
DIJET_PARAMS = (10.0, 9.95, 0.5)

# Number of grid points used to invert the background mjj CDF.
_GRID_SIZE = 2**16 + 1

# -- background jets --------------------------------------------------------
# Each jet mass is m_j = mjj * _BKG_RMAX * expit(mu + sigma * z): the ratio m_j / mjj
# does not depend on mjj, so the median jet mass grows linearly with mjj.
_BKG_RMAX = 0.5
_BKG_MASS_MU = -2.20
_BKG_MASS_SIGMA = 0.87
# tau21 = expit(a - c * softplus(z - z0) + b * eps): heavier jets (large z) are
# more two-pronged (smaller tau21), and more so the heavier they are.
_BKG_TAU_A = 0.80
_BKG_TAU_B = 0.77
_BKG_TAU_C = 0.82
_BKG_TAU_Z0 = 0.0

# -- signal jets ------------------------------------------------------------
# Observed mass: sqrt(m_true**2 + m_extra**2) * exp(res * z), where m_extra
# (underlying event, initial-state radiation) is log-normal around _SIG_EXTRA_MASS,
# softly capped at _SIG_EXTRA_CAP by cap * tanh(m / cap).
_SIG_RES_Y = 0.058
_SIG_RES_X = 0.064
_SIG_EXTRA_MASS = 0.040
_SIG_EXTRA_SIGMA = 1.0
_SIG_EXTRA_CAP = 0.6
# With this probability the X jet misses part of its decay products: its true
# mass is scaled down by a uniform factor in [0.1, 0.9] and its tau21 looks QCD-like.
_SIG_LOSS_PROB = 0.10
# tau21 of the Y jet: expit(a + k * extra + b * eps); of the X jet: expit(a + b * eps).
_SIG_TAU_Y = (-0.48, 0.27, 0.63)
_SIG_TAU_X = (-1.53, 0.74)

_TAU_EPS = 1e-6


def dijet_pdf(mjj, params=DIJET_PARAMS, sqrt_s=SQRT_S):
    """Unnormalized dijet function used for the background mjj spectrum.

    Parameters
    ----------
    mjj : array-like
        Dijet invariant mass in TeV, strictly between 0 and ``sqrt_s``.
    params : tuple of 3 floats, default=DIJET_PARAMS
        ``(p1, p2, p3)`` in ``(1 - x)**p1 / x**(p2 + p3 * ln x)``.
    sqrt_s : float, default=13.0
        Centre-of-mass energy in TeV; ``x = mjj / sqrt_s``.

    Returns
    -------
    density : ndarray
        The function evaluated at ``mjj`` (not normalized).
    """
    p1, p2, p3 = params
    x = np.asarray(mjj, dtype=np.float64) / sqrt_s
    log_x = np.log(x)
    return np.exp(p1 * np.log1p(-x) - (p2 + p3 * log_x) * log_x)


def _check_range(mjj_range):
    lo, hi = check_interval(mjj_range, "mjj_range")
    if not 0.0 < lo < hi < SQRT_S:
        raise ValueError(
            f"mjj_range must satisfy 0 < low < high < {SQRT_S} TeV; got {mjj_range!r}."
        )
    return lo, hi


def _sample_background_mjj(rng, n, lo, hi):
    """Inverse-CDF sampling of the dijet function on a fine grid in log(mjj)."""
    grid = np.exp(np.linspace(np.log(lo), np.log(hi), _GRID_SIZE))
    pdf = dijet_pdf(grid)
    # trapezoidal CDF on the grid; the density is smooth, so with 65k points the
    # interpolated inverse is exact to far below any statistical precision
    cdf = np.concatenate(([0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))))
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, grid)


def _sample_signal_mjj(rng, n, mass, width, lo, hi):
    """Gaussian peak truncated to the generated range (exact inverse CDF)."""
    sigma = width * mass
    a, b = ndtr((lo - mass) / sigma), ndtr((hi - mass) / sigma)
    u = a + (b - a) * rng.random(n)
    return np.clip(mass + sigma * ndtri(u), lo, hi)


def _order_jets(m_a, m_b, tau_a, tau_b):
    """Return mjmin, delta_mj, tau21 of the lighter jet and of the heavier jet."""
    swap = m_b < m_a
    m_min = np.where(swap, m_b, m_a)
    m_max = np.where(swap, m_a, m_b)
    tau_min = np.where(swap, tau_b, tau_a)
    tau_max = np.where(swap, tau_a, tau_b)
    return m_min, m_max - m_min, tau_min, tau_max


def _background(rng, n, lo, hi):
    return _background_jets(rng, _sample_background_mjj(rng, n, lo, hi))


def _background_jets(rng, mjj):
    """Background events (mjj and the four features) at the dijet masses ``mjj``."""
    n = mjj.size
    z = rng.standard_normal((4, n))
    masses = mjj * _BKG_RMAX * expit(_BKG_MASS_MU + _BKG_MASS_SIGMA * z[:2])
    softplus = np.logaddexp(0.0, z[:2] - _BKG_TAU_Z0)
    tau = expit(_BKG_TAU_A - _BKG_TAU_C * softplus + _BKG_TAU_B * z[2:])
    return np.column_stack((mjj, *_order_jets(masses[0], masses[1], tau[0], tau[1])))


def _signal(rng, n, mass, width, mx, my, lo, hi):
    mjj = _sample_signal_mjj(rng, n, mass, width, lo, hi)
    z = rng.standard_normal((7, n))
    lost = rng.random(n) < _SIG_LOSS_PROB
    m_true_x = np.where(lost, mx * (0.1 + 0.8 * rng.random(n)), mx)
    extra = _SIG_EXTRA_MASS * np.exp(_SIG_EXTRA_SIGMA * z[2:4])
    extra = _SIG_EXTRA_CAP * np.tanh(extra / _SIG_EXTRA_CAP)
    m_y = np.hypot(my, extra[0]) * np.exp(_SIG_RES_Y * z[0])
    m_x = np.hypot(m_true_x, extra[1]) * np.exp(_SIG_RES_X * z[1])
    a_y, k_y, b_y = _SIG_TAU_Y
    a_x, b_x = _SIG_TAU_X
    tau_y = expit(a_y + k_y * z[2] + b_y * z[4])
    tau_x = np.where(lost, expit(_BKG_TAU_A + _BKG_TAU_B * z[6]), expit(a_x + b_x * z[5]))
    return np.column_stack((mjj, *_order_jets(m_y, m_x, tau_y, tau_x)))


def make_lhco_like(
    n_background=1_000_000,
    n_signal=1000,
    *,
    signal_mass=3.5,
    signal_width=0.05,
    mx=0.5,
    my=0.1,
    mjj_range=(2.8, 7.0),
    as_frame=True,
    random_state=None,
):
    """Generate synthetic dijet events resembling the LHC Olympics 2020 R&D data.

    Every event has the dijet mass ``mjj`` and the four CATHODE features
    (lighter jet mass, jet mass difference, and the N-subjettiness ratio
    tau21 of the lighter and of the heavier jet), all in TeV, plus a truth label.

    **Background** (QCD dijets): ``mjj`` follows the dijet function
    ``(1 - x)**p1 / x**(p2 + p3 ln x)``, ``x = mjj / 13 TeV``, with
    :data:`DIJET_PARAMS`, sampled by inverting its CDF on a fine grid; with the
    default range about 12 % of the events fall in 3.3 < mjj < 3.7 TeV. The two
    jet masses are independent draws of ``mjj * 0.5 * expit(-2.2 + 0.87 z)``,
    so they grow linearly with ``mjj`` (the median lighter-jet mass is
    proportional to ``mjj``): a background model must interpolate this trend
    from the sidebands. tau21 of each jet decreases with its mass (Pearson
    correlation about -0.3 for the lighter jet and -0.4 for the heavier one).

    **Signal** (W' -> X Y -> 4 quarks): ``mjj`` is a Gaussian at
    ``signal_mass`` with relative width ``signal_width``, truncated to
    ``mjj_range``; the jets have masses near ``my`` and ``mx`` (plus a soft
    extra-mass contribution and resolution smearing; in 10 % of the events the
    X jet misses part of its decay products) and two-pronged tau21
    (about 0.39 for the Y jet and 0.23 for the X jet).

    Tuned against the real R&D events in 3.3 < mjj < 3.7 TeV, where (median
    [16 %, 84 %], TeV) background mjmin is 0.108 [0.058, 0.215] and delta_mj is
    0.126 [0.032, 0.326]; signal mjmin is 0.110 [0.098, 0.147] and delta_mj is
    0.383 [0.300, 0.426]. The generator reproduces these within a few per cent.

    Parameters
    ----------
    n_background : int, default=1_000_000
        Number of background events over the whole ``mjj_range``.
    n_signal : int, default=1000
        Number of signal events over the whole ``mjj_range``.
    signal_mass : float, default=3.5
        Resonance mass in TeV; must lie inside ``mjj_range``.
    signal_width : float, default=0.05
        Relative Gaussian width of the signal ``mjj`` peak (sigma / mass), > 0.
    mx : float, default=0.5
        Mass in TeV of the heavier daughter X (the heavier signal jet).
    my : float, default=0.1
        Mass in TeV of the lighter daughter Y; ``0 < my <= mx`` and
        ``mx + my < signal_mass``.
    mjj_range : tuple of 2 floats, default=(2.8, 7.0)
        Generated ``mjj`` range in TeV (trigger-like threshold, upper end).
    as_frame : bool, default=True
        Return one :class:`pandas.DataFrame` with the columns
        ``mjj, mjmin, delta_mj, tau21_min, tau21_max, label`` when True;
        ``(X, y)`` otherwise.
    random_state : int, RandomState, Generator or None, default=None
        Seed or generator; the same seed gives identical events.

    Returns
    -------
    frame : DataFrame of shape (n_background + n_signal, 6)
        When ``as_frame=True``. Events are shuffled.
    X : ndarray of shape (n_background + n_signal, 5)
        When ``as_frame=False``: columns ``mjj, mjmin, delta_mj, tau21_min,
        tau21_max`` (mass first), float64.
    y : ndarray of shape (n_background + n_signal,)
        When ``as_frame=False``: 1 for signal, 0 for background (int64).

    Examples
    --------
    >>> from skranode.datasets import make_lhco_like
    >>> df = make_lhco_like(n_background=10_000, n_signal=100, random_state=0)
    >>> list(df.columns)
    ['mjj', 'mjmin', 'delta_mj', 'tau21_min', 'tau21_max', 'label']
    >>> int(df["label"].sum())
    100
    """
    n_background = check_count(n_background, "n_background")
    n_signal = check_count(n_signal, "n_signal")
    if n_background + n_signal == 0:
        raise ValueError("n_background + n_signal must be at least 1; got 0 events.")
    lo, hi = _check_range(mjj_range)
    signal_mass = check_positive(signal_mass, "signal_mass")
    if not lo < signal_mass < hi:
        raise ValueError(
            f"signal_mass={signal_mass} TeV lies outside mjj_range=({lo}, {hi}); the "
            "resonance must sit inside the generated range."
        )
    signal_width = check_positive(signal_width, "signal_width")
    mx = check_positive(mx, "mx")
    my = check_positive(my, "my")
    if my > mx:
        raise ValueError(
            f"my={my} TeV is larger than mx={mx} TeV; mx is the heavier daughter "
            "(pass the two masses the other way round)."
        )
    if mx + my >= signal_mass:
        raise ValueError(
            f"mx + my = {mx + my} TeV must be smaller than signal_mass={signal_mass} TeV "
            "for the decay to be kinematically allowed."
        )
    if not isinstance(as_frame, (bool, np.bool_, numbers.Integral)):
        raise ValueError(f"as_frame must be True or False; got {as_frame!r}.")
    rng = check_generator(random_state)

    data = np.empty((n_background + n_signal, 5))
    data[:n_background] = _background(rng, n_background, lo, hi)
    data[n_background:] = _signal(rng, n_signal, signal_mass, signal_width, mx, my, lo, hi)
    data[:, 3:] = np.clip(data[:, 3:], _TAU_EPS, 1.0 - _TAU_EPS)
    label = np.zeros(n_background + n_signal, dtype=np.int64)
    label[n_background:] = 1
    order = rng.permutation(data.shape[0])
    return to_output(data[order], label[order], bool(as_frame))


def lhco_like_jet_log_density(mj, tau, mjj):
    """Exact log-density of one background jet of :func:`make_lhco_like`, and its normals.

    Each jet mass is ``mjj * r_max * expit(mu + sigma z)`` and its tau21 is
    ``expit(a - c softplus(z - z0) + b eps)`` with ``z`` and ``eps`` standard
    normal; this inverts that map.

    Parameters
    ----------
    mj, tau, mjj : ndarray of shape (n_samples,)
        Jet mass, its tau21 and the dijet mass (TeV).

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
        ``log p(m_j, tau21 | mjj)`` (-inf outside the support).
    z, eps : ndarray of shape (n_samples,)
        The standard-normal variables of the jet mass and of its tau21.
    """
    mj, tau, mjj = (np.asarray(v, dtype=np.float64) for v in (mj, tau, mjj))
    scale = mjj * _BKG_RMAX
    r = mj / scale
    # outside the support (a jet heavier than mjj * r_max, tau21 outside (0, 1))
    # the density is 0: log-density -inf, normals NaN
    inside = (r > 0) & (r < 1) & (tau > 0) & (tau < 1)
    r = np.where(inside, r, 0.5)
    tau = np.where(inside, tau, 0.5)
    z = (logit(r) - _BKG_MASS_MU) / _BKG_MASS_SIGMA
    log_m = norm.logpdf(z) - np.log(_BKG_MASS_SIGMA * r * (1 - r) * scale)
    softplus = np.logaddexp(0.0, z - _BKG_TAU_Z0)
    eps = (logit(tau) - _BKG_TAU_A + _BKG_TAU_C * softplus) / _BKG_TAU_B
    log_t = norm.logpdf(eps) - np.log(_BKG_TAU_B * tau * (1 - tau))
    return (
        np.where(inside, log_m + log_t, -np.inf),
        np.where(inside, z, np.nan),
        np.where(inside, eps, np.nan),
    )


class LHCOLikeBackgroundDensity:
    """The exact background density p_B(x | m) of :func:`make_lhco_like`.

    A perfectly trained background model for tests and benchmarks (no
    training, no ``fit``: a ready density object of the background-model
    protocol, :mod:`skranode.background`). The two jets are independent
    draws, ordered by mass (a factor 2); ``delta_mj`` is a shift (unit
    Jacobian). Features in the order of :data:`FEATURE_NAMES`.

    Examples
    --------
    >>> from skranode.datasets import LHCOLikeBackgroundDensity, make_lhco_like
    >>> df = make_lhco_like(n_background=1000, n_signal=0, random_state=0)
    >>> X = df[["mjmin", "delta_mj", "tau21_min", "tau21_max"]].to_numpy()
    >>> LHCOLikeBackgroundDensity().score_samples(X, df["mjj"]).shape
    (1000,)
    """

    def score_samples(self, X, m):
        """``log p_B(x | m)`` of each event.

        Parameters
        ----------
        X : array-like of shape (n_samples, 4)
            ``mjmin, delta_mj, tau21_min, tau21_max``.
        m : array-like of shape (n_samples,)
            Dijet masses.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        X, m = np.asarray(X, dtype=np.float64), np.asarray(m, dtype=np.float64)
        light, _, _ = lhco_like_jet_log_density(X[:, 0], X[:, 2], m)
        heavy, _, _ = lhco_like_jet_log_density(X[:, 0] + X[:, 1], X[:, 3], m)
        return np.log(2.0) + light + heavy

    def sample(self, m, random_state=None):
        """Draw one background event at each dijet mass of ``m``.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Dijet masses (TeV) to draw at.
        random_state : int, Generator or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, 4)
            ``mjmin, delta_mj, tau21_min, tau21_max``, distributed as ``p_B(x | m)``.
        """
        m = np.asarray(m, dtype=np.float64).ravel()
        if not np.all(np.isfinite(m) & (m > 0)):
            raise ValueError("m must hold finite dijet masses > 0 (TeV).")
        data = _background_jets(check_generator(random_state), m)
        data[:, 3:] = np.clip(data[:, 3:], _TAU_EPS, 1.0 - _TAU_EPS)
        return data[:, 1:]
