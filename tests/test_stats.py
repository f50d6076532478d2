"""skranode.stats on exact inputs: the cut rule, the window bump hunt, its toys, the LEE."""

import numpy as np
import pytest
from scipy.stats import norm

from skranode.mass_window import MassWindow
from skranode.stats import (
    cut_at_efficiency,
    fit_peak,
    global_significance,
    toy_null,
    widened_significance,
    window_bump_hunt,
)

WINDOW = MassWindow(3.3, 3.7, 2.9, 4.1)


def _spectrum(rng, n_background, n_signal=0, mass=3.5, width=0.175):
    """Falling dijet-like masses over the window and its sidebands, plus a Gaussian peak."""
    m = 2.8 * (1.0 + rng.pareto(7.0, size=4 * n_background))
    m = m[(m >= WINDOW.sideband_low) & (m < WINDOW.sideband_high)][:n_background]
    return np.r_[m, rng.normal(mass, width, n_signal)]


def test_the_cut_keeps_the_asked_fraction_of_the_reference_events():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=100_000)
    reference = rng.random(scores.size) < 0.7
    for eff in (0.5, 0.02, 0.001):
        cut = cut_at_efficiency(scores, reference, eff)
        assert cut.achieved_efficiency == pytest.approx(eff, abs=1.5 / cut.n_reference)
        assert not cut.tied
        assert cut.selected.sum() == np.sum(scores >= cut.threshold)
    everything = cut_at_efficiency(scores, reference, 1)
    assert everything.selected.all() and everything.threshold == -np.inf


def test_a_tied_score_is_flagged_not_hidden():
    scores = np.r_[np.zeros(900), np.linspace(1, 2, 100)]  # 90 % of the events tie at 0
    cut = cut_at_efficiency(scores, np.ones(scores.size, bool), 0.5)
    assert cut.tied and cut.achieved_efficiency == 1.0
    assert "tied at the cut" in cut.tie_note()
    # a few extra tied events on a small sample are not a tie (the + 5 of the rule)
    small = cut_at_efficiency(np.r_[np.zeros(4), np.arange(96.0)], np.ones(100, bool), 0.02)
    assert not small.tied


def test_widened_significance_adds_the_yield_spread_in_quadrature():
    assert widened_significance(4.0, 200.0, 0.0) == pytest.approx(4.0)
    # statistical std 50 (= 200 / 4), template std 50: sqrt(2) times the std
    assert widened_significance(4.0, 200.0, 50.0) == pytest.approx(4.0 / np.sqrt(2))
    assert widened_significance(0.0, 200.0, 50.0) == 0.0


def test_the_window_bump_hunt_finds_a_peak_that_the_score_selects():
    rng = np.random.default_rng(1)
    m = _spectrum(rng, 60_000, n_signal=400)
    signal = np.r_[np.zeros(m.size - 400, bool), np.ones(400, bool)]
    scores = rng.normal(size=m.size) + 4.0 * signal  # the signal scores high
    sr = WINDOW.in_signal_region(m)
    bump = window_bump_hunt(scores, m, sr, WINDOW, efficiency=0.02)
    assert bump.cut.achieved_efficiency == pytest.approx(0.02, abs=1e-3)
    assert bump.significance > 5
    assert bump.significance == bump.significance_statistical  # no templates
    assert bump.fit.n_signal == pytest.approx(bump.cut.selected[signal].sum(), rel=0.25)
    # background-template scores that move the signal region widen it
    templates = scores[sr][None, :] + rng.normal(0.0, 1.0, size=(3, int(sr.sum())))
    widened = window_bump_hunt(scores, m, sr, WINDOW, efficiency=0.02, templates=templates)
    assert widened.n_signal_std_background > 0
    assert widened.significance < widened.significance_statistical


def test_without_signal_the_bump_hunt_of_a_random_cut_is_standard_normal():
    rng = np.random.default_rng(2)
    z = []
    for _ in range(40):
        m = _spectrum(rng, 40_000)
        sr = WINDOW.in_signal_region(m)
        z.append(window_bump_hunt(rng.normal(size=m.size), m, sr, WINDOW, efficiency=0.1)
                 .significance)
    assert abs(np.mean(z)) < 0.5 and 0.6 < np.std(z) < 1.5


def test_the_toys_give_a_p_value_consistent_with_the_asymptotic_one():
    rng = np.random.default_rng(3)
    m = _spectrum(rng, 20_000, n_signal=150)
    sr = WINDOW.in_signal_region(m)
    bump = window_bump_hunt(np.zeros(m.size), m, sr, WINDOW, efficiency=0.999)
    null = toy_null(bump, WINDOW, 0.05, n_toys=200, random_state=0)
    assert null.n_toys == 200 and 150 <= null.n_fitted <= 200
    assert null.resolves_below == pytest.approx(1 / (1 + null.n_fitted))
    assert abs(null.z_mean) < 0.5 and 0.6 < null.z_std < 1.5
    assert 0 < null.p_value <= 1 and null.significance == pytest.approx(norm.isf(null.p_value))


def test_the_peak_fit_is_the_bump_hunts_own():
    rng = np.random.default_rng(4)
    m = _spectrum(rng, 20_000, n_signal=1500)
    fit = fit_peak(m, WINDOW, 0.05)
    assert fit.n_events == np.sum((m >= 2.9) & (m < 4.1))
    assert fit.significance > 5 and fit.n_signal == pytest.approx(1500, rel=0.2)


def test_the_global_p_value_follows_the_correlation_of_the_windows():
    rng = np.random.default_rng(5)
    z_local = np.array([0.0, 0.5, 2.5, 0.1])
    one = global_significance(z_local[2:3], None, n_pseudo=1000, rng=rng)
    assert one.p_value == pytest.approx(norm.sf(2.5)) and one.correlation.shape == (1, 1)
    independent = global_significance(
        z_local, rng.normal(size=(2000, 4)), n_pseudo=200_000, rng=rng
    )
    sidak = 1 - (1 - norm.sf(2.5)) ** 4
    assert independent.p_value == pytest.approx(sidak, rel=0.08)
    same = np.repeat(rng.normal(size=(2000, 1)), 4, axis=1)
    correlated = global_significance(z_local, same, n_pseudo=200_000, rng=rng)
    assert correlated.p_value == pytest.approx(norm.sf(2.5), rel=0.08)
    assert correlated.significance > independent.significance
    # beyond the pseudo-experiments' reach: the Bonferroni bound
    far = global_significance(np.array([7.0, 0.0]), rng.normal(size=(500, 2)), n_pseudo=1000,
                              rng=rng)
    assert far.p_value == pytest.approx(2 * norm.sf(7.0)) and "Bonferroni" in far.method
