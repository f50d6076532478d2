"""Truth-free checks of a learned background: tests that need no simulation.

A learned background is never exact, and what a window's numbers are worth
depends on how far it is off *where it is used*. These checks use only the
data, so they run on real collisions as on simulation:

* :func:`classifier_two_sample_test`: can a classifier tell events drawn from
  the background model from observed events (held out of its training) at
  the same masses? Run by :func:`~skranode.scan.scan_window` in the sideband
  strips next to the signal region, where the interpolated density is
  closest to the one used inside it.
* :func:`likelihood_check`: is the held-out log-likelihood of the observed
  events what the model expects for its own samples? A model that is too
  broad or too narrow fails it in opposite directions.
* :func:`outside_observed_range`: the fraction of the model's draws with a
  feature beyond every observed event (a flow's density reaches a little
  beyond its training range: negative jet-mass differences, say).
* :func:`validation_windows`: shifted pseudo-signal-regions inside the
  sidebands, away from the signal region, in which the whole procedure
  (background model retrained in *their* sidebands, k-fold R-ANODE, bump hunt,
  w) must find nothing; the main job runs them next to its signal region.

Each test returns a dict of plain numbers (what ``results.json`` stores) with a
one-sided or two-sided ``z`` and its ``p_value``.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from skranode.mass_window import MassWindow
from skranode.stats import FLATNESS_P_MIN, GOF_P_MIN

__all__ = [
    "ALPHA",
    "classifier_two_sample_test",
    "format_validation",
    "likelihood_check",
    "outside_observed_range",
    "OUTSIDE_RANGE_NOTE",
    "VALIDATION_Z",
    "ValidationVerdict",
    "strip_checks",
    "significance_trusted",
    "summarize_validation",
    "validation_windows",
]

#: Level at which a check fails, for all the tests of a window together
#: (Bonferroni: each of ``n`` tests fails below ``ALPHA / n``).
ALPHA = 0.01

#: A validation window whose bump-hunt significance reaches this value fails,
#: and the significance of the window it validates is not trusted.
VALIDATION_Z = 2.0

#: Most observed events per strip in the classifier test (a random subset
#: beyond that: the test's time stays bounded and it resolves an AUC of 0.51).
_MAX_STRIP_EVENTS = 30_000


def _as_2d(name, a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 10:
        raise ValueError(f"{name} must be 2-D with at least 10 events; got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinity; remove or fix those events first.")
    return a


def classifier_two_sample_test(observed, generated, *, paired=False, test_size=0.5, random_state=0):
    """Classifier two-sample test of generated against observed events.

    A gradient-boosted classifier (scikit-learn's
    ``HistGradientBoostingClassifier`` with early stopping and small trees)
    is trained to separate the two samples on a random part of the events and
    scored on the rest; the held-out ROC AUC is compared with its null
    distribution, normal with the Mann-Whitney variance
    ``(n1 + n2 + 1) / (12 n1 n2)`` (exact for a classifier that never saw the
    held-out events, whatever it learned).

    Parameters
    ----------
    observed : array-like of shape (n_observed, n_features)
        Observed events not used to fit the model that generated the others.
    generated : array-like of shape (n_generated, n_features)
        Events drawn from the model (at the same masses, when the mass is a
        column).
    paired : bool, default=False
        ``generated[i]`` was drawn at the conditions (the mass) of
        ``observed[i]``: each pair goes to the same side of the split. Split
        apart, the partners of the training events of one sample would be
        over-represented in the other's test events at the same mass, and the
        classifier would score worse than chance (measured: mean z -0.67
        over 40 tests of 1 000 pairs with the mass as a column; 0.00 paired).
    test_size : float in (0, 1), default=0.5
        Fraction of each sample held out for the AUC.
    random_state : int, default=0
        Seed of the split and the classifier.

    Returns
    -------
    result : dict
        ``auc`` (held-out AUC; 0.5 when the samples are alike), ``z``
        (one-sided: large when the classifier separates them), ``p_value``,
        ``n_observed``, ``n_generated``.

    Notes
    -----
    One split, not k-fold: the held-out AUCs of the folds of a k-fold split
    are correlated under the null (measured: 0.2-0.7 for two folds), so their
    combined z would be too wide. Ties of the classifier's scores make the
    null variance a little smaller than the formula's (slightly
    conservative). With enough events any learned density fails the test:
    read ``auc`` as the size of the mismodelling and ``z`` as whether it is
    resolved.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    a = _as_2d("observed", observed)
    b = _as_2d("generated", generated)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"observed has {a.shape[1]} features and generated {b.shape[1]}; give the same "
            "columns in the same order."
        )
    if not (0 < test_size < 1):
        raise ValueError(f"test_size must be in (0, 1); got {test_size!r}.")
    split = dict(test_size=test_size, random_state=random_state)
    if paired:
        if len(a) != len(b):
            raise ValueError(
                f"paired samples must have the same length; got {len(a)} observed and "
                f"{len(b)} generated events."
            )
        train_a, test_a = train_test_split(np.arange(len(a)), **split)
        train_b, test_b = train_a, test_a
    else:
        rng = np.random.default_rng(random_state)
        train_a, test_a = train_test_split(
            np.arange(len(a)), test_size=test_size, random_state=int(rng.integers(2**31 - 1))
        )
        train_b, test_b = train_test_split(
            np.arange(len(b)), test_size=test_size, random_state=int(rng.integers(2**31 - 1))
        )
    Z_train = np.r_[a[train_a], b[train_b]]
    y_train = np.r_[np.ones(train_a.size), np.zeros(train_b.size)]
    Z_test = np.r_[a[test_a], b[test_b]]
    y_test = np.r_[np.ones(test_a.size), np.zeros(test_b.size)]
    clf = HistGradientBoostingClassifier(
        early_stopping=True, max_leaf_nodes=7, learning_rate=0.05, random_state=random_state
    )
    clf.fit(Z_train, y_train)
    auc = float(roc_auc_score(y_test, clf.predict_proba(Z_test)[:, 1]))
    n1, n2 = int(y_test.sum()), int((1 - y_test).sum())
    z = (auc - 0.5) / math.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2))
    return dict(
        auc=round(auc, 4),
        z=round(float(z), 2),
        p_value=float(norm.sf(z)),
        n_observed=len(a),
        n_generated=len(b),
    )


def likelihood_check(log_p_observed, log_p_generated):
    """Held-out log-likelihood of observed events against the model's own samples.

    If the model is the density of the observed events, the mean of
    ``log p(x)`` over them has the same expectation as over events drawn from
    the model. ``z`` is the difference of the two means over its standard
    error; a model that is too narrow makes it negative (observed events fall
    where it puts little density), one that is too broad positive.

    Parameters
    ----------
    log_p_observed : array-like of shape (n_observed,)
        Log-density of observed events the model was not trained on.
    log_p_generated : array-like of shape (n_generated,)
        Log-density of events drawn from the model, under the same model.

    Returns
    -------
    result : dict
        ``mean_observed``, ``mean_generated`` (nats per event), ``z``
        (two-sided), ``p_value``.
    """
    a = np.asarray(log_p_observed, dtype=np.float64).reshape(-1)
    b = np.asarray(log_p_generated, dtype=np.float64).reshape(-1)
    for name, v in (("log_p_observed", a), ("log_p_generated", b)):
        if v.size < 10:
            raise ValueError(f"{name} needs at least 10 values; got {v.size}.")
        if not np.all(np.isfinite(v)):
            raise ValueError(
                f"{name} contains NaN or infinity: an event has no density under the model "
                "(outside its support); the likelihood check needs finite values."
            )
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    z = float((a.mean() - b.mean()) / se) if se > 0 else 0.0
    return dict(
        mean_observed=round(float(a.mean()), 4),
        mean_generated=round(float(b.mean()), 4),
        z=round(z, 2),
        p_value=float(2 * norm.sf(abs(z))),
    )


#: A background model whose draws lie beyond the observed range this often gets a note.
OUTSIDE_RANGE_NOTE = 0.005


def outside_observed_range(observed, generated, feature_names=None):
    """How often the background model draws events beyond every observed event.

    A normalising flow on logit-scaled features puts a little probability in
    the margin around its training range, so some of its draws are values no
    event has (for the LHCO features, a negative ``delta_mj`` or a tau21
    above 1). They are kept, not redrawn (the user guide says why); this
    check counts them so that they are reported.

    Parameters
    ----------
    observed : array-like of shape (n_observed, n_features)
        Events the model was trained on (for a sideband model, the sidebands).
    generated : array-like of shape (n_generated, n_features)
        Draws of the model.
    feature_names : sequence of str or None, default=None
        Names for the result; None numbers the features.

    Returns
    -------
    result : dict
        ``fraction``: the fraction of draws with at least one feature outside
        ``[min, max]`` of the observed events; ``per_feature``: that fraction
        per feature (a dict by name); ``note``: a sentence when ``fraction``
        reaches :data:`OUTSIDE_RANGE_NOTE`, else None.
    """
    observed = _as_2d("observed", observed)
    generated = _as_2d("generated", generated)
    if observed.shape[1] != generated.shape[1]:
        raise ValueError(
            f"observed has {observed.shape[1]} features but generated has {generated.shape[1]}."
        )
    names = (
        list(feature_names)
        if feature_names is not None
        else [str(j) for j in range(observed.shape[1])]
    )
    if len(names) != observed.shape[1]:
        raise ValueError(f"{len(names)} feature names for {observed.shape[1]} features.")
    lo, hi = observed.min(axis=0), observed.max(axis=0)
    beyond = (generated < lo) | (generated > hi)
    fraction = float(beyond.any(axis=1).mean())
    per_feature = {
        name: round(float(f), 5) for name, f in zip(names, beyond.mean(axis=0), strict=True)
    }
    note = None
    if fraction >= OUTSIDE_RANGE_NOTE:
        worst = max(per_feature, key=per_feature.get)
        note = (
            f"background model: {fraction:.1%} of its draws lie outside the range of the "
            f"events it was trained on (most often {worst}: {per_feature[worst]:.1%}), the "
            "probability its logit scaling leaves beyond that range; they are kept "
            "(redrawing them cost CATHODE sensitivity, see the user guide)"
        )
    return {"fraction": round(fraction, 5), "per_feature": per_feature, "note": note}


def validation_windows(window, data_range, *, scale=0.5):
    """Pseudo-signal-regions next to a signal region, for a search that must find nothing.

    On each side of the signal region one window of ``scale`` times its width
    (signal region and sidebands alike) is placed so that its inner sideband
    ends at the signal region: the low one covers ``[low - 2 s b - s w,
    low)``, the high one ``[high, high + s w + 2 s b)``, with ``w`` the
    signal-region width, ``b`` the wider sideband width and ``s`` the
    ``scale``. Neither contains a signal-region event, and their sidebands
    end where the data end. A side without room for the pseudo-signal region
    inside the data gets no window.

    Parameters
    ----------
    window : MassWindow
        The signal region with its sidebands.
    data_range : tuple of float
        ``(min, max)`` of the masses of the data.
    scale : float in (0, 1], default=0.5
        Size of a validation window relative to the signal region's.

    Returns
    -------
    windows : dict
        ``{'low': MassWindow, 'high': MassWindow}``, the sides that fit.
    """
    if not (0 < scale <= 1):
        raise ValueError(f"scale must be in (0, 1]; got {scale!r}.")
    lo, hi = window.bounds
    data_lo, data_hi = (float(v) for v in data_range)
    width = scale * window.width
    side = scale * max(lo - window.sideband_low, window.sideband_high - hi, window.width)
    out = {}
    low_sr = (lo - side - width, lo - side)
    if low_sr[0] >= data_lo:
        out["low"] = MassWindow(*low_sr, max(low_sr[0] - side, data_lo), lo)
    high_sr = (hi + side, hi + side + width)
    if high_sr[1] <= data_hi:
        out["high"] = MassWindow(*high_sr, hi, min(high_sr[1] + side, data_hi))
    return out


@dataclass(frozen=True)
class ValidationVerdict:
    """What a window's validation windows say (:func:`summarize_validation`).

    Attributes
    ----------
    windows : dict
        Per name, the plain numbers of ``results.json`` (``signal_region``,
        ``sideband``, ``fraction_of_events``, ``n_sr_events``,
        ``significance``, ``w_hat``, ``w_interval_95``, ..., or ``skipped``).
    notes : list of str
        One sentence per failure.
    skipped : dict
        ``{'validation window <name>': why}``.
    passed : bool or None
        No failure (None when no window was analysed).
    trusted : bool or None
        Every analysed validation window below the threshold (None when none
        was analysed).
    """

    windows: dict
    notes: list
    skipped: dict
    passed: bool | None
    trusted: bool | None


def significance_trusted(validation_trusted, selection_flat_p_value, fit_gof_p_value=None):
    """Whether a window's significance is trusted: its validation, selection and fit.

    The one rule of the scan and the main job: not trusted when a validation
    window finds a bump (``validation_trusted`` False), when the window's
    cut keeps a fraction of the sideband events that is not flat in mass
    (``selection_flat_p_value`` below
    :data:`~skranode.stats.FLATNESS_P_MIN`: the selection sculpts the
    spectrum) or when the dijet function does not describe the selected
    spectrum (``fit_gof_p_value`` below :data:`~skranode.stats.GOF_P_MIN`);
    None when none was tested.

    Parameters
    ----------
    validation_trusted : bool or None
        :attr:`ValidationVerdict.trusted`.
    selection_flat_p_value : float or None
        The window's ``selection_flat_p_value``.
    fit_gof_p_value : float or None, default=None
        The window's ``fit_gof_p_value``.

    Returns
    -------
    trusted : bool or None
    """
    if selection_flat_p_value is not None and selection_flat_p_value < FLATNESS_P_MIN:
        return False
    if fit_gof_p_value is not None and fit_gof_p_value < GOF_P_MIN:
        return False
    return validation_trusted


def summarize_validation(validation, *, threshold=VALIDATION_Z):
    """The verdict of a window's validation windows, with the notes of their failures.

    Parameters
    ----------
    validation : dict
        ``{name: (window, fraction, summary)}``: each validation window
        (:class:`~skranode.mass_window.MassWindow`), the fraction of its events
        kept, and the ``summary`` of :func:`~skranode.scan.scan_window` on
        them.
    threshold : float, default=VALIDATION_Z
        A validation window whose bump-hunt significance reaches it fails.

    Returns
    -------
    verdict : ValidationVerdict
    """
    out, notes, skipped = {}, [], {}
    for name, (vwin, fraction, s) in validation.items():
        entry = {
            "signal_region": list(vwin.bounds),
            "sideband": [vwin.sideband_low, vwin.sideband_high],
            "fraction_of_events": round(float(fraction), 4),
            "n_sr_events": s["n_sr_events"],
        }
        out[name] = entry
        if s.get("skipped"):
            entry["skipped"] = s["skipped"]
            skipped[f"validation window {name}"] = s["skipped"]
            continue
        entry.update(
            significance=s["local_significance"],
            significance_bump_hunt_statistical=s["local_significance_statistical"],
            w_hat=s["w_hat"],
            w_interval_95=s["w_interval_95"],
            w_upper_limit_95=s["w_upper_limit_95"],
            significance_likelihood_ratio=s["significance_likelihood_ratio"],
            background_check_passed=s["sideband_checks"].get("passed"),
        )
        a, b = vwin.bounds
        if s["local_significance"] >= threshold:
            notes.append(
                f"validation window {a:g}-{b:g} TeV (a pseudo-signal region in the sidebands, "
                f"no signal expected): the bump hunt finds {s['local_significance']} sigma "
                "there; the procedure makes excesses out of background next to this signal "
                "region, so its significance is not to be trusted without understanding why"
            )
        if s["w_interval_95"][0] > 0:
            notes.append(
                f"validation window {a:g}-{b:g} TeV: the w 95 % interval "
                f"{s['w_interval_95']} excludes 0 where no signal is expected: the w "
                "numbers take background mismodelling for signal there"
            )
    tested = [v for v in out.values() if "skipped" not in v]
    return ValidationVerdict(
        windows=out,
        notes=notes,
        skipped=skipped,
        passed=(not notes) if tested else None,
        trusted=all(v["significance"] < threshold for v in tested) if tested else None,
    )


def format_validation(windows, trusted):
    """The printed lines of a validation verdict (the main job's and the scan's table).

    Parameters
    ----------
    windows : dict
        ``summarize_validation(...)["windows"]``.
    trusted : bool or None
        ``summarize_validation(...)["trusted"]``.

    Returns
    -------
    lines : list of str
    """
    lines = []
    for name, entry in (windows or {}).items():
        a, b = entry["signal_region"]
        if "skipped" in entry:
            lines.append(f"validation window {name} ({a:g}-{b:g} TeV): skipped")
            continue
        lines.append(
            f"validation window {name} ({a:g}-{b:g} TeV, {entry['n_sr_events']} events, no "
            f"signal expected): bump hunt {entry['significance']} sigma, w-hat "
            f"{entry['w_hat']}, 95% {entry['w_interval_95']}"
        )
    if trusted is not None:
        lines.append(
            f"significance trusted (every validation window below {VALIDATION_Z:g} sigma, "
            f"the selection flat and the fit good, p >= 0.01): {'yes' if trusted else 'NO'}"
        )
    return lines


def strip_checks(
    mass, observed, generated, log_p_observed, log_p_generated, strips, *, random_state=0
):
    """Both tests in each sideband strip, with the verdict and the notes of a window.

    Parameters
    ----------
    mass : ndarray of shape (n,)
        Masses of the observed events; the generated event ``i`` was drawn at
        ``mass[i]``.
    observed, generated : ndarray of shape (n, n_features)
        Held-out observed events and one background-model event per each.
    log_p_observed, log_p_generated : ndarray of shape (n,)
        Their log-densities under the model that generated them.
    strips : dict
        ``{name: (low, high)}``: the mass strips (``low <= m < high``).
    random_state : int, default=0
        Seed of the classifier tests and of the subset of a large strip.

    Returns
    -------
    checks : dict
        Per strip: ``strip``, ``n_events``, the ``classifier`` and
        ``likelihood`` results (or ``skipped`` for a strip of under 100
        events); ``passed``: no test below ``ALPHA / n_tests`` (None when no
        strip could be tested).
    notes : list of str
        One line per failed test.
    """
    rng = np.random.default_rng(random_state)
    checks, notes, p_values = {}, [], []
    for name, (a, b) in strips.items():
        idx = np.flatnonzero((mass >= a) & (mass < b))
        entry = {"strip": [round(float(a), 6), round(float(b), 6)], "n_events": int(idx.size)}
        checks[name] = entry
        if idx.size < 100:
            entry["skipped"] = f"{idx.size} held-out events in the strip (< 100)"
            continue
        if idx.size > _MAX_STRIP_EVENTS:
            idx = np.sort(rng.choice(idx, _MAX_STRIP_EVENTS, replace=False))
        with_mass = np.c_[observed[idx], mass[idx]]
        entry["classifier"] = classifier_two_sample_test(
            with_mass, np.c_[generated[idx], mass[idx]], paired=True, random_state=random_state
        )
        entry["likelihood"] = likelihood_check(log_p_observed[idx], log_p_generated[idx])
        p_values += [entry["classifier"]["p_value"], entry["likelihood"]["p_value"]]
    if not p_values:
        checks["passed"] = None
        return checks, notes
    cut = ALPHA / len(p_values)
    for entry in checks.values():
        if "classifier" not in entry:
            continue
        a, b = entry["strip"]
        c, ll = entry["classifier"], entry["likelihood"]
        if c["p_value"] < cut:
            notes.append(
                f"background check: a classifier tells background-model events from the "
                f"held-out sideband events at {a}-{b} TeV (AUC {c['auc']}, z {c['z']}): the "
                "learned p_B(x | m) is off next to the signal region, so the numbers that "
                "take it as exact (*_statistical) do not hold; the bump hunt does not need it"
            )
        if ll["p_value"] < cut:
            how = "too narrow" if ll["z"] < 0 else "too broad"
            notes.append(
                f"background check: the held-out sideband events at {a}-{b} TeV have "
                f"log-likelihood {ll['mean_observed']} per event against "
                f"{ll['mean_generated']} for the model's own samples (z {ll['z']}): the "
                f"learned p_B(x | m) is {how} there"
            )
    checks["passed"] = bool(min(p_values) >= cut)
    return checks, notes
