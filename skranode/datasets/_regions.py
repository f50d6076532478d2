"""Signal-region and sideband selections, and signal injection."""

import numbers

import numpy as np
import pandas as pd

from skranode.datasets._base import MASS_NAME, check_count, check_generator
from skranode.mass_window import DEFAULT_SIGNAL_REGION, MassWindow
from skranode.utils._validation import as_float_1d

__all__ = ["signal_region_mask", "sideband_mask", "inject_signal"]


def _as_mass(m):
    """Return the mass as a 1-D float64 array (a new array or a read-only view is fine)."""
    if isinstance(m, pd.DataFrame):
        if MASS_NAME in m.columns:
            m = m[MASS_NAME]
        elif m.shape[1] == 1:
            m = m.iloc[:, 0]
        else:
            raise ValueError(
                f"A DataFrame passed as the mass needs a {MASS_NAME!r} column (or exactly one "
                f"column); got columns {list(m.columns)}."
            )
    arr = as_float_1d(
        m, "the mass", hint=" One value per event: for an event table with the mass first, "
        "pass X[:, 0]."
    )
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"The mass contains NaN or infinity ({int(bad.sum())} of {arr.size} events); "
            "remove or fix those events first."
        )
    return arr


def signal_region_mask(m, signal_region=DEFAULT_SIGNAL_REGION):
    """Boolean mask of the events inside the signal region.

    The signal region is the half-open interval ``low <= m < high``, the
    convention of :class:`~skranode.mass_window.MassWindow`, so that it and
    :func:`sideband_mask` with ``sideband=None`` split the events exactly.

    Parameters
    ----------
    m : array-like of shape (n_samples,), Series or DataFrame
        Resonant mass of each event (TeV). A DataFrame must have an ``mjj``
        column (or a single column).
    signal_region : tuple of 2 floats, default=(3.3, 3.7)
        ``(low, high)`` with ``low < high``.

    Returns
    -------
    mask : ndarray of shape (n_samples,), bool
        True for the events in the signal region. The input is not modified.
    """
    m = _as_mass(m)
    return MassWindow.from_params(signal_region).in_signal_region(m)


def sideband_mask(m, signal_region=DEFAULT_SIGNAL_REGION, sideband=None):
    """Boolean mask of the events in the sidebands around the signal region.

    Parameters
    ----------
    m : array-like of shape (n_samples,), Series or DataFrame
        Resonant mass of each event (TeV). A DataFrame must have an ``mjj``
        column (or a single column).
    signal_region : tuple of 2 floats, default=(3.3, 3.7)
        ``(low, high)`` of the signal region (``low <= m < high``).
    sideband : tuple of 2 floats or None, default=None
        Outer bounds ``(low, high)`` of the sidebands, with ``low <= sr_low`` and
        ``high >= sr_high``; the sidebands are ``low <= m < sr_low`` and
        ``sr_high <= m < high``. Either bound may be None (unbounded). None means
        every event outside the signal region.

    Returns
    -------
    mask : ndarray of shape (n_samples,), bool
        True for the events in the sidebands. The input is not modified.
    """
    m = _as_mass(m)
    return MassWindow.from_params(signal_region, sideband).in_sidebands(m)


def _as_table(data, name):
    """Validate an event table; return (values, columns or None)."""
    if isinstance(data, pd.DataFrame):
        columns = list(data.columns)
        try:
            values = data.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must hold numeric columns only: {exc}") from exc
    else:
        columns = None
        try:
            values = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Could not read {name} as a numeric array: {exc}") from exc
    if values.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_events, n_columns); got shape {values.shape}.")
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"{name} contains NaN or infinity in {rows.size} event(s) (first at row "
            f"{rows[0]}); remove or fix those events first."
        )
    return values, columns


def inject_signal(background, signal, *, s_over_b=None, n_signal=None, random_state=None):
    """Mix a chosen number of signal events into a background sample.

    Signal events are drawn without replacement from ``signal``; the result is
    a new, shuffled table and neither input is modified.

    Parameters
    ----------
    background : DataFrame or array-like of shape (n_background, n_columns)
        Background events (all of them are kept).
    signal : DataFrame or array-like of shape (n_pool, n_columns)
        Pool of signal events with the same columns as ``background`` (for two
        DataFrames, the same column names, in any order).
    s_over_b : float, default=None
        Signal-to-background ratio: ``round(s_over_b * n_background)`` signal
        events are injected. ``n_background`` is the length of ``background``
        as given, so pass signal-region events to set the signal-region S/B.
    n_signal : int, default=None
        Number of signal events to inject. Give exactly one of ``s_over_b`` and
        ``n_signal``.
    random_state : int, RandomState, Generator or None, default=None
        Seed for drawing and shuffling.

    Returns
    -------
    mixed : DataFrame or ndarray of shape (n_background + n_injected, n_columns)
        A DataFrame (fresh ``RangeIndex``, the background's column order and
        dtypes) when ``background`` is one, a float64 array otherwise.

    Raises
    ------
    ValueError
        If the inputs contain NaN, have mismatched columns, if both or neither
        of ``s_over_b`` and ``n_signal`` are given, or if ``signal`` holds fewer
        events than requested.
    """
    if (s_over_b is None) == (n_signal is None):
        raise ValueError("Give exactly one of s_over_b and n_signal.")
    bkg_values, bkg_columns = _as_table(background, "background")
    if isinstance(signal, pd.DataFrame) and bkg_columns is not None:
        missing = set(bkg_columns) - set(signal.columns)
        extra = set(signal.columns) - set(bkg_columns)
        if missing or extra:
            raise ValueError(
                "signal and background must have the same columns; signal lacks "
                f"{sorted(map(str, missing))} and has extra {sorted(map(str, extra))}."
            )
        signal = signal[bkg_columns]
    sig_values, _ = _as_table(signal, "signal")
    if sig_values.shape[1] != bkg_values.shape[1]:
        raise ValueError(
            f"signal has {sig_values.shape[1]} columns but background has "
            f"{bkg_values.shape[1]}; they must describe the same quantities."
        )
    n_bkg = bkg_values.shape[0]
    if n_signal is None:
        if (
            isinstance(s_over_b, bool)
            or not isinstance(s_over_b, numbers.Real)
            or not np.isfinite(s_over_b)
            or s_over_b < 0
        ):
            raise ValueError(f"s_over_b must be a finite number >= 0; got {s_over_b!r}.")
        n_signal = int(round(float(s_over_b) * n_bkg))
    else:
        n_signal = check_count(n_signal, "n_signal")
    if n_signal > sig_values.shape[0]:
        raise ValueError(
            f"{n_signal} signal events were requested but signal holds only "
            f"{sig_values.shape[0]}; pass a larger signal pool or ask for fewer."
        )
    rng = check_generator(random_state)
    chosen = rng.choice(sig_values.shape[0], size=n_signal, replace=False)
    order = rng.permutation(n_bkg + n_signal)
    if bkg_columns is None:
        return np.concatenate([bkg_values, sig_values[chosen]])[order]
    sig_frame = signal if isinstance(signal, pd.DataFrame) else None
    if sig_frame is None:
        sig_frame = pd.DataFrame(sig_values, columns=bkg_columns)
    picked = sig_frame.iloc[chosen].astype(background.dtypes.to_dict())
    mixed = pd.concat([background, picked], ignore_index=True)
    return mixed.iloc[order].reset_index(drop=True)
