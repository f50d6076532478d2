"""Inference of the signal fraction ``w``: generator-based, by a grid scan or by cross-fitting.

Ways to turn a trained R-ANODE signal model into a statement about a signal:

* :func:`w_profile`, generator-based inference (GBI; Das, Kasieczka & Shih,
  arXiv:2312.11629, section "inference"): with the background density p_B held
  fixed, the R-ANODE signal model is trained at each fixed signal fraction ``w``
  of a grid, and the held-out mixture log-likelihood traces the profile
  likelihood of ``w``. Its maximum estimates ``w``, its drop gives intervals and
  its rise above the background-only point gives a significance.
* :func:`w_cross_fit`: learned-w R-ANODE signal models trained on all folds
  but one give p_S / p_B for the events of that fold; with every event held
  out once, the mixture likelihood is an exact, concave function of ``w``,
  maximised and read off for intervals and a significance without a grid.
  Measured on LHCO-like data it estimates ``w`` with less bias and intervals
  that cover better than the grid scan, at a fraction of its cost.
* :func:`cross_fit_start`: the truth-free rule for the initial ``w`` of the
  cross-fitted models that the main job uses.

The likelihood of ``w`` given held-out ratios (:class:`~skranode.stats.WProfile`,
:func:`~skranode.stats.mixture_profile`, ...) lives in :mod:`skranode.stats`,
the enhanced bump hunt in :mod:`skranode.bump_hunt`; both are importable from
here too, as before. This module trains the models that give the ratios.

How :func:`w_profile` reads its grid
------------------------------------

``w_hat`` is the vertex of the parabola (in ``w``) through the highest grid
point and its two neighbours, clipped to their range; at an end of the grid
it is that end. The intervals are the ``w`` whose total log-likelihood is
within 0.5 (68 %) and 1.92 (95 %) of the maximum (Wilks, one parameter);
between grid points the signed root ``sign(w - w_hat) sqrt(2 (LL_max -
LL(w)))`` is interpolated linearly, which is exact for a parabolic profile.
When ``LL(0)`` is within the drop the interval starts at 0. The significance
of ``w > 0`` is ``Z = sqrt(max(0, 2 (LL(w_hat) - LL(0))))``, the one-sided
likelihood-ratio test at the boundary ``w = 0`` (Chernoff: half chi2_1).

The public GBI code set the interval from a drop of ln 2 / N in the *mean*
held-out log-likelihood, which is much narrower than the Wilks drop of the
total used here. Because p_S is re-trained at each ``w`` and held-out
events are only part of the data, the asymptotic coverage is not
guaranteed either way: ``benchmarks/bench_coverage.py`` measures it.
The intervals also ignore the training noise of p_S (another seed moves
``w_hat``; ``n_repeats`` averages it down) and any error of p_B: the
signal model absorbs background mismodelling, so a p_B off by ``delta``
nats per event can raise ``LL(w) - LL(0)`` by up to about
``n_eval * delta`` even without signal.

How :func:`w_cross_fit` compares
--------------------------------

Compared with :func:`w_profile`, which trains a separate signal model at
each ``w`` of a grid, the profile here has no training noise from point to
point, and it uses every event for the likelihood. A p_S evaluated on
events it was not trained on does not fit their fluctuations, so ``w_hat``
is not pulled up by overfitting; a p_S that misses part of the signal pulls
it down (averaging ``n_repeats`` models smooths p_S and reduces that).

The interval is a likelihood interval for ``w`` given the trained p_S: it
does not include the uncertainty of p_S itself or of p_B. When p_S
describes the signal well it covers as a one-parameter likelihood does;
``benchmarks/bench_learned_w.py`` measures it on LHCO-like data. A p_B off
by ``delta`` nats per event can still be read as signal, as in every
method that holds the background fixed. A single event where p_B nearly
vanishes (outside the range of the background's training data) can
dominate the likelihood ratio; a UserWarning says so when an event adds
more than :data:`~skranode.stats.MAX_EVENT_GAIN` nats, and ``log_ratio`` shows which.

Every function reaches the estimators only through their public methods
(``fit``, ``signal_log_density``, ``background_log_density``).
"""

import copy
import math
import numbers

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import KFold, check_cv
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples

from skranode.bump_hunt import BumpHuntResult as BumpHuntResult
from skranode.bump_hunt import enhanced_bump_hunt as enhanced_bump_hunt
from skranode.stats import DROP_68, DROP_95, DROP_UL95, mixture_delta_loglik, profile_intervals

# the likelihood of w moved to skranode.stats; importable from here as before
from skranode.stats import WProfile as WProfile
from skranode.stats import mixture_profile as mixture_profile
from skranode.stats import mixture_w_hat as mixture_w_hat
from skranode.stats import profile_notes as profile_notes
from skranode.stats import with_background_spread as with_background_spread
from skranode.utils._math import log_mean_exp
from skranode.utils._torch import draw_seed

__all__ = [
    "W_START",
    "cross_fit_start",
    "w_cross_fit",
    "w_profile",
]

#: Initial w of a learned-w R-ANODE fit when nothing is known: below the
#: fractions R-ANODE can detect (a start below the truth is what learned w needs).
W_START = 0.002

def _check_template_and_events(caller, estimator, X, m):
    """Check an R-ANODE template with a background; return the event count and masses."""
    for name in ("background", "w", "learn_w"):
        if name not in estimator.get_params(deep=False):
            raise ValueError(
                f"{caller} needs a ResidualANODE-like estimator with parameter {name!r}; "
                f"got {type(estimator).__name__}."
            )
    if estimator.background is None:
        raise ValueError("The estimator needs a fitted background: ResidualANODE(background=...).")
    n = _num_samples(X)
    if m is not None:
        m = np.asarray(m, dtype=np.float64).reshape(-1)
        if m.shape[0] != n:
            raise ValueError(f"X has {n} events but m has {m.shape[0]}.")
    return n, m


def _check_grid(w_grid, estimator):
    if w_grid is None:
        grid = list(np.geomspace(1e-4, 0.1, 10))
        learned = getattr(estimator, "w_", None)
        if learned is not None:
            grid.append(float(learned))
    else:
        grid = np.asarray(w_grid, dtype=np.float64).reshape(-1).tolist()
    grid = np.asarray(grid, dtype=np.float64)
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0) or np.any(grid >= 1):
        raise ValueError(f"w_grid must hold values in [0, 1); got {w_grid!r}.")
    grid = np.unique(grid[grid > 0])  # w = 0 is added, computed without training
    if grid.size == 0:
        raise ValueError("w_grid needs at least one value w > 0.")
    return grid


def _fit_and_log_signal(estimator, w, seed, X, m, train, test):
    """Train on ``train`` (at fixed ``w``, or as configured when ``w`` is None).

    Returns the model and log p_S of the held-out events.
    """
    est = clone(estimator)
    if w is not None:
        est.set_params(w=float(w), learn_w=False)
    if seed is not None:
        est.set_params(random_state=seed)
    est.fit(_safe_indexing(X, train), None if m is None else m[train])
    return est, est.signal_log_density(_safe_indexing(X, test), None if m is None else m[test])


def _background_log_density(fitted, X, m, test):
    """log p_B of the held-out events, from a fitted estimator (fixed: once per split)."""
    return fitted.background_log_density(_safe_indexing(X, test), None if m is None else m[test])


def _mixture_excess(w, log_signals, log_pb):
    """``sum log((1 - w) + w mean_r p_S,r / p_B)`` over held-out events: LL(w) - LL(0)."""
    return mixture_delta_loglik(w, log_mean_exp(log_signals) - log_pb)


def cross_fit_start(w_learned, *, floor=W_START, cap=0.5):
    """Initial ``w`` of the cross-fitted models: half the ``w_`` of one learned-w fit.

    ``w_hat`` of :func:`w_cross_fit` and of the k-fold stage is pulled towards
    the start of its models, from below (a p_S narrower than the signal) and
    from above (a p_S that also takes background). The one-fit learned ``w_``
    is the maximum of the likelihood of its held-out validation events, which
    still counts background mismodelling and the width of p_S, so it tends to
    lie above the truth; half of it, floored at
    ``floor`` and capped at ``cap``, is the start of the main job's and the
    scan's k-fold models, which also train from twice this start and count
    the difference as the signal-model uncertainty
    (:func:`~skranode.scan.scan_window`). Measured coverage: user guide,
    "What each number means".

    Parameters
    ----------
    w_learned : float
        ``w_`` of a ``ResidualANODE(learn_w=True)`` fitted on all the
        signal-region events.
    floor, cap : float, default=W_START, 0.5
        Bounds of the start.

    Returns
    -------
    w_start : float
    """
    return min(max(0.5 * float(w_learned), floor), cap)


def _profile_splits(n, cv, validation_fraction, rng):
    """The training/held-out splits of :func:`w_profile`."""
    if cv is None:
        if not (isinstance(validation_fraction, numbers.Real) and 0 < validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in (0, 1); got {validation_fraction!r}.")
        perm = rng.permutation(n)
        n_test = int(round(validation_fraction * n))
        if n_test < 1 or n_test >= n:
            raise ValueError(f"validation_fraction={validation_fraction} leaves an empty part.")
        return [(np.sort(perm[n_test:]), np.sort(perm[:n_test]))]
    splitter = copy.deepcopy(check_cv(cv))  # the caller's splitter is not changed
    if hasattr(splitter, "shuffle") and getattr(splitter, "shuffle", False):
        splitter.random_state = draw_seed(rng)
    return list(splitter.split(np.zeros((n, 1))))


def _grid_profile(grid, excess, n_eval, ll_zero, estimators):
    """The :class:`WProfile` of ``LL(w) - LL(0)`` on a grid of ``w > 0``."""
    w_all = np.r_[0.0, grid]
    delta = np.r_[0.0, excess]
    w_hat, delta_max, (i68, i95, ul) = profile_intervals(
        w_all, delta, drops=(DROP_68, DROP_95, DROP_UL95)
    )
    return WProfile(
        w_grid=w_all,
        delta_loglik=delta,
        q=2.0 * delta,
        w_hat=w_hat,
        delta_loglik_max=delta_max,
        interval_68=i68,
        interval_95=i95,
        significance=math.sqrt(max(0.0, 2.0 * delta_max)),
        n_eval=n_eval,
        loglik_zero=float(ll_zero),
        estimators=estimators,
        upper_limit_95=float(ul[1]),
        w_max=float(w_all[-1]),
    )


def w_profile(
    estimator,
    X,
    m=None,
    *,
    w_grid=None,
    validation_fraction=0.5,
    cv=None,
    n_repeats=1,
    n_jobs=None,
    random_state=None,
):
    """Profile likelihood of the signal fraction by generator-based inference (GBI).

    With the background density p_B held fixed, a copy of ``estimator`` (an
    R-ANODE template) is trained at each fixed ``w`` of ``w_grid`` on a training
    part of the signal-region events, and the total mixture log-likelihood
    ``LL(w) = sum log(w p_S + (1 - w) p_B)`` of the held-out events is recorded.
    At ``w = 0`` the mixture is p_B alone, so ``LL(0) = sum log p_B`` is computed
    exactly, without training.

    Parameters
    ----------
    estimator : ResidualANODE
        Template holding a fitted ``background``; cloned for each ``w`` (the
        background is shared, not copied, and never refitted). ``w`` and
        ``learn_w`` are overridden. When it is itself fitted with a learned
        ``w_``, that value is added to the default grid.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Signal-region events.
    m : array-like of shape (n_samples,), default=None
        Their masses (ignored when the estimator has ``mass_column``).
    w_grid : array-like of float in [0, 1), default=None
        Values of ``w``; None uses 10 log-spaced values from 1e-4 to 0.1 (plus
        the learned ``w_`` of a fitted ``estimator``). ``w = 0`` is always added.
    validation_fraction : float in (0, 1), default=0.5
        Fraction of the events held out for the log-likelihood (the rest train
        the signal model); ignored when ``cv`` is given.
    cv : int, cross-validation generator or iterable, default=None
        Instead of one split: train on each training fold, and sum the held-out
        log-likelihood over the test folds, so that every event is evaluated once.
    n_repeats : int, default=1
        Signal models trained per ``w`` (and fold) with different seeds; their
        densities are averaged in probability space before the held-out
        log-likelihood is computed. Averaging reduces the training noise of
        p_S, which the likelihood intervals do not include; it multiplies the
        cost by ``n_repeats``.
    n_jobs : int, default=None
        Number of trainings run in parallel (joblib).
    random_state : int, RandomState instance or None, default=None
        Seeds the split and the signal models; every ``w`` of a fold uses the
        same seeds, so that the profile is a smooth function of ``w``.

    Returns
    -------
    profile : WProfile

    See the module docstring for how ``w_hat`` and the intervals are read off
    the grid and what they leave out.
    """
    n, m = _check_template_and_events("w_profile", estimator, X, m)
    grid = _check_grid(w_grid, estimator)
    rng = check_random_state(random_state)
    splits = _profile_splits(n, cv, validation_fraction, rng)
    if not (isinstance(n_repeats, numbers.Integral) and n_repeats >= 1):
        raise ValueError(f"n_repeats must be an integer >= 1; got {n_repeats!r}.")
    seeds = [
        [None if random_state is None else draw_seed(rng) for _ in range(n_repeats)] for _ in splits
    ]
    tasks = [(w, k, r) for w in grid for k in range(len(splits)) for r in range(n_repeats)]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_log_signal)(estimator, w, seeds[k][r], X, m, *splits[k])
        for w, k, r in tasks
    )
    fitted = {k: est for (_, k, _), (est, _) in zip(tasks, results, strict=True)}  # one per split
    log_pb = [_background_log_density(fitted[k], X, m, test) for k, (_, test) in enumerate(splits)]
    log_signals = {}
    estimators = []
    for (w, k, _r), (est, log_ps) in zip(tasks, results, strict=True):
        log_signals.setdefault((w, k), []).append(log_ps)
        estimators.append(est)
    excess = np.zeros(grid.size)
    for (w, k), logs in log_signals.items():
        excess[np.searchsorted(grid, w)] += _mixture_excess(w, logs, log_pb[k])
    ll_zero = float(sum(np.sum(lp) for lp in log_pb))
    n_eval = int(sum(len(test) for _, test in splits))
    return _grid_profile(grid, excess, n_eval, ll_zero, estimators)


# ------------------------------------------------------- cross-fitted signal fraction
def _partition(n, cv, rng):
    """The folds of :func:`w_cross_fit`: test parts that hold every event once."""
    if isinstance(cv, numbers.Integral):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds; got {cv!r}.")
        cv = KFold(int(cv), shuffle=True, random_state=draw_seed(rng))
    splits = list(check_cv(cv).split(np.zeros((n, 1))))
    held_out = np.concatenate([test for _, test in splits])
    if held_out.size != n or np.unique(held_out).size != n:
        raise ValueError(
            "w_cross_fit needs folds whose test parts hold every event exactly once "
            "(a partition, such as KFold)."
        )
    return splits


def w_cross_fit(
    estimator,
    X,
    m=None,
    *,
    cv=5,
    n_repeats=1,
    w_max=0.5,
    n_jobs=None,
    random_state=None,
):
    """Signal fraction from the held-out likelihood of cross-fitted signal models.

    The signal-region events are split into ``cv`` folds. For each fold,
    ``n_repeats`` copies of ``estimator`` (an R-ANODE template, trained as it
    is configured: fixed ``w`` or ``learn_w=True``) are trained on the other
    folds, and their signal densities, averaged in probability space, give the
    ratio ``r = p_S / p_B`` of every event of the fold. Every event is then
    held out exactly once, and with p_S and p_B fixed the total mixture
    log-likelihood

        ``LL(w) - LL(0) = sum_i log(1 - w + w r_i)``

    is an ordinary one-parameter likelihood, concave in ``w``: its maximum is
    ``w_hat``, its drops of 0.5 and 1.92 give the 68 % and 95 % intervals and
    ``sqrt(2 (LL(w_hat) - LL(0)))`` is the significance of ``w > 0``.

    Parameters
    ----------
    estimator : ResidualANODE
        Template holding a fitted ``background``; cloned for each fold and
        repeat (the background is shared, never refitted), trained with its
        ``w`` and ``learn_w`` as they are. Use ``learn_w=True`` started by
        :func:`cross_fit_start` (``w_hat`` is pulled towards the start; user
        guide).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Signal-region events.
    m : array-like of shape (n_samples,), default=None
        Their masses (ignored when the estimator has ``mass_column``).
    cv : int, cross-validation generator or iterable, default=5
        The folds; an int ``k`` uses ``KFold(k, shuffle=True)`` seeded from
        ``random_state``. Each model is trained on ``(k - 1) / k`` of the events.
    n_repeats : int, default=1
        Signal models trained per fold with different seeds, averaged in
        probability space.
    w_max : float in (0, 1), default=0.5
        Largest ``w`` considered (the likelihood is maximised on ``[0, w_max]``).
    n_jobs : int, default=None
        Number of trainings run in parallel (joblib).
    random_state : int, RandomState instance or None, default=None
        Seeds the folds and the signal models.

    Returns
    -------
    profile : WProfile
        ``w_grid`` and ``delta_loglik`` trace the exact profile on 201 points
        from 0 to 2.5 times the upper end of the 95 % interval (for plots);
        ``w_hat``, the intervals and the significance are computed from the
        exact likelihood, not from the grid.
        ``estimators`` holds the fold models (fold-major, ``n_repeats`` each).
        The intervals are statistical only (module docstring).

    See Also
    --------
    w_profile : the GBI scan over a grid of fixed ``w``.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode import ConditionalFlowDensity, ResidualANODE
    >>> from skranode.inference import w_cross_fit
    >>> rng = np.random.default_rng(0)
    >>> m = rng.uniform(3.3, 3.7, 3000)
    >>> X = rng.normal(size=(3000, 2))
    >>> X[:60] = rng.normal(2.0, 0.1, size=(60, 2))  # 2 % signal
    >>> bkg = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=5, random_state=0)
    >>> bkg = bkg.fit(rng.normal(size=(6000, 2)), rng.uniform(3.3, 3.7, 6000))
    >>> flow = ConditionalFlowDensity("rqs", n_layers=2, n_hidden=16, max_epochs=5)
    >>> template = ResidualANODE(bkg, w=0.01, learn_w=True, flow=flow)
    >>> prof = w_cross_fit(template, X, m, cv=2, random_state=0)
    >>> 0 <= prof.w_hat < 0.5
    True
    """
    n, m = _check_template_and_events("w_cross_fit", estimator, X, m)
    if not (isinstance(n_repeats, numbers.Integral) and n_repeats >= 1):
        raise ValueError(f"n_repeats must be an integer >= 1; got {n_repeats!r}.")
    if not (isinstance(w_max, numbers.Real) and 0 < w_max < 1):
        raise ValueError(f"w_max must be in (0, 1); got {w_max!r}.")
    rng = check_random_state(random_state)
    splits = _partition(n, cv, rng)
    seeds = [
        (k, None if random_state is None else draw_seed(rng))
        for k in range(len(splits))
        for _ in range(n_repeats)
    ]
    log_ratio, ll_zero, estimators = _held_out_ratios(estimator, X, m, splits, seeds, n_jobs)
    profile = mixture_profile(log_ratio, w_max=w_max, loglik_zero=ll_zero)
    profile.estimators = estimators
    return profile


def _held_out_ratios(estimator, X, m, splits, tasks, n_jobs):
    """Every event's held-out ``log p_S - log p_B``, ``sum log p_B`` and the fold models.

    ``tasks`` lists ``(fold, seed)`` of each training; a fold's signal
    densities are averaged in probability space.
    """
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_log_signal)(estimator, None, seed, X, m, *splits[k]) for k, seed in tasks
    )
    log_ratio = np.empty(sum(len(test) for _, test in splits))
    ll_zero = 0.0
    for k, (_, test) in enumerate(splits):
        fold_results = [res for (fold, _), res in zip(tasks, results, strict=True) if fold == k]
        log_pb = _background_log_density(fold_results[0][0], X, m, test)
        log_ratio[test] = log_mean_exp([log_ps for _, log_ps in fold_results]) - log_pb
        ll_zero += float(np.sum(log_pb))
    return log_ratio, ll_zero, [est for est, _ in results]


