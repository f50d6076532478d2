"""The signal region and its sidebands: one convention for every part of skranode.

A :class:`MassWindow` is the signal region ``[low, high)`` in the resonant mass,
optionally with outer sideband limits ``[sideband_low, sideband_high)``. The edges
follow one rule everywhere (estimators, the mass-spectrum fit, the bump hunt, the
main job, the dataset helpers):

* the signal region is **half-open**: ``low <= m < high``;
* the sidebands are everything else inside the outer limits:
  ``sideband_low <= m < low`` and ``high <= m < sideband_high``; without
  outer limits, every event outside the signal region.

So an event at exactly ``low`` is a signal-region event and one at exactly
``high`` a sideband event: every event belongs to exactly one of the two, and
windows that tile the spectrum (``[a, b)``, ``[b, c)``, ...) never share an
event.

Estimators keep their ``signal_region=(low, high)`` and ``sideband=(low, high)``
parameters as plain tuples (scikit-learn parameters); they turn them into a
:class:`MassWindow` with :meth:`MassWindow.from_params`, which is also the one
validator of mass intervals (:func:`check_interval`).
"""

import math
import numbers
from dataclasses import dataclass

import numpy as np

from skranode.utils._validation import mass_units_hint

__all__ = ["DEFAULT_SIGNAL_REGION", "MassWindow", "check_interval"]

#: The signal region of the LHC Olympics 2020 R&D benchmark, 3.3-3.7 TeV
#: (the W' of 3.5 TeV), the default of every estimator and of the main job.
DEFAULT_SIGNAL_REGION = (3.3, 3.7)


def check_interval(interval, name="signal_region", *, allow_open=False):
    """Validate a ``(low, high)`` interval and return it as a pair of floats.

    Parameters
    ----------
    interval : pair of numbers
        ``(low, high)`` with ``low < high``.
    name : str, default="signal_region"
        Name of the parameter, for the messages.
    allow_open : bool, default=False
        Accept ``None`` or an infinite value for either bound (unbounded); they
        are returned as ``-inf`` / ``inf``.

    Returns
    -------
    low, high : float

    Raises
    ------
    ValueError
        If ``interval`` is not a pair of real numbers, a bound is NaN or (unless
        ``allow_open``) infinite, or ``low >= high``.
    """
    if isinstance(interval, MassWindow):
        interval = interval.bounds
    try:
        lo, hi = interval
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a pair (low, high); got {interval!r}.") from exc
    bounds = []
    for value, unbounded in ((lo, -math.inf), (hi, math.inf)):
        if value is None and allow_open:
            bounds.append(unbounded)
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
            raise ValueError(
                f"{name} must be a pair of finite numbers (low, high); got {interval!r}."
            )
        if not allow_open and not math.isfinite(value):
            raise ValueError(f"{name} must have finite bounds; got {interval!r}.")
        bounds.append(float(value))
    if not bounds[0] < bounds[1]:
        raise ValueError(f"{name} must satisfy low < high; got {tuple(bounds)}.")
    return bounds[0], bounds[1]


def _as_mass_array(m):
    return np.asarray(m, dtype=np.float64).reshape(-1)


@dataclass(frozen=True)
class MassWindow:
    """A signal region ``[low, high)`` and its sidebands (see the module docstring).

    Parameters
    ----------
    low, high : float
        Edges of the signal region; ``low`` belongs to it, ``high`` does not.
    sideband_low, sideband_high : float, default=-inf, inf
        Outer limits of the sidebands (``sideband_low`` included,
        ``sideband_high`` excluded); infinite means unbounded.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode.mass_window import MassWindow
    >>> window = MassWindow.from_params((3.3, 3.7))
    >>> m = np.array([3.2, 3.3, 3.5, 3.7])
    >>> window.in_signal_region(m)
    array([False,  True,  True, False])
    >>> window.in_sidebands(m)
    array([ True, False, False,  True])
    """

    low: float
    high: float
    sideband_low: float = -math.inf
    sideband_high: float = math.inf

    def __post_init__(self):
        check_interval((self.low, self.high), "signal_region")
        if not (self.sideband_low <= self.low and self.sideband_high >= self.high):
            raise ValueError(
                f"sideband={(self.sideband_low, self.sideband_high)!r} must enclose "
                f"signal_region={(self.low, self.high)!r}: its low bound must be <= the "
                "signal-region low bound and its high bound >= the signal-region high bound."
            )

    @classmethod
    def from_params(cls, signal_region, sideband=None):
        """The window of an estimator's ``signal_region`` and ``sideband`` parameters.

        Parameters
        ----------
        signal_region : pair of float or MassWindow
            ``(low, high)``. A :class:`MassWindow` is returned as it is when
            ``sideband`` is None.
        sideband : pair of float or None, default=None
            Outer limits ``(low, high)`` of the sidebands; either bound may be
            None (unbounded). None: every event outside the signal region.

        Returns
        -------
        window : MassWindow
        """
        if isinstance(signal_region, MassWindow) and sideband is None:
            return signal_region
        lo, hi = check_interval(signal_region, "signal_region")
        if sideband is None:
            return cls(lo, hi)
        sb_lo, sb_hi = check_interval(sideband, "sideband", allow_open=True)
        return cls(lo, hi, sb_lo, sb_hi)

    # ------------------------------------------------------------------ views
    @property
    def bounds(self):
        """``(low, high)`` of the signal region."""
        return (self.low, self.high)

    @property
    def sideband(self):
        """``(sideband_low, sideband_high)``, or None when both are unbounded."""
        if math.isinf(self.sideband_low) and math.isinf(self.sideband_high):
            return None
        return (self.sideband_low, self.sideband_high)

    @property
    def width(self):
        """``high - low``."""
        return self.high - self.low

    @property
    def center(self):
        """``(low + high) / 2``."""
        return 0.5 * (self.low + self.high)

    def __iter__(self):
        # ``lo, hi = window`` and ``tuple(window)`` give the signal region
        return iter(self.bounds)

    def __str__(self):
        return f"[{self.low:g}, {self.high:g})"

    # ------------------------------------------------------------------ masks
    def in_signal_region(self, m):
        """Boolean mask of ``low <= m < high``.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Masses.

        Returns
        -------
        mask : ndarray of shape (n_samples,), bool
        """
        m = _as_mass_array(m)
        return (m >= self.low) & (m < self.high)

    def in_range(self, m):
        """Boolean mask of ``sideband_low <= m < sideband_high`` (all True when unbounded)."""
        m = _as_mass_array(m)
        return (m >= self.sideband_low) & (m < self.sideband_high)

    def in_low_sideband(self, m):
        """Boolean mask of ``sideband_low <= m < low``."""
        m = _as_mass_array(m)
        return (m >= self.sideband_low) & (m < self.low)

    def in_high_sideband(self, m):
        """Boolean mask of ``high <= m < sideband_high``."""
        m = _as_mass_array(m)
        return (m >= self.high) & (m < self.sideband_high)

    def in_sidebands(self, m):
        """Boolean mask of the sidebands: in range and not in the signal region."""
        return self.in_low_sideband(m) | self.in_high_sideband(m)

    def check_masses_inside(self, m, what):
        """Raise a ValueError naming the first mass outside the signal region.

        Parameters
        ----------
        m : array-like of shape (n_samples,)
            Masses that must all lie in the signal region.
        what : str
            What needs them inside, for the message.
        """
        m = _as_mass_array(m)
        outside = ~self.in_signal_region(m)
        if outside.any():
            raise ValueError(
                f"{what} inside the signal region {self}, but {int(outside.sum())} event(s) "
                f"have masses outside it (first at row {np.flatnonzero(outside)[0]}, "
                f"m = {m[outside][0]:.6g}). Pass signal-region events only. "
                f"{mass_units_hint(m[outside], self.center)}"
            )
