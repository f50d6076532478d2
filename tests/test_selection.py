"""The bump hunt's selection does not sculpt the mass spectrum (issue 43).

With exact densities: 1M background-only LHCO-like events, the window
3.3-3.7 TeV with 0.4 TeV sidebands, and the signal model replaced by what it
approaches without signal, the background of the signal region. A cut on the
likelihood ratio at the event's own mass makes a bump (or a dip) far beyond
10 sigma; the scan's selection (the score at the window centre, with the
threshold that follows the mass) keeps the same fraction at every mass and
finds nothing.
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from skranode.datasets import LHCOLikeBackgroundDensity, make_lhco_like
from skranode.datasets._synthetic import dijet_pdf
from skranode.mass_window import MassWindow
from skranode.presets import SCAN_PRESETS
from skranode.stats import (
    cut_at_efficiency,
    fit_mass_quantile,
    selection_flatness,
    window_bump_hunt,
)

FEATS = ["mjmin", "delta_mj", "tau21_min", "tau21_max"]
WINDOW = MassWindow(3.3, 3.7, 2.9, 4.1)
DENSITY = LHCOLikeBackgroundDensity()
# the signal-region background: p_B(x | m) averaged over the signal region's masses
GRID = np.linspace(3.3, 3.7, 17)[:-1] + 0.0125
LOG_WEIGHTS = np.log(dijet_pdf(GRID)) - logsumexp(np.log(dijet_pdf(GRID)))


def log_signal_region_background(X):
    parts = [DENSITY.score_samples(X, np.full(len(X), g)) for g in GRID]
    return logsumexp(np.stack(parts) + LOG_WEIGHTS[:, None], axis=0)


def at(X, mass):
    return DENSITY.score_samples(X, np.full(len(X), mass))


@pytest.fixture(scope="module")
def null_window():
    df = make_lhco_like(n_background=1_000_000, n_signal=0, random_state=0)
    m = df["mjj"].to_numpy()
    inside = WINDOW.in_range(m)
    X, m = df[FEATS].to_numpy()[inside], m[inside]
    return X, m, WINDOW.in_signal_region(m), log_signal_region_background(X)


def test_a_cut_on_the_ratio_at_the_event_mass_makes_a_bump(null_window):
    """What the scan did: ``log p_S(x | m_c) - log p_B(x | m)``, one threshold."""
    X, m, sr, log_ps = null_window
    score = log_ps - DENSITY.score_samples(X, m)
    bump = window_bump_hunt(score, m, sr, WINDOW, efficiency=0.02)
    assert abs(bump.significance) > 10
    assert bump.flatness.p_value < 1e-10
    kept = bump.cut.selected
    assert kept[(m >= 2.9) & (m < 3.1)].mean() > 0.02 > 10 * kept[sr].mean()


def test_the_scan_selection_keeps_the_background_flat_and_finds_nothing(null_window):
    X, m, sr, log_ps = null_window
    score = log_ps - at(X, WINDOW.center)  # the scan's selection_score, exact densities
    # one global threshold on it still sculpts (the jet masses grow with mjj) ...
    plain = window_bump_hunt(score, m, sr, WINDOW, efficiency=0.02)
    assert plain.flatness.p_value < 1e-6
    # ... the threshold that follows the mass, from background events drawn at
    # masses uniform over the window (as each fold of the scan does, as many as
    # the window's events), does not
    n = max(SCAN_PRESETS["default"].selection_samples, m.size)
    for seed in range(2):
        rng = np.random.default_rng(seed)
        drawn_m = rng.uniform(*WINDOW.sideband, n)
        drawn = DENSITY.sample(drawn_m, random_state=rng)
        drawn_score = log_signal_region_background(drawn) - at(drawn, WINDOW.center)
        # an exact density vanishes where a jet is heavier than m / 2: no learned model does
        keep = np.isfinite(drawn_score) | np.isneginf(drawn_score)
        curve = fit_mass_quantile(drawn_score[keep], drawn_m[keep], 0.02, WINDOW.sideband)
        bump = window_bump_hunt(score, m, sr, WINDOW, efficiency=0.02, baseline=curve(m))
        assert abs(bump.significance) < 2, seed
        assert bump.flatness.p_value > 0.01, seed  # the sidebands: what data can check
        everywhere = selection_flatness(bump.cut.selected, m, np.ones(m.size, bool), n_bins=12)
        assert np.all(np.abs(everywhere.fraction / 0.02 - 1) < 0.12), everywhere.fraction
        assert abs(bump.cut.selected[sr].mean() / 0.02 - 1) < 0.08


def test_fit_mass_quantile_follows_a_known_quantile_and_stays_low_degree():
    rng = np.random.default_rng(1)
    mass = rng.uniform(3.0, 4.0, 60_000)
    # scores normal around a parabola in mass: the 98 % quantile is the parabola + 2.054
    centre = 0.5 + 2.0 * (mass - 3.5) ** 2
    scores = centre + rng.standard_normal(mass.size)
    curve = fit_mass_quantile(scores, mass, 0.02, (3.0, 4.0))
    grid = np.linspace(3.0, 4.0, 11)
    assert np.allclose(curve(grid), 0.5 + 2.0 * (grid - 3.5) ** 2 + 2.0537, atol=0.08)
    assert curve.degree == 2
    # no dependence on the mass: the ladder stops at a constant (or a line)
    flat = fit_mass_quantile(rng.standard_normal(mass.size), mass, 0.02, (3.0, 4.0))
    assert flat.degree <= 1 and np.ptp(flat(grid)) < 0.1
    passing = scores - curve(mass) >= 0
    assert abs(passing.mean() - 0.02) < 0.003
    with pytest.raises(ValueError, match="too few to fit"):
        fit_mass_quantile(scores[:1000], mass[:1000], 0.02, (3.0, 4.0))
    with pytest.raises(ValueError, match="never NaN"):
        fit_mass_quantile(np.where(mass > 3.9, np.nan, scores), mass, 0.02, (3.0, 4.0))


def test_cut_with_a_baseline_keeps_the_asked_fraction_of_the_reference():
    rng = np.random.default_rng(2)
    scores, baseline = rng.standard_normal(10_000), rng.standard_normal(10_000)
    reference = rng.random(10_000) < 0.5
    cut = cut_at_efficiency(scores, reference, 0.1, baseline=baseline)
    assert cut.achieved_efficiency == pytest.approx(0.1, abs=0.002)
    assert np.array_equal(cut.selected, scores - baseline >= cut.threshold)


def test_selection_flatness_tells_a_slope_from_noise():
    rng = np.random.default_rng(3)
    mass = rng.uniform(2.9, 4.1, 200_000)
    side = (mass < 3.3) | (mass >= 3.7)
    flat = selection_flatness(rng.random(mass.size) < 0.02, mass, side, split_at=(3.3, 3.7))
    assert flat.flat and flat.dof == flat.n_events.size - 1 and flat.note() is None
    assert np.all(flat.high <= 3.3 + 1e-9) or np.all((flat.low >= 3.7 - 1e-9) | (flat.high <= 3.3))
    sloped = rng.random(mass.size) < 0.02 * (1 + 0.3 * (mass - 3.5))
    tilted = selection_flatness(sloped, mass, side, split_at=(3.3, 3.7))
    assert not tilted.flat and "sculpts the mass spectrum" in tilted.note()


def test_a_resonance_in_the_sidebands_does_not_read_as_sculpting():
    """A peak of 5 % width leaks a quarter of its events into the sidebands."""
    rng = np.random.default_rng(4)
    window = MassWindow(3.3, 3.7, 2.9, 4.1)
    background = rng.uniform(2.9, 4.1, 300_000)
    peak = rng.normal(3.5, 0.175, 1_500)
    mass = np.r_[background, peak[window.in_range(peak)]]
    selected = np.r_[rng.random(background.size) < 0.02, np.ones(mass.size - background.size, bool)]
    side = ~window.in_signal_region(mass)
    leaked = selection_flatness(selected, mass, side, split_at=window.bounds)
    assert not leaked.flat  # the selected signal in the inner sideband bins
    n_fit = selected.sum() - 0.02 * background.size
    fitted = selection_flatness(
        selected, mass, side, split_at=window.bounds, peak=(n_fit, 3.5, 0.175)
    )
    assert fitted.flat and np.all(np.abs(fitted.fraction / 0.02 - 1) < 0.2)


def test_enhanced_bump_hunt_reports_flatness_and_takes_a_baseline():
    from skranode.bump_hunt import enhanced_bump_hunt

    rng = np.random.default_rng(5)
    m = 2.8 + rng.exponential(0.5, 200_000)
    m = m[m < 5]
    noise = rng.standard_normal(m.size)
    flat = enhanced_bump_hunt(noise, m, signal_region=(3.3, 3.7), efficiency=0.05)
    assert flat.flatness.p_value > 0.01
    tilted = enhanced_bump_hunt(noise + 2 * (m - 3.5), m, signal_region=(3.3, 3.7), efficiency=0.05)
    assert tilted.flatness.p_value < 1e-6  # a score that grows with the mass
    fixed = enhanced_bump_hunt(
        noise + 2 * (m - 3.5), m, signal_region=(3.3, 3.7), efficiency=0.05,
        baseline=2 * (m - 3.5),
    )
    assert fixed.flatness.p_value == pytest.approx(flat.flatness.p_value)
    assert fixed.significance == pytest.approx(flat.significance)
    with pytest.raises(ValueError, match="one finite threshold per event"):
        enhanced_bump_hunt(noise, m, signal_region=(3.3, 3.7), baseline=np.zeros(3))


def test_sideband_tilt_levels_the_two_sidebands():
    from skranode.stats import sideband_tilt

    rng = np.random.default_rng(6)
    m = rng.uniform(2.9, 4.1, 300_000)
    low, high = m < 3.3, m >= 3.7
    scores = rng.standard_normal(m.size) + 0.5 * (m - 3.5)  # a threshold half a unit off per TeV
    slope = sideband_tilt(scores, m, low, high, 0.02, 3.5)
    assert slope == pytest.approx(0.5, abs=0.08)
    kept = cut_at_efficiency(scores, low | high, 0.02, baseline=slope * (m - 3.5)).selected
    assert kept[low].mean() == pytest.approx(kept[high].mean(), rel=0.05)
    assert kept[~(low | high)].mean() == pytest.approx(0.02, rel=0.1)  # the signal region
    assert sideband_tilt(scores, m, low, np.zeros(m.size, bool), 0.02, 3.5) == 0.0
