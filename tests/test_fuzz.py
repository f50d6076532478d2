"""Property-based tests (hypothesis) over shapes, dtypes and value ranges (issue 7).

* :class:`~skranode.LogitScaler`: transform / inverse round trip, the
  log-Jacobian against finite differences, the out-of-range rules;
* metrics: ``max_sic`` is finite and at least 1, and every metric is invariant
  under strictly increasing transforms of the score;
* the estimators, with fast settings: ``score_samples`` is finite and has one
  value per event, also for events outside the training range.

The examples are derandomized (the same ones every run) and few, so that the
file runs in seconds and never fails by chance.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skranode import (
    ConditionalFlowDensity,
    CWoLaClassifier,
    LogitScaler,
    ResidualANODE,
    SidebandDensity,
)
from skranode.metrics import max_sic, sic_curve, significance_improvement

FAST = settings(max_examples=15, deadline=None, derandomize=True, database=None)
FLOWS = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TINY_FLOW = dict(n_layers=1, n_hidden=8, max_epochs=2, batch_size=64, device="cpu")
DTYPES = [np.float32, np.float64, np.int64]


# ---------------------------------------------------------------- strategies
@st.composite
def feature_matrices(draw, min_rows=2, max_rows=40, max_cols=4):
    """(n, d) matrices of float32, float64 or int64 at scales from 1e-6 to 1e6."""
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, max_cols))
    dtype = draw(st.sampled_from(DTYPES))
    if dtype is np.int64:
        bound = 10 ** draw(st.integers(0, 6))
        return draw(arrays(dtype, (n, d), elements=st.integers(-bound, bound)))
    scale = 10.0 ** draw(st.integers(-6, 6))
    offset = draw(st.floats(-100, 100, allow_subnormal=False))
    unit = draw(
        arrays(
            np.float64,
            (n, d),
            elements=st.floats(-1, 1, allow_subnormal=False, width=32),
        )
    )
    return ((offset + unit) * scale).astype(dtype)


def _well_conditioned(scaler):
    """The range is not lost in the rounding of the values (needed for finite differences)."""
    upper = scaler.lower_ + scaler.width_
    return bool(np.all(scaler.width_ > 1e-7 * np.maximum(np.abs(scaler.lower_), np.abs(upper))))


# ---------------------------------------------------------------- LogitScaler
@FAST
@given(X=feature_matrices(), margin=st.sampled_from([0.005, 0.02, 0.3]))
def test_logit_scaler_round_trip(X, margin):
    scaler = LogitScaler(margin=margin).fit(X)
    Y = scaler.transform(X)
    assert Y.shape == X.shape and Y.dtype == np.float64
    assert np.isfinite(Y).all()
    # training events are never clipped onto the poles (|Y| about 36) ...
    assert np.abs(Y).max() < 30
    if _well_conditioned(scaler):  # ... and lie inside the margin when it is resolved
        assert np.abs(Y).max() <= np.log((1 + margin) / margin) + 1e-6
    back = scaler.inverse_transform(Y)
    upper = scaler.lower_ + scaler.width_
    tol = 1e-9 * (np.abs(scaler.lower_) + np.abs(upper) + scaler.width_)
    assert np.all(np.abs(back - X.astype(np.float64)) <= tol)
    # the dtype of the input does not change the result
    np.testing.assert_array_equal(scaler.transform(X.astype(np.float64)), Y)


@FAST
@given(X=feature_matrices(max_rows=20), margin=st.sampled_from([0.02, 0.3]))
def test_logit_scaler_log_jacobian_matches_finite_differences(X, margin):
    scaler = LogitScaler(margin=margin).fit(X)
    assume(_well_conditioned(scaler))
    x = X.astype(np.float64)
    log_det = scaler.log_abs_det_jacobian(x)
    assert log_det.shape == (x.shape[0],) and np.isfinite(log_det).all()
    fd = np.zeros(x.shape[0])
    for j in range(x.shape[1]):
        h = 1e-5 * scaler.width_[j]
        step = np.zeros(x.shape[1])
        step[j] = h
        up, down = scaler.transform(x + step), scaler.transform(x - step)
        # elementwise: moving feature j moves only output j
        others = np.arange(x.shape[1]) != j
        np.testing.assert_allclose(up[:, others], down[:, others], rtol=0, atol=1e-12)
        fd += np.log((up[:, j] - down[:, j]) / (2 * h))
    np.testing.assert_allclose(fd, log_det, rtol=0, atol=1e-4 * x.shape[1])


@FAST
@given(
    X=feature_matrices(max_rows=20),
    factor=st.floats(-1e6, 1e6, allow_subnormal=False),
    rule=st.sampled_from(["clip", "nan"]),
)
def test_logit_scaler_out_of_range_rule_keeps_every_event(X, factor, rule):
    scaler = LogitScaler(out_of_range=rule).fit(X)
    new = X.astype(np.float64) * factor + factor
    Y = scaler.transform(new)
    log_det = scaler.log_abs_det_jacobian(new)
    assert Y.shape == new.shape and log_det.shape == (new.shape[0],)
    unit = (new - scaler.lower_) / scaler.width_
    outside = (unit <= 0) | (unit >= 1)
    assert np.isfinite(Y[~outside]).all()
    if rule == "clip":
        assert np.isfinite(Y).all() and np.isfinite(log_det).all()
    else:
        assert np.isnan(Y[outside]).all()


# ---------------------------------------------------------------- metrics
@st.composite
def labelled_scores(draw):
    """Labels with both classes, integer-valued scores (ties included), weights."""
    n = draw(st.integers(4, 200))
    y = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    y[draw(st.integers(0, n - 1))] = 1 - y[0]  # both classes
    assume(0 < y.sum() < n)
    score = draw(arrays(np.float64, n, elements=st.integers(-60, 60).map(float)))
    n_bkg = int((y == 0).sum())
    min_background = draw(st.integers(0, n_bkg))
    weight = draw(st.none() | arrays(np.float64, n, elements=st.floats(0.1, 10.0)))
    return y, score, min_background, weight


MONOTONE = [
    lambda s: 3.0 * s + 7.0,
    lambda s: np.exp(s / 10.0),
    lambda s: s**3,
    lambda s: np.arctan(s / 10.0),
    lambda s: s.astype(np.float32),
]


@FAST
@given(data=labelled_scores())
def test_max_sic_is_finite_and_at_least_one(data):
    y, score, min_background, weight = data
    value = max_sic(y, score, min_background=min_background, sample_weight=weight)
    assert np.isfinite(value) and value >= 1.0
    if weight is None:  # at best all the signal is kept with one background event
        assert value <= np.sqrt((y == 0).sum()) * (1 + 1e-12)


@FAST
@given(data=labelled_scores(), which=st.integers(0, len(MONOTONE) - 1))
def test_metrics_are_invariant_under_increasing_transforms(data, which):
    y, score, min_background, weight = data
    moved = MONOTONE[which](score)
    kw = dict(min_background=min_background, sample_weight=weight)
    assert max_sic(y, moved, **kw) == max_sic(y, score, **kw)
    tpr, sic, _ = sic_curve(y, score, **kw)
    tpr_m, sic_m, _ = sic_curve(y, moved, **kw)
    np.testing.assert_array_equal(tpr_m, tpr)
    np.testing.assert_array_equal(sic_m, sic)
    for eff in (0.2, 0.5, 1.0):
        a = significance_improvement(y, score, signal_efficiency=eff, **kw)
        b = significance_improvement(y, moved, signal_efficiency=eff, **kw)
        assert (np.isnan(a) and np.isnan(b)) or a == b


# ---------------------------------------------------------------- estimators
@st.composite
def event_samples(draw):
    """Events (features of any dtype and scale) with masses in a random window."""
    X = draw(feature_matrices(min_rows=40, max_rows=160, max_cols=3))
    lo = draw(st.floats(0.5, 5.0))
    width = draw(st.floats(0.1, 3.0))
    seed = draw(st.integers(0, 2**16))
    m = np.random.default_rng(seed).uniform(lo, lo + width, X.shape[0])
    return X, m, seed


def _probe_events(X, m, seed):
    """The training events plus events inside, at the edge of and far outside the range."""
    rng = np.random.default_rng(seed + 1)
    x = X.astype(np.float64)
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    new = rng.uniform(lo - 2 * span, hi + 2 * span, size=(20, x.shape[1]))
    edges = np.vstack([lo, hi, lo - 1e4 * span, hi + 1e4 * span])
    events = np.vstack([x, new, edges])
    # half a TeV beyond the masses, but not below a quarter of them (refused, by design)
    masses = np.r_[m, rng.uniform(max(m.min() - 0.5, m.min() / 4), m.max() + 0.5, 20 + 4)]
    return events, masses


def _refused_if_constant(fit, X):
    """A feature with one value is refused by name (issue 42); True when it was."""
    if np.ptp(np.asarray(X, dtype=np.float64), axis=0).min() > 0:
        return False
    with pytest.raises(ValueError, match=r"feature \d+ takes the one value .* Drop that column"):
        fit()
    return True


@FLOWS
@given(data=event_samples(), flow=st.sampled_from(["maf", "rqs"]))
def test_flow_scores_are_finite_with_one_value_per_event(data, flow):
    X, m, seed = data
    est = ConditionalFlowDensity(flow, **TINY_FLOW, random_state=seed)
    if _refused_if_constant(lambda: est.fit(X, m), X):
        return
    est.fit(X, m)
    events, masses = _probe_events(X, m, seed)
    scores = est.score_samples(events, masses)
    assert scores.shape == (events.shape[0],)
    assert np.isfinite(scores).all()
    drawn = est.sample(m[:5], random_state=seed)
    assert drawn.shape == (5, X.shape[1]) and np.isfinite(drawn).all()


@FLOWS
@given(data=event_samples())
def test_sideband_and_residual_anode_scores_are_finite(data):
    X, m, seed = data
    background = SidebandDensity(
        signal_region=None, density=ConditionalFlowDensity(**TINY_FLOW), random_state=seed
    )
    if _refused_if_constant(lambda: background.fit(X, m), X):
        return
    background.fit(X, m)
    ranode = ResidualANODE(
        background, w=0.1, flow=ConditionalFlowDensity(**TINY_FLOW), random_state=seed
    ).fit(X, m)
    events, masses = _probe_events(X, m, seed)
    for est in (background, ranode):
        scores = est.score_samples(events, masses)
        assert scores.shape == (events.shape[0],)
        assert np.isfinite(scores).all()


@FLOWS
@given(data=event_samples())
def test_cwola_scores_are_finite(data):
    X, m, seed = data
    from sklearn.ensemble import HistGradientBoostingClassifier

    lo, hi = np.quantile(m, [0.35, 0.65])
    assume(((m >= lo) & (m < hi)).any() and ((m < lo) | (m >= hi)).any())
    est = CWoLaClassifier(
        (lo, hi),
        classifier=HistGradientBoostingClassifier(max_iter=5),
        n_ensemble=1,
        random_state=seed,
    ).fit(X, m)
    events, _ = _probe_events(X, m, seed)
    score = est.decision_function(events)
    assert score.shape == (events.shape[0],) and np.isfinite(score).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_estimators_accept_every_dtype_the_same_way(dtype):
    """Integer and float32 features score exactly like their float64 copies."""
    rng = np.random.default_rng(0)
    X = rng.integers(-50, 50, size=(120, 2)).astype(dtype)
    m = rng.uniform(3, 4, 120)
    est = ConditionalFlowDensity(**TINY_FLOW, random_state=0).fit(X, m)
    ref = ConditionalFlowDensity(**TINY_FLOW, random_state=0).fit(X.astype(np.float64), m)
    np.testing.assert_array_equal(est.score_samples(X, m), ref.score_samples(X, m))
