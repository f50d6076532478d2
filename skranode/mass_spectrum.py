"""The background mass spectrum p_B(m), fitted in the sidebands and interpolated into the SR.

The shape is the standard dijet function of the LHC resonance searches,

    f(m) = (1 - x)^p1 / x^(p2 + p3 ln x + p4 ln^2 x),    x = m / sqrt(s),

with 2, 3 or 4 shape parameters (the "3-, 4- and 5-parameter" dijet functions,
whose normalisation p0 is the first parameter). Its logarithm is linear in the
parameters, ``log f(m) = p . T(m)`` with ``T(m) = (ln(1 - x), -ln x, -ln^2 x,
-ln^3 x)``, so the unbinned likelihood is that of an exponential family: the
data enter only through the mean of ``T`` over the sideband events, the
negative log-likelihood is convex, and its gradient and Hessian are exact
expectations under the fitted density. The fit is therefore unbinned, needs one
pass over the events, and takes a few Newton steps whatever the sample size.
Normalisation integrals use composite Gauss-Legendre quadrature in ``ln m``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import eigh
from scipy.optimize import minimize
from scipy.special import logsumexp, xlogy
from scipy.stats import chi2, norm
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from skranode.exceptions import SkranodeConvergenceWarning
from skranode.mass_window import DEFAULT_SIGNAL_REGION, MassWindow, check_interval
from skranode.utils._fitting import fit_all_or_nothing, fit_weighted
from skranode.utils._validation import check_event_weights, check_mass

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from typing_extensions import Self

__all__ = [
    "DijetMassSpectrum",
    "ResonanceFit",
    "bump_hunt_significance",
    "fit_resonance",
    "fit_window_spectrum",
    "resonance_toys",
]

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(24)
_PANEL_WIDTH = 0.05  # in ln m: 24 nodes per 5 % of mass, far below the statistical precision
_MIN_EVENTS_PER_PARAM = 10

#: The goodness of fit of :func:`fit_resonance`: bins of equal probability
#: under the fitted density with this many expected events each, at most
#: ``GOF_MAX_BINS`` of them (Pearson's chi-square; expected counts of 25 keep
#: its distribution close to the asymptotic one).
GOF_EVENTS_PER_BIN = 25
GOF_MAX_BINS = 50


def _as_masses(X, name="m"):
    """A 1-D float64 copy of the masses, from shape (n,) or (n, 1)."""
    shape = np.shape(X)
    if len(shape) == 0:
        raise ValueError(f"The mass {name} must be an array of masses; got a scalar.")
    return check_mass(X, shape[0], name=name)


def _features(m, sqrt_s, n_shape):
    """Sufficient statistic T(m) of shape (n, n_shape): log f(m) = T(m) @ params."""
    x = m / sqrt_s
    log_x = np.log(x)
    columns = [np.log1p(-x), -log_x, -(log_x**2), -(log_x**3)]
    return np.column_stack(columns[:n_shape])


def _quadrature(segments):
    """Nodes in m and log weights (Jacobian dm = m d ln m included) over the segments."""
    nodes, log_weights = [], []
    for a, b in segments:
        ua, ub = np.log(a), np.log(b)
        n_panels = max(1, int(np.ceil((ub - ua) / _PANEL_WIDTH)))
        edges = np.linspace(ua, ub, n_panels + 1)
        half = 0.5 * np.diff(edges)[:, None]
        mid = 0.5 * (edges[:-1] + edges[1:])[:, None]
        u = (mid + half * _GL_NODES).ravel()
        nodes.append(np.exp(u))
        log_weights.append(np.log((half * _GL_WEIGHTS).ravel()) + u)
    return np.concatenate(nodes), np.concatenate(log_weights)


def _log_partition(T_nodes, log_weights, theta, *, moments=0):
    """log of the integral of exp(T @ theta), with the mean (and covariance) of T."""
    a = T_nodes @ theta + log_weights
    top = a.max()
    log_z = top + np.log(np.sum(np.exp(a - top))) if np.isfinite(top) else logsumexp(a)
    if moments == 0:
        return log_z
    w = np.exp(a - log_z)
    mean = w @ T_nodes
    if moments == 1:
        return log_z, mean
    centred = T_nodes - mean
    return log_z, mean, (centred * w[:, None]).T @ centred


class DijetMassSpectrum(BaseEstimator):
    """Dijet-function fit of the sideband mass spectrum, interpolated into the signal region.

    :meth:`fit` uses only the events in the sidebands, the parts of
    ``mass_range`` below and above ``signal_region``; the signal-region events
    are counted (``n_signal_region_``) but never enter the fit, so a resonance
    there cannot bias the background prediction. The fit maximises the unbinned
    likelihood of the sideband masses under the dijet shape normalised over the
    sidebands (see the module docstring); the covariance of the shape
    parameters is the inverse of the exact Hessian at the optimum.

    Parameters
    ----------
    signal_region : tuple of float, default=(3.3, 3.7)
        ``(low, high)`` of the signal region, in the units of the masses (TeV by
        default). An event is in the signal region when ``low <= m < high`` (the
        convention of :class:`~skranode.mass_window.MassWindow`): an event at
        exactly ``low`` is a signal-region event, one at ``high`` a sideband event.
    mass_range : tuple of float or None, default=None
        ``(low, high)`` range of masses the spectrum describes; it must contain
        the signal region strictly inside; events with ``low <= m < high`` are
        used. None uses every mass passed to :meth:`fit` (the range is then
        from the smallest to the largest).
    n_params : {3, 4, 5}, default=4
        Number of parameters of the dijet function, counting the normalisation
        p0: 3 fits ``(p1, p2)``, 4 adds ``p3`` (the R-ANODE / CATHODE choice),
        5 adds ``p4``.
    sqrt_s : float, default=13.0
        Centre-of-mass energy in the units of the masses (13.0 for TeV, 13000.0
        for GeV); every mass must be below it.

    Attributes
    ----------
    params_ : ndarray of shape (n_params - 1,)
        Fitted shape parameters ``(p1, p2[, p3[, p4]])``.
    covariance_ : ndarray of shape (n_params - 1, n_params - 1)
        Their covariance, the inverse Hessian of the negative log-likelihood.
    mass_range_ : tuple of float
        The ``(low, high)`` range used.
    n_sideband_ : int
        Number of sideband events the fit used.
    sideband_yield_ : float
        Sum of the sideband events' weights (``n_sideband_`` without
        ``sample_weight``): the normalisation of :meth:`expected_count`.
    sideband_yield_variance_ : float
        Sum of their squared weights (``n_sideband_`` without weights): the
        variance of that normalisation.
    n_signal_region_ : int
        Number of events in the signal region (not used by the fit), the observed
        count for :func:`bump_hunt_significance`.
    n_iter_ : int
        Number of Newton iterations of the fit.

    See Also
    --------
    bump_hunt_significance : Significance of an excess over the predicted count.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode.mass_spectrum import DijetMassSpectrum
    >>> rng = np.random.default_rng(0)
    >>> m = 2.8 * (1.0 + rng.pareto(8.0, size=20000))  # a steeply falling spectrum
    >>> spectrum = DijetMassSpectrum(mass_range=(2.8, 7.0)).fit(m)
    >>> mean, std = spectrum.expected_count()  # background predicted in (3.3, 3.7)
    >>> bool(abs(spectrum.n_signal_region_ - mean) < 3 * np.hypot(std, np.sqrt(mean)))
    True
    """

    def __init__(
        self, signal_region=DEFAULT_SIGNAL_REGION, mass_range=None, n_params=4, sqrt_s=13.0
    ):
        self.signal_region = signal_region
        self.mass_range = mass_range
        self.n_params = n_params
        self.sqrt_s = sqrt_s

    def __sklearn_tags__(self):
        # one column of masses (as IsotonicRegression): scikit-learn's common checks,
        # made for 2-D features, do not apply (see skranode.estimator_checks)
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.positive_only = True
        tags.target_tags.required = False
        return tags

    def _check_params(self):
        if isinstance(self.n_params, bool) or self.n_params not in (3, 4, 5):
            raise ValueError(f"n_params must be 3, 4 or 5; got {self.n_params!r}.")
        if (
            isinstance(self.sqrt_s, bool)
            or not isinstance(self.sqrt_s, numbers.Real)
            or not np.isfinite(self.sqrt_s)
            or self.sqrt_s <= 0
        ):
            raise ValueError(f"sqrt_s must be a positive number; got {self.sqrt_s!r}.")
        return check_interval(self.signal_region, "signal_region")

    @fit_all_or_nothing
    def fit(
        self, X: ArrayLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Fit the dijet shape to the sideband masses.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1)
            Masses of all events (sidebands and signal region); must be finite.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative event weights. The fit maximises the weighted
            likelihood; the covariance of the parameters is then the sandwich
            estimate ``H^-1 V H^-1`` (``V`` the weighted sum of squared
            scores), which is right for weighted events where ``H^-1 / N`` is
            not, and :meth:`expected_count` is normalised to the summed
            sideband weights with variance the sum of their squares.

        Returns
        -------
        self : DijetMassSpectrum
        """
        sr_lo, sr_hi = self._check_params()
        m = _as_masses(X)
        weight = check_event_weights(sample_weight, m.shape[0])
        n_shape = int(self.n_params) - 1
        sqrt_s = float(self.sqrt_s)
        lo, hi, window, low, high = self._sidebands_of(m, sr_lo, sr_hi, sqrt_s)
        sideband = low | high
        if weight is not None:
            if not weight[sideband].any():
                raise ValueError(
                    "Every sideband event has zero sample_weight: the fit needs sideband "
                    "events of non-zero weight on both sides of the signal region."
                )
            sideband &= weight > 0  # a zero-weight event plays no part in the fit
        n_sideband = int(sideband.sum())
        if n_sideband < _MIN_EVENTS_PER_PARAM * n_shape:
            raise ValueError(
                f"Only {n_sideband} sideband event(s); a {self.n_params}-parameter fit needs "
                f"at least {_MIN_EVENTS_PER_PARAM * n_shape} ({_MIN_EVENTS_PER_PARAM} per "
                "shape parameter)."
            )

        # Whiten T on the data so that the Newton problem is well conditioned:
        # T_w = (T - c) A^T has zero mean and unit covariance over the sideband events.
        T = _features(m[sideband], sqrt_s, n_shape)
        w_sb = None if weight is None else weight[sideband]
        centre = np.average(T, axis=0, weights=w_sb)
        evals, evecs = eigh(np.atleast_2d(np.cov(T, rowvar=False, aweights=w_sb)))
        if evals[0] <= 1e-14 * evals[-1]:
            raise ValueError(
                "The sideband masses are too concentrated (too few distinct values) to "
                f"constrain a {self.n_params}-parameter dijet function; use fewer parameters "
                "or more events."
            )
        A = evecs.T / np.sqrt(evals)[:, None]
        segments = [(lo, sr_lo), (sr_hi, hi)]
        nodes, log_w = _quadrature(segments)
        T_nodes = (_features(nodes, sqrt_s, n_shape) - centre) @ A.T
        # The mean of T_w over the data is 0, so the mean negative log-likelihood
        # is just log Z(theta), with gradient E[T_w] and Hessian Cov[T_w].
        result = minimize(
            lambda t: _log_partition(T_nodes, log_w, t),
            np.zeros(n_shape),
            jac=lambda t: _log_partition(T_nodes, log_w, t, moments=1)[1],
            hess=lambda t: _log_partition(T_nodes, log_w, t, moments=2)[2],
            method="trust-exact",
            options={"gtol": 1e-9, "maxiter": 200},
        )
        _, grad, hess = _log_partition(T_nodes, log_w, result.x, moments=2)
        if not np.all(np.isfinite(result.x)) or np.linalg.norm(grad) > 1e-6:
            warnings.warn(
                f"The dijet fit did not converge ({result.message}); the parameters may be "
                "inaccurate.",
                SkranodeConvergenceWarning,
                stacklevel=2,
            )
        if w_sb is None:
            cov_white = np.linalg.inv(hess) / n_sideband
            yield_, yield_var = float(n_sideband), float(n_sideband)
        else:
            # sandwich estimate: H^-1 V H^-1 with V the weighted score covariance
            h_inv = np.linalg.inv(hess)
            score = ((T - centre) @ A.T - grad) * (w_sb / w_sb.sum())[:, None]
            cov_white = h_inv @ (score.T @ score) @ h_inv
            yield_, yield_var = float(w_sb.sum()), float(np.square(w_sb).sum())
        self.params_ = A.T @ result.x
        self.covariance_ = A.T @ cov_white @ A
        self.mass_range_ = (lo, hi)
        self.n_sideband_ = n_sideband
        self.sideband_yield_ = yield_
        self.sideband_yield_variance_ = yield_var
        self.n_signal_region_ = int(window.in_signal_region(m).sum())
        self.n_iter_ = int(result.nit)
        return self

    def _sidebands_of(self, m, sr_lo, sr_hi, sqrt_s):
        """The fit range, the window and the two sideband masks of the masses ``m``."""
        if self.mass_range is None:
            lo, hi = float(m.min()), float(m.max())
            source = "the masses passed to fit"
        else:
            lo, hi = check_interval(self.mass_range, "mass_range")
            source = "mass_range"
        if lo <= 0 or hi >= sqrt_s:
            raise ValueError(
                f"The mass range ({lo:.6g}, {hi:.6g}) from {source} must lie inside "
                f"(0, sqrt_s={sqrt_s:g}); the dijet function needs 0 < m / sqrt_s < 1. "
                "Check the units: with masses in GeV use sqrt_s=13000."
            )
        if not lo < sr_lo < sr_hi < hi:
            raise ValueError(
                f"signal_region ({sr_lo:.6g}, {sr_hi:.6g}) must lie strictly inside the mass "
                f"range ({lo:.6g}, {hi:.6g}) from {source}, so that there are sidebands on "
                "both sides to interpolate from."
            )
        # the edges of MassWindow: [lo, sr_lo) and [sr_hi, hi) (no outer limit
        # without mass_range, so that the largest mass is a sideband event)
        if self.mass_range is None:
            window = MassWindow(sr_lo, sr_hi)
        else:
            window = MassWindow(sr_lo, sr_hi, lo, hi)
        low = window.in_low_sideband(m)
        high = window.in_high_sideband(m)
        for side, mask, edges in (("low", low, (lo, sr_lo)), ("high", high, (sr_hi, hi))):
            if not mask.any():
                raise ValueError(
                    f"The {side} sideband [{edges[0]:.6g}, {edges[1]:.6g}] holds no event; "
                    "the interpolation into the signal region needs events on both sides."
                )
        return lo, hi, window, low, high

    def _window(self, window, default):
        lo, hi = self.mass_range_
        if window is None:
            return default
        a, b = check_interval(window, "window")
        if a < lo or b > hi:
            raise ValueError(
                f"window ({a:.6g}, {b:.6g}) reaches outside the fitted mass range "
                f"({lo:.6g}, {hi:.6g}); the spectrum is not extrapolated."
            )
        return a, b

    def _moments(self, segments, moments=0):
        """log of the integral of f over the segments, and the mean of T under f there."""
        nodes, log_w = _quadrature(segments)
        T_nodes = _features(nodes, float(self.sqrt_s), self.params_.shape[0])
        return _log_partition(T_nodes, log_w, self.params_, moments=moments)

    def _sidebands(self):
        lo, hi = self.mass_range_
        sr_lo, sr_hi = check_interval(self.signal_region, "signal_region")
        return [(lo, sr_lo), (sr_hi, hi)]

    def log_pdf(self, m: ArrayLike, window: tuple[float, float] | None = None) -> np.ndarray:
        """Log of the fitted background density p_B(m), normalised over ``window``.

        Parameters
        ----------
        m : array-like of shape (n_samples,) or (n_samples, 1)
            Masses; must be finite.
        window : tuple of float or None, default=None
            ``(low, high)`` over which the density integrates to 1; it must lie
            within ``mass_range_``. None is the whole ``mass_range_`` (signal
            region included); ``window=signal_region`` gives p_B(m) within the
            signal region, as R-ANODE needs.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            Finite for ``low <= m <= high``; ``-inf`` for masses outside the
            window, where the density restricted to the window is zero.
        """
        check_is_fitted(self)
        lo, hi = self._window(window, self.mass_range_)
        m = _as_masses(m)
        out = np.full(m.shape, -np.inf)
        inside = (m >= lo) & (m <= hi)
        T = _features(m[inside], float(self.sqrt_s), self.params_.shape[0])
        out[inside] = T @ self.params_ - self._moments([(lo, hi)])
        return out

    def expected_count(self, window: tuple[float, float] | None = None) -> tuple[float, float]:
        """Background count predicted in ``window`` from the sideband count and shape.

        The prediction is ``sideband_yield_ * I(window) / I(sidebands)``, with
        ``I`` the integral of the fitted shape (``sideband_yield_`` is the
        sideband count, or the sum of the sideband weights of a weighted fit).
        Its variance adds, independently, the Poisson fluctuation of the
        sideband count (relative variance ``1 / n_sideband_``, or
        ``sum w^2 / (sum w)^2`` with weights) and the shape-parameter uncertainty, propagated
        with the delta method: the gradient of ``log I(window) - log I(sidebands)``
        with respect to the parameters is the difference of the means of ``T``
        over the two regions.

        Parameters
        ----------
        window : tuple of float or None, default=None
            ``(low, high)`` within ``mass_range_``; None is the signal region.

        Returns
        -------
        mean : float
            Predicted number of background events.
        std : float
            Its standard deviation.
        """
        check_is_fitted(self)
        a, b = self._window(window, check_interval(self.signal_region, "signal_region"))
        log_i_window, mean_window = self._moments([(a, b)], moments=1)
        log_i_side, mean_side = self._moments(self._sidebands(), moments=1)
        mean = self.sideband_yield_ * np.exp(log_i_window - log_i_side)
        grad = mean_window - mean_side
        rel_var = (
            self.sideband_yield_variance_ / self.sideband_yield_**2 + grad @ self.covariance_ @ grad
        )
        return float(mean), float(mean * np.sqrt(max(rel_var, 0.0)))


def bump_hunt_significance(n_observed, expected, expected_std=0.0):
    """Profile-likelihood significance of an observed count over an uncertain background.

    The count ``n`` is Poisson with mean ``s + b``; the background prediction
    ``b_hat +- sigma`` is modelled as an auxiliary Poisson measurement
    ``k = tau * b_hat`` of ``tau * b`` with ``tau = b_hat / sigma^2``. Profiling
    ``b`` gives the likelihood-ratio statistic for ``s = 0`` in closed form
    (Cowan, Cranmer, Gross, Vitells, Eur. Phys. J. C 71 (2011) 1554; G. Cowan,
    "Discovery sensitivity for a counting experiment with background
    uncertainty", 2012):

        q0 = 2 [ n ln( n (b + sigma^2) / (b^2 + n sigma^2) )
                 - (b^2 / sigma^2) ln( 1 + sigma^2 (n - b) / (b (b + sigma^2)) ) ]

    which becomes ``2 [n ln(n / b) - (n - b)]`` for ``sigma = 0``. Evaluated at
    ``n = s + b`` it is the Asimov median discovery significance.

    Parameters
    ----------
    n_observed : float or array-like
        Observed count in the signal region (``n_signal_region_``), >= 0.
    expected : float or array-like
        Predicted background count, > 0 (for example from
        :meth:`DijetMassSpectrum.expected_count`).
    expected_std : float or array-like, default=0.0
        Standard deviation of the prediction, >= 0.

    Returns
    -------
    z : float or ndarray
        ``sign(n - b) * sqrt(q0)`` in standard deviations: positive for an
        excess, negative for a deficit (clip at 0 for a one-sided discovery
        significance). An ndarray when any input is an array.

    Examples
    --------
    >>> from skranode.mass_spectrum import bump_hunt_significance
    >>> round(bump_hunt_significance(1100, 1000.0), 2)  # about 100 / sqrt(1000)
    3.11
    >>> round(bump_hunt_significance(1100, 1000.0, 30.0), 2)  # about 100 / sqrt(1000 + 30**2)
    2.24
    """
    arrays = [np.asarray(v, dtype=np.float64) for v in (n_observed, expected, expected_std)]
    names = ("n_observed", "expected", "expected_std")
    for name, value in zip(names, arrays, strict=True):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite; got {value!r}.")
    n, b, sigma = np.broadcast_arrays(*arrays)
    if np.any(n < 0):
        raise ValueError("n_observed must be non-negative.")
    if np.any(b <= 0):
        raise ValueError("expected must be positive: the background prediction is a count > 0.")
    if np.any(sigma < 0):
        raise ValueError("expected_std must be non-negative.")
    var = sigma**2
    # below var = 1e-12 b the uncertainty changes q0 by less than a relative 1e-12:
    # use the exact limit there, which also avoids overflow in b^2 / var
    uncertain = var > 1e-12 * b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q_unc = 2.0 * (
            xlogy(n, n * (b + var) / (b**2 + n * var))
            - b**2 / var * np.log1p(var * (n - b) / (b * (b + var)))
        )
    q_exact = 2.0 * (xlogy(n, n / b) - (n - b))
    q = np.where(uncertain, q_unc, q_exact)
    z = np.sign(n - b) * np.sqrt(np.maximum(q, 0.0))
    if z.ndim == 0:
        return float(z)
    return z


@dataclass
class ResonanceFit:
    """Outcome of :func:`fit_resonance`.

    Attributes
    ----------
    n_events : int
        Events in the fit range.
    signal_fraction : float
        Fitted fraction of those events in the Gaussian peak (negative for a deficit).
    n_signal : float
        ``signal_fraction * n_events``.
    n_signal_std : float
        Its standard deviation from the curvature of the likelihood.
    significance : float
        ``sign(n_signal) * sqrt(2 (NLL_B - NLL_S+B))``: the likelihood-ratio
        significance of the peak (one parameter; Wilks).
    shape_params : ndarray
        Dijet shape parameters of the signal-plus-background fit.
    background_params : ndarray
        Dijet shape parameters of the background-only fit: the density in the
        fit range is proportional to ``exp(T(m) @ background_params)`` (the
        null hypothesis that :func:`resonance_toys` samples).
    gof_p_value : float
        Goodness of the signal-plus-background fit: Pearson's chi-square
        p-value of the masses in bins of equal fitted probability
        (``GOF_EVENTS_PER_BIN`` expected events each, the fitted parameters
        taken from the degrees of freedom). Small: the dijet function does
        not describe the spectrum, and the peak's significance, which
        assumes it does, means little. NaN when not computed or too few
        events for two degrees of freedom.
    """

    n_events: int
    signal_fraction: float
    n_signal: float
    n_signal_std: float
    significance: float
    shape_params: np.ndarray
    background_params: np.ndarray = None
    gof_p_value: float = float("nan")


def _resonance_range(mass_range, width, n_params, sqrt_s):
    """The checked fit range of :func:`fit_resonance`."""
    lo, hi = check_interval(mass_range, "mass_range")
    if not (isinstance(width, numbers.Real) and width > 0):
        raise ValueError(f"width must be positive; got {width!r}.")
    if isinstance(n_params, bool) or n_params not in (3, 4, 5):
        raise ValueError(f"n_params must be 3, 4 or 5; got {n_params!r}.")
    if lo <= 0 or hi >= sqrt_s:
        raise ValueError(
            f"mass_range ({lo:g}, {hi:g}) must lie inside (0, sqrt_s={sqrt_s:g}); with "
            "masses in GeV use sqrt_s=13000."
        )
    return lo, hi


def _lowest_fraction(b_nodes, g_nodes):
    """The most negative peak fraction that keeps the density positive on the nodes."""
    above = g_nodes > b_nodes
    f_low = -0.9
    if above.any():
        f_low = max(f_low, -0.9 * float(np.min(b_nodes[above] / (g_nodes[above] - b_nodes[above]))))
    return f_low


def _fraction_std(nll_and_grad, x):
    """Standard deviation of the peak fraction (the last parameter of ``x``).

    From the inverse of the full Hessian (the shape profiled), by central
    differences of the gradient.
    """
    eps = 1e-5
    n = x.size
    hess = np.full((n, n), np.nan)
    for j in range(n):
        step = np.zeros(n)
        step[j] = eps
        hess[j] = (nll_and_grad(x + step)[1] - nll_and_grad(x - step)[1]) / (2 * eps)
    try:
        var_f = float(np.linalg.inv(0.5 * (hess + hess.T))[-1, -1])
    except np.linalg.LinAlgError:
        var_f = float("nan")
    return math.sqrt(var_f) if var_f > 0 else float("nan")


def _whitened_shape(m, mass_range, sqrt_s, n_shape):
    """The dijet features of the events and of the quadrature nodes, whitened.

    Returns ``Tw`` (events), ``T_nodes``, the nodes' log-weights, the nodes
    and the whitening matrix ``A`` (shape parameters are ``A.T @ theta``).
    """
    T = _features(m, sqrt_s, n_shape)
    centre = T.mean(axis=0)
    evals, evecs = eigh(np.cov(T, rowvar=False))
    A = evecs.T / np.sqrt(np.maximum(evals, 1e-300))[:, None]
    nodes, log_w = _quadrature([mass_range])
    T_nodes = (_features(nodes, sqrt_s, n_shape) - centre) @ A.T
    return (T - centre) @ A.T, T_nodes, log_w, nodes, A


def fit_resonance(m, *, mass, width, mass_range, n_params=4, sqrt_s=13.0, uncertainty=True):
    """Signal-plus-background fit of a mass spectrum: a Gaussian peak on the dijet function.

    The unbinned likelihood of the masses in ``mass_range`` under
    ``(1 - f) B(m) + f G(m)`` (``B`` the dijet function of
    :class:`DijetMassSpectrum`, ``G`` a Gaussian at ``mass`` of standard
    deviation ``width``, both normalised over the range) is maximised with
    ``f`` free (negative for a deficit) and with ``f = 0``; twice the
    difference is the test statistic of the peak, as in the LHC bump hunts.

    Parameters
    ----------
    m : array-like of shape (n_samples,)
        Masses; those outside ``mass_range`` are ignored.
    mass : float
        Centre of the peak.
    width : float
        Standard deviation of the peak (the mass resolution), > 0.
    mass_range : tuple of float
        ``(low, high)``, ``low <= m < high``.
    n_params : {3, 4, 5}, default=4
        Parameters of the dijet function (with its normalisation).
    sqrt_s : float, default=13.0
        Centre-of-mass energy in the units of the masses.
    uncertainty : bool, default=True
        Compute ``n_signal_std``; False leaves it NaN (faster, for toys).

    Returns
    -------
    fit : ResonanceFit

    Examples
    --------
    >>> import numpy as np
    >>> from skranode.mass_spectrum import fit_resonance
    >>> rng = np.random.default_rng(0)
    >>> m = np.r_[2.8 * (1.0 + rng.pareto(8.0, size=20000)), rng.normal(3.5, 0.1, 800)]
    >>> fit = fit_resonance(m, mass=3.5, width=0.1, mass_range=(3.0, 4.2))
    >>> fit.significance > 5
    True
    """
    lo, hi = _resonance_range(mass_range, width, n_params, sqrt_s)
    m = _as_masses(m)
    m = m[(m >= lo) & (m < hi)]
    n_shape = int(n_params) - 1
    if m.size < _MIN_EVENTS_PER_PARAM * (n_shape + 1):
        raise ValueError(
            f"Only {m.size} event(s) in the fit range ({lo:g}, {hi:g}); the fit needs at "
            f"least {_MIN_EVENTS_PER_PARAM * (n_shape + 1)}."
        )
    Tw, T_nodes, log_w, nodes, A = _whitened_shape(m, (lo, hi), sqrt_s, n_shape)
    log_norm_g = np.log(norm.cdf((hi - mass) / width) - norm.cdf((lo - mass) / width))
    log_g = norm.logpdf(m, mass, width) - log_norm_g
    g_nodes = np.exp(norm.logpdf(nodes, mass, width) - log_norm_g)

    def nll_and_grad(p):
        theta, f = p[:-1], p[-1]
        log_z, mean = _log_partition(T_nodes, log_w, theta, moments=1)
        b = np.exp(Tw @ theta - log_z)
        g = np.exp(log_g)
        mix = np.maximum((1.0 - f) * b + f * g, 1e-300)
        grad_theta = -((1.0 - f) * b / mix) @ (Tw - mean)
        grad_f = -np.sum((g - b) / mix)
        return -float(np.sum(np.log(mix))), np.r_[grad_theta, grad_f]

    b_only = minimize(
        lambda t: m.size * _log_partition(T_nodes, log_w, t),  # mean of Tw is 0
        np.zeros(n_shape),
        jac=lambda t: m.size * _log_partition(T_nodes, log_w, t, moments=1)[1],
        hess=lambda t: m.size * _log_partition(T_nodes, log_w, t, moments=2)[2],
        method="trust-exact",
    )
    nll_b = nll_and_grad(np.r_[b_only.x, 0.0])[0]
    # the most negative f that keeps the density positive everywhere in the range
    b_nodes = np.exp(T_nodes @ b_only.x - _log_partition(T_nodes, log_w, b_only.x))
    f_low = _lowest_fraction(b_nodes, g_nodes)
    res = minimize(
        nll_and_grad,
        np.r_[b_only.x, 0.0],
        jac=True,
        method="SLSQP",
        bounds=[(None, None)] * n_shape + [(f_low, 0.95)],
    )
    theta, f_hat = res.x[:-1], float(res.x[-1])
    nll_sb = min(float(res.fun), nll_b)
    q0 = max(0.0, 2.0 * (nll_b - nll_sb))
    f_std = _fraction_std(nll_and_grad, res.x) if uncertainty else float("nan")
    shape = A.T @ theta
    peak = (mass, width)
    gof = _goodness_of_fit(m, (lo, hi), sqrt_s, shape, f_hat, peak) if uncertainty else math.nan
    return ResonanceFit(
        n_events=int(m.size),
        signal_fraction=f_hat,
        n_signal=f_hat * m.size,
        n_signal_std=f_std * m.size,
        significance=float(np.sign(f_hat) * math.sqrt(q0)),
        shape_params=shape,
        background_params=A.T @ b_only.x,
        gof_p_value=gof,
    )


def _goodness_of_fit(m, mass_range, sqrt_s, shape, f_hat, peak):
    """Pearson's chi-square p-value of ``m`` in bins of equal probability under the fit.

    The fitted density is ``(1 - f_hat)`` times the dijet function of the
    parameters ``shape`` plus ``f_hat`` times the Gaussian ``peak = (mass,
    width)``; the shape parameters and the fraction are fitted parameters.
    """
    n_bins = min(m.size // GOF_EVENTS_PER_BIN, GOF_MAX_BINS)
    dof = n_bins - 1 - (shape.size + 1)
    if dof < 2:
        return float("nan")
    grid = np.linspace(*mass_range, 8193)
    b = _features(grid, sqrt_s, shape.size) @ shape
    b = np.exp(b - b.max())
    g = norm.pdf(grid, *peak)
    cdf = [np.r_[0.0, np.cumsum(0.5 * (d[1:] + d[:-1]))] for d in (b, g)]
    total = (1.0 - f_hat) * cdf[0] / cdf[0][-1] + f_hat * cdf[1] / cdf[1][-1]
    total = np.maximum.accumulate(np.clip(total, 0.0, 1.0))
    edges = np.interp(np.linspace(0.0, 1.0, n_bins + 1), total, grid)
    edges[0], edges[-1] = mass_range
    counts, _ = np.histogram(m, edges)
    expected = m.size / n_bins
    statistic = float(np.sum((counts - expected) ** 2) / expected)
    return float(chi2.sf(statistic, dof))


def resonance_toys(
    fit, *, mass, width, mass_range, n_toys=1000, n_params=4, sqrt_s=13.0, random_state=0
):
    """The bump hunt's null distribution from pseudo-data of its own background fit.

    Each pseudo-experiment draws ``Poisson(fit.n_events)`` masses from the
    background-only dijet function of ``fit`` (``background_params``, its
    fit to the observed spectrum) and repeats :func:`fit_resonance` on them.
    The fraction of pseudo-experiments whose significance reaches the
    observed one is the empirical p-value of the peak: it does not rely on
    the asymptotic (Wilks) distribution of the likelihood ratio, which a few
    selected events, a peak near the edge of the range or a fit at a bound
    can break. It takes the dijet function as the true background shape (a
    spectrum it does not describe, or one sculpted by a cut, shows up in
    neither).

    Parameters
    ----------
    fit : ResonanceFit
        The fit of the observed spectrum.
    mass, width, mass_range, n_params, sqrt_s
        As passed to :func:`fit_resonance` for ``fit``.
    n_toys : int, default=1000
        Pseudo-experiments; the smallest p-value they resolve is
        ``1 / (n_toys + 1)`` (3.1 sigma for 1000).
    random_state : int, default=0
        Seed of the pseudo-data.

    Returns
    -------
    toys : ndarray of shape (n_toys, 2)
        Per pseudo-experiment, its significance and fitted signal count
        (NaN where a pseudo-experiment could not be fitted).

    Examples
    --------
    >>> import numpy as np
    >>> from skranode.mass_spectrum import fit_resonance, resonance_toys
    >>> rng = np.random.default_rng(0)
    >>> m = 2.8 * (1.0 + rng.pareto(8.0, size=3000))
    >>> kw = dict(mass=3.5, width=0.175, mass_range=(2.9, 4.1), n_params=3)
    >>> fit = fit_resonance(m, **kw)
    >>> z = resonance_toys(fit, n_toys=200, **kw)[:, 0]
    >>> bool(abs(np.mean(z)) < 0.3 and 0.8 < np.std(z) < 1.2)
    True
    """
    if not isinstance(fit, ResonanceFit) or fit.background_params is None:
        raise ValueError("fit must be a ResonanceFit returned by fit_resonance.")
    if isinstance(n_toys, bool) or not isinstance(n_toys, numbers.Integral) or n_toys < 1:
        raise ValueError(f"n_toys must be a positive integer; got {n_toys!r}.")
    lo, hi = check_interval(mass_range, "mass_range")
    n_shape = int(n_params) - 1
    if fit.background_params.size != n_shape:
        raise ValueError(
            f"fit has {fit.background_params.size + 1} dijet parameters, n_params={n_params}: "
            "pass the n_params of the fit."
        )
    # inverse-CDF sampling of the background-only density on a fine grid in ln m
    grid = np.exp(np.linspace(np.log(lo), np.log(hi), 4001))
    log_f = _features(grid, sqrt_s, n_shape) @ fit.background_params + np.log(grid)
    dens = np.exp(log_f - log_f.max())  # per unit ln m
    cdf = np.r_[0.0, np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(np.log(grid)))]
    cdf /= cdf[-1]
    rng = np.random.default_rng(random_state)
    out = np.full((n_toys, 2), np.nan)
    for t in range(n_toys):
        u = rng.random(rng.poisson(fit.n_events))
        toy = np.exp(np.interp(u, cdf, np.log(grid)))
        try:
            res = fit_resonance(
                toy,
                mass=mass,
                width=width,
                mass_range=(lo, hi),
                n_params=n_params,
                sqrt_s=sqrt_s,
                uncertainty=False,
            )
        except ValueError:
            continue
        out[t] = res.significance, res.n_signal
    return out


def fit_window_spectrum(mass_spectrum, window, mass, sample_weight=None):
    """Fit a mass-spectrum model on the masses of a window and its sidebands.

    The one recipe of the background models
    (:class:`~skranode.SidebandDensity`, :class:`~skranode.CURTAINs`) for
    p_B(m): a clone of ``mass_spectrum`` (None: a
    :class:`DijetMassSpectrum` of the window's signal region) fitted on the
    events inside ``window.in_range``, with their weights.

    Parameters
    ----------
    mass_spectrum : estimator or None
        Template of the spectrum model.
    window : MassWindow
        The signal region and its sidebands.
    mass : ndarray of shape (n_samples,)
        Masses of all events.
    sample_weight : ndarray of shape (n_samples,) or None, default=None
        Validated event weights.

    Returns
    -------
    spectrum : estimator
        The fitted spectrum model.
    """
    from sklearn.base import clone

    spectrum = (
        DijetMassSpectrum(signal_region=window.bounds)
        if mass_spectrum is None
        else clone(mass_spectrum)
    )
    in_range = window.in_range(mass)
    weight = None if sample_weight is None else sample_weight[in_range]
    return fit_weighted(spectrum, mass[in_range], sample_weight=weight, role="mass_spectrum")
