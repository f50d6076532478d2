"""One window of a search with k-fold models: the procedure both jobs run.

:func:`scan_window` runs, in stages that each fit on a screen:

1. :func:`_train_folds`: the events of the window and its sidebands are split
   into folds. For each fold a :class:`~skranode.SidebandDensity` is trained
   on the *sideband* events of the other folds and learned-w
   :class:`~skranode.ResidualANODE` models (one per start) on their
   *signal-region* events; the held-out fold is scored with
   ``log p_S(x | m_c) - log p_B(x | m)`` (:func:`window_score`, the mixture
   likelihood's ratio) and with ``log p_S(x | m_c) - log p_B(x | m_c)``
   (:func:`selection_score`, what the cut selects on: a function of ``x``
   alone). Background events drawn from the fold's background at masses
   spread over the window give the selection's mass-dependent threshold
   (:func:`~skranode.stats.fit_mass_quantile`). Every event's scores come
   from models that never saw it.
2. :func:`_signal_fraction`: the held-out mixture likelihood of the
   signal-region events gives ``w_hat`` and its intervals
   (:func:`~skranode.stats.mixture_profile`). The signal-region events train no
   background model, so every fold's background is a valid template for them:
   the spread of ``w_hat`` over the single backgrounds, with the *spurious
   signal* (``w_hat`` of the same likelihood on the held-out sideband events)
   added in quadrature, is the background-model uncertainty
   (:func:`~skranode.stats.with_background_spread`); the spread over the
   starts of the signal models is the signal-model uncertainty.
3. :func:`_background_checks`: each fold background against its held-out
   events in the sideband strips next to the signal region
   (:func:`~skranode.closure.strip_checks`).
4. The bump hunt (:func:`~skranode.stats.window_bump_hunt`): the
   mass-decorrelated cut keeps a fraction ``efficiency`` of the sideband
   events, the same fraction of the background at every mass, and the
   selected spectrum is fitted with the dijet function plus a peak at the
   window centre; the local significance is widened by the fitted yield's
   spread over the background templates. The selected fraction per mass bin
   of the sidebands is tested against a flat one. The registered methods of ``methods`` get the same
   cut and fit on their own k-fold scores (:func:`_method_bump_hunt`).

The summary's keys, rounding and skipped form belong to
:mod:`skranode.scan._summary`.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.model_selection import KFold

from skranode.anode import ResidualANODE, default_signal_flow
from skranode.closure import strip_checks
from skranode.exceptions import SkranodeConvergenceWarning
from skranode.inference import W_START, cross_fit_start
from skranode.methods import MethodInputs, get_method
from skranode.scan._options import WindowOptions
from skranode.scan._summary import (
    bump_hunt_keys,
    skipped_summary,
    window_header,
    window_summary,
)
from skranode.scan._windows import (
    MIN_STEPS_PER_EPOCH,
    spectrum_holes,
    window_background,
    within_data,
)
from skranode.stats import (
    SIGNAL_WIDTH,
    fit_mass_quantile,
    mixture_profile,
    profile_notes,
    toy_null,
    window_bump_hunt,
    with_background_spread,
)
from skranode.training import convergence_note
from skranode.utils._math import log_mean_exp
from skranode.utils._output import round_value

__all__ = [
    "WindowResult",
    "analyse_kfold_window",
    "check_methods",
    "scan_window",
    "selection_score",
    "window_score",
]

#: Largest initial ``w`` of a fold's signal model.
_MAX_START = 0.5


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
        and its sidebands, in the order given (:func:`window_score`).
    selected : ndarray of bool of shape (n_events,) or None
        The events the bump hunt's mass-decorrelated cut selects.
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
        :func:`~skranode.stats.with_background_spread`).
    """

    summary: dict
    scores: np.ndarray = field(default=None, repr=False)
    selected: np.ndarray = field(default=None, repr=False)
    profile: object = field(default=None, repr=False)
    signal_samples: np.ndarray = field(default=None, repr=False)
    backgrounds: list = field(default_factory=list, repr=False)
    templates: np.ndarray = field(default=None, repr=False)


def window_score(ranode, features, mass, window):
    """``log p_S(x | m_c) - log p_B(x | m)``, with ``m_c`` the centre of the signal region.

    The signal model has only seen signal-region masses: its conditional
    density extrapolated to sideband masses would be arbitrary and sculpt the
    spectrum of the selected events. Held at the window centre it is one
    function of ``x`` for every event; the background density is evaluated
    where it was trained, at the event's own mass.
    """
    centre = np.full(mass.shape, window.center)
    return ranode.signal_log_density(features, centre) - ranode.background_log_density(
        features, mass
    )


def selection_score(ranode, features, window):
    """``log p_S(x | m_c) - log p_B(x | m_c)``: the score the bump hunt cuts on.

    Both densities at the centre ``m_c`` of the signal region, so that the
    score is a function of ``x`` alone: :func:`window_score` divides by
    ``p_B(x | m)`` at the event's own mass and is then partly a regressor of
    the mass, and a cut on it makes a bump (with exact densities, a 12-sigma
    one on 1M background events). What remains of the mass dependence (the
    features themselves depend on the mass) is removed by the cut's
    mass-dependent threshold (:func:`~skranode.stats.fit_mass_quantile`).
    """
    centre = np.full(len(features), window.center)
    return ranode.signal_log_density(features, centre) - ranode.background_log_density(
        features, centre
    )


@dataclass
class _Events:
    """The events of a window and its sidebands, and which lie where."""

    features: np.ndarray
    mass: np.ndarray
    labels: np.ndarray | None
    sr: np.ndarray
    in_strips: np.ndarray
    strips: dict
    names: list

    def frame(self, index):
        """The features of the events ``index`` as the DataFrame the methods get."""
        return pd.DataFrame(self.features[index], columns=self.names)


def _window_events(features, mass, window, labels, feature_names):
    inside = window.in_range(mass)
    mass = mass[inside]
    lo, hi = window.bounds
    strip = min(window.width / 2, lo - window.sideband_low, window.sideband_high - hi)
    in_strips = ((mass >= lo - strip) & (mass < lo)) | ((mass >= hi) & (mass < hi + strip))
    return _Events(
        features=features[inside],
        mass=mass,
        labels=None if labels is None else np.asarray(labels)[inside],
        sr=window.in_signal_region(mass),
        in_strips=in_strips,
        strips={"low": (lo - strip, lo), "high": (hi, hi + strip)},
        names=list(feature_names or [f"x{j}" for j in range(features.shape[1])]),
    )


@dataclass
class _Folds:
    """What the folds trained: scores per start, backgrounds, the first signal models."""

    splits: list
    centre: float
    start_scores: np.ndarray
    selection_scores: np.ndarray
    baseline: np.ndarray
    w_start: float
    backgrounds: list = field(default_factory=list)
    ranodes: list = field(default_factory=list)
    w_learned: list = field(default_factory=list)
    sideband_ll: list = field(default_factory=list)
    strip_parts: list = field(default_factory=list)
    method_scores: dict = field(default_factory=dict)
    method_baselines: dict = field(default_factory=dict)
    method_seconds: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _fold_signal_flow(options, n_train_sr):
    budget = options.budget.signal_flow.params()
    flow = default_signal_flow().set_params(**budget, device=options.device)
    batch = int(np.clip(n_train_sr // MIN_STEPS_PER_EPOCH, 64, flow.batch_size))
    return flow.set_params(batch_size=batch)


#: Most background events a fold draws for the cut's threshold.
MAX_SELECTION_SAMPLES = 1_000_000


def _selection_samples(background, window, options, seed, n_events):
    """Background events of one fold at masses uniform over the window: the cut's calibration.

    The preset's number (more at efficiencies below 2 %), and at least as many
    as the window's events (at most :data:`MAX_SELECTION_SAMPLES`): the
    threshold's statistical error must stay below the data's, or the
    selected fraction of a large window wanders by more than its own
    precision.
    """
    n = options.budget.selection_samples * max(1.0, 0.02 / options.efficiency)
    n = int(np.ceil(min(max(n, n_events), max(n, MAX_SELECTION_SAMPLES))))
    mass = np.random.default_rng(seed).uniform(window.sideband_low, window.sideband_high, n)
    return background.sample(mass, random_state=seed), mass


def _quantile_curve(scores, mass, window, options):
    return fit_mass_quantile(scores, mass, options.efficiency, window.sideband)


def _fold_methods(ev, folds, fold, train, train_sr, background, seed, options, window, drawn):
    """The registered methods of one fold: fit on its training events, score its test events."""
    test = folds.splits[fold][1]
    for name in options.methods:
        if isinstance(folds.method_scores[name], str):
            continue
        method = get_method(name)
        tic = time.perf_counter()
        inputs = MethodInputs(
            X_sr=ev.frame(train_sr),
            m_sr=ev.mass[train_sr],
            background=background,
            window=window,
            seed=seed,
            n_ensemble=options.budget.n_ensemble,
            feature_names=ev.names,
            X_all=ev.frame(train),
            m_all=ev.mass[train],
        )
        why = method.missing(inputs)
        if why is not None:
            folds.method_scores[name] = why
            continue
        model = method.fit(inputs)
        folds.method_scores[name][test] = method.score(model, ev.frame(test), ev.mass[test])
        # the same mass-decorrelated cut: its threshold from the fold's background events
        x_drawn, m_drawn = drawn
        on_drawn = method.score(model, pd.DataFrame(x_drawn, columns=ev.names), m_drawn)
        if np.any(np.isnan(on_drawn) | (on_drawn == np.inf)):
            folds.method_scores[name] = (
                "its scores of the background events drawn to calibrate the cut are not finite"
            )
            continue
        curve = _quantile_curve(on_drawn, m_drawn, window, options)
        folds.method_baselines[name][test] = curve(ev.mass[test])
        folds.method_seconds[name] += time.perf_counter() - tic


def _train_fold(ev, folds, fold, seed, window, options):
    """One fold: its background, its signal models (one per start), its held-out scores."""
    train, test = folds.splits[fold]
    x, m = ev.features, ev.mass
    background = window_background(
        window,
        int((~ev.sr[train]).sum()),
        preset=options.preset,
        device=options.device,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkranodeConvergenceWarning)  # a note instead
        background.fit(x[train], m[train])
    note = convergence_note(background.density_.history_, f"fold {fold}'s background flow")
    if note is not None:
        folds.notes.append(note)
    train_sr = train[ev.sr[train]]
    signal_flow = _fold_signal_flow(options, train_sr.size)
    x_drawn, m_drawn = _selection_samples(background, window, options, seed + 11, ev.mass.size)
    centre_test = np.full(test.size, window.center)
    centre_drawn = np.full(m_drawn.size, window.center)
    log_pb = log_pb_centre = log_pb_drawn = None
    drawn_scores = np.empty((len(options.start_factors), m_drawn.size))
    if folds.w_start is None:
        # the truth-free start: one learned-w fit on the first fold's training events
        first = ResidualANODE(
            background,
            w=W_START,
            learn_w=True,
            flow=signal_flow,
            n_init=options.restarts,
            random_state=seed,
        ).fit(x[train_sr], m[train_sr])
        folds.w_start = cross_fit_start(first.w_)
    for s, factor in enumerate(options.start_factors):
        # one training each (n_init=1): the fold's score averages its starts
        ranode = ResidualANODE(
            background,
            w=min(factor * folds.w_start, _MAX_START),
            learn_w=True,
            flow=signal_flow,
            n_init=1,
            random_state=seed + s,
        ).fit(x[train_sr], m[train_sr])
        if log_pb is None:  # one background for every start
            log_pb = ranode.background_log_density(x[test], m[test])
            log_pb_centre = ranode.background_log_density(x[test], centre_test)
            log_pb_drawn = ranode.background_log_density(x_drawn, centre_drawn)
        log_ps = ranode.signal_log_density(x[test], centre_test)
        folds.start_scores[s, test] = log_ps - log_pb
        folds.selection_scores[s, test] = log_ps - log_pb_centre
        drawn_scores[s] = ranode.signal_log_density(x_drawn, centre_drawn) - log_pb_drawn
        if s == 0:
            folds.w_learned.append(ranode.w_)
            folds.ranodes.append(ranode)
    # the selection's threshold t(m): the score of the fold's model on its own background
    curve = _quantile_curve(log_mean_exp(drawn_scores, axis=0), m_drawn, window, options)
    folds.baseline[test] = curve(m[test])
    _fold_methods(
        ev, folds, fold, train, train_sr, background, seed, options, window, (x_drawn, m_drawn)
    )
    test_sb = test[~ev.sr[test]]
    held_out = background.score_samples(x[test_sb], m[test_sb])
    folds.sideband_ll.append(float(np.mean(held_out)))
    folds.backgrounds.append(background)
    # the truth-free check: the fold's background against its held-out strip events
    near = test_sb[ev.in_strips[test_sb]]
    drawn = background.sample(m[near], random_state=seed + 7)
    folds.strip_parts.append(
        (near, drawn, held_out[ev.in_strips[test_sb]], background.score_samples(drawn, m[near]))
    )


def _train_folds(ev, window, options, seeds, w_start):
    k = options.folds
    splits = list(KFold(k, shuffle=True, random_state=int(seeds[0])).split(ev.features))
    n_starts = len(options.start_factors)
    folds = _Folds(
        splits=splits,
        centre=window.center,
        start_scores=np.empty((n_starts, ev.mass.size)),
        selection_scores=np.empty((n_starts, ev.mass.size)),
        baseline=np.empty(ev.mass.size),
        w_start=w_start,
        method_scores={name: np.full(ev.mass.size, np.nan) for name in options.methods},
        method_baselines={name: np.zeros(ev.mass.size) for name in options.methods},
        method_seconds={name: 0.0 for name in options.methods},
    )
    for fold in range(k):
        _train_fold(ev, folds, fold, int(seeds[fold + 1]), window, options)
    return folds


@dataclass
class _Fraction:
    """The signal fraction of a window (step 2)."""

    profile: object
    control: object
    sigma_signal: float | None
    w_start: float
    templates: np.ndarray | None


def _signal_fraction(ev, folds, scores, options):
    """w from the held-out likelihood, widened over background templates and starts."""
    sr_index = np.flatnonzero(ev.sr)
    position = np.empty(ev.mass.size, dtype=np.intp)
    position[sr_index] = np.arange(sr_index.size)
    own_pb = np.empty(sr_index.size)
    log_pb = np.empty((len(folds.backgrounds), sr_index.size))
    for fold, (_, test) in enumerate(folds.splits):
        te = test[ev.sr[test]]
        for j, other in enumerate(folds.backgrounds):
            log_pb[j, position[te]] = other.score_samples(ev.features[te], ev.mass[te])
        own_pb[position[te]] = log_pb[fold, position[te]]
    log_ps = scores[sr_index] + own_pb
    templates = log_ps - log_pb
    finite = bool(np.all(np.isfinite(templates)))
    w_max = options.w_max
    sigma_signal = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # profile_notes reports the dominant events
        # the spurious signal: the same likelihood on the held-out sideband events
        control = mixture_profile(scores[~ev.sr], w_max=w_max)
        if not finite:
            profile = mixture_profile(scores[ev.sr], w_max=w_max)
        else:
            log_pb_mean = log_mean_exp(log_pb, axis=0)
            profile = mixture_profile(log_ps - log_pb_mean, w_max=w_max)
            if len(options.start_factors) > 1:
                # each start's signal model over the same background: the signal-model spread
                start_ps = folds.start_scores[:, sr_index] + own_pb
                w_starts = [mixture_profile(r - log_pb_mean, w_max=w_max).w_hat for r in start_ps]
                sigma_signal = float(np.std(w_starts, ddof=1))
            profile = with_background_spread(
                profile, templates, spurious=control.w_hat, signal_model=sigma_signal or 0.0
            )
    return _Fraction(profile, control, sigma_signal, folds.w_start, templates if finite else None)


def _background_checks(ev, folds, seed):
    near = np.concatenate([part[0] for part in folds.strip_parts])
    checks, notes = strip_checks(
        ev.mass[near],
        ev.features[near],
        *(np.concatenate([part[j] for part in folds.strip_parts]) for j in (1, 2, 3)),
        ev.strips,
        random_state=seed,
    )
    notes = folds.notes + notes
    checks["notes"] = notes
    return checks, notes


def _selection_templates(ev, folds, selection):
    """The signal-region selection scores with each fold's background in turn (rows)."""
    sr_index = np.flatnonzero(ev.sr)
    position = np.empty(ev.mass.size, dtype=np.intp)
    position[sr_index] = np.arange(sr_index.size)
    log_pb = np.empty((len(folds.backgrounds), sr_index.size))
    own = np.empty(sr_index.size)
    for fold, (_, test) in enumerate(folds.splits):
        te = test[ev.sr[test]]
        centre = np.full(te.size, folds.centre)
        for j, other in enumerate(folds.backgrounds):
            log_pb[j, position[te]] = other.score_samples(ev.features[te], centre)
        own[position[te]] = log_pb[fold, position[te]]
    templates = selection[sr_index] + own - log_pb
    return templates if np.all(np.isfinite(templates)) else None


def _bump_hunt(scores, ev, window, options, templates=None, baseline=None):
    """The window's bump hunt on ``scores``, or why it is impossible (a str)."""
    try:
        return window_bump_hunt(
            scores,
            ev.mass,
            ev.sr,
            window,
            efficiency=options.efficiency,
            signal_width=options.signal_width,
            templates=templates,
            baseline=baseline,
        )
    except ValueError as exc:
        return f"bump hunt impossible: {exc}"


def _selection_bump_hunt(ev, folds, fraction, window, options):
    """R-ANODE's bump hunt: the selection score of the starts' average, its fold thresholds."""
    selection = log_mean_exp(folds.selection_scores, axis=0)
    templates = None
    if fraction.templates is not None:
        templates = _selection_templates(ev, folds, selection)
    return _bump_hunt(selection, ev, window, options, templates, folds.baseline)


def _method_bump_hunt(scores, baseline, ev, window, options, seconds):
    """An extra method's local significance: the scan's cut and bump hunt on its scores."""

    def skipped(why):
        return dict(out, skipped=why, local_significance=None, local_p_value=None)

    out = {"skipped": None, "notes": [], "seconds": round(seconds, 1)}
    if isinstance(scores, str):
        return {"skipped": scores, "local_significance": None, "local_p_value": None}
    if not np.all(np.isfinite(scores)):
        return skipped(f"{int((~np.isfinite(scores)).sum())} events got a non-finite score")
    bump = _bump_hunt(scores, ev, window, options, baseline=baseline)
    if isinstance(bump, str):
        return skipped(bump)
    if bump.cut.tied:
        out["notes"].append(bump.cut.tie_note())
    for note in (bump.flatness.note(), bump.gof_note()):
        if note is not None:
            out["notes"].append(note)
    keys = bump_hunt_keys(bump, ev.sr, ev.labels)
    z = bump.significance
    out.update(
        threshold=keys["threshold"],
        n_selected_sr=keys["n_selected_sr"],
        **({} if ev.labels is None else {"n_signal_selected_true": keys["n_signal_selected_true"]}),
        local_significance=round_value(z, 3),
        local_p_value=float(norm.sf(z)),
        n_signal_fit=keys["n_signal_fit"],
        n_signal_fit_std=keys["n_signal_fit_std"],
        selection_flat_p_value=keys["selection_flat_p_value"],
        fit_gof_p_value=keys["fit_gof_p_value"],
    )
    return out


def _too_few_events(options, n_sr, n_low, n_high):
    """Why a window cannot be analysed for lack of events (None when it can)."""
    if n_sr < options.min_signal_region:
        return f"{n_sr} signal-region events (< {options.min_signal_region})"
    if min(n_low, n_high) < options.min_sideband:
        return (
            f"sidebands hold {n_low} (low) and {n_high} (high) events "
            f"(< {options.min_sideband} each): the window is too close to the edge of the data"
        )
    return None


def analyse_kfold_window(
    features,
    mass,
    window,
    options,
    *,
    w_start=None,
    labels=None,
    random_state=0,
    feature_names=None,
):
    """:func:`scan_window` with its settings as one :class:`WindowOptions`.

    ``feature_names`` name the columns for the registered methods (None: the
    columns of a DataFrame ``features``, else ``x0``, ``x1``, ...).
    """
    tic = time.perf_counter()
    if feature_names is None and hasattr(features, "columns"):
        feature_names = [str(c) for c in features.columns]
    features = np.asarray(features, dtype=np.float64)
    ev = _window_events(features, np.asarray(mass, dtype=np.float64), window, labels, feature_names)
    n_sr, n_low = int(ev.sr.sum()), int(window.in_low_sideband(ev.mass).sum())
    n_high = int(window.in_high_sideband(ev.mass).sum())
    n_true = None if ev.labels is None else int(ev.labels[ev.sr].sum())
    summary = window_header(window, ev.mass.size, n_sr, n_low, n_high, n_true)
    why = _too_few_events(options, n_sr, n_low, n_high)
    if why is not None:
        return WindowResult(skipped_summary(summary, why))
    seeds = np.random.default_rng(random_state).integers(0, 2**31 - 1, size=options.folds + 1)
    folds = _train_folds(ev, window, options, seeds, w_start)
    # the signal models of the starts as one ensemble density: p_S = mean over starts
    scores = log_mean_exp(folds.start_scores, axis=0)
    if not np.all(np.isfinite(scores)):
        why = f"{int((~np.isfinite(scores)).sum())} events got a non-finite score"
        return WindowResult(skipped_summary(summary, why))
    fraction = _signal_fraction(ev, folds, scores, options)
    notes = profile_notes(fraction.profile) + spectrum_holes(ev.mass, *window.sideband)
    checks, check_notes = _background_checks(ev, folds, int(seeds[-1]))
    notes += check_notes
    if fraction.templates is None:
        notes.append(
            "a fold background gives some signal-region event no density: the w interval, "
            "upper limit and likelihood-ratio significance are statistical only"
        )
    bump = _selection_bump_hunt(ev, folds, fraction, window, options)
    if isinstance(bump, str):
        return WindowResult(skipped_summary(summary, bump))
    if bump.cut.tied:
        notes.append(bump.cut.tie_note())
    for note in (bump.flatness.note(), bump.gof_note()):
        if note is not None:
            notes.append(note)
    toys = None
    if options.n_toys:
        toys = toy_null(bump, window, options.signal_width, options.n_toys, int(seeds[-1]) + 7)
    methods = {
        name: _method_bump_hunt(
            part, folds.method_baselines[name], ev, window, options, folds.method_seconds[name]
        )
        for name, part in folds.method_scores.items()
    }
    at = np.random.default_rng(int(seeds[-1])).choice(ev.mass[ev.sr], 2000)
    drawn, _ = folds.ranodes[-1].sample(2000, m=at, random_state=int(seeds[-1]))
    n_pass = int(bump.cut.selected[ev.sr].sum())
    if n_pass < 20:
        notes.append(
            f"only {n_pass} signal-region events pass the cut: the asymptotic local p-value "
            "is approximate"
        )
    extra = dict(
        **({"methods": methods} if methods else {}),
        w_learned_folds=round_value(folds.w_learned, 6),
        sideband_heldout_loglik=round_value(float(np.mean(folds.sideband_ll)), 4),
        sideband_checks=checks,
        n_folds=options.folds,
        seconds=round(time.perf_counter() - tic, 1),
        skipped=None,
        notes=notes,
    )
    window_summary(
        summary,
        fraction,
        bump,
        toys=toys,
        signal_width=options.signal_width,
        labels=ev.labels,
        sr=ev.sr,
        extra=extra,
    )
    return WindowResult(
        summary,
        scores=scores,
        selected=bump.cut.selected,
        profile=fraction.profile,
        signal_samples=drawn,
        backgrounds=folds.backgrounds,
        templates=fraction.templates,
    )


def outside_data(window, lo, hi):
    """The skipped result of a window whose signal region reaches outside the data."""
    summary = window_header(window, 0, 0, None, None)
    why = f"the signal region reaches outside the data (masses {lo:.3f} to {hi:.3f} TeV)"
    return WindowResult(skipped_summary(summary, why))


def scan_window(
    features, mass, window, *, preset="default", n_folds=None, efficiency=0.02,
    signal_width=SIGNAL_WIDTH, w_max=0.5, min_signal_region=200, min_sideband=500, labels=None,
    w_start=None, n_init=None, start_factors=(1.0, 2.0), n_toys=0, methods=(), device="cpu",
    random_state=0,
):
    """Analyse one window of a scan with k-fold models (the stages: module docstring).

    Parameters
    ----------
    features : ndarray of shape (n_events, n_features)
        The events of the window and its sidebands (others are ignored).
    mass : ndarray of shape (n_events,)
        Their masses in TeV.
    window : MassWindow
        The signal region and the outer sideband limits.
    preset : {'default', 'fast'}, default='default'
        Training budgets (:data:`~skranode.presets.SCAN_PRESETS`).
    n_folds : int or None, default=None
        Folds of the k-fold scoring (>= 2); None takes the preset's.
    efficiency : float in (0, 1), default=0.02
        Fraction of the sideband events kept by the cut of the bump hunt.
    signal_width : float, default=0.05
        Width of the bump hunt's Gaussian peak relative to the window centre.
    w_max : float, default=0.5
        Largest signal fraction considered.
    min_signal_region, min_sideband : int, default=200, 500
        Fewest events in the signal region and in each sideband; a window
        with fewer is skipped (with the reason in ``summary["skipped"]``).
    labels : ndarray of shape (n_events,) or None, default=None
        Truth (1 signal), used only to report ``n_signal_true`` and
        ``s_over_sqrt_b_true``.
    w_start : float or None, default=None
        Initial ``w`` of the fold models. None (truth-free) fits one learned-w
        R-ANODE from :data:`~skranode.inference.W_START` on the first fold's
        training events and starts every fold at half its ``w_``
        (:func:`~skranode.inference.cross_fit_start`, the main job's rule).
    n_init : int or None, default=None
        Restarts of that first fit; None takes the preset's ``start_n_init``.
    start_factors : tuple of float, default=(1.0, 2.0)
        Each fold trains one signal model from each ``factor * w_start``
        (capped at 0.5); their average density is the fold's signal model and
        the spread of ``w_hat`` over the starts the signal-model uncertainty
        (``w_std_signal_model``). One factor skips it.
    n_toys : int, default=0
        Pseudo-experiments of the bump hunt's empirical null
        (:func:`~skranode.stats.toy_null`): ``local_p_value_toys`` and
        ``local_significance_toys``. 0 skips them.
    methods : sequence of str, default=()
        Registered methods (:mod:`skranode.methods`, e.g. ``"CURTAINs"``)
        trained on each fold's training events next to R-ANODE; the same cut
        and bump hunt give their local significance in
        ``summary["methods"][name]`` (or why they were skipped). They do not
        enter the global significance.
    device : str, default='cpu'
        Torch device of the flows.
    random_state : int, default=0
        Seed of the folds and of every model.

    Returns
    -------
    result : WindowResult
    """
    options = WindowOptions(
        preset=preset, n_folds=n_folds, efficiency=efficiency, signal_width=signal_width,
        w_max=w_max, min_signal_region=min_signal_region, min_sideband=min_sideband,
        n_init=n_init, start_factors=start_factors, n_toys=n_toys,
        methods=check_methods(methods), device=device,
    )
    mass = np.asarray(mass, dtype=np.float64)
    if mass.size:
        # the sidebands end where the events end, as in the scan
        lo, hi = float(mass.min()), float(mass.max())
        clipped = within_data(window, lo, hi)
        if clipped is None:
            return outside_data(window, lo, hi)
        window = clipped
    return analyse_kfold_window(
        features, mass, window, options, w_start=w_start, labels=labels,
        random_state=random_state,
    )


def check_methods(methods):
    """The registered names of ``methods=``, each known and named once."""
    given = (methods,) if isinstance(methods, str) else tuple(methods)
    names = tuple(get_method(name).name for name in given)
    if len(set(names)) != len(names):
        raise ValueError(f"methods names a method twice: {list(given)!r}.")
    return names
