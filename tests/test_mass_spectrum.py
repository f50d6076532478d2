"""Tests for skranode.mass_spectrum: the sideband fit of the dijet mass spectrum."""

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.integrate import cumulative_trapezoid, quad
from scipy.optimize import minimize_scalar
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skranode.mass_spectrum import DijetMassSpectrum, bump_hunt_significance

SQRT_S = 13.0
LO, HI = 2.8, 7.0
SR = (3.3, 3.7)
# A 4-parameter dijet shape with LHCO-like numbers: about 12 % of the events of
# 2.8-7 TeV fall in the 3.3-3.7 TeV signal region.
TRUE_PARAMS = np.array([10.0, 10.0, 0.5])
TRUE_PARAMS_3 = np.array([10.0, 8.0])


def dijet_shape(m, params):
    """Unnormalised dijet function (1 - x)^p1 / x^(p2 + p3 ln x + ...), x = m / sqrt(s)."""
    x = np.asarray(m, dtype=np.float64) / SQRT_S
    log_x = np.log(x)
    exponent = sum(p * log_x**k for k, p in enumerate(params[1:]))
    return (1.0 - x) ** params[0] * np.exp(-exponent * log_x)


class Generator:
    """Inverse-CDF sampling of the dijet shape, from its CDF tabulated on a fine grid."""

    def __init__(self, params, lo=LO, hi=HI):
        self.grid = np.linspace(lo, hi, 200_001)
        cdf = cumulative_trapezoid(dijet_shape(self.grid, params), self.grid, initial=0.0)
        self.cdf = cdf / cdf[-1]

    def fraction(self, a, b):
        return float(np.diff(np.interp([a, b], self.grid, self.cdf))[0])

    def sample(self, n, rng):
        return np.interp(rng.random(n), self.cdf, self.grid)


GEN4 = Generator(TRUE_PARAMS)
GEN3 = Generator(TRUE_PARAMS_3)


def _toy(mean_count, seed, gen=GEN4):
    """A toy with a Poisson number of events, so sideband and SR counts are independent."""
    rng = np.random.default_rng(seed)
    return gen.sample(rng.poisson(mean_count), rng)


def test_truth_is_lhco_like():
    assert GEN4.fraction(*SR) == pytest.approx(0.12, abs=0.005)


def test_recovers_signal_region_count():
    nu = 100_000
    m = _toy(nu, seed=0)
    spec = DijetMassSpectrum(mass_range=(LO, HI)).fit(m)
    mean, std = spec.expected_count()
    true_sr = nu * GEN4.fraction(*SR)
    assert abs(mean - true_sr) < 3 * std
    # the observed SR count agrees too, within Poisson and prediction uncertainty
    assert abs(spec.n_signal_region_ - mean) < 3 * np.sqrt(mean + std**2)
    # interpolation uncertainty is a fraction of a percent of the SR count here
    assert 0.002 < std / mean < 0.02
    assert spec.n_sideband_ + spec.n_signal_region_ == m.size
    assert spec.params_.shape == (3,)
    assert spec.covariance_.shape == (3, 3)
    assert np.all(np.linalg.eigvalsh(spec.covariance_) > 0)


@pytest.mark.parametrize("n_params, gen", [(4, GEN4), (3, GEN3)])
def test_pull_distribution_has_unit_width(n_params, gen):
    # Over 300 toys of this kind (measured while writing this test) the pulls of
    # the predicted SR count had mean 0.01 and width 1.03 (4 parameters, 100k
    # events) and 0.11 / 0.97 (20k events); 30 toys keep the test fast.
    nu = 20_000
    true_sr = nu * gen.fraction(*SR)
    pulls = []
    for seed in range(30):
        spec = DijetMassSpectrum(mass_range=(LO, HI), n_params=n_params).fit(
            _toy(nu, seed=100 + seed, gen=gen)
        )
        mean, std = spec.expected_count()
        pulls.append((mean - true_sr) / std)
    pulls = np.asarray(pulls)
    assert np.all(np.abs(pulls) < 4)
    assert abs(pulls.mean()) < 0.6
    assert 0.6 < pulls.std(ddof=1) < 1.5


def test_parameters_and_covariance_are_consistent_with_truth():
    # chi2 of the fitted shape parameters against the truth, with the fitted covariance
    chi2 = []
    for seed in range(20):
        spec = DijetMassSpectrum(mass_range=(LO, HI), n_params=3).fit(
            _toy(20_000, seed=200 + seed, gen=GEN3)
        )
        d = spec.params_ - TRUE_PARAMS_3
        chi2.append(d @ np.linalg.solve(spec.covariance_, d))
    # 2 degrees of freedom: mean 2 (20 toys: 0.75 < mean < 4 fails with p ~ 1e-4)
    assert np.max(chi2) < stats.chi2.ppf(0.9999, 2)
    assert 0.75 < np.mean(chi2) < 4.0


def _sr_to_sideband_ratio(params, mass_range=(LO, HI), n=20_001):
    """Integral of the shape over the SR divided by that over the sidebands (trapezoid)."""
    pieces = [(mass_range[0], SR[0]), SR, (SR[1], mass_range[1])]
    low, sr, high = (
        np.trapezoid(dijet_shape(g, params), g) for g in (np.linspace(a, b, n) for a, b in pieces)
    )
    return sr / (low + high)


def test_delta_method_matches_parameter_sampling():
    spec = DijetMassSpectrum(mass_range=(LO, HI)).fit(_toy(50_000, seed=3))
    mean, std = spec.expected_count()
    n_sb = spec.n_sideband_
    assert n_sb * _sr_to_sideband_ratio(spec.params_) == pytest.approx(mean, rel=1e-6)
    rng = np.random.default_rng(4)
    draws = rng.multivariate_normal(spec.params_, spec.covariance_, size=400)
    counts = n_sb * np.array([_sr_to_sideband_ratio(p, n=2001) for p in draws])
    sampled_std = np.sqrt(counts.std() ** 2 + mean**2 / n_sb)
    assert np.median(counts) == pytest.approx(mean, abs=0.2 * std)
    assert sampled_std == pytest.approx(std, rel=0.15)


@pytest.mark.parametrize("window", [None, SR, (3.0, 5.0), (3.0, 3.3)])
def test_log_pdf_integrates_to_one(window):
    spec = DijetMassSpectrum().fit(_toy(20_000, seed=5))
    a, b = spec.mass_range_ if window is None else window

    def density(x):
        return np.exp(spec.log_pdf([x], window=window)[0])

    total, _ = quad(density, a, b, points=[SR[0], SR[1]] if a < SR[0] < b else None)
    assert total == pytest.approx(1.0, abs=1e-7)


def test_log_pdf_values_and_outside_rule():
    m = _toy(20_000, seed=6)
    spec = DijetMassSpectrum().fit(m)
    assert spec.mass_range_ == (m.min(), m.max())
    inside = np.array([m.min(), 3.0, 3.3, 3.5, 3.7, m.max()])
    full = spec.log_pdf(inside)
    assert np.all(np.isfinite(full))
    # normalising over the SR only shifts log p by -log(fraction of the shape in the SR)
    in_sr = spec.log_pdf([3.3, 3.4, 3.5, 3.7], window=SR)
    shift = in_sr - spec.log_pdf([3.3, 3.4, 3.5, 3.7])
    assert_allclose(shift, shift[0])
    fraction_sr = spec.expected_count()[0] / spec.expected_count(spec.mass_range_)[0]
    assert shift[0] == pytest.approx(-np.log(fraction_sr))
    # outside the window the restricted density is zero
    out = spec.log_pdf([2.0, 3.29, 3.71, 8.0], window=SR)
    assert_array_equal(out, -np.inf)
    assert spec.log_pdf([m.min() - 0.1, m.max() + 0.1])[0] == -np.inf
    # the spectrum is falling and the shape matches the truth up to a constant
    grid = np.linspace(3.0, 6.0, 7)
    assert np.all(np.diff(spec.log_pdf(grid)) < 0)
    # the shape matches the truth up to a constant, within the fitted uncertainty
    # of log f(m) - log f(m0) = params . (T(m) - T(m0))
    grid = np.linspace(2.9, 6.0, 8)
    diff = spec.log_pdf(grid) - np.log(dijet_shape(grid, TRUE_PARAMS))
    log_x = np.log(grid / SQRT_S)
    T = np.column_stack([np.log1p(-grid / SQRT_S), -log_x, -(log_x**2)])
    d = T - T[0]
    sigma = np.sqrt(np.einsum("ij,jk,ik->i", d, spec.covariance_, d))
    assert np.all(np.abs(diff - diff[0]) <= 4 * sigma + 1e-9)
    assert sigma[-1] > 10 * sigma[1]  # far from the bulk the shape is much less certain


def test_planted_bump_does_not_bias_the_fit():
    rng = np.random.default_rng(7)
    m_bkg = _toy(50_000, seed=8)
    bump = rng.normal(3.5, 0.04, 3000)
    bump = bump[(bump > SR[0]) & (bump < SR[1])]
    m_all = rng.permutation(np.r_[m_bkg, bump])
    ref = DijetMassSpectrum().fit(m_bkg)
    spec = DijetMassSpectrum().fit(m_all)
    # the SR events never enter the fit: identical parameters and prediction
    # (up to the order of summation and the optimizer's tolerance)
    assert_allclose(spec.params_, ref.params_, rtol=1e-6)
    assert_allclose(spec.expected_count(), ref.expected_count(), rtol=1e-6)
    assert spec.n_signal_region_ == ref.n_signal_region_ + bump.size
    mean, std = spec.expected_count()
    z_bkg = bump_hunt_significance(ref.n_signal_region_, mean, std)
    z_bump = bump_hunt_significance(spec.n_signal_region_, mean, std)
    assert abs(z_bkg) < 3
    # about 2900 events over about 6000 +- 40: far beyond 5 sigma
    assert z_bump > 20


def test_bump_hunt_on_toy_after_a_cut():
    # the enhanced bump hunt: fit the spectrum of the events that pass an
    # anomaly-score cut, here a random 2 % of background plus a resonance
    rng = np.random.default_rng(9)
    m_bkg = _toy(500_000, seed=10)
    passed = m_bkg[rng.random(m_bkg.size) < 0.02]
    sig = rng.normal(3.5, 0.05, 400)
    m = np.r_[passed, sig[(sig > SR[0]) & (sig < SR[1])]]
    spec = DijetMassSpectrum().fit(m)
    mean, std = spec.expected_count()
    z = bump_hunt_significance(spec.n_signal_region_, mean, std)
    s = spec.n_signal_region_ - mean
    assert z == pytest.approx(s / np.sqrt(mean + std**2), rel=0.15)
    assert z > 5


def test_fit_time_500k_events():
    # Measured on the 2-core development machine: 0.14-0.2 s for 500k events and
    # 2.2 s for 5M (unbinned: one pass over the data computes T(m), about 0.1 s of
    # the 500k time; then about 10 Newton steps run on ~400 quadrature nodes only,
    # so binning would not pay). Not asserted.
    m = _toy(500_000, seed=11)
    start = time.perf_counter()
    spec = DijetMassSpectrum().fit(m)
    elapsed = time.perf_counter() - start
    print(f"DijetMassSpectrum.fit on {m.size} events: {elapsed:.3f} s, {spec.n_iter_} iterations")
    mean, std = spec.expected_count()
    assert abs(mean - m.size * GEN4.fraction(*SR) / 1.0) < 4 * np.hypot(std, np.sqrt(mean))


def test_input_layouts_and_no_modification():
    m = _toy(5000, seed=12)
    m.setflags(write=False)
    copy = m.copy()
    ref = DijetMassSpectrum().fit(m)
    assert_array_equal(m, copy)
    for layout in (m.reshape(-1, 1), list(m), pd.Series(m), pd.DataFrame({"mjj": m})):
        spec = DijetMassSpectrum().fit(layout)
        assert_allclose(spec.params_, ref.params_)
    q = np.array([3.4, 3.5])
    q.setflags(write=False)
    assert_allclose(ref.log_pdf(q.reshape(-1, 1)), ref.log_pdf(q))
    assert_array_equal(q, [3.4, 3.5])


def test_events_outside_mass_range_and_sr_edges():
    m = _toy(5000, seed=13)
    extra = np.r_[m, [2.0, 2.5, 7.5, 9.0]]
    spec = DijetMassSpectrum(mass_range=(LO, HI)).fit(extra)
    ref = DijetMassSpectrum(mass_range=(LO, HI)).fit(m)
    assert_allclose(spec.params_, ref.params_)
    assert spec.n_sideband_ == ref.n_sideband_
    # the MassWindow convention: an event at exactly low is in the signal
    # region, one at exactly high in the (high) sideband
    edge = DijetMassSpectrum(mass_range=(LO, HI)).fit(np.r_[m, [3.3, 3.7]])
    assert edge.n_sideband_ == ref.n_sideband_ + 1
    assert edge.n_signal_region_ == ref.n_signal_region_ + 1


def test_sklearn_api():
    spec = DijetMassSpectrum(signal_region=(3.2, 3.8), n_params=3)
    assert spec.get_params() == {
        "signal_region": (3.2, 3.8),
        "mass_range": None,
        "n_params": 3,
        "sqrt_s": 13.0,
    }
    fresh = clone(spec.set_params(n_params=5))
    assert fresh.n_params == 5
    with pytest.raises(NotFittedError):
        fresh.log_pdf([3.5])
    with pytest.raises(NotFittedError):
        fresh.expected_count()
    assert fresh.fit(_toy(20_000, seed=14), y=None) is fresh
    assert fresh.params_.shape == (4,)


def test_units_in_gev():
    m = _toy(5000, seed=15)
    tev = DijetMassSpectrum().fit(m)
    gev = DijetMassSpectrum(signal_region=(3300, 3700), sqrt_s=13000.0).fit(1000 * m)
    assert_allclose(gev.params_, tev.params_, rtol=1e-6)
    assert_allclose(gev.expected_count(), tev.expected_count(), rtol=1e-6)
    with pytest.raises(ValueError, match="sqrt_s=13000"):
        DijetMassSpectrum(signal_region=(3300, 3700)).fit(1000 * m)


@pytest.mark.parametrize(
    "kwargs, masses, match",
    [
        ({}, np.r_[np.linspace(3.8, 6, 100)], "strictly inside the mass range"),
        ({"signal_region": (7.5, 8.0)}, np.linspace(2.8, 7, 100), "strictly inside"),
        ({"mass_range": (2.0, 7.0)}, np.linspace(2.9, 7, 100), None),
        ({"mass_range": (2.8, 7.0)}, np.r_[np.linspace(3.4, 3.6, 50), 2.9, 4.0], "Only 2 sideband"),
        (
            {"mass_range": (2.8, 7.0)},
            np.r_[np.linspace(3.4, 3.6, 50), np.linspace(3.8, 6, 50)],
            "low sideband",
        ),
        (
            {"mass_range": (2.8, 7.0)},
            np.r_[np.linspace(3.4, 3.6, 50), np.linspace(2.8, 3.2, 50)],
            "high sideband",
        ),
        ({}, np.r_[np.linspace(2.8, 3.2, 10), np.linspace(3.8, 6, 10)], "Only 20 sideband"),
        ({}, np.r_[np.linspace(2.8, 7, 100), np.nan], "NaN"),
        ({}, np.r_[np.linspace(2.8, 7, 100), np.inf], "NaN or infinity"),
        ({}, np.array([]), "mass"),
        ({}, 3.5, "scalar"),
        ({}, np.ones((10, 2)), "1-D"),
        ({"signal_region": (3.7, 3.3)}, np.linspace(2.8, 7, 100), "low < high"),
        ({"signal_region": (3.5, 3.5)}, np.linspace(2.8, 7, 100), "low < high"),
        ({"signal_region": 3.5}, np.linspace(2.8, 7, 100), "pair"),
        ({"signal_region": (3.3, np.nan)}, np.linspace(2.8, 7, 100), "finite"),
        ({"mass_range": (7.0, 2.8)}, np.linspace(2.8, 7, 100), "mass_range must satisfy"),
        ({"n_params": 6}, np.linspace(2.8, 7, 100), "n_params"),
        ({"n_params": True}, np.linspace(2.8, 7, 100), "n_params"),
        ({"sqrt_s": -13.0}, np.linspace(2.8, 7, 100), "sqrt_s"),
        ({"sqrt_s": 6.0}, np.linspace(2.8, 7, 100), "sqrt_s"),
        ({}, np.r_[np.linspace(-1, 3.2, 50), np.linspace(3.8, 6, 50)], "inside \\(0, "),
        ({}, np.r_[np.full(30, 3.0), np.full(30, 4.0)], "too concentrated"),
    ],
)
def test_fit_errors(kwargs, masses, match):
    spec = DijetMassSpectrum(**kwargs)
    if match is None:  # an explicit mass_range may be wider than the data
        spec.fit(masses)
        assert spec.mass_range_ == (2.0, 7.0)
        return
    with pytest.raises(ValueError, match=match):
        spec.fit(masses)


def test_window_errors():
    spec = DijetMassSpectrum().fit(_toy(5000, seed=16))
    lo, hi = spec.mass_range_
    for window, match in [
        ((lo - 0.1, 3.5), "outside the fitted mass range"),
        ((3.5, hi + 0.1), "outside the fitted mass range"),
        ((3.5, 3.4), "low < high"),
        ("SR", "pair"),
    ]:
        with pytest.raises(ValueError, match=match):
            spec.log_pdf([3.5], window=window)
        with pytest.raises(ValueError, match=match):
            spec.expected_count(window)
    with pytest.raises(ValueError, match="NaN"):
        spec.log_pdf([3.5, np.nan])


# ---------------------------------------------------------------- bump_hunt_significance


def _profile_likelihood_z(n, b_hat, sigma):
    """Numerical on/off profile likelihood: n ~ Pois(s + b), k = tau b_hat ~ Pois(tau b)."""
    tau = b_hat / sigma**2
    k = tau * b_hat

    def nll(s, b):
        return -(stats.poisson.logpmf(n, s + b) + k * np.log(tau * b) - tau * b)

    # unconditional maximum: s_hat = n - b_hat, b_hat (analytic, but check numerically)
    best = nll(n - b_hat, b_hat)
    cond = minimize_scalar(
        lambda b: nll(0.0, b),
        bounds=(1e-9, 10 * (n + b_hat)),
        method="bounded",
        options={"xatol": 1e-10},
    )
    q0 = 2 * (cond.fun - best)
    return np.sign(n - b_hat) * np.sqrt(max(q0, 0.0))


@pytest.mark.parametrize(
    "n, b, sigma",
    [(1100, 1000.0, 30.0), (900, 1000.0, 30.0), (15, 5.0, 1.0), (3, 5.0, 2.0), (50, 40.0, 10.0)],
)
def test_significance_matches_numerical_profile_likelihood(n, b, sigma):
    assert bump_hunt_significance(n, b, sigma) == pytest.approx(
        _profile_likelihood_z(n, b, sigma), rel=1e-5
    )


def test_significance_limits():
    # no background uncertainty: the Poisson likelihood ratio
    n, b = 130, 100.0
    assert bump_hunt_significance(n, b) == pytest.approx(np.sqrt(2 * (n * np.log(n / b) - n + b)))
    assert bump_hunt_significance(n, b, 1e-9) == pytest.approx(bump_hunt_significance(n, b))
    # large counts: (n - b) / sqrt(b + sigma^2)
    n, b, sigma = 1_000_300, 1_000_000.0, 500.0
    assert bump_hunt_significance(n, b, sigma) == pytest.approx(
        300 / np.sqrt(b + sigma**2), rel=1e-3
    )
    assert bump_hunt_significance(100, 100.0, 5.0) == 0.0
    assert bump_hunt_significance(0, 5.0) == pytest.approx(-np.sqrt(10.0))
    assert np.isfinite(bump_hunt_significance(0, 5.0, 3.0))


def test_significance_broadcasts():
    z = bump_hunt_significance(np.array([90, 100, 110, 150]), 100.0, [5.0])
    assert z.shape == (4,)
    assert z[0] < 0 == z[1] < z[2] < z[3]
    assert isinstance(bump_hunt_significance(110, 100.0, 5.0), float)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(0, 10**6),
    b=st.floats(1e-3, 1e6),
    rel_sigma=st.floats(0.0, 2.0),
)
def test_significance_properties(n, b, rel_sigma):
    sigma = rel_sigma * b
    z = bump_hunt_significance(n, b, sigma)
    assert np.isfinite(z)
    assert np.sign(z) == np.sign(n - b) or z == 0.0
    # a larger background uncertainty never makes an excess more significant
    assert abs(bump_hunt_significance(n, b, 1.5 * sigma + 1e-3 * b)) <= abs(z) + 1e-9


@pytest.mark.parametrize(
    "args, match",
    [
        ((-1, 10.0, 1.0), "n_observed"),
        ((10, 0.0, 1.0), "expected must be positive"),
        ((10, 10.0, -1.0), "expected_std"),
        ((np.nan, 10.0, 1.0), "n_observed must be finite"),
        ((10, np.inf, 1.0), "expected must be finite"),
    ],
)
def test_significance_errors(args, match):
    with pytest.raises(ValueError, match=match):
        bump_hunt_significance(*args)


def test_the_fits_goodness_of_fit_is_uniform_on_its_model_and_small_on_a_hole():
    """Issue 43: the bump hunt's fit had no goodness of fit; a bad fit went unreported."""
    from skranode.closure import significance_trusted
    from skranode.mass_spectrum import fit_resonance

    rng = np.random.default_rng(7)
    kw = dict(mass=3.5, width=0.175, mass_range=(3.0, 4.2), n_params=3)
    p_null, p_hole = [], []
    for _ in range(120):
        m = 2.8 * (1.0 + rng.pareto(8.0, size=3000))  # smooth, close to a dijet shape
        p_null.append(fit_resonance(m, **kw).gof_p_value)
    for _ in range(10):
        m = 2.8 * (1.0 + rng.pareto(8.0, size=30000))
        m = m[~((m > 3.8) & (m < 3.85) & (rng.random(m.size) < 0.7))]  # 70 % lost in 50 GeV
        p_hole.append(fit_resonance(m, **kw).gof_p_value)
    p_null = np.array(p_null)
    assert stats.kstest(p_null, "uniform").pvalue > 0.01
    assert 0.0 < np.mean(p_null < 0.05) < 0.15
    assert np.max(p_hole) < 0.01, p_hole
    # too few events for a chi-square with two degrees of freedom: NaN, not a number to trust
    assert np.isnan(fit_resonance(m[:120], **kw).gof_p_value)
    assert np.isnan(fit_resonance(m, **kw, uncertainty=False).gof_p_value)
    # the one rule of trust takes it into account
    assert significance_trusted(True, 0.5, p_hole[0]) is False
    assert significance_trusted(True, 0.5, 0.3) is True
    assert significance_trusted(None, None, None) is None
