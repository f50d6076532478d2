"""Tests for skranode.metrics: the significance improvement characteristic and its scorers."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.naive_bayes import GaussianNB

from skranode.metrics import (
    SICCurve,
    make_sic_scorer,
    max_sic,
    max_sic_scorer,
    sic_curve,
    significance_improvement,
)

# A toy small enough to work out by hand. Thresholds (inf, .9, .8, .4, .3, .2, .1):
# signal passing 0, 1, 1, 2, 2, 2, 2 of 2; background passing 0, 0, 1, 1, 2, 3, 4 of 4.
Y_TOY = [1, 1, 0, 0, 0, 0]
S_TOY = [0.9, 0.4, 0.8, 0.3, 0.2, 0.1]


def _gaussian_scores(n_sig, n_bkg, shift, seed):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_sig, dtype=int), np.zeros(n_bkg, dtype=int)]
    s = np.r_[rng.normal(shift, 1.0, n_sig), rng.normal(0.0, 1.0, n_bkg)]
    return y, s


def test_sic_curve_by_hand():
    curve = sic_curve(Y_TOY, S_TOY, min_background=1)
    assert isinstance(curve, SICCurve)
    tpr, sic, thresholds = curve
    assert_array_equal(thresholds, [np.inf, 0.9, 0.8, 0.4, 0.3, 0.2, 0.1])
    assert_allclose(tpr, [0, 0.5, 0.5, 1, 1, 1, 1])
    # fpr = 0, 0, 1/4, 1/4, 2/4, 3/4, 1: the first two cuts keep no background (NaN)
    expected = [np.nan, np.nan, 0.5 / 0.5, 1 / 0.5, 1 / np.sqrt(0.5), 1 / np.sqrt(0.75), 1.0]
    assert_allclose(sic, expected)
    assert max_sic(Y_TOY, S_TOY, min_background=1) == pytest.approx(2.0)


def test_min_background_masks_tight_cuts_by_hand():
    _, sic, _ = sic_curve(Y_TOY, S_TOY, min_background=2)
    assert np.isnan(sic[:4]).all()  # these cuts keep 0, 0, 1, 1 background events
    assert_allclose(sic[4:], [1 / np.sqrt(0.5), 1 / np.sqrt(0.75), 1.0])
    assert max_sic(Y_TOY, S_TOY, min_background=2) == pytest.approx(np.sqrt(2.0))
    assert max_sic(Y_TOY, S_TOY, min_background=4) == pytest.approx(1.0)
    # min_background=0 still drops the cuts that keep no background (SIC undefined)
    assert max_sic(Y_TOY, S_TOY, min_background=0) == pytest.approx(2.0)


def test_curve_aligned_with_roc_curve():
    y, s = _gaussian_scores(300, 1000, 1.5, seed=0)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    curve = sic_curve(y, s, min_background=25)
    assert_array_equal(curve.tpr, tpr)
    assert_array_equal(curve.thresholds, thr)
    keep = fpr * 1000 >= 25
    assert_allclose(curve.sic[keep], tpr[keep] / np.sqrt(fpr[keep]))
    assert np.isnan(curve.sic[~keep]).all()


@pytest.mark.parametrize(
    "min_background, expected",
    [(25, 20.0), (100, 10.0), (1, 100.0), (0, 100.0), (24.5, np.sqrt(10_000 / 25))],
)
def test_perfect_separation(min_background, expected):
    # All signal above all background: the best cut keeps every signal event and
    # the fewest background events allowed, ceil(min_background) (at least 1),
    # so max SIC = 1 / sqrt(ceil(min_background) / n_background).
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(500), np.zeros(10_000)]
    s = np.r_[rng.uniform(2, 3, 500), rng.uniform(0, 1, 10_000)]
    assert max_sic(y, s, min_background=min_background) == pytest.approx(expected)


def test_random_scores_give_sic_near_one():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 40_000)
    s = rng.normal(size=40_000)
    value = max_sic(y, s)
    # the loosest cut has SIC = 1; a useless score cannot do much better
    assert 1.0 <= value < 1.15


def test_good_score_beats_bad_score():
    y, s_good = _gaussian_scores(2000, 20_000, 3.0, seed=3)
    _, s_bad = _gaussian_scores(2000, 20_000, 0.5, seed=3)
    good, bad = max_sic(y, s_good), max_sic(y, s_bad)
    assert good > 5.0 and 1.0 <= bad < 3.0


def test_min_background_cut_lowers_max_sic():
    y, s = _gaussian_scores(2000, 20_000, 3.0, seed=4)
    values = [max_sic(y, s, min_background=k) for k in (1, 5, 25, 100, 1000, 20_000)]
    assert all(a >= b for a, b in zip(values[:-1], values[1:], strict=True))
    assert values[0] > values[2] > values[4]
    assert values[-1] == pytest.approx(1.0)  # only the loosest cut qualifies


@pytest.mark.parametrize(
    "transform",
    [np.exp, lambda x: 3.0 * x - 7.0, lambda x: x**3 + x, np.arctan],
    ids=["exp", "affine", "cubic", "arctan"],
)
def test_invariant_under_monotone_transforms(transform):
    y, s = _gaussian_scores(1000, 5000, 1.5, seed=5)
    ref = sic_curve(y, s)
    new = sic_curve(y, transform(s))
    assert_allclose(new.sic, ref.sic, equal_nan=True)
    assert_allclose(new.tpr, ref.tpr)
    assert max_sic(y, transform(s)) == pytest.approx(max_sic(y, s))
    assert significance_improvement(y, transform(s), signal_efficiency=0.3) == pytest.approx(
        significance_improvement(y, s, signal_efficiency=0.3)
    )


def test_significance_improvement_by_hand():
    # 4 signal events at 4, 3, 2, 1 and 100 background events at 0.01 ... 1.00
    y = np.r_[np.ones(4), np.zeros(100)]
    s = np.r_[[4.0, 3.0, 2.0, 1.0], np.arange(1, 101) / 100]
    # keeping 1, 2 or 3 signal events costs no background: undefined, NaN
    assert np.isnan(significance_improvement(y, s, signal_efficiency=0.5, min_background=0))
    # keeping all four (cut at 1.0) keeps one background event: 1 / sqrt(1 / 100)
    assert significance_improvement(y, s, signal_efficiency=1.0, min_background=1) == pytest.approx(
        10.0
    )
    # ... which is too few for min_background=25
    assert np.isnan(significance_improvement(y, s, signal_efficiency=1.0))
    # the tightest cut with at least the requested efficiency: 0.6 -> 3 of 4 kept
    y2 = np.r_[np.ones(4), np.zeros(4)]
    s2 = np.array([4.0, 3.0, 2.0, 1.0, 3.5, 2.5, 1.5, 0.5])
    sic_06 = significance_improvement(y2, s2, signal_efficiency=0.6, min_background=0)
    assert sic_06 == pytest.approx(0.75 / np.sqrt(0.5))
    sic_075 = significance_improvement(y2, s2, signal_efficiency=0.75, min_background=0)
    assert sic_075 == pytest.approx(sic_06)


def test_significance_improvement_against_direct_count():
    y, s = _gaussian_scores(2000, 20_000, 2.0, seed=6)
    best = max_sic(y, s)
    sig, bkg = np.sort(s[y == 1])[::-1], s[y == 0]
    n_defined = 0
    for eff in (0.01, 0.1, 0.3, 0.5, 0.9, 1.0):
        value = significance_improvement(y, s, signal_efficiency=eff)
        # the cut at the k-th highest signal score keeps k = ceil(eff * n_sig) signal events
        k = int(np.ceil(eff * sig.size))
        n_pass = int((bkg >= sig[k - 1]).sum())
        if n_pass < 25:
            assert np.isnan(value)
        else:
            n_defined += 1
            assert value == pytest.approx((k / sig.size) / np.sqrt(n_pass / bkg.size))
            assert value <= best + 1e-12
    assert n_defined >= 3


def test_sample_weight():
    y, s = _gaussian_scores(500, 3000, 1.5, seed=7)
    ref = sic_curve(y, s)
    weighted = sic_curve(y, s, sample_weight=np.full(y.shape, 3.0))
    assert_allclose(weighted.sic, ref.sic, equal_nan=True)
    # min_background counts events, not weights, and ignores zero-weight events
    w = np.ones(y.shape)
    w[y == 0] = 1e-3
    assert max_sic(y, s, sample_weight=w) == pytest.approx(max_sic(y, s))
    w0 = np.ones(y.shape)
    w0[np.flatnonzero(y == 0)[:2990]] = 0.0  # 10 background events left
    with pytest.raises(ValueError, match="10 background event"):
        max_sic(y, s, sample_weight=w0)
    with pytest.raises(ValueError, match="non-negative"):
        max_sic(y, s, sample_weight=-w)


def test_accepts_lists_series_bools_and_pm1():
    y, s = _gaussian_scores(200, 1000, 1.5, seed=8)
    ref = max_sic(y, s)
    assert max_sic(list(y), list(s)) == pytest.approx(ref)
    assert max_sic(pd.Series(y), pd.Series(s)) == pytest.approx(ref)
    assert max_sic(y.astype(bool), s) == pytest.approx(ref)
    assert max_sic(2 * y - 1, s) == pytest.approx(ref)
    assert max_sic(s.reshape(-1, 1) * 0 + y.reshape(-1, 1), s.reshape(-1, 1)) == pytest.approx(ref)
    labels = np.where(y == 1, "signal", "background")
    assert max_sic(labels, s, pos_label="signal") == pytest.approx(ref)


def test_read_only_inputs_are_not_modified():
    y, s = _gaussian_scores(200, 1000, 1.5, seed=9)
    w = np.linspace(0.5, 1.5, y.size)
    copies = [a.copy() for a in (y, s, w)]
    for a in (y, s, w):
        a.setflags(write=False)
    sic_curve(y, s, sample_weight=w)
    max_sic(y, s, sample_weight=w)
    significance_improvement(y, s, signal_efficiency=0.5, sample_weight=w)
    for a, c in zip((y, s, w), copies, strict=True):
        assert_array_equal(a, c)


@pytest.mark.parametrize(
    "y, s, kwargs, match",
    [
        ([0, 0, 0], [0.1, 0.2, 0.3], {}, "no signal"),
        ([1, 1, 1], [0.1, 0.2, 0.3], {}, "no background"),
        ([0, 1, 0], [0.1, np.nan, 0.3], {}, "NaN or infinity"),
        ([0, 1, 0], [0.1, np.inf, 0.3], {}, "NaN or infinity"),
        ([0, 1, 0], [0.1, 0.2], {}, "3 entries but y_score has 2"),
        ([0, 1, 2], [0.1, 0.2, 0.3], {}, "two classes"),
        ([0, 2, 0], [0.1, 0.2, 0.3], {}, "pos_label"),
        (["a", "b"], [0.1, 0.2], {}, "pos_label"),
        ([0, 1], [0.1, 0.2], {"pos_label": 2}, "no signal"),
        ([0, 1, np.nan], [0.1, 0.2, 0.3], {}, "y_true"),
        ([], [], {}, "y_true"),
        ([0, 1], [0.1, 0.2], {"min_background": -1}, "min_background"),
        ([0, 1], [0.1, 0.2], {"min_background": np.nan}, "min_background"),
        ([0, 1], [0.1, 0.2], {"min_background": "25"}, "min_background"),
    ],
)
def test_errors(y, s, kwargs, match):
    with pytest.raises(ValueError, match=match):
        max_sic(y, s, **kwargs)


def test_too_few_background_events():
    with pytest.raises(ValueError, match="fewer than min_background=25"):
        max_sic(np.r_[np.ones(100), np.zeros(24)], np.arange(124.0))
    assert max_sic(np.r_[np.ones(100), np.zeros(25)], np.arange(125.0)) == pytest.approx(1.0)


@pytest.mark.parametrize("eff", [0.0, -0.1, 1.5, np.nan, True, "0.5", None])
def test_bad_signal_efficiency(eff):
    with pytest.raises(ValueError, match="signal_efficiency"):
        significance_improvement(Y_TOY, S_TOY, signal_efficiency=eff)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.booleans(), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
        min_size=2,
        max_size=80,
    ),
    min_background=st.integers(0, 10),
    use_weights=st.booleans(),
)
def test_properties(data, min_background, use_weights):
    y = np.array([d[0] for d in data])
    s = np.array([d[1] for d in data])
    n_bkg = int((~y).sum())
    if y.all() or not y.any():
        with pytest.raises(ValueError, match="no signal|no background"):
            sic_curve(y, s)
        return
    w = np.linspace(0.5, 2.0, y.size) if use_weights else None
    tpr, sic, thresholds = sic_curve(y, s, min_background=min_background, sample_weight=w)
    assert tpr.shape == sic.shape == thresholds.shape
    assert np.all(np.diff(tpr) >= 0)
    defined = sic[~np.isnan(sic)]
    assert np.all(np.isfinite(defined)) and np.all(defined >= 0)
    if n_bkg < min_background:
        with pytest.raises(ValueError, match="fewer than min_background"):
            max_sic(y, s, min_background=min_background, sample_weight=w)
        return
    value = max_sic(y, s, min_background=min_background, sample_weight=w)
    assert np.isfinite(value)
    # the loosest cut has SIC = 1; with equal weights no cut can beat keeping
    # all signal with the fewest background events allowed
    assert value >= 1.0 - 1e-12
    if w is None:
        assert value <= np.sqrt(n_bkg / max(min_background, 1)) + 1e-9
    # a stricter statistics requirement never raises the maximum
    if n_bkg >= min_background + 1:
        assert max_sic(y, s, min_background=min_background + 1, sample_weight=w) <= value


def _classification(seed=0):
    return make_classification(
        n_samples=1500, n_features=6, n_informative=3, weights=[0.8], random_state=seed
    )


def test_scorer_in_cross_val_score_matches_metric():
    X, y = _classification()
    scores = cross_val_score(LogisticRegression(), X, y, scoring=max_sic_scorer, cv=3)
    assert scores.shape == (3,)
    assert np.all(scores >= 1.0) and np.all(np.isfinite(scores))
    clf = LogisticRegression().fit(X[:1000], y[:1000])
    expected = max_sic(y[1000:], clf.decision_function(X[1000:]))
    assert max_sic_scorer(clf, X[1000:], y[1000:]) == pytest.approx(expected)


def test_scorer_uses_predict_proba_without_decision_function():
    X, y = _classification(1)
    clf = GaussianNB().fit(X[:1000], y[:1000])
    expected = max_sic(y[1000:], clf.predict_proba(X[1000:])[:, 1], min_background=10)
    scorer = make_sic_scorer(min_background=10)
    assert scorer(clf, X[1000:], y[1000:]) == pytest.approx(expected)


class _ScoreSamplesOnly(BaseEstimator):
    """An unsupervised anomaly score: distance from the training mean."""

    def fit(self, X, y=None):
        self.mean_ = np.asarray(X).mean(axis=0)
        return self

    def score_samples(self, X):
        return np.linalg.norm(np.asarray(X) - self.mean_, axis=1)


def test_scorer_uses_score_samples_for_unsupervised_estimators():
    rng = np.random.default_rng(10)
    X = np.r_[rng.normal(0, 1, (2000, 3)), rng.normal(0, 0.3, (100, 3)) + 3.0]
    y = np.r_[np.zeros(2000, dtype=int), np.ones(100, dtype=int)]
    est = _ScoreSamplesOnly().fit(X[y == 0])
    assert max_sic_scorer(est, X, y) == pytest.approx(max_sic(y, est.score_samples(X)))
    # the signal sits far out, beyond every background event: perfect separation
    assert max_sic_scorer(est, X, y) == pytest.approx(np.sqrt(2000 / 25))
    # not a classifier, so ask for stratified folds explicitly
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(_ScoreSamplesOnly(), X, y, scoring=max_sic_scorer, cv=cv)
    assert np.all(np.isfinite(scores)) and np.all(scores > 5)


def test_grid_search_with_fixed_efficiency_scorer():
    X, y = _classification(2)
    search = GridSearchCV(
        LogisticRegression(),
        {"C": [1e-3, 1.0]},
        scoring={
            "max_sic": max_sic_scorer,
            "sic90": make_sic_scorer(signal_efficiency=0.9, min_background=10),
        },
        refit="max_sic",
        cv=3,
    ).fit(X, y)
    results = search.cv_results_
    assert np.all(np.isfinite(results["mean_test_max_sic"]))
    assert np.all(np.isfinite(results["mean_test_sic90"]))
    assert np.all(results["mean_test_sic90"] <= results["mean_test_max_sic"] + 1e-12)
    assert np.isfinite(search.best_score_)


def test_scorer_with_string_labels():
    X, y = _classification(3)
    labels = np.where(y == 1, "signal", "background")
    scorer = make_sic_scorer(pos_label="signal")
    clf = LogisticRegression().fit(X[:1000], labels[:1000])
    expected = max_sic(y[1000:], clf.decision_function(X[1000:]))
    assert scorer(clf, X[1000:], labels[1000:]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="min_background"):
        make_sic_scorer(min_background=-3)
