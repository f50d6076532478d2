"""Figures of merit for anomaly detection: the significance improvement characteristic.

Cutting on an anomaly score keeps a fraction ``eps_S`` (the true positive rate,
TPR) of the signal and ``eps_B`` (the false positive rate, FPR) of the
background. For a counting experiment with ``S << B`` the significance
``S / sqrt(B)`` is multiplied by the *significance improvement characteristic*

    SIC = eps_S / sqrt(eps_B) = TPR / sqrt(FPR).

At very tight cuts only a handful of background events of the test sample
pass, and the estimate of ``eps_B`` (hence of the SIC) is dominated by their
Poisson fluctuation; the SIC would then grow without bound as ``FPR -> 0``.
Every function here therefore ignores the cuts that keep fewer than
``min_background`` test background events. The default of 25 caps the relative
statistical error on the background count at ``1/sqrt(25) = 20 %``, the choice
of the R-ANODE study.

The scorers :data:`max_sic_scorer` and :func:`make_sic_scorer` plug these
metrics into :class:`~sklearn.model_selection.GridSearchCV`,
:func:`~sklearn.model_selection.cross_val_score` and friends.
"""

import numbers
import warnings
from typing import NamedTuple

import numpy as np
import scipy.stats
from sklearn.metrics import make_scorer, roc_curve
from sklearn.utils import check_array, check_consistent_length, column_or_1d

from skranode.exceptions import SkranodeWarning

__all__ = [
    "SICCurve",
    "make_sic_scorer",
    "max_sic",
    "max_sic_scorer",
    "sic_curve",
    "significance_improvement",
]

#: Methods a scorer asks an estimator for, in order of preference.
RESPONSE_METHODS = ("decision_function", "predict_proba", "score_samples")


class SICCurve(NamedTuple):
    """Result of :func:`sic_curve`; unpacks as ``tpr, sic, thresholds``.

    Attributes
    ----------
    tpr : ndarray of shape (n_thresholds,)
        Signal efficiency (true positive rate) of the cut ``score >= threshold``,
        increasing.
    sic : ndarray of shape (n_thresholds,)
        ``tpr / sqrt(fpr)`` at each cut; NaN where fewer than ``min_background``
        test background events pass the cut (or none at all).
    thresholds : ndarray of shape (n_thresholds,)
        Decreasing thresholds on the score; the first is ``+inf`` (nothing passes),
        as in :func:`sklearn.metrics.roc_curve`.
    """

    tpr: np.ndarray
    sic: np.ndarray
    thresholds: np.ndarray


def check_min_background(min_background):
    if (
        isinstance(min_background, bool)
        or not isinstance(min_background, numbers.Real)
        or not np.isfinite(min_background)
        or min_background < 0
    ):
        raise ValueError(
            "min_background must be a non-negative number of background events; "
            f"got {min_background!r}."
        )
    return float(min_background)


def _scores_as_float(raw, as_float):
    """``as_float``, or the dense ranks of ``raw`` when float64 would merge distinct integers.

    Only the order of the scores enters a cut, so ranks give the exact curve.
    """
    raw = np.asarray(raw)
    if raw.dtype.kind not in "iu" or raw.ndim > 2:
        return as_float
    raw = raw.ravel()
    if np.unique(as_float).size == np.unique(raw).size:
        return as_float
    warnings.warn(
        "y_score holds integers that float64 cannot tell apart (beyond 2**53): the cuts "
        "are made on their ranks instead, so the thresholds returned are ranks. Pass "
        "scores as floats to avoid this.",
        SkranodeWarning,
        stacklevel=3,
    )
    return scipy.stats.rankdata(raw, method="dense").astype(np.float64)


def check_binary_scores(y_true, y_score, sample_weight, pos_label):
    """Validate the inputs; return (is_signal, y_score, sample_weight) as new arrays."""
    try:
        y_true = column_or_1d(
            check_array(y_true, ensure_2d=False, dtype=None, input_name="y_true"),
            warn=False,
        )
        y_score_in = y_score
        y_score = column_or_1d(
            check_array(
                y_score,
                ensure_2d=False,
                dtype=np.float64,
                ensure_all_finite=False,
                input_name="y_score",
            ),
            warn=False,
        )
    except ValueError as exc:
        raise ValueError(f"Could not read y_true / y_score: {exc}") from exc
    y_score = _scores_as_float(y_score_in, y_score)
    if y_true.shape[0] != y_score.shape[0]:
        raise ValueError(
            f"y_true has {y_true.shape[0]} entries but y_score has {y_score.shape[0]}; "
            "pass one score per event."
        )
    if sample_weight is not None:
        sample_weight = column_or_1d(
            check_array(
                sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight"
            ),
            warn=False,
        )
        check_consistent_length(y_true, sample_weight)
        if (sample_weight < 0).any():
            raise ValueError("sample_weight must be non-negative.")
    bad = ~np.isfinite(y_score)
    if bad.any():
        raise ValueError(
            f"y_score contains NaN or infinity ({int(bad.sum())} of {y_score.shape[0]} "
            "events); the SIC needs a finite score for every event."
        )
    classes = np.unique(y_true)
    if classes.shape[0] > 2:
        raise ValueError(
            f"y_true must hold two classes (signal and background); got {classes.shape[0]} "
            f"distinct labels {classes[:5].tolist()}{'...' if classes.shape[0] > 5 else ''}."
        )
    if pos_label is None:
        allowed = ({0, 1}, {-1, 1})
        try:
            ok = any(set(classes.tolist()) <= a for a in allowed)
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(
                f"y_true has labels {classes.tolist()}; without pos_label they must be "
                "{0, 1} (or {-1, 1}, or booleans) with 1 = signal. Pass pos_label= to "
                "name the signal label."
            )
        pos_label = 1
    is_signal = y_true == pos_label
    n_sig = int(is_signal.sum())
    if n_sig == 0:
        raise ValueError(
            f"y_true contains no signal events (label {pos_label!r}); the SIC needs both "
            "signal and background."
        )
    if n_sig == y_true.shape[0]:
        raise ValueError(
            "y_true contains no background events; the SIC needs both signal and background."
        )
    return is_signal, y_score, sample_weight


def sic_curve(y_true, y_score, *, min_background=25, sample_weight=None, pos_label=None):
    """Significance improvement ``TPR / sqrt(FPR)`` for every cut on the score.

    The cut ``score >= threshold`` is scanned over every distinct score, using
    :func:`sklearn.metrics.roc_curve` with ``drop_intermediate=False`` (so that
    the ``min_background`` boundary is located exactly).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 (or True) for signal and 0 (or -1, False) for background, unless
        ``pos_label`` names the signal label.
    y_score : array-like of shape (n_samples,)
        Anomaly score; larger means more signal-like. Must be finite.
    min_background : float, default=25
        Cuts that keep fewer than this many test background events are masked:
        their SIC is NaN. The count is of events, not of weights, even when
        ``sample_weight`` is given (events with zero weight are not counted).
        Cuts that keep no background at all are always masked (the SIC is
        undefined there), also with ``min_background=0``.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative event weights for the efficiencies.
    pos_label : int, float, bool or str, default=None
        Label of the signal class; None means 1.

    Returns
    -------
    curve : SICCurve
        Named tuple ``(tpr, sic, thresholds)``, all of length ``n_thresholds``
        (that of ``roc_curve``); masked points are kept, as NaN in ``sic``, so
        the arrays stay aligned with the ROC curve and a plot of ``sic``
        against ``tpr`` shows a gap where the statistics run out.

    See Also
    --------
    max_sic : The maximum of this curve.
    significance_improvement : The SIC at one signal efficiency.

    Examples
    --------
    >>> from skranode.metrics import sic_curve
    >>> y = [1, 1, 0, 0, 0, 0]
    >>> s = [0.9, 0.4, 0.8, 0.3, 0.2, 0.1]
    >>> tpr, sic, thr = sic_curve(y, s, min_background=2)
    >>> sic.round(3).tolist()
    [nan, nan, nan, nan, 1.414, 1.155, 1.0]
    """
    min_background = check_min_background(min_background)
    is_signal, y_score, sample_weight = check_binary_scores(
        y_true, y_score, sample_weight, pos_label
    )
    fpr, tpr, thresholds = roc_curve(
        is_signal, y_score, sample_weight=sample_weight, drop_intermediate=False
    )
    counted = ~is_signal
    if sample_weight is not None:
        counted &= sample_weight > 0
    background_scores = np.sort(y_score[counted])
    # number of (counted) background events with score >= threshold
    n_pass = background_scores.size - np.searchsorted(background_scores, thresholds, "left")
    keep = (n_pass >= min_background) & (n_pass > 0) & (fpr > 0)
    sic = np.full(tpr.shape, np.nan)
    sic[keep] = tpr[keep] / np.sqrt(fpr[keep])
    return SICCurve(tpr, sic, thresholds)


def _n_background(y_true, pos_label, sample_weight):
    """Number of counted background events (those with non-zero weight)."""
    y = column_or_1d(np.asarray(y_true), warn=False)
    is_bkg = y != (1 if pos_label is None else pos_label)
    if sample_weight is not None:
        is_bkg &= np.asarray(sample_weight, dtype=np.float64).ravel() > 0
    return int(is_bkg.sum())


def max_sic(y_true, y_score, *, min_background=25, sample_weight=None, pos_label=None):
    """Largest significance improvement ``max TPR / sqrt(FPR)`` over all cuts.

    Only the cuts keeping at least ``min_background`` test background events
    count (see :func:`sic_curve`). The loosest cut (everything passes) has
    ``SIC = 1``, so the result is at least 1 whenever it is defined.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 (or True) for signal and 0 (or -1, False) for background, unless
        ``pos_label`` names the signal label.
    y_score : array-like of shape (n_samples,)
        Anomaly score; larger means more signal-like. Must be finite.
    min_background : float, default=25
        Smallest number of test background events a cut must keep.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative event weights for the efficiencies.
    pos_label : int, float, bool or str, default=None
        Label of the signal class; None means 1.

    Returns
    -------
    max_sic : float

    Raises
    ------
    ValueError
        If the inputs are invalid (see :func:`sic_curve`), or if the test sample
        holds fewer than ``min_background`` background events, so that no cut
        qualifies.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode.metrics import max_sic
    >>> y = np.r_[np.ones(50), np.zeros(100)]
    >>> score = np.r_[np.full(50, 2.0), np.linspace(0.0, 1.0, 100)]
    >>> max_sic(y, score, min_background=25)  # all signal kept, 25 % of background
    2.0
    """
    tpr, sic, _ = sic_curve(
        y_true,
        y_score,
        min_background=min_background,
        sample_weight=sample_weight,
        pos_label=pos_label,
    )
    if np.isnan(sic).all():
        n_bkg = _n_background(y_true, pos_label, sample_weight)
        raise ValueError(
            f"The test sample holds {n_bkg} background event(s), fewer than "
            f"min_background={min_background}, so no cut qualifies; use a larger test "
            "sample or lower min_background."
        )
    return float(np.nanmax(sic))


def significance_improvement(
    y_true,
    y_score,
    *,
    signal_efficiency,
    min_background=25,
    sample_weight=None,
    pos_label=None,
):
    """SIC of the tightest cut that keeps a given fraction of the signal.

    The cut is the highest threshold whose signal efficiency is at least
    ``signal_efficiency`` (a real cut, not an interpolation between cuts).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 (or True) for signal and 0 (or -1, False) for background, unless
        ``pos_label`` names the signal label.
    y_score : array-like of shape (n_samples,)
        Anomaly score; larger means more signal-like. Must be finite.
    signal_efficiency : float in (0, 1]
        Fraction of the signal to keep, for example 0.2 or 0.5.
    min_background : float, default=25
        Smallest number of test background events the cut must keep.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative event weights for the efficiencies.
    pos_label : int, float, bool or str, default=None
        Label of the signal class; None means 1.

    Returns
    -------
    sic : float
        ``TPR / sqrt(FPR)`` of that cut, or NaN when it keeps fewer than
        ``min_background`` background events: the background rejection is then
        too high to be measured with this test sample (the cut is very good,
        but its SIC is not known to the required precision). Use a larger test
        sample, a looser efficiency, or :func:`max_sic` for model selection.

    Examples
    --------
    >>> import numpy as np
    >>> from skranode.metrics import significance_improvement
    >>> y = np.r_[np.ones(50), np.zeros(100)]
    >>> score = np.r_[np.linspace(1.0, 2.0, 50), np.linspace(0.0, 1.5, 100)]
    >>> # keeping all the signal keeps 34 of the 100 background events
    >>> round(significance_improvement(y, score, signal_efficiency=1.0), 3)
    1.715
    """
    if (
        isinstance(signal_efficiency, bool)
        or not isinstance(signal_efficiency, numbers.Real)
        or not 0.0 < signal_efficiency <= 1.0
    ):
        raise ValueError(
            f"signal_efficiency must be a number in (0, 1]; got {signal_efficiency!r}."
        )
    tpr, sic, _ = sic_curve(
        y_true,
        y_score,
        min_background=min_background,
        sample_weight=sample_weight,
        pos_label=pos_label,
    )
    # tpr is non-decreasing; guard against rounding of the weighted sums near 1
    target = min(float(signal_efficiency), float(tpr[-1]))
    return float(sic[np.searchsorted(tpr, target * (1.0 - 1e-12), "left")])


def make_sic_scorer(*, signal_efficiency=None, min_background=25, pos_label=None):
    """Make a scorer for :class:`~sklearn.model_selection.GridSearchCV` and friends.

    The scorer asks the estimator for ``decision_function``, else
    ``predict_proba`` (the signal column), else ``score_samples`` (for
    unsupervised density or anomaly estimators), and scores the result with
    :func:`max_sic` or, when ``signal_efficiency`` is given, with
    :func:`significance_improvement`. Greater is better.

    Parameters
    ----------
    signal_efficiency : float in (0, 1], default=None
        None for the maximum SIC; otherwise the SIC at this signal efficiency
        (NaN when too few background events pass, see
        :func:`significance_improvement`).
    min_background : float, default=25
        Smallest number of test background events a cut must keep.
    pos_label : int, float, bool or str, default=None
        Label of the signal class; None means 1.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, from :func:`sklearn.metrics.make_scorer`.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.datasets import make_classification
    >>> from skranode.metrics import make_sic_scorer
    >>> X, y = make_classification(n_samples=600, random_state=0)
    >>> scores = cross_val_score(
    ...     LogisticRegression(), X, y, scoring=make_sic_scorer(min_background=10), cv=3
    ... )
    >>> bool((scores >= 1).all())
    True
    """
    check_min_background(min_background)
    kwargs = {"min_background": min_background}
    if pos_label is not None:
        kwargs["pos_label"] = pos_label
    if signal_efficiency is None:
        return make_scorer(max_sic, response_method=RESPONSE_METHODS, **kwargs)
    return make_scorer(
        significance_improvement,
        response_method=RESPONSE_METHODS,
        signal_efficiency=signal_efficiency,
        **kwargs,
    )


#: Scorer for the maximum SIC with ``min_background=25``; see :func:`make_sic_scorer`.
max_sic_scorer = make_sic_scorer()
