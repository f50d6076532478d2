"""Generator-based inference of w (w_profile) and the enhanced bump hunt."""

import warnings

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.model_selection import KFold, ShuffleSplit

from skranode import ConditionalFlowDensity, ResidualANODE
from skranode.bump_hunt import enhanced_bump_hunt
from skranode.datasets import (
    FEATURE_NAMES,
    LHCOLikeBackgroundDensity,
    make_lhco_like,
    signal_region_mask,
)
from skranode.inference import w_cross_fit, w_profile
from skranode.stats import DROP_68, DROP_95, profile_intervals
from skranode.stats._profile import _HeldOutMixture

matplotlib.use("Agg")
torch.set_num_threads(1)

SR = (3.3, 3.7)
GRID = np.geomspace(1e-3, 0.2, 7)


ExactBackground = LHCOLikeBackgroundDensity


def _signal_flow():
    return ConditionalFlowDensity(
        "rqs",
        n_layers=2,
        n_hidden=16,
        batch_norm=False,
        n_bins=4,
        max_epochs=8,
        batch_size=256,
        learning_rate=3e-3,
        patience=20,
        n_best=3,
        device="cpu",
    )


def _sr_events(n_signal, seed):
    d = make_lhco_like(n_background=100_000, n_signal=n_signal, random_state=seed)
    s = signal_region_mask(d["mjj"], SR)
    X = d.loc[s, list(FEATURE_NAMES)].to_numpy()
    return X, d.loc[s, "mjj"].to_numpy(), d.loc[s, "label"].to_numpy()


# ------------------------------------------------------------ exact profile math
@pytest.mark.parametrize("w0, sigma", [(0.02, 0.004), (0.031, 0.007)])
def test_parabolic_profile_is_recovered_exactly(w0, sigma):
    w = np.r_[0.0, np.linspace(0.005, 0.06, 12)]
    ll = -0.5 * ((w - w0) / sigma) ** 2 + 7.0
    w_hat, ll_max, (i68, i95) = profile_intervals(w, ll)
    assert w_hat == pytest.approx(w0, rel=1e-9)
    assert ll_max == pytest.approx(7.0, abs=1e-9)
    assert i68 == pytest.approx((w0 - sigma, w0 + sigma), rel=1e-9)
    z95 = np.sqrt(2 * DROP_95)
    assert i95 == pytest.approx((w0 - z95 * sigma, w0 + z95 * sigma), rel=1e-9)


def test_interval_reaches_zero_when_background_only_is_within_the_drop():
    w = np.r_[0.0, np.geomspace(1e-3, 0.1, 8)]
    ll = -0.5 * ((w - 0.002) / 0.01) ** 2  # LL(0) only 0.02 below the maximum
    w_hat, _, (i68, i95) = profile_intervals(w, ll)
    assert 0 < w_hat < 0.01
    assert i68[0] == 0.0 and i95[0] == 0.0
    assert i95[1] == pytest.approx(0.002 + np.sqrt(2 * DROP_95) * 0.01, rel=1e-2)


def test_maximum_at_zero_and_warning_at_the_upper_edge():
    w = np.r_[0.0, 0.01, 0.02]
    w_hat, ll_max, (i68, _) = profile_intervals(w, [0.0, -1.0, -5.0])
    assert (w_hat, ll_max, i68[0]) == (0.0, 0.0, 0.0)
    with pytest.warns(UserWarning, match="Extend w_grid"):
        w_hat, _, (_, i95) = profile_intervals(w, [0.0, 1.0, 2.0])
    assert w_hat == 0.02 and i95[1] == 0.02


def test_profile_intervals_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        profile_intervals([0, 1e-3], [0.0])
    with pytest.raises(ValueError, match="distinct"):
        profile_intervals([0, 1e-3, 1e-3], [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        profile_intervals([0, 1e-3], [0.0, np.nan])


def test_w_profile_rejects_bad_input():
    X, m, _ = _sr_events(0, 0)
    est = ResidualANODE(ExactBackground(), flow=_signal_flow())
    with pytest.raises(ValueError, match="w_grid"):
        w_profile(est, X, m, w_grid=[0.0, 1.5])
    with pytest.raises(ValueError, match="validation_fraction"):
        w_profile(est, X, m, w_grid=[0.01], validation_fraction=1.0)
    with pytest.raises(ValueError, match="ResidualANODE-like"):
        w_profile(ConditionalFlowDensity(), X, m)
    with pytest.raises(ValueError, match="events but m"):
        w_profile(est, X, m[:-1], w_grid=[0.01])


# ------------------------------------------------------------- GBI with training
@pytest.mark.slow
def test_w_profile_finds_a_planted_signal():
    X, m, y = _sr_events(300, 3)
    w_true = y.mean()  # about 0.018
    est = ResidualANODE(ExactBackground(), flow=_signal_flow())
    prof = w_profile(est, X, m, w_grid=GRID, random_state=0)
    assert prof.w_grid[0] == 0 and prof.delta_loglik[0] == 0
    np.testing.assert_allclose(prof.q, 2 * prof.delta_loglik)
    assert prof.n_eval == round(0.5 * len(X))
    assert w_true / 3 < prof.w_hat < 3 * w_true
    assert prof.covers(w_true, 95)
    assert prof.significance > 3
    assert len(prof.estimators) == GRID.size
    from skranode.plotting import plot_profile

    fig = plot_profile(prof, w_true=w_true)
    assert fig is not None


@pytest.mark.slow
def test_w_profile_without_signal_is_compatible_with_zero():
    X, m, _ = _sr_events(0, 2)
    est = ResidualANODE(ExactBackground(), flow=_signal_flow())
    prof = w_profile(est, X, m, w_grid=GRID, random_state=0)
    assert prof.significance < 2.5
    assert prof.interval_95[0] <= 1e-3
    assert prof.covers(0.0, 95)


def test_background_only_point_is_sum_of_background_log_density():
    X, m, _ = _sr_events(0, 4)
    bkg = ExactBackground()
    # one training of one epoch: p_S stays broad, the profile flat up to the one grid point
    est = ResidualANODE(bkg, flow=_signal_flow().set_params(max_epochs=1), n_init=1)
    with pytest.warns(UserWarning, match="Extend w_grid"):  # a one-point grid
        prof = w_profile(est, X, m, w_grid=[0.01], cv=2, random_state=0)
    assert prof.n_eval == len(X)  # every event held out once
    assert prof.loglik_zero == pytest.approx(bkg.score_samples(X, m).sum(), rel=1e-12)


def test_repeats_average_the_signal_densities_in_probability_space():
    X, m, _ = _sr_events(100, 5)
    bkg = ExactBackground()
    est = ResidualANODE(bkg, flow=_signal_flow().set_params(max_epochs=1), n_init=1)
    w = 0.02
    with pytest.warns(UserWarning, match="Extend w_grid"):  # a one-point grid
        prof = w_profile(est, X, m, w_grid=[w], n_repeats=3, random_state=0)
    assert len(prof.estimators) == 3
    # the held-out events: those on which loglik_zero was computed
    log_pb = bkg.score_samples(X, m)
    perm = np.random.RandomState(0).permutation(len(X))
    held_out = np.sort(perm[: round(0.5 * len(X))])
    assert prof.loglik_zero == pytest.approx(log_pb[held_out].sum(), rel=1e-12)
    p_s = np.mean(
        [np.exp(e.signal_log_density(X[held_out], m[held_out])) for e in prof.estimators],
        axis=0,
    )
    by_hand = np.sum(np.log(w * p_s + (1 - w) * np.exp(log_pb[held_out]))) - prof.loglik_zero
    assert prof.delta_loglik[1] == pytest.approx(by_hand, rel=1e-6, abs=1e-6)
    # three different seeds: three different signal models
    assert len({float(e.flow_.history_["val_loss"][-1]) for e in prof.estimators}) == 3
    with pytest.raises(ValueError, match="n_repeats"):
        w_profile(est, X, m, w_grid=[w], n_repeats=0)


# ------------------------------------------------------ cross-fitted signal fraction
def test_held_out_mixture_maximum_and_drops_are_exact():
    rng = np.random.default_rng(0)
    # 2 % of the events with p_S / p_B ~ e^4, the rest ~ e^-2
    log_ratio = np.where(rng.random(20000) < 0.02, 4.0, -2.0) + rng.normal(0, 0.5, 20000)
    ll = _HeldOutMixture(log_ratio)
    w_hat = ll.maximum(0.5)
    grid = np.linspace(1e-4, 0.1, 20001)
    brute = grid[np.argmax([ll(w) for w in grid])]
    assert w_hat == pytest.approx(brute, abs=1e-5)
    by_hand = np.sum(np.log(1 - w_hat + w_hat * np.exp(log_ratio)))
    assert ll(w_hat) == pytest.approx(by_hand, rel=1e-12)
    assert ll.slope(w_hat) == pytest.approx(0.0, abs=1e-6)
    high = ll.crossing(ll(w_hat) - DROP_95, w_hat, 0.5)
    assert ll(high) == pytest.approx(ll(w_hat) - DROP_95, abs=1e-8)
    # no excess at all: the maximum is w = 0
    assert _HeldOutMixture(np.full(100, -1.0)).maximum(0.5) == 0.0


def test_w_cross_fit_likelihood_matches_the_held_out_models():
    X, m, _ = _sr_events(100, 5)
    bkg = ExactBackground()
    est = ResidualANODE(bkg, w=0.02, learn_w=True, flow=_signal_flow().set_params(max_epochs=1))
    cv = KFold(2, shuffle=True, random_state=0)
    prof = w_cross_fit(est, X, m, cv=cv, n_repeats=2, random_state=0)
    assert prof.n_eval == len(X)  # every event held out once
    log_pb = bkg.score_samples(X, m)
    assert prof.loglik_zero == pytest.approx(log_pb.sum(), rel=1e-12)
    assert len(prof.estimators) == 4
    by_hand = 0.0
    w = prof.w_hat
    for k, (_, test) in enumerate(cv.split(X)):
        models = prof.estimators[2 * k : 2 * k + 2]
        p_s = np.mean([np.exp(e.signal_log_density(X[test], m[test])) for e in models], 0)
        by_hand += np.sum(np.log(w * p_s + (1 - w) * np.exp(log_pb[test]))) - log_pb[test].sum()
    assert prof.delta_loglik_max == pytest.approx(by_hand, rel=1e-6, abs=1e-6)
    assert prof.significance == pytest.approx(np.sqrt(max(0.0, 2 * by_hand)))
    low, high = prof.interval_68
    assert low <= prof.w_hat <= high
    assert prof.delta_loglik[0] == 0 and prof.w_grid[0] == 0
    # the stored held-out ratios reproduce the likelihood
    assert prof.log_ratio.shape == (len(X),)
    again = np.sum(np.logaddexp(np.log1p(-w), np.log(w) + prof.log_ratio))
    assert again == pytest.approx(by_hand, rel=1e-6, abs=1e-6)


def test_w_cross_fit_warns_when_one_event_dominates():
    """An event where the background density (nearly) vanishes is named, not hidden."""
    X, m, _ = _sr_events(100, 5)
    X = X.copy()
    X[7, 1] = 5.0  # delta_mj of 5 TeV: the exact background density is ~0 there

    class Background(ExactBackground):
        def score_samples(self, X, m):
            with np.errstate(invalid="ignore"):  # logit of a jet mass above mjj / 2
                out = super().score_samples(X, m)
            return np.where(np.asarray(X)[:, 1] > 2.0, -1e5, out)

    est = ResidualANODE(
        Background(), w=0.02, learn_w=True, flow=_signal_flow().set_params(max_epochs=1)
    )
    with pytest.warns(UserWarning, match=r"1 event\(s\) \(first at row 7\)"):
        prof = w_cross_fit(est, X, m, cv=2, random_state=0)
    assert prof.log_ratio[7] > 1e4
    assert np.sum(prof.log_ratio > 100) == 1


def test_w_cross_fit_rejects_bad_input():
    X, m, _ = _sr_events(0, 0)
    est = ResidualANODE(ExactBackground(), flow=_signal_flow())
    with pytest.raises(ValueError, match="at least 2 folds"):
        w_cross_fit(est, X, m, cv=1)
    with pytest.raises(ValueError, match="exactly once"):
        w_cross_fit(est, X, m, cv=ShuffleSplit(2, test_size=0.3, random_state=0))
    with pytest.raises(ValueError, match="n_repeats"):
        w_cross_fit(est, X, m, n_repeats=0)
    with pytest.raises(ValueError, match="w_max"):
        w_cross_fit(est, X, m, w_max=1.0)
    with pytest.raises(ValueError, match="ResidualANODE-like"):
        w_cross_fit(ConditionalFlowDensity(), X, m)
    with pytest.raises(ValueError, match="fitted background"):
        w_cross_fit(ResidualANODE(), X, m)


@pytest.mark.slow
def test_w_cross_fit_finds_a_planted_signal():
    X, m, y = _sr_events(300, 3)
    w_true = y.mean()  # about 0.018
    est = ResidualANODE(ExactBackground(), w=0.01, learn_w=True, flow=_signal_flow())
    prof = w_cross_fit(est, X, m, cv=3, random_state=0)
    # measured on three data sets: 1.05, 0.94 and 1.07 times the truth
    assert prof.w_hat == pytest.approx(w_true, rel=0.2), (prof.w_hat, w_true)
    assert prof.covers(w_true, 95)
    assert prof.significance > 3
    assert prof.interval_95[0] > 0
    # the 68 % interval is the drop of 0.5 from the maximum (concave profile)
    assert prof.interval_68[1] - prof.interval_68[0] < prof.interval_95[1] - prof.interval_95[0]
    assert DROP_68 == 0.5


@pytest.mark.slow
def test_w_cross_fit_without_signal_is_compatible_with_zero():
    X, m, _ = _sr_events(0, 2)
    est = ResidualANODE(ExactBackground(), w=0.01, learn_w=True, flow=_signal_flow())
    prof = w_cross_fit(est, X, m, cv=3, random_state=0)
    assert prof.significance < 2.0
    assert prof.interval_95[0] == 0.0
    assert prof.interval_95[1] < 0.02


# ---------------------------------------------------------------- bump hunt
def _bump_events(n_signal, seed):
    d = make_lhco_like(n_background=200_000, n_signal=n_signal, random_state=seed)
    # a mass-independent, truth-informed score: signal jets are two-pronged
    score = -(d["tau21_min"] + d["tau21_max"]).to_numpy()
    return score, d["mjj"].to_numpy()


def test_bump_hunt_finds_a_strong_signal():
    score, m = _bump_events(1500, 0)
    res = enhanced_bump_hunt(score, m, signal_region=SR, efficiency=0.05)
    assert res.sideband_efficiency == pytest.approx(0.05, abs=1e-3)
    assert res.n_observed > res.expected
    assert res.significance > 5


@pytest.mark.parametrize("seed", [1, 2])
def test_bump_hunt_without_signal_is_compatible_with_background(seed):
    score, m = _bump_events(0, seed)
    res = enhanced_bump_hunt(score, m, signal_region=SR, efficiency=0.05)
    assert abs(res.significance) < 3
    plain = enhanced_bump_hunt(score, m, signal_region=SR, threshold=-np.inf)
    assert plain.n_selected == len(m)


def test_bump_hunt_rejects_bad_input():
    score, m = _bump_events(0, 3)
    with pytest.raises(ValueError, match="finite"):
        enhanced_bump_hunt(np.r_[np.nan, score[1:]], m, signal_region=SR)
    with pytest.raises(ValueError, match="efficiency"):
        enhanced_bump_hunt(score, m, signal_region=SR, efficiency=0.0)
    with pytest.raises(ValueError, match="same length"):
        enhanced_bump_hunt(score[:-1], m, signal_region=SR)
    with pytest.raises(ValueError, match="too few"):
        enhanced_bump_hunt(score, m, signal_region=SR, threshold=1e9)


# ------------------------------------------------ background-model uncertainty
def _tilted_templates(seed, *, w=0.02, n=20000, n_templates=3, tau=0.15):
    """Exact signal density; backgrounds off by a normalised tilt exp(d x - d^2 / 2)."""
    from scipy.stats import norm

    from skranode.utils._math import log_mean_exp

    rng = np.random.default_rng(seed)
    n_sig = rng.binomial(n, w)
    x = np.r_[rng.normal(0, 1, n - n_sig), rng.normal(2.5, 0.3, n_sig)]
    log_ps = norm.logpdf(x, 2.5, 0.3)
    d = rng.normal(0, tau, n_templates)
    log_pb = norm.logpdf(x[None], 0, 1) + d[:, None] * x[None] - d[:, None] ** 2 / 2
    return n_sig / n, log_ps - log_mean_exp(log_pb, axis=0), log_ps - log_pb


def test_background_spread_restores_coverage_of_exchangeable_templates():
    from skranode.stats import mixture_profile, with_background_spread

    stat, total = [], []
    for seed in range(200):
        w, nominal, templates = _tilted_templates(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prof = mixture_profile(nominal)
            wide = with_background_spread(prof, templates)
        stat.append(prof.covers(w))
        total.append(wide.covers(w))
        assert wide.interval_95[0] <= prof.interval_95[0] <= prof.interval_95[1]
        assert prof.interval_95[1] <= wide.interval_95[1]
        assert wide.upper_limit_95 >= prof.upper_limit_95
        assert wide.significance <= prof.significance + 1e-12
    # measured: 0.48 statistical only, 0.95 with the spread
    assert np.mean(stat) < 0.7
    assert np.mean(total) >= 0.9


def test_background_spread_formula_and_identical_templates():
    from skranode.stats import mixture_profile, with_background_spread

    w, nominal, templates = _tilted_templates(0, tau=0.3)
    prof = mixture_profile(nominal)
    same = with_background_spread(prof, np.stack([nominal, nominal]))
    assert same.w_std_background == 0
    np.testing.assert_allclose(same.interval_95, prof.interval_95)
    assert same.significance == pytest.approx(prof.significance)
    wide = with_background_spread(prof, templates)
    w_hats = [mixture_profile(t).w_hat for t in templates]
    sigma = np.std(w_hats, ddof=1)
    assert wide.w_std_background == pytest.approx(sigma)
    np.testing.assert_allclose(wide.w_hat_templates, w_hats, rtol=1e-6)
    lo, hi = prof.interval_95
    z = 1.959963984540054
    assert wide.interval_95[1] == pytest.approx(prof.w_hat + np.hypot(hi - prof.w_hat, z * sigma))
    expected_low = max(0.0, prof.w_hat - np.hypot(prof.w_hat - lo, z * sigma))
    assert wide.interval_95[0] == pytest.approx(expected_low)
    sigma_stat = prof.w_hat / prof.significance
    assert wide.significance == pytest.approx(prof.w_hat / np.hypot(sigma_stat, sigma))
    assert wide.interval_95_statistical == prof.interval_95
    assert wide.significance_statistical == prof.significance
    assert wide.w_hat == prof.w_hat
    # a spurious-signal term adds in quadrature to the template spread
    spur = with_background_spread(prof, templates, spurious=0.004)
    assert spur.w_std_background == pytest.approx(np.hypot(sigma, 0.004))
    assert spur.interval_95[1] > wide.interval_95[1]


def test_signal_model_spread_restores_coverage_of_exchangeable_signal_models():
    """Signal models off by a random shift: their spread widens the interval to cover."""
    from scipy.stats import norm

    from skranode.stats import mixture_profile, with_background_spread
    from skranode.utils._math import log_mean_exp

    stat, total = [], []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        n_sig = rng.binomial(5000, 0.04)
        x = np.r_[rng.normal(0, 1, 5000 - n_sig), rng.normal(2.5, 0.3, n_sig)]
        log_pb = norm.logpdf(x, 0, 1)
        starts = norm.logpdf(x[None], 2.5 + rng.normal(0, 0.6, (3, 1)), 0.3) - log_pb
        nominal = log_mean_exp(starts, axis=0)  # the models' average density
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prof = mixture_profile(nominal)
            sigma = np.std([mixture_profile(row).w_hat for row in starts], ddof=1)
            wide = with_background_spread(prof, np.stack([nominal, nominal]), signal_model=sigma)
        assert wide.w_std_background == 0
        assert wide.w_std_signal_model == pytest.approx(sigma)
        stat.append(prof.covers(n_sig / 5000))
        total.append(wide.covers(n_sig / 5000))
    # measured: 0.50 statistical only, 0.93 with the signal-model spread
    assert np.mean(stat) < 0.75
    assert np.mean(total) >= 0.9


def test_signal_model_part_adds_in_quadrature():
    from skranode.stats import mixture_profile, with_background_spread

    _, nominal, templates = _tilted_templates(2, tau=0.3)
    prof = mixture_profile(nominal)
    both = with_background_spread(prof, templates, spurious=0.002, signal_model=0.003)
    background = with_background_spread(prof, templates, spurious=0.002)
    assert both.w_std_background == pytest.approx(background.w_std_background)
    total = np.hypot(background.w_std_background, 0.003)
    hi = prof.interval_95[1]
    assert both.interval_95[1] == pytest.approx(
        prof.w_hat + np.hypot(hi - prof.w_hat, 1.959963984540054 * total)
    )
    assert both.significance == pytest.approx(
        prof.w_hat / np.hypot(prof.w_hat / prof.significance, total)
    )
    with pytest.raises(ValueError, match="signal_model must be"):
        with_background_spread(prof, templates, signal_model=np.nan)


def test_background_spread_bad_input():
    from skranode.stats import mixture_profile, with_background_spread

    _, nominal, templates = _tilted_templates(1)
    prof = mixture_profile(nominal)
    with pytest.raises(ValueError, match="at least two templates"):
        with_background_spread(prof, templates[:1])
    with pytest.raises(ValueError, match="spurious must be"):
        with_background_spread(prof, templates, spurious=-0.1)
    with pytest.raises(ValueError, match="same held-out events"):
        with_background_spread(prof, templates[:, :-1])
    bad = templates.copy()
    bad[0, 3] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        with_background_spread(prof, bad)


def test_mixture_w_hat_is_the_maximum_of_the_profile():
    from skranode.stats import mixture_profile, mixture_w_hat

    w, nominal, _ = _tilted_templates(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof = mixture_profile(nominal)
    assert mixture_w_hat(nominal) == pytest.approx(prof.w_hat, rel=1e-6)
    assert abs(mixture_w_hat(nominal) - w) < 0.01  # exact densities: near the truth
    assert mixture_w_hat(nominal, w_max=0.001) == 0.001  # cut at w_max
    assert mixture_w_hat(np.full(100, -5.0)) == 0.0  # no event favours the signal
    with pytest.raises(ValueError, match="finite"):
        mixture_w_hat(np.r_[nominal[:5], np.nan])
    with pytest.raises(ValueError, match="w_max"):
        mixture_w_hat(nominal, w_max=1.0)


def test_wprofile_repr_shows_the_numbers_not_the_curves():
    from skranode.stats import WProfile

    grid = np.linspace(0.0, 0.5, 201)
    prof = WProfile(grid, -grid, -2 * grid, 0.01, 3.0, (0.0, 0.02), (0.0, 0.03), 2.4, 100, -5.0)
    text = repr(prof)
    assert "w_hat=0.01" in text and "interval_95=(0.0, 0.03)" in text
    assert "array" not in text and len(text) < 600
