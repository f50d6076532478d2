"""The look-elsewhere correction of a scan's most significant window.

A Poisson bootstrap of the events (one weight per event, shared by every
window, so that overlapping windows fluctuate together) refits each window's
selected spectrum with its cut held (:func:`bootstrap_significances`); the
correlation of the windows' local significances over the replicas defines
multivariate-normal pseudo-experiments, and the global p-value is the
fraction whose largest local significance reaches the observed one
(:func:`global_significance`). Where fewer than 20 reach it, the Bonferroni
bound ``n_windows * p_local`` is quoted instead (an upper bound whatever the
correlation). It takes every local significance as standard normal under
the null and holds the models and cuts fixed.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from skranode.stats._bump_hunt import fit_peak

__all__ = ["GlobalSignificance", "bootstrap_significances", "global_significance"]


def bootstrap_significances(mass, selections, n_bootstrap, rng):
    """Local significances of each window on Poisson-bootstrapped events.

    Parameters
    ----------
    mass : ndarray of shape (n_events,)
        Masses of all events of the scan.
    selections : list of (ndarray of int, MassWindow, float)
        Per window: the indices (into ``mass``) of its selected events, the
        window and the relative width of its peak.
    n_bootstrap : int
        Replicas.
    rng : numpy.random.Generator

    Returns
    -------
    z : ndarray of shape (n_bootstrap, n_windows)
        NaN where a replica's fit failed.
    """
    z = np.empty((n_bootstrap, len(selections)))
    for b in range(n_bootstrap):
        weights = rng.poisson(1.0, size=mass.size)
        for j, (sel, window, width) in enumerate(selections):
            try:
                fit = fit_peak(np.repeat(mass[sel], weights[sel]), window, width, uncertainty=False)
                z[b, j] = fit.significance
            except ValueError:
                z[b, j] = np.nan
    return z


@dataclass(frozen=True)
class GlobalSignificance:
    """The look-elsewhere-corrected significance of the largest local one.

    Attributes
    ----------
    p_value : float
        Global p-value.
    significance : float
        Its one-sided Gaussian equivalent (0 for ``p_value >= 0.5``).
    method : str
        How the p-value was obtained.
    correlation : ndarray of shape (n_windows, n_windows)
        Correlation of the local significances used.
    """

    p_value: float
    significance: float
    method: str
    correlation: np.ndarray = field(repr=False)


def _correlated_max_p_value(z_local, corr, n_pseudo, rng):
    z_max = float(np.max(z_local))
    n = z_local.size
    evals, evecs = np.linalg.eigh(corr)
    root = evecs * np.sqrt(np.clip(evals, 0.0, None))
    hits = 0
    chunk = 20000
    for start in range(0, n_pseudo, chunk):
        size = min(chunk, n_pseudo - start)
        draws = rng.standard_normal((size, n)) @ root.T
        hits += int(np.sum(draws.max(axis=1) >= z_max))
    if hits >= 20:
        return hits / n_pseudo, (
            f"{n_pseudo} correlated pseudo-experiments of the {n} local significances "
            "(correlation from a Poisson bootstrap of the events)"
        )
    return min(1.0, n * float(norm.sf(z_max))), (
        f"Bonferroni bound {n} x p_local (fewer than 20 of {n_pseudo} correlated "
        "pseudo-experiments reached the observed maximum)"
    )


def global_significance(z_local, z_bootstrap, *, n_pseudo, rng):
    """P(max of correlated standard normals >= max z_local).

    Parameters
    ----------
    z_local : ndarray of shape (n_windows,)
        The observed local significances.
    z_bootstrap : ndarray of shape (n_bootstrap, n_windows) or None
        Their bootstrap replicas (:func:`bootstrap_significances`); None for
        a single window (no look-elsewhere effect).
    n_pseudo : int
        Correlated pseudo-experiments.
    rng : numpy.random.Generator

    Returns
    -------
    result : GlobalSignificance
    """
    z_local = np.asarray(z_local, dtype=np.float64)
    if z_bootstrap is None:
        corr = np.ones((1, 1))
        p, method = float(norm.sf(z_local.max())), "one window: no look-elsewhere effect"
    else:
        ok = np.all(np.isfinite(z_bootstrap), axis=1)
        corr = np.corrcoef(z_bootstrap[ok], rowvar=False)
        corr = np.where(np.isfinite(corr), corr, 0.0)
        np.fill_diagonal(corr, 1.0)
        p, method = _correlated_max_p_value(z_local, corr, int(n_pseudo), rng)
    p = float(p)
    z = 0.0 if p >= 0.5 else float(norm.isf(min(max(p, 1e-300), 0.5)))
    return GlobalSignificance(p_value=p, significance=z, method=method, correlation=corr)
