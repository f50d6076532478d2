"""The windows of a scan, their training budgets, their background models and the input check.

:func:`sliding_windows` lays the signal regions over the spectrum;
:func:`window_background` builds a window's sideband background from the
training budgets of :data:`~skranode.presets.SCAN_PRESETS`;
:func:`check_events` validates the events of a scan.
"""

import numbers

import numpy as np

from skranode.flows import ConditionalFlowDensity
from skranode.mass_window import MassWindow, check_interval
from skranode.presets import SCAN_PRESETS, get_preset
from skranode.sideband import SidebandDensity
from skranode.utils._validation import (
    check_aligned,
    check_mass,
    check_numeric_frame,
    feature_spread_problems,
)

__all__ = ["check_events", "sliding_windows", "window_background"]

#: Centre-of-mass energy of the LHC in TeV: masses above it are in the wrong units.
SQRT_S_TEV = 13.0

#: Most windows :func:`sliding_windows` makes (the default grid over 3-5.5 TeV has 11).
MAX_WINDOWS = 200


def sliding_windows(mass_range, *, width=0.4, step=0.2, sideband_width=0.4, relative=False):
    """The signal regions of a scan, each with its sidebands.

    Parameters
    ----------
    mass_range : tuple of float
        ``(low, high)`` in TeV that the signal regions cover: the first starts
        at ``low``, the last ends at or below ``high``.
    width : float, default=0.4
        Width of each signal region in TeV, or, with ``relative=True``, as a
        fraction of its lower edge (the dijet mass resolution grows with the
        mass, so a resonance's width does too).
    step : float, default=0.2
        Shift from one window to the next (in TeV, or a fraction of the lower
        edge); ``step < width`` makes neighbouring windows overlap, so that a
        resonance between two windows is not split.
    sideband_width : float, default=0.4
        Width of each sideband (TeV, or a fraction of the lower edge).
    relative : bool, default=False
        Read ``width``, ``step`` and ``sideband_width`` as fractions of the
        window's lower edge.

    Returns
    -------
    windows : list of MassWindow
        With ``sideband_low`` and ``sideband_high`` set.

    Raises
    ------
    ValueError
        For a non-positive width, step or sideband width, a range that does
        not hold one window, or masses in GeV.

    Examples
    --------
    >>> from skranode.scan import sliding_windows
    >>> [w.bounds for w in sliding_windows((3.0, 4.0), width=0.4, step=0.3)]
    [(3.0, 3.4), (3.3, 3.7), (3.6, 4.0)]
    """
    lo, hi = check_interval(mass_range, "mass_range")
    if hi > SQRT_S_TEV:
        raise ValueError(
            f"mass_range ({lo:g}, {hi:g}) reaches above sqrt(s) = {SQRT_S_TEV:g} TeV: "
            "skranode's masses are in TeV. Divide masses in GeV by 1000."
        )
    if lo <= 0:
        raise ValueError(f"mass_range must be positive masses in TeV; got ({lo:g}, {hi:g}).")
    for name, value in (("width", width), ("step", step), ("sideband_width", sideband_width)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            hint = " (a zero step would repeat one window for ever)" if name == "step" else ""
            raise ValueError(f"{name} must be a positive number; got {value!r}{hint}.")
        if relative and value >= 1:
            raise ValueError(
                f"With relative=True, {name} is a fraction of the window's lower edge and "
                f"must be below 1; got {value!r}."
            )
    windows = []
    low = lo
    tol = 1e-9 * hi
    # the count before any window is built: a step of 1e-5 TeV would start
    # 200 000 trainings of about half a minute each without a word
    first_step = step * (lo if relative else 1.0)
    if (hi - lo) / first_step > MAX_WINDOWS:
        raise ValueError(
            f"step={step:g} over mass_range ({lo:g}, {hi:g}) makes about "
            f"{(hi - lo) / first_step:.0f} windows, more than {MAX_WINDOWS}: each trains its "
            "own models (tens of seconds). Use a step near half the width (the default, "
            "0.2 TeV for windows of 0.4), or a narrower mass_range."
        )
    while True:
        scale = low if relative else 1.0
        high = low + width * scale
        if high > hi + tol:
            break
        side = sideband_width * scale
        windows.append(
            MassWindow(
                round(low, 10), round(high, 10), round(low - side, 10), round(high + side, 10)
            )
        )
        low = low + step * scale
    if not windows:
        raise ValueError(
            f"mass_range ({lo:g}, {hi:g}) is narrower than one window of width {width:g}"
            f"{' times its lower edge' if relative else ' TeV'}."
        )
    return windows


#: Fewest optimizer steps per epoch of a window's flows: a window at high mass
#: has few sideband events, and a fixed batch would leave it a handful of
#: steps (``benchmarks/bench_scan.py --mode closure``).
MIN_STEPS_PER_EPOCH = 30


def window_background(window, n_sideband, *, preset="default", device="cpu", random_state=0):
    """The unfitted background model of one window of a scan.

    A :class:`~skranode.SidebandDensity` of the window's sidebands with the
    flow of :data:`~skranode.presets.SCAN_PRESETS`. A preset with a fixed batch size
    (``fast``) has it shrunk so that an epoch over ``n_sideband`` events has at
    least 30 optimizer steps; ``batch_size='auto'`` (``default``) adapts it in
    the fit (:func:`~skranode.training.auto_batch_size`).

    Parameters
    ----------
    window : MassWindow
        With its sideband limits.
    n_sideband : int
        Number of sideband events it will be trained on.
    preset : {'default', 'fast'}, default='default'
    device : str, default='cpu'
    random_state : int, default=0

    Returns
    -------
    background : SidebandDensity
    """
    params = get_preset(SCAN_PRESETS, preset).sideband_flow.params()
    if params["batch_size"] != "auto":
        batch = n_sideband // MIN_STEPS_PER_EPOCH
        params["batch_size"] = int(np.clip(batch, 256, params["batch_size"]))
    return SidebandDensity(
        window.bounds,
        sideband=window.sideband,
        density=ConditionalFlowDensity(**params, device=device),
        random_state=random_state,
    )


def check_events(X, m):
    """The features and masses of a scan as float arrays, checked; with the column names.

    Raises
    ------
    ValueError
        For misaligned inputs, non-finite features, masses that look like
        labels, non-positive masses or masses in GeV.
    """
    check_aligned(X, m)
    check_numeric_frame(X, "the scan")
    if hasattr(X, "to_numpy"):
        names = [str(c) for c in X.columns]
        X = X.to_numpy()
    else:
        names = None
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (events x features); got shape {X.shape}.")
    mass = check_mass(m, X.shape[0])
    bad = ~np.all(np.isfinite(X), axis=1)
    if bad.any():
        raise ValueError(
            f"X contains NaN or infinity in {int(bad.sum())} of {X.shape[0]} events; remove "
            "or fix them before the scan (skranode never drops events silently)."
        )
    if np.unique(mass[: min(mass.size, 10000)]).size <= 2:
        raise ValueError(
            "The masses take at most two distinct values: that looks like labels passed "
            "as masses. Pass the dijet mass of each event."
        )
    if np.any(mass <= 0):
        raise ValueError("The masses must be positive (dijet masses in TeV).")
    if np.median(mass) > SQRT_S_TEV:
        raise ValueError(
            f"The median mass is {np.median(mass):.4g}, above sqrt(s) = {SQRT_S_TEV:g} TeV: "
            "the masses look like GeV. skranode works in TeV; divide them by 1000."
        )
    _check_feature_columns(X, mass, names)
    _check_duplicates(X, mass)
    return X, mass, names


#: A feature whose absolute correlation with the mass exceeds this carries the
#: mass itself (jet masses grow with mjj, but far from linearly in it).
MASS_CORRELATION_LIMIT = 0.98


def _check_feature_columns(X, mass, names):
    """Refuse features that are the mass (or carry it), with two values or fewer, or heavy tails."""
    for j in range(X.shape[1]):
        label = f"column {j}" + (f" ({names[j]!r})" if names else "")
        column = X[:, j]
        values = np.unique(column[: min(column.size, 100_000)])
        if values.size <= 2:
            raise ValueError(
                f"Feature {label} takes {values.size} distinct value(s) "
                f"({', '.join(f'{v:.4g}' for v in values)}): labels or a constant passed as a "
                "feature. A flow models continuous features; drop that column (labels go to "
                "labels=, and only report the truth)."
            )
        if np.std(column) > 0 and abs(np.corrcoef(column, mass)[0, 1]) > MASS_CORRELATION_LIMIT:
            raise ValueError(
                f"Feature {label} is the resonant mass, or carries it (correlation "
                f"{np.corrcoef(column, mass)[0, 1]:.3f} with m): a score that sees the mass "
                "selects by mass and makes the bump it reports. Drop that column from X; "
                "the mass goes to m only."
            )
    _, heavy = feature_spread_problems(X, names)
    if heavy:
        raise ValueError("The scan's flows cannot model " + " ".join(heavy))


def _check_duplicates(X, mass):
    """Refuse repeated events (the same file concatenated twice counts every event twice)."""
    rows = np.ascontiguousarray(np.c_[X, mass])
    n_unique = np.unique(rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))).size
    if n_unique < rows.shape[0]:
        raise ValueError(
            f"{rows.shape[0] - n_unique} of {rows.shape[0]} events repeat another event "
            "exactly (features and mass): a file read twice or concatenated with itself "
            "doubles every count and inflates the significance. Remove the copies (for "
            "example np.unique(np.c_[X, m], axis=0)) before the scan."
        )


def within_data(window, low, high):
    """The window with its sidebands ending where the data end, or None.

    One owner of the rule for the scan and :func:`~skranode.scan.scan_window`:
    a sideband that reaches past the data would be fitted as a region with
    no events (a dijet fit over 2.6-3.8 TeV of data starting at 2.8 gave a
    local Z of -45).

    Parameters
    ----------
    window : MassWindow
    low, high : float
        The smallest and largest mass of the data.

    Returns
    -------
    window : MassWindow or None
        None when the signal region itself reaches outside the data.
    """
    if window.low < low or window.high > high:
        return None
    return MassWindow(
        window.low,
        window.high,
        max(window.sideband_low, low),
        min(window.sideband_high, float(np.nextafter(high, np.inf))),
    )


#: Bins of a window's spectrum in the hole check, and the pull below which a bin
#: is a hole (the smallest pull of 24 bins in each of 11 windows of 1M
#: background-only built-in events, two seeds: -3.2).
HOLE_BINS = 24
HOLE_PULL = -5.0


def spectrum_holes(mass, low, high):
    """Stretches of the mass spectrum with far fewer events than its smooth shape.

    The spectrum over ``[low, high)`` in ``HOLE_BINS`` bins is fitted by a
    quadratic in log(count), each bin weighted by its count so that empty
    bins do not pull the fit; a bin whose count is below the fit by more than
    ``-HOLE_PULL`` standard deviations (with at least 10 expected events) is
    a hole: events lost from the data (a missing file, a trigger gap), which
    the sideband fits would read as a deficit and the bump hunt as a bump
    next to it.

    Parameters
    ----------
    mass : ndarray of shape (n_events,)
    low, high : float
        The range checked (a window's sidebands and signal region).

    Returns
    -------
    notes : list of str
        One note naming the holes, with their counts against the expected
        ones; empty without.
    """
    edges = np.linspace(low, high, HOLE_BINS + 1)
    counts, _ = np.histogram(mass, edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    basis = np.vander((centre - centre.mean()) / (high - low), 3)
    weight = np.sqrt(counts)
    coef, *_ = np.linalg.lstsq(basis * weight[:, None], np.log1p(counts) * weight, rcond=None)
    expected = np.expm1(basis @ coef)
    pull = (counts - expected) / np.sqrt(np.maximum(expected, 1.0))
    hole = (pull < HOLE_PULL) & (expected >= 10)
    if not hole.any():
        return []
    where = ", ".join(
        f"{edges[k]:.3f}-{edges[k + 1]:.3f} TeV: {counts[k]} events, {expected[k]:.0f} expected"
        for k in np.flatnonzero(hole)
    )
    return [
        f"the mass spectrum has a hole ({where}): events missing from the data make the "
        "sideband fits and the bump hunt wrong; check that every file and mass range was read"
    ]
