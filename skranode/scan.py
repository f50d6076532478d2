"""Search the whole spectrum: a sliding-window scan, k-fold scores, a global significance.

A resonant search does not know the mass of the new particle. :func:`scan_spectrum`
slides the signal region over the dijet spectrum (:func:`sliding_windows`) and
runs, in every window (:func:`scan_window`):

1. **k-fold models**: the events of the window and its sidebands are split
   into ``n_folds`` folds. For each fold a :class:`~skranode.SidebandDensity`
   is trained on the *sideband* events of the other folds and a learned-w
   :class:`~skranode.ResidualANODE` on the *signal-region* events of the other
   folds; the held-out fold is scored with ``log p_S / p_B``. Every event's
   score therefore comes from models that never saw it, whether it lies in
   the signal region or in a sideband.
2. **Signal fraction** (:func:`~skranode.inference.mixture_profile`): the
   held-out mixture likelihood of the signal-region events gives ``w_hat``,
   its 68 % / 95 % intervals, the one-sided 95 % CL upper limit on ``w`` and
   on the number of signal events, and a likelihood-ratio significance. That
   significance is *statistical only*: it assumes that the learned p_B is the
   true background density, which a learned background never is exactly (it
   reads mismodelling as signal). It is reported as
   ``significance_likelihood_ratio``.
3. **Local significance** (the headline): a bump hunt in the dijet mass
   after a cut on the k-fold score that keeps a fraction ``efficiency`` of
   the sideband events: :func:`~skranode.mass_spectrum.fit_resonance` fits
   the selected events of the window and its sidebands with the dijet
   function plus a Gaussian peak at the window centre (width
   ``signal_width`` times the mass) and the likelihood ratio of the peak is
   the local significance, as in the LHC dijet resonance searches. It does
   not rely on p_B(x | m) being right, only on the cut not sculpting a bump
   into the mass spectrum: the score holds p_S at the window centre (one
   function of x) and p_B at each event's own mass, and is k-fold (a model
   that had seen the sideband events would score them lower than the unseen
   signal-region events). Its false-positive rate on background-only
   spectra is measured in ``benchmarks/bench_scan.py``.
4. **Background checks** (truth-free, :mod:`skranode.closure`): in the
   sideband strips next to the signal region (half its width on each side),
   each fold background is compared with its held-out events there, by a
   classifier test of events drawn from it at their masses and by their
   log-likelihood against that of its own samples (``sideband_checks``; a
   failure is a note: the numbers that take p_B as exact do not hold there).

After the scan, the most significant window gets its **validation windows**
(:func:`validation_tasks`, the main job's: the same procedure in two
half-size pseudo-signal regions next to it, where it must find nothing);
their verdict is ``ScanResult.significance_trusted``. Windows are analysed
in parallel by :func:`run_windows`, each as a :class:`WindowTask`.

The **look-elsewhere effect** is corrected by pseudo-experiments of the
local significances: a Poisson bootstrap of the events (one weight per event,
shared by every window, so that overlapping windows fluctuate together) gives
the correlation matrix of the windows' local significances; the global p-value
is the fraction of 200 000 multivariate-normal pseudo-experiments with that
correlation whose largest local significance reaches the observed one. Where
fewer than 20 pseudo-experiments reach it, the Bonferroni bound
``n_windows * p_local`` is quoted instead (an upper bound on the global
p-value whatever the correlation).
"""

import hashlib
import json
import math
import numbers
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import norm
from sklearn.model_selection import KFold

from skranode.mass_window import MassWindow, check_interval
from skranode.utils._math import log_mean_exp

__all__ = [
    "SCAN_PRESETS",
    "SIGNAL_WIDTH",
    "ScanResult",
    "WindowResult",
    "WindowTask",
    "run_windows",
    "scan_spectrum",
    "scan_window",
    "sliding_windows",
    "validation_tasks",
    "window_background",
]

#: Centre-of-mass energy of the LHC in TeV: masses above it are in the wrong units.
_SQRT_S_TEV = 13.0

#: Parameters of the dijet function of the bump hunt (3: two shape
#: parameters). Over a window and its sidebands (about 1.2 TeV) the
#: 4-parameter function bends to absorb a peak of 5 % width (measured: a
#: planted peak of 1,100 events over 1,800 fitted at 3.3 sigma with 4
#: parameters, 12.5 with 3), while 3 describe the selected background spectrum.
_BUMP_HUNT_PARAMS = 3

#: Relative mass resolution of the resonance searched: the width of the
#: Gaussian peak of the bump hunt is this times the window centre.
SIGNAL_WIDTH = 0.05

#: Largest initial ``w`` of a fold's signal model.
_MAX_START = 0.5

#: Training budgets per window. ``sideband_flow`` are the parameters of the
#: background's :class:`~skranode.ConditionalFlowDensity`, ``signal_flow`` the
#: overrides of :func:`~skranode.anode.default_signal_flow`.
#: ``max_samples_per_epoch`` caps the cost of the signal models of the windows
#: with the most events (the lowest masses of a falling spectrum): each epoch
#: trains on a fresh random subset of 50 000 signal-region events, so that a
#: window of a million events trains its signal models as long as one with a
#: signal region of about 100 000 and still sees every event over its
#: epochs; smaller windows train as before. The background flows are not
#: capped: capped at 100 000 events per epoch, the closure AUC of generated vs
#: true signal-region background on 1M events rose from 0.514, 0.512, 0.525 to
#: 0.544, 0.544, 0.539 in the three lowest windows of 3.0-3.8 TeV, for a saving
#: of 10-30 s per fold (``benchmarks/bench_scan.py --mode closure``).
#: ``n_ensemble`` is the number of classifiers of the extra methods
#: (``methods=``, e.g. CURTAINs' CATHODE), as in the main job's presets.
#: ``start_n_init`` is the number of restarts of the truth-free first fit
#: that sets the fold models' start (``ResidualANODE(n_init=...)``, as the
#: main job's model): one training can lose a small signal for good, and
#: then every fold starts at the floor.
SCAN_PRESETS = {
    "default": dict(
        n_folds=3,
        sideband_flow=dict(
            n_layers=6,
            n_hidden=64,
            batch_size=4096,
            learning_rate=2e-3,
            max_epochs=10,
            patience=4,
        ),
        signal_flow=dict(max_epochs=12, n_best=4, max_samples_per_epoch=50_000),
        n_ensemble=3,
        start_n_init=3,
    ),
    "fast": dict(
        n_folds=2,
        sideband_flow=dict(
            n_layers=3,
            n_hidden=32,
            batch_size=2048,
            learning_rate=3e-3,
            max_epochs=5,
            patience=5,
        ),
        signal_flow=dict(max_epochs=6, n_best=2, max_samples_per_epoch=50_000),
        n_ensemble=1,
        start_n_init=1,
    ),
}


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
    if hi > _SQRT_S_TEV:
        raise ValueError(
            f"mass_range ({lo:g}, {hi:g}) reaches above sqrt(s) = {_SQRT_S_TEV:g} TeV: "
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


@dataclass
class WindowResult:
    """What :func:`scan_window` finds in one window.

    Attributes
    ----------
    summary : dict
        The numbers of the window (a row of :attr:`ScanResult.table`, an
        entry of ``results.json["windows"]``), see :func:`scan_spectrum`.
    scores : ndarray of shape (n_events,)
        k-fold anomaly score ``log p_S / p_B`` of every event of the window
        and its sidebands, in the order given.
    profile : WProfile or None
        The held-out likelihood of ``w`` (None for a skipped window).
    signal_samples : ndarray of shape (n, n_features) or None
        Events drawn from one fold's learned signal model at signal-region masses.
    backgrounds : list of SidebandDensity
        The fold background models (empty for a skipped window or one read
        from a scan's cache). None trained on a signal-region event, so each
        is a background template for all of them.
    templates : ndarray of shape (n_folds, n_sr_events) or None
        ``log p_S - log p_B,j`` of the signal-region events under each fold's
        background ``j`` (the input of
        :func:`~skranode.inference.with_background_spread`).
    """

    summary: dict
    scores: np.ndarray = field(default=None, repr=False)
    profile: object = field(default=None, repr=False)
    signal_samples: np.ndarray = field(default=None, repr=False)
    backgrounds: list = field(default_factory=list, repr=False)
    templates: np.ndarray = field(default=None, repr=False)


def _round(value, digits=5):
    if value is None:
        return None
    if np.ndim(value):
        return [_round(v, digits) for v in value]
    value = float(value)
    return round(value, digits) if math.isfinite(value) else value


def _skipped(summary, why):
    summary.update(skipped=why, local_significance=None, local_p_value=None)
    summary.setdefault("notes", []).append(f"skipped: {why}")
    return WindowResult(summary)


#: Fewest optimizer steps per epoch of a window's background flow: a window at
#: high mass has few sideband events, and a fixed batch would leave it a
#: handful of steps (measured: closure AUC 0.61 at 4.8-5.2 TeV with batches of
#: 4096 on 1M events, see benchmarks/bench_scan.py --mode closure).
_MIN_STEPS_PER_EPOCH = 30


def window_background(window, n_sideband, *, preset="default", device="cpu", random_state=0):
    """The unfitted background model of one window of a scan.

    A :class:`~skranode.SidebandDensity` of the window's sidebands with the
    flow of :data:`SCAN_PRESETS`, its batch shrunk so that an epoch over
    ``n_sideband`` events has at least 30 optimizer steps.

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
    from skranode.flows import ConditionalFlowDensity
    from skranode.sideband import SidebandDensity

    params = dict(SCAN_PRESETS[preset]["sideband_flow"])
    batch = n_sideband // _MIN_STEPS_PER_EPOCH
    params["batch_size"] = int(np.clip(batch, 256, params["batch_size"]))
    return SidebandDensity(
        window.bounds,
        sideband=window.sideband,
        density=ConditionalFlowDensity(**params, device=device),
        random_state=random_state,
    )


def _with_spread(z_statistical, n_signal, sigma_background):
    """A likelihood-ratio significance with a further uncertainty on the fitted yield.

    ``n / sqrt((n / Z_stat)^2 + sigma_B^2)``: the statistical standard deviation
    implied by ``Z_stat`` and the background-model one added in quadrature (the
    rule of :func:`~skranode.inference.with_background_spread`); 0 stays 0.
    """
    if z_statistical == 0 or n_signal == 0:
        return 0.0
    return float(n_signal / math.hypot(n_signal / z_statistical, sigma_background))


def _toy_null(bump, z_local, window, signal_width, sigma_background, n_toys, seeds):
    """The bump hunt's p-value from pseudo-data of its own background fit (empty: none)."""
    from skranode.mass_spectrum import resonance_toys

    if not n_toys:
        return {}
    toys = resonance_toys(
        bump,
        mass=window.center,
        width=signal_width * window.center,
        mass_range=(window.sideband_low, window.sideband_high),
        n_params=_BUMP_HUNT_PARAMS,
        n_toys=int(n_toys),
        random_state=int(seeds[-1]) + 7,
    )
    toys = toys[np.isfinite(toys[:, 0])]
    z = toys[:, 0]
    if sigma_background is not None:
        z = np.array([_with_spread(zt, nt, sigma_background) for zt, nt in toys])
    hits = int(np.sum(z >= z_local))
    p = (1 + hits) / (1 + z.size)
    return dict(
        local_p_value_toys=p,
        local_significance_toys=_round(float(norm.isf(p)), 3),
        toys=dict(
            n_toys=int(n_toys),
            n_fitted=int(z.size),
            z_mean=_round(float(np.mean(z)), 3) if z.size else None,
            z_std=_round(float(np.std(z, ddof=1)), 3) if z.size > 1 else None,
            resolves_below=_round(1.0 / (1 + z.size), 6),
            beyond_every_toy=hits == 0,
        ),
    )


def _window_score(ranode, features, mass, window):
    """``log p_S(x | m_c) - log p_B(x | m)``, with ``m_c`` the centre of the signal region.

    The signal model has only seen signal-region masses: its conditional
    density extrapolated to sideband masses (several standard deviations of
    its mass input away) is arbitrary and would sculpt the spectrum of the
    selected events. Held at the window centre it is one function of ``x`` for
    every event; the background density is evaluated where it was trained, at
    the event's own mass, so for background events the score's distribution
    changes smoothly with the mass.
    """
    centre = np.full(mass.shape, window.center)
    return ranode.signal_log_density(features, centre) - ranode.background_log_density(
        features, mass
    )


def _extra_methods(methods):
    """The registered methods of ``scan_window(methods=...)``, checked."""
    from skranode.methods import get_method

    if isinstance(methods, str):
        methods = (methods,)
    chosen = [get_method(name) for name in methods]
    if len({m.name for m in chosen}) != len(chosen):
        raise ValueError(f"methods names a method twice: {list(methods)!r}.")
    return chosen


def _feature_names(n_features):
    from skranode.datasets import FEATURE_NAMES

    if n_features == len(FEATURE_NAMES):
        return list(FEATURE_NAMES)
    return [f"x{j}" for j in range(n_features)]


def _frame(features):
    """Features as the DataFrame that the methods' fit and score get."""
    import pandas as pd

    return pd.DataFrame(features, columns=_feature_names(features.shape[1]))


def _score_cut(scores, sr, efficiency):
    """The cut of the bump hunt: keeps ``efficiency`` of the sideband events.

    Returns the threshold, the selected events and a note when the scores
    are tied at the cut (None otherwise).
    """
    threshold = float(np.quantile(scores[~sr], 1.0 - efficiency, method="higher"))
    selected = scores >= threshold
    achieved = float(np.mean(selected[~sr]))
    tied = None
    if achieved > 1.5 * efficiency:
        tied = (
            f"the anomaly scores are tied at the cut: {achieved:.3g} of the sideband events "
            f"pass it, not the {efficiency} asked (a score constant over many events); the "
            "bump hunt has much less power than it should"
        )
    return threshold, selected, tied


def _template_spread(scores, mass, sr, templates, threshold, window, signal_width):
    """Standard deviation of the bump hunt's signal yield over the background templates.

    The same cut and fit with each template's score (a row of ``templates``)
    for the signal-region events; the sideband events keep ``scores``, from
    their own fold's background, the only one that did not see them.
    """
    n_template = []
    for row in templates:
        alt = scores.copy()
        alt[sr] = row
        n_template.append(
            _bump_fit(mass[alt >= threshold], window, signal_width, uncertainty=False).n_signal
        )
    return float(np.std(n_template, ddof=1))


def _bump_fit(selected_masses, window, signal_width, uncertainty=True):
    """The bump hunt of a window: the dijet function plus a peak at its centre."""
    from skranode.mass_spectrum import fit_resonance

    return fit_resonance(
        selected_masses,
        mass=window.center,
        width=signal_width * window.center,
        mass_range=(window.sideband_low, window.sideband_high),
        n_params=_BUMP_HUNT_PARAMS,
        uncertainty=uncertainty,
    )


def _method_bump_hunt(scores, mass, sr, window, efficiency, signal_width, labels, seconds):
    """An extra method's local significance: the scan's cut and bump hunt on its scores."""

    if isinstance(scores, str):
        return {"skipped": scores, "local_significance": None, "local_p_value": None}
    out = {"skipped": None, "notes": [], "seconds": round(seconds, 1)}
    if not np.all(np.isfinite(scores)):
        n_bad = int((~np.isfinite(scores)).sum())
        return dict(
            out,
            skipped=f"{n_bad} events got a non-finite score",
            local_significance=None,
            local_p_value=None,
        )
    threshold, selected, tied = _score_cut(scores, sr, efficiency)
    if tied is not None:
        out["notes"].append(tied)
    out.update(threshold=_round(threshold, 6), n_selected_sr=int(selected[sr].sum()))
    if labels is not None:
        out["n_signal_selected_true"] = int((labels[selected] == 1).sum())
    try:
        bump = _bump_fit(mass[selected], window, signal_width)
    except ValueError as exc:
        return dict(
            out, skipped=f"bump hunt impossible: {exc}", local_significance=None, local_p_value=None
        )
    z = float(bump.significance)
    out.update(
        local_significance=_round(z, 3),
        local_p_value=float(norm.sf(z)),
        n_signal_fit=_round(bump.n_signal, 1),
        n_signal_fit_std=_round(bump.n_signal_std, 1),
    )
    return out


def scan_window(
    features,
    mass,
    window,
    *,
    preset="default",
    n_folds=None,
    efficiency=0.02,
    signal_width=SIGNAL_WIDTH,
    w_max=0.5,
    min_signal_region=200,
    min_sideband=500,
    labels=None,
    w_start=None,
    n_init=None,
    start_factors=(1.0, 2.0),
    n_toys=0,
    methods=(),
    device="cpu",
    random_state=0,
):
    """Analyse one window of a scan with k-fold models.

    Parameters
    ----------
    features : ndarray of shape (n_events, n_features)
        The events of the window and its sidebands (others are ignored).
    mass : ndarray of shape (n_events,)
        Their masses in TeV.
    window : MassWindow
        The signal region and the outer sideband limits.
    preset : {'default', 'fast'}, default='default'
        Training budgets (:data:`SCAN_PRESETS`).
    n_folds : int or None, default=None
        Folds of the k-fold scoring (>= 2); None takes the preset's.
    efficiency : float in (0, 1), default=0.02
        Fraction of the sideband events kept by the cut of the bump hunt.
    signal_width : float, default=0.05
        Mass resolution of the resonance searched, relative to its mass: the
        width of the Gaussian peak of the bump hunt
        (:func:`~skranode.mass_spectrum.fit_resonance`).
    w_max : float, default=0.5
        Largest signal fraction considered.
    min_signal_region, min_sideband : int, default=200, 500
        Fewest events in the signal region and in each sideband; a window
        with fewer is skipped (with the reason in ``summary["skipped"]``).
    labels : ndarray of shape (n_events,) or None, default=None
        Truth (1 signal), used only to report ``n_signal_true`` and
        ``s_over_sqrt_b_true``.
    w_start : float or None, default=None
        Initial ``w`` of the fold models' learned signal fraction. None
        (truth-free) fits one learned-w R-ANODE from
        :data:`~skranode.inference.W_START` on the first fold's training
        events and starts every fold at half its ``w_``
        (:func:`~skranode.inference.cross_fit_start`, the main job's rule): fold
        models started far below the truth give a ``w_hat`` about half of it.
    n_init : int or None, default=None
        Restarts of that first fit (``ResidualANODE(n_init=...)``: the one
        with the best held-out likelihood sets the start); None takes the
        preset's ``start_n_init`` (3 for ``'default'``, 1 for ``'fast'``).
        Unused with a given ``w_start``.
    start_factors : tuple of float, default=(1.0, 2.0)
        Each fold trains one signal model from each ``factor * w_start``
        (capped at 0.5); their average density is the fold's signal model,
        and the spread of ``w_hat`` over the starts is the *signal-model*
        uncertainty (``w_std_signal_model``): ``w_hat`` depends on where its
        models start (measured in the user guide). One factor skips it.
    n_toys : int, default=0
        Pseudo-experiments of the bump hunt's empirical null
        (:func:`~skranode.mass_spectrum.resonance_toys`: pseudo-data from its
        own background-only fit, each refitted and widened by the same
        template spread): ``local_p_value_toys`` and
        ``local_significance_toys``. 0 skips them (the scan corrects for the
        look-elsewhere effect by a bootstrap instead).
    methods : sequence of str, default=()
        Registered methods (:mod:`skranode.methods`, e.g. ``"CURTAINs"``)
        analysed next to R-ANODE on the same folds: each fold fits the
        method on its training events (:class:`~skranode.methods.MethodInputs`
        with the fold's signal-region events, its background and all its
        events, sidebands included) and scores its held-out events; the same
        cut and bump hunt then give the method's local significance, in
        ``summary["methods"][name]``. A method that needs inputs a scan does
        not have (a true background or labelled sample) is reported as
        skipped. They do not enter the global significance, which is
        R-ANODE's.
    device : str, default='cpu'
        Torch device of the flows.
    random_state : int, default=0
        Seed of the folds and of every model.

    Returns
    -------
    result : WindowResult

    Notes
    -----
    The signal-region events train no background model, so every fold's
    background is a valid template for them: ``w_hat`` is the maximum of the
    held-out likelihood with each event's signal density (from the fold
    model that did not see it) over the average of the fold backgrounds, and
    the spread of ``w_hat`` over the single backgrounds, with the *spurious
    signal* added in quadrature, is the background-model uncertainty
    (:func:`~skranode.inference.with_background_spread`). The spurious signal
    is ``w_hat`` of the same likelihood on the held-out *sideband* events
    (``w_hat_sideband``, a truth-free control: without signal leaking into the
    sidebands it measures how much background mismodelling the signal model
    takes for signal; leaked signal makes it larger, the interval wider). The anomaly score of
    the cut uses each event's own fold background, as the sideband events
    trained the other folds' backgrounds.
    """
    from skranode.anode import ResidualANODE, default_signal_flow
    from skranode.closure import strip_checks
    from skranode.inference import (
        W_START,
        cross_fit_start,
        mixture_profile,
        profile_notes,
        with_background_spread,
    )
    from skranode.methods import MethodInputs

    start = time.perf_counter()
    cfg = SCAN_PRESETS[preset]
    start_factors = tuple(start_factors)
    if not start_factors or not all(
        isinstance(f, numbers.Real) and not isinstance(f, bool) and math.isfinite(f) and f > 0
        for f in start_factors
    ):
        raise ValueError(
            f"start_factors must be one or more positive numbers; got {start_factors!r}."
        )
    if isinstance(n_toys, bool) or not isinstance(n_toys, numbers.Integral) or n_toys < 0:
        raise ValueError(f"n_toys must be a non-negative integer; got {n_toys!r}.")
    extra = _extra_methods(methods)
    k = cfg["n_folds"] if n_folds is None else int(n_folds)
    n_init = cfg["start_n_init"] if n_init is None else n_init
    if isinstance(n_init, bool) or not isinstance(n_init, numbers.Integral) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer or None; got {n_init!r}.")
    features = np.asarray(features, dtype=np.float64)
    mass = np.asarray(mass, dtype=np.float64)
    inside = window.in_range(mass)
    features, mass = features[inside], mass[inside]
    if labels is not None:
        labels = np.asarray(labels)[inside]
    lo, hi = window.bounds
    sr = window.in_signal_region(mass)
    n_low = int(window.in_low_sideband(mass).sum())
    n_high = int(window.in_high_sideband(mass).sum())
    summary = {
        "signal_region": [lo, hi],
        "sideband": [window.sideband_low, window.sideband_high],
        "centre": round(window.center, 6),
        "n_events": int(mass.size),
        "n_sr_events": int(sr.sum()),
        "n_sideband_low": n_low,
        "n_sideband_high": n_high,
        "notes": [],
    }
    if labels is not None:
        n_sig = int(labels[sr].sum())
        summary["n_signal_true"] = n_sig
        summary["s_over_sqrt_b_true"] = round(n_sig / math.sqrt(max(int(sr.sum()) - n_sig, 1)), 3)
    if sr.sum() < min_signal_region:
        return _skipped(summary, f"{int(sr.sum())} signal-region events (< {min_signal_region})")
    if min(n_low, n_high) < min_sideband:
        return _skipped(
            summary,
            f"sidebands hold {n_low} (low) and {n_high} (high) events (< {min_sideband} "
            "each): the window is too close to the edge of the data",
        )
    seeds = np.random.default_rng(random_state).integers(0, 2**31 - 1, size=k + 1)
    folds = list(KFold(k, shuffle=True, random_state=int(seeds[0])).split(features))
    n_starts = len(start_factors)
    # per start of the signal models, every event's score from its own fold
    start_scores = np.empty((n_starts, mass.size))
    w_learned, sideband_ll, backgrounds, ranodes, strip_parts = [], [], [], [], []
    method_scores = {method.name: np.full(mass.size, np.nan) for method in extra}
    method_seconds = {method.name: 0.0 for method in extra}
    strip = min(window.width / 2, lo - window.sideband_low, window.sideband_high - hi)
    strips = {"low": (lo - strip, lo), "high": (hi, hi + strip)}
    in_strips = ((mass >= lo - strip) & (mass < lo)) | ((mass >= hi) & (mass < hi + strip))
    for fold, (train, test) in enumerate(folds):
        seed = int(seeds[fold + 1])
        background = window_background(
            window, int((~sr[train]).sum()), preset=preset, device=device, random_state=seed
        ).fit(features[train], mass[train])
        train_sr = train[sr[train]]
        signal_flow = default_signal_flow().set_params(**cfg["signal_flow"], device=device)
        batch = int(np.clip(train_sr.size // _MIN_STEPS_PER_EPOCH, 64, signal_flow.batch_size))
        signal_flow.set_params(batch_size=batch)
        if w_start is None:
            first = ResidualANODE(
                background,
                w=W_START,
                learn_w=True,
                flow=signal_flow,
                n_init=int(n_init),
                random_state=seed,
            ).fit(features[train_sr], mass[train_sr])
            w_start = cross_fit_start(first.w_)
        for s, factor in enumerate(start_factors):
            # one training each (n_init=1): the fold's score averages its starts
            ranode = ResidualANODE(
                background,
                w=min(factor * w_start, _MAX_START),
                learn_w=True,
                flow=signal_flow,
                n_init=1,
                random_state=seed + s,
            ).fit(features[train_sr], mass[train_sr])
            start_scores[s, test] = _window_score(ranode, features[test], mass[test], window)
            if s == 0:
                w_learned.append(ranode.w_)
                ranodes.append(ranode)
        for method in extra:
            if isinstance(method_scores[method.name], str):
                continue
            tic = time.perf_counter()
            inputs = MethodInputs(
                X_sr=_frame(features[train_sr]),
                m_sr=mass[train_sr],
                background=background,
                window=window,
                seed=seed,
                n_ensemble=cfg["n_ensemble"],
                feature_names=_feature_names(features.shape[1]),
                X_all=_frame(features[train]),
                m_all=mass[train],
            )
            why = method.missing(inputs)
            if why is not None:
                method_scores[method.name] = why
                continue
            model = method.fit(inputs)
            method_scores[method.name][test] = method.score(
                model, _frame(features[test]), mass[test]
            )
            method_seconds[method.name] += time.perf_counter() - tic
        test_sb = test[~sr[test]]
        held_out = background.score_samples(features[test_sb], mass[test_sb])
        sideband_ll.append(float(np.mean(held_out)))
        backgrounds.append(background)
        # the truth-free check: the fold's background against its held-out strip events
        near = test_sb[in_strips[test_sb]]
        drawn_b = background.sample(mass[near], random_state=seed + 7)
        strip_parts.append(
            (
                near,
                drawn_b,
                held_out[in_strips[test_sb]],
                background.score_samples(drawn_b, mass[near]),
            )
        )
    # the signal models of the starts as one ensemble density: p_S = mean over starts
    scores = log_mean_exp(start_scores, axis=0)
    if not np.all(np.isfinite(scores)):
        n_bad = int((~np.isfinite(scores)).sum())
        return _skipped(summary, f"{n_bad} events got a non-finite score")
    # every background is a template for the signal-region events (none trained on them)
    sr_index = np.flatnonzero(sr)
    position = np.empty(mass.size, dtype=np.intp)
    position[sr_index] = np.arange(sr_index.size)
    own_pb = np.empty(sr_index.size)
    log_pb = np.empty((k, sr_index.size))
    for fold, (_, test) in enumerate(folds):
        te = test[sr[test]]
        for j, other in enumerate(backgrounds):
            log_pb[j, position[te]] = other.score_samples(features[te], mass[te])
        own_pb[position[te]] = log_pb[fold, position[te]]
    log_ps = scores[sr_index] + own_pb
    templates = log_ps - log_pb
    finite = bool(np.all(np.isfinite(templates)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # profile_notes reports the dominant events
        # the spurious signal: the same likelihood on the held-out sideband events
        control = mixture_profile(scores[~sr], w_max=w_max)
        sigma_signal = None
        if finite:
            log_pb_mean = log_mean_exp(log_pb, axis=0)
            profile = mixture_profile(log_ps - log_pb_mean, w_max=w_max)
            if n_starts > 1:
                # each start's signal model over the same background: the signal-model spread
                start_ps = start_scores[:, sr_index] + own_pb
                sigma_signal = float(
                    np.std(
                        [mixture_profile(row - log_pb_mean, w_max=w_max).w_hat for row in start_ps],
                        ddof=1,
                    )
                )
            profile = with_background_spread(
                profile, templates, spurious=control.w_hat, signal_model=sigma_signal or 0.0
            )
        else:
            profile = mixture_profile(scores[sr], w_max=w_max)
    notes = profile_notes(profile)
    near = np.concatenate([part[0] for part in strip_parts])
    checks, check_notes = strip_checks(
        mass[near],
        features[near],
        np.concatenate([part[1] for part in strip_parts]),
        np.concatenate([part[2] for part in strip_parts]),
        np.concatenate([part[3] for part in strip_parts]),
        strips,
        random_state=int(seeds[-1]),
    )
    checks["notes"] = check_notes
    notes += check_notes
    if not finite:
        notes.append(
            "a fold background gives some signal-region event no density: the w interval, "
            "upper limit and likelihood-ratio significance are statistical only"
        )
    threshold, selected, tied = _score_cut(scores, sr, efficiency)
    if tied is not None:
        notes.append(tied)
    try:
        bump = _bump_fit(mass[selected], window, signal_width)
    except ValueError as exc:
        return _skipped(summary, f"bump hunt impossible: {exc}")
    z_statistical = float(bump.significance)
    n_signal_std_background = None
    z_local = z_statistical
    if finite:
        # the background-model part: the same cut and fit with each template's
        # score for the signal-region events (the sideband events keep their own
        # fold's, the only background that did not see them)
        n_signal_std_background = _template_spread(
            scores, mass, sr, templates, threshold, window, signal_width
        )
        z_local = _with_spread(z_statistical, bump.n_signal, n_signal_std_background)
    toys = _toy_null(bump, z_local, window, signal_width, n_signal_std_background, n_toys, seeds)
    method_results = {
        name: _method_bump_hunt(
            part, mass, sr, window, efficiency, signal_width, labels, method_seconds[name]
        )
        for name, part in method_scores.items()
    }
    n_sr = int(sr.sum())
    rng = np.random.default_rng(int(seeds[-1]))
    at = rng.choice(mass[sr], 2000)
    drawn, _ = ranodes[-1].sample(2000, m=at, random_state=int(seeds[-1]))
    if int(selected[sr].sum()) < 20:
        notes.append(
            f"only {int(selected[sr].sum())} signal-region events pass the cut: the "
            "asymptotic local p-value is approximate"
        )
    summary.update(
        w_hat=_round(profile.w_hat, 6),
        w_interval_68=_round(profile.interval_68, 6),
        w_interval_95=_round(profile.interval_95, 6),
        w_upper_limit_95=_round(profile.upper_limit_95, 6),
        n_signal_upper_limit_95=_round(profile.upper_limit_95 * n_sr, 1),
        significance_likelihood_ratio=_round(profile.significance, 3),
        w_std_background=_round(profile.w_std_background, 6),
        w_interval_95_statistical=_round(profile.interval_95_statistical, 6),
        w_upper_limit_95_statistical=_round(profile.upper_limit_95_statistical, 6),
        significance_likelihood_ratio_statistical=_round(profile.significance_statistical, 3),
        w_std_signal_model=_round(sigma_signal, 6),
        w_std_templates=_round(
            None if profile.w_hat_templates is None else np.std(profile.w_hat_templates, ddof=1), 6
        ),
        w_hat_sideband=_round(control.w_hat, 6),
        significance_likelihood_ratio_sideband=_round(control.significance, 3),
        w_start=_round(w_start, 6),
        local_significance=_round(z_local, 3),
        local_p_value=float(norm.sf(z_local)),
        local_significance_statistical=_round(z_statistical, 3),
        **toys,
        bump_hunt=dict(
            threshold=_round(threshold, 6),
            efficiency=efficiency,
            signal_width=signal_width,
            n_selected=int(selected.sum()),
            n_selected_sr=int(selected[sr].sum()),
            n_signal_fit=_round(bump.n_signal, 1),
            n_signal_fit_std=_round(bump.n_signal_std, 1),
            n_signal_fit_std_background=_round(n_signal_std_background, 1),
            **(
                {}
                if labels is None
                else {"n_signal_selected_true": int((labels[selected] == 1).sum())}
            ),
        ),
        **({"methods": method_results} if method_results else {}),
        w_learned_folds=_round(w_learned, 6),
        sideband_heldout_loglik=_round(float(np.mean(sideband_ll)), 4),
        sideband_checks=checks,
        n_folds=k,
        seconds=round(time.perf_counter() - start, 1),
        skipped=None,
        notes=notes,
    )
    return WindowResult(
        summary,
        scores=scores,
        profile=profile,
        signal_samples=drawn,
        backgrounds=backgrounds,
        templates=templates if finite else None,
    )


@dataclass
class ScanResult:
    """What :func:`scan_spectrum` returns.

    Attributes
    ----------
    windows : list of dict
        Per window, in mass order: the ``summary`` of :func:`scan_window`.
    global_significance, global_p_value : float or None
        Look-elsewhere-corrected significance and p-value of the most
        significant window (None when no window was analysed).
    global_method : str
        How the global p-value was obtained.
    best_window : int or None
        Index into ``windows`` of the most significant window.
    correlation : ndarray of shape (n_analysed, n_analysed) or None
        Correlation of the analysed windows' local significances.
    details : dict
        Per analysed window index: its :class:`WindowResult` (scores, w
        likelihood, signal-model samples), for plots; not in ``results.json``.
    validation : dict or None
        The validation windows of the most significant window
        (:func:`~skranode.closure.summarize_validation`: ``windows``,
        ``notes``, ``skipped``, ``passed``, ``trusted``); None when not run.
    significance_trusted : bool or None
        Every validation window of the most significant window below
        :data:`~skranode.closure.VALIDATION_Z`: the procedure finds nothing
        in the background next to it. None when none was analysed.
    seconds : dict
        Wall time of the windows, of the look-elsewhere correction and of
        the validation.
    """

    windows: list
    global_significance: float = None
    global_p_value: float = None
    global_method: str = ""
    best_window: int = None
    correlation: np.ndarray = field(default=None, repr=False)
    details: dict = field(default_factory=dict, repr=False)
    validation: dict = None
    significance_trusted: bool = None
    seconds: dict = field(default_factory=dict)

    @property
    def table(self):
        """One row per window (a :class:`pandas.DataFrame`)."""
        import pandas as pd

        rows = []
        for k, win in enumerate(self.windows):
            row = {
                "window": k,
                "low": win["signal_region"][0],
                "high": win["signal_region"][1],
                "n_sr_events": win["n_sr_events"],
            }
            for key in (
                "w_hat",
                "w_upper_limit_95",
                "n_signal_upper_limit_95",
                "w_std_background",
                "w_std_signal_model",
                "w_hat_sideband",
                "significance_likelihood_ratio",
                "significance_likelihood_ratio_statistical",
                "local_significance",
                "local_significance_statistical",
                "local_p_value",
                "n_signal_true",
                "s_over_sqrt_b_true",
            ):
                if key in win:
                    row[key] = win[key]
            row["w_95_low"], row["w_95_high"] = win.get("w_interval_95") or (None, None)
            for name, part in win.get("methods", {}).items():
                row[f"local_significance {name}"] = part.get("local_significance")
            checks = win.get("sideband_checks")
            if checks is not None:
                for side in ("low", "high"):
                    tests = checks.get(side, {})
                    for test in ("classifier", "likelihood"):
                        if test in tests:
                            row[f"check_{side}_{test}_z"] = tests[test]["z"]
                row["background_check_passed"] = checks.get("passed")
            row["notes"] = "; ".join(win.get("notes", []))
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self):
        """The results as plain Python (what ``results.json`` holds)."""
        return {
            "global_significance": self.global_significance,
            "global_p_value": self.global_p_value,
            "global_method": self.global_method,
            "best_window": self.best_window,
            "significance_trusted": self.significance_trusted,
            "validation_passed": None if self.validation is None else self.validation["passed"],
            "validation_windows": None if self.validation is None else self.validation["windows"],
            "validation_notes": [] if self.validation is None else self.validation["notes"],
            "seconds": self.seconds,
            "windows": self.windows,
        }


def _check_events(X, m):
    from skranode.utils._validation import check_aligned, check_mass

    check_aligned(X, m)

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
    if np.median(mass) > _SQRT_S_TEV:
        raise ValueError(
            f"The median mass is {np.median(mass):.4g}, above sqrt(s) = {_SQRT_S_TEV:g} TeV: "
            "the masses look like GeV. skranode works in TeV; divide them by 1000."
        )
    return X, mass, names


#: Bumped when a cached window's content changes meaning (old caches are not reused).
_CACHE_VERSION = 6


def _fingerprint(*arrays, config):
    digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode())
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


@dataclass
class WindowTask:
    """One window to analyse with :func:`scan_window`, in a worker of :func:`run_windows`.

    Attributes
    ----------
    features : ndarray of shape (n_events, n_features)
        The events of the window and its sidebands.
    mass : ndarray of shape (n_events,)
        Their masses in TeV.
    window : MassWindow
        The signal region and its sidebands.
    kwargs : dict
        Keywords of :func:`scan_window` (``random_state`` included).
    labels : ndarray of shape (n_events,) or None, default=None
        Truth, only to report it.
    cache : str or None, default=None
        Path stem of the window's cached result (``.json`` and ``.npz``): read
        when complete, written when the window is analysed.
    """

    features: np.ndarray = field(repr=False)
    mass: np.ndarray = field(repr=False)
    window: MassWindow
    kwargs: dict
    labels: np.ndarray = field(default=None, repr=False)
    cache: str = None


def _read_cache(path, w_max):
    from skranode.inference import mixture_profile, with_background_spread

    summary = json.loads(path.with_suffix(".json").read_text())
    if summary.get("skipped"):
        return WindowResult(summary)
    arrays = np.load(path.with_suffix(".npz"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profile = mixture_profile(arrays["log_ratio"], w_max=w_max)
        if "templates" in arrays.files:
            profile = with_background_spread(
                profile,
                arrays["templates"],
                spurious=summary.get("w_hat_sideband") or 0.0,
                signal_model=summary.get("w_std_signal_model") or 0.0,
            )
    summary["cached"] = True
    return WindowResult(summary, arrays["scores"], profile, arrays["signal_samples"])


def _write_cache(path, result):
    if result.scores is not None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            scores=result.scores,
            log_ratio=result.profile.log_ratio,
            signal_samples=result.signal_samples,
            **({"templates": result.templates} if result.templates is not None else {}),
        )
        tmp.replace(path.with_suffix(".npz"))
    # the summary last: a window counts as done only once both files are complete
    tmp = path.with_name(path.name + ".tmp.json")
    tmp.write_text(json.dumps(result.summary))
    tmp.replace(path.with_suffix(".json"))


def _run_task(task, threads):
    """One window in a worker: set its torch threads, reuse or write its cache."""
    path = None if task.cache is None else Path(task.cache)
    if path is not None and path.with_suffix(".json").exists():
        return _read_cache(path, task.kwargs.get("w_max", 0.5))
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    result = scan_window(task.features, task.mass, task.window, labels=task.labels, **task.kwargs)
    result.backgrounds = []  # the fitted flows stay in the worker
    if path is not None:
        _write_cache(path, result)
    return result


def run_windows(tasks, *, n_jobs=None, threads_per_job=1):
    """Analyse windows in parallel, each in its own worker (joblib).

    Parameters
    ----------
    tasks : list of WindowTask
        The windows.
    n_jobs : int or None, default=None
        Workers (joblib; ``joblib.parallel_config`` selects the backend, for
        example a dask cluster). None or 1 runs them here, one after the other.
    threads_per_job : int or None, default=1
        Torch threads in each parallel worker (one is fastest on a busy
        machine); with ``n_jobs`` None or 1 the caller's setting is kept.

    Returns
    -------
    results : generator of WindowResult
        In the order of ``tasks``, each as soon as it and those before it
        are done; without the fitted background models (they stay in the
        worker).
    """
    threads = threads_per_job if n_jobs not in (None, 1) else None
    calls = (delayed(_run_task)(task, threads) for task in tasks)
    return Parallel(n_jobs=n_jobs, return_as="generator")(calls)


def validation_tasks(features, mass, window, *, n_signal_region, data_range=None, **kwargs):
    """The validation windows of a window, as tasks of :func:`run_windows`.

    Each is the same procedure in a pseudo-signal region next to the signal
    region (:func:`~skranode.closure.validation_windows`), with a truth-free
    start of its signal models (``w_start=None``), on the events of its own
    range, none of them in the signal region, subsampled at random so that
    its pseudo-signal region holds no more events than the signal region: a
    fluctuation of mismodelling then weighs as much there as here. Its bump
    hunt's peak is scaled with the window (a window of half the size fits a
    peak of half the width): a peak as wide as the window cannot be told
    from the background shape.

    Parameters
    ----------
    features, mass : ndarray
        Events (any range: each validation window takes its own).
    window : MassWindow
        The window validated.
    n_signal_region : int
        Events in its signal region.
    data_range : tuple of float or None, default=None
        ``(min, max)`` of the masses of the data; None takes those of ``mass``.
    **kwargs
        Keywords of :func:`scan_window` (``random_state`` seeds the
        subsampling, and each window gets a seed of its own from it;
        ``signal_width`` is scaled, ``w_start`` replaced by None).

    Returns
    -------
    tasks : dict
        ``{name: (task, fraction)}``: the :class:`WindowTask` of each side
        that fits inside the data, and the fraction of its events kept.
    """
    from skranode.closure import validation_windows

    if data_range is None:
        data_range = (float(mass.min()), float(mass.max()))
    seed = int(kwargs.pop("random_state", 0))
    signal_width = float(kwargs.pop("signal_width", SIGNAL_WIDTH))
    kwargs.pop("w_start", None)
    kwargs.pop("labels", None)
    rng = np.random.default_rng(seed + 1)
    out = {}
    for k, (name, vwin) in enumerate(validation_windows(window, data_range).items()):
        keep = vwin.in_range(mass)
        n_psr = int(vwin.in_signal_region(mass).sum())
        fraction = min(1.0, n_signal_region / n_psr) if n_psr else 1.0
        keep &= rng.random(mass.size) < fraction
        width = signal_width * (vwin.width / window.width) * window.center / vwin.center
        task_kwargs = dict(kwargs, w_start=None, signal_width=width, random_state=seed + 1 + k)
        out[name] = (WindowTask(features[keep], mass[keep], vwin, task_kwargs), fraction)
    return out


def _bootstrap_significances(mass, windows, results, n_bootstrap, rng):
    """Local significances of each window on Poisson-bootstrapped events.

    Each replica gives every event one Poisson(1) weight, shared by all the
    windows, and refits each window's selected spectrum with its cut held.
    """
    from skranode.mass_spectrum import fit_resonance

    z = np.empty((n_bootstrap, len(results)))
    selections = []
    for (index, window), res in zip(windows, results, strict=True):
        bump = res.summary["bump_hunt"]
        sel = index[res.scores >= bump["threshold"]]
        selections.append((sel, window, mass[sel], bump["signal_width"]))
    for b in range(n_bootstrap):
        weights = rng.poisson(1.0, size=mass.size)
        for j, (sel, window, m_sel, width) in enumerate(selections):
            try:
                fit = fit_resonance(
                    np.repeat(m_sel, weights[sel]),
                    mass=window.center,
                    width=width * window.center,
                    mass_range=(window.sideband_low, window.sideband_high),
                    n_params=_BUMP_HUNT_PARAMS,
                    uncertainty=False,
                )
                z[b, j] = fit.significance
            except ValueError:
                z[b, j] = np.nan
    return z


def _global_p_value(z_local, corr, n_pseudo, rng):
    """P(max of correlated standard normals >= max z_local), and how it was obtained."""
    z_max = float(np.max(z_local))
    n = z_local.size
    p_local = float(norm.sf(z_max))
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
    return min(1.0, n * p_local), (
        f"Bonferroni bound {n} x p_local (fewer than 20 of {n_pseudo} correlated "
        "pseudo-experiments reached the observed maximum)"
    )


def scan_spectrum(
    X,
    m,
    *,
    windows=None,
    preset="default",
    n_folds=None,
    efficiency=0.02,
    signal_width=SIGNAL_WIDTH,
    w_max=0.5,
    min_signal_region=200,
    min_sideband=500,
    labels=None,
    n_bootstrap=100,
    n_pseudo=200_000,
    methods=(),
    n_init=None,
    n_jobs=None,
    threads_per_job=1,
    device="cpu",
    cache_dir=None,
    validate=True,
    random_state=0,
    progress=None,
):
    """Slide the signal region over the spectrum, analyse every window, correct for the LEE.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Features of all events (the four LHCO features, or any).
    m : array-like of shape (n_samples,)
        Their dijet masses in TeV.
    windows : list of MassWindow or None, default=None
        The windows (:func:`sliding_windows`); None scans 3.0-5.5 TeV with
        0.4 TeV windows in steps of 0.2 TeV and 0.4 TeV sidebands.
    preset : {'default', 'fast'}, default='default'
        Training budgets per window (:data:`SCAN_PRESETS`).
    n_folds : int or None, default=None
        Folds of the k-fold scoring; None takes the preset's.
    efficiency : float in (0, 1), default=0.02
        Fraction of sideband events kept by each window's cut.
    signal_width : float, default=0.05
        Relative mass resolution of the resonance (the peak of the bump hunt).
    w_max : float, default=0.5
        Largest signal fraction considered.
    min_signal_region, min_sideband : int, default=200, 500
        A window with fewer events in its signal region or either sideband is
        skipped, with a note.
    labels : array-like of shape (n_samples,) or None, default=None
        Truth, used only to report the true signal in each window.
    n_bootstrap : int, default=100
        Bootstrap replicas for the correlation of the windows.
    n_pseudo : int, default=200000
        Pseudo-experiments of the global p-value.
    methods : sequence of str, default=()
        Registered methods analysed next to R-ANODE in every window, on the
        same folds and with the same bump hunt (:func:`scan_window`; e.g.
        ``("CURTAINs",)``): each window's ``methods[name]`` holds their local
        significance. The global significance and the validation windows
        are R-ANODE's.
    n_init : int or None, default=None
        Restarts of each window's truth-free first fit, which sets the start
        of its fold models (:func:`scan_window`); None takes the preset's.
    n_jobs : int or None, default=None
        Windows analysed in parallel (joblib; ``joblib.parallel_config``
        selects the backend, for example a dask cluster).
    threads_per_job : int or None, default=1
        Torch threads in each parallel worker (one is fastest on a busy
        machine); with ``n_jobs`` None or 1 the caller's setting is kept.
    device : str, default='cpu'
        Torch device of the flows.
    cache_dir : str, path or None, default=None
        Folder of per-window results; a window whose result is there (same
        events, window and settings) is not analysed again, so an
        interrupted scan resumes where it stopped.
    validate : bool, default=True
        Run the procedure in the validation windows of the most significant
        window (:func:`validation_tasks`: two pseudo-signal regions of half
        its size next to it, where it must find nothing); their verdict is
        ``significance_trusted``.
    random_state : int, default=0
        Seed of everything (each window gets its own seed from it).
    progress : callable or None, default=None
        Called as ``progress(n_done, n_total, seconds_elapsed, summary)`` after
        each window.

    Returns
    -------
    result : ScanResult
        Per window (``windows``): ``signal_region``, ``sideband``, ``centre``,
        ``n_events``, ``n_sr_events``, ``w_hat``, ``w_interval_68``,
        ``w_interval_95``, ``w_upper_limit_95``, ``n_signal_upper_limit_95``,
        ``significance_likelihood_ratio`` (statistical only: assumes the
        learned background is exact), ``local_significance`` and
        ``local_p_value`` (the bump hunt after the k-fold score cut),
        ``bump_hunt`` details, ``notes``, ``skipped`` (None or why), with
        ``labels`` the true signal count and S/sqrt(B), and with ``methods``
        each method's ``local_significance`` and ``local_p_value`` in
        ``methods``.
    """
    features, mass, _ = _check_events(X, m)
    methods = [method.name for method in _extra_methods(methods)]
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape != mass.shape:
            raise ValueError(f"labels has {labels.size} entries for {mass.size} events.")
    if preset not in SCAN_PRESETS:
        raise ValueError(f"preset must be one of {sorted(SCAN_PRESETS)}; got {preset!r}.")
    if not (isinstance(efficiency, numbers.Real) and 0 < efficiency < 1):
        raise ValueError(f"efficiency must be in (0, 1); got {efficiency!r}.")
    if n_folds is not None and not (isinstance(n_folds, numbers.Integral) and n_folds >= 2):
        raise ValueError(f"n_folds must be an integer >= 2; got {n_folds!r}.")
    if windows is None:
        windows = sliding_windows((3.0, 5.5))
    windows = list(windows)
    if not windows or not all(isinstance(w, MassWindow) for w in windows):
        raise ValueError("windows must be a non-empty list of MassWindow (see sliding_windows).")
    data_lo, data_hi = float(mass.min()), float(mass.max())
    kwargs = dict(
        preset=preset,
        n_folds=n_folds,
        efficiency=float(efficiency),
        signal_width=float(signal_width),
        w_max=float(w_max),
        min_signal_region=int(min_signal_region),
        min_sideband=int(min_sideband),
        methods=tuple(methods),
        n_init=n_init,
        device=device,
    )
    seeds = np.random.default_rng(random_state).integers(0, 2**31 - 1, size=len(windows) + 1)
    summaries = [None] * len(windows)
    tasks = []
    for k, window in enumerate(windows):
        if window.low < data_lo or window.high > data_hi:
            summaries[k] = _skipped(
                {
                    "signal_region": list(window.bounds),
                    "sideband": [window.sideband_low, window.sideband_high],
                    "centre": round(window.center, 6),
                    "n_events": 0,
                    "n_sr_events": 0,
                    "notes": [],
                },
                f"the signal region reaches outside the data (masses {data_lo:.3f} to "
                f"{data_hi:.3f} TeV)",
            )
            continue
        # the sidebands end where the data end
        clipped = MassWindow(
            window.low,
            window.high,
            max(window.sideband_low, data_lo),
            min(window.sideband_high, float(np.nextafter(data_hi, np.inf))),
        )
        index = np.flatnonzero(clipped.in_range(mass))
        cache = None
        if cache_dir is not None:
            config = dict(
                kwargs,
                version=_CACHE_VERSION,
                window=[*clipped.bounds, *clipped.sideband],
                seed=int(seeds[k]),
            )
            key = _fingerprint(features[index], mass[index], config=config)
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            cache = str(Path(cache_dir) / f"window_{k:02d}_{key}")
        lab = None if labels is None else labels[index]
        task = WindowTask(
            features[index],
            mass[index],
            clipped,
            dict(kwargs, random_state=int(seeds[k])),
            labels=lab,
            cache=cache,
        )
        tasks.append((k, clipped, index, task))
    start = time.perf_counter()
    order = {}
    done = 0
    results = run_windows([t[-1] for t in tasks], n_jobs=n_jobs, threads_per_job=threads_per_job)
    for pos, res in enumerate(results):
        k, clipped, index, _ = tasks[pos]
        summaries[k] = res
        order[k] = (index, clipped)
        done += 1
        if progress is not None:
            progress(done, len(tasks), time.perf_counter() - start, res.summary)
    analysed = [k for k in range(len(windows)) if summaries[k].scores is not None]
    result = ScanResult(windows=[s.summary for s in summaries])
    result.seconds["windows"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    result.details = {k: summaries[k] for k in analysed}
    if not analysed:
        result.global_method = (
            "no window could be analysed (see each window's note): a scan needs the "
            "spectrum around every window, sidebands included, such as the whole LHCO R&D "
            "file; signal-region-only arrays cannot be scanned"
        )
        return result
    z_local = np.array([summaries[k].summary["local_significance"] for k in analysed])
    best = analysed[int(np.argmax(z_local))]
    result.best_window = best
    rng = np.random.default_rng(int(seeds[-1]))
    if len(analysed) == 1:
        p_global, method = float(norm.sf(z_local.max())), "one window: no look-elsewhere effect"
        corr = np.ones((1, 1))
    else:
        z_boot = _bootstrap_significances(
            mass, [order[k] for k in analysed], [summaries[k] for k in analysed], n_bootstrap, rng
        )
        ok = np.all(np.isfinite(z_boot), axis=1)
        corr = np.corrcoef(z_boot[ok], rowvar=False)
        corr = np.where(np.isfinite(corr), corr, 0.0)
        np.fill_diagonal(corr, 1.0)
        p_global, method = _global_p_value(z_local, corr, int(n_pseudo), rng)
    result.correlation = corr
    result.global_p_value = float(p_global)
    result.global_significance = round(float(norm.isf(min(max(p_global, 1e-300), 0.5))), 3)
    if p_global >= 0.5:
        result.global_significance = 0.0
    result.global_method = method
    result.seconds["look_elsewhere"] = round(time.perf_counter() - start, 1)
    if validate:
        from skranode.closure import summarize_validation

        start = time.perf_counter()
        index, clipped = order[best]
        named = validation_tasks(
            features,
            mass,
            clipped,
            n_signal_region=summaries[best].summary["n_sr_events"],
            data_range=(data_lo, data_hi),
            **dict(kwargs, methods=(), random_state=int(seeds[best])),
        )
        if cache_dir is not None:
            for name, (task, _) in named.items():
                config = dict(
                    task.kwargs,
                    version=_CACHE_VERSION,
                    validation=name,
                    window=[*task.window.bounds, *task.window.sideband],
                )
                key = _fingerprint(task.features, task.mass, config=config)
                task.cache = str(Path(cache_dir) / f"validation_{best:02d}_{name}_{key}")
        done = run_windows(
            [task for task, _ in named.values()], n_jobs=n_jobs, threads_per_job=threads_per_job
        )
        result.validation = summarize_validation(
            {
                name: (task.window, fraction, res.summary)
                for (name, (task, fraction)), res in zip(named.items(), done, strict=True)
            }
        )
        result.significance_trusted = result.validation["trusted"]
        result.seconds["validation"] = round(time.perf_counter() - start, 1)
    return result
