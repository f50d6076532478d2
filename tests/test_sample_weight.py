"""Event weights (``sample_weight``) in every density estimator and classifier.

An event of weight 2 must count as that event twice in the likelihood, a
weighted fit must recover the weighted distribution, weights are relative,
and bad weights are refused with a message that names the problem.
"""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, KFold

from skranode import (
    CATHODEClassifier,
    ConditionalFlowDensity,
    CURTAINs,
    CWoLaClassifier,
    DensityEnsemble,
    ResidualANODE,
    SidebandDensity,
)
from skranode.datasets import DIJET_PARAMS, dijet_pdf
from skranode.mass_spectrum import DijetMassSpectrum
from skranode.stats import mixture_w_hat
from skranode.training import train_model
from skranode.utils._validation import check_event_weights


def tiny_flow(**params):
    base = dict(n_layers=2, n_hidden=16, max_epochs=2, device="cpu", random_state=0)
    return ConditionalFlowDensity(**{**base, **params})


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "weight, match",
    [
        ([1.0, -0.5, 1.0], "negative weight"),
        ([1.0, np.nan, 1.0], "non-finite"),
        ([1.0, np.inf, 1.0], "non-finite"),
        ([0.0, 0.0, 0.0], "zero for every event"),
        ([1.0, 1.0], r"shape \(2,\).*shape \(3,\)"),
        (np.ones((3, 2)), r"one weight per event"),
    ],
)
def test_bad_weights_are_refused_with_the_reason(weight, match):
    with pytest.raises(ValueError, match=match):
        check_event_weights(weight, 3)


def test_the_callers_weights_are_never_modified():
    rng = np.random.default_rng(0)
    m = rng.uniform(3.0, 4.0, 400)
    X = rng.normal(size=(400, 2))
    weight = rng.uniform(0.5, 2.0, 400)
    before = weight.copy()
    tiny_flow().fit(X, m, sample_weight=weight)
    CWoLaClassifier((3.3, 3.7), n_ensemble=1, random_state=0).fit(X, m, sample_weight=weight)
    np.testing.assert_array_equal(weight, before)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tiny_flow(),
        lambda: SidebandDensity((3.3, 3.7), density=tiny_flow(), random_state=0),
        lambda: CURTAINs((3.3, 3.7), base=tiny_flow(), max_epochs=1, random_state=0),
        lambda: CWoLaClassifier((3.3, 3.7), n_ensemble=1, random_state=0),
    ],
)
def test_negative_weights_are_refused_by_every_fit(make):
    rng = np.random.default_rng(1)
    m = rng.uniform(3.0, 4.0, 600)
    X = rng.normal(size=(600, 2))
    weight = np.ones(600)
    weight[7] = -1.0
    est = make()
    with pytest.raises(ValueError, match="negative weight.*row 7"):
        est.fit(X, m, sample_weight=weight)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]


# ------------------------------------------------------------ the training loop
class _Gaussian(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.tensor([0.3]))
        self.log_sigma = torch.nn.Parameter(torch.tensor([0.2]))

    def nll(self, x):
        z = (x - self.mu) / self.log_sigma.exp()
        return 0.5 * z**2 + self.log_sigma


def _train(x, weight, val):
    torch.manual_seed(0)
    model = _Gaussian()
    train_model(
        model,
        lambda mod, xb: mod.nll(xb),
        (x,),
        (val,),
        batch_size=10_000,  # one full batch per epoch: the gradient is the whole loss's
        learning_rate=0.05,
        weight_decay=0.0,
        max_epochs=40,
        patience=100,
        n_best=1,
        generator=torch.Generator().manual_seed(0),
        train_weight=weight,
    )
    return model.mu.item(), model.log_sigma.item()


def test_a_weight_of_two_trains_as_the_event_twice():
    rng = np.random.default_rng(2)
    x = torch.as_tensor(rng.normal(1.0, 2.0, 500), dtype=torch.float32)
    counts = torch.as_tensor(rng.integers(0, 4, 500), dtype=torch.float32)
    val = torch.as_tensor(rng.normal(1.0, 2.0, 100), dtype=torch.float32)
    weighted = _train(x, counts, val)
    repeated = _train(torch.repeat_interleave(x, counts.long()), None, val)
    unweighted = _train(x, None, val)
    np.testing.assert_allclose(weighted, repeated, rtol=2e-5, atol=2e-6)
    assert abs(weighted[0] - unweighted[0]) > 1e-3  # the weights did change the fit


def test_weights_of_ones_are_no_weights_and_weights_are_relative():
    rng = np.random.default_rng(3)
    m = rng.uniform(3.0, 4.0, 800)
    X = np.c_[rng.normal(m, 0.2), rng.normal(0, 1, 800)]
    weight = rng.uniform(0.2, 3.0, 800)
    plain = tiny_flow().fit(X, m).score_samples(X, m)
    ones = tiny_flow().fit(X, m, sample_weight=np.ones(800)).score_samples(X, m)
    np.testing.assert_array_equal(plain, ones)
    w1 = tiny_flow().fit(X, m, sample_weight=weight).score_samples(X, m)
    w3 = tiny_flow().fit(X, m, sample_weight=3.0 * weight).score_samples(X, m)
    # the same fit up to float32 rounding of the normalised weights, which Adam
    # carries through the steps: far below what the weights themselves change
    assert np.abs(w1 - w3).max() < 0.1 * np.abs(w1 - plain).max()


# --------------------------------------------------------------- the densities
def test_a_weighted_flow_learns_the_weighted_distribution():
    # N(0, 1) events weighted by N(x; 1, 1) / N(x; 0, 1) are an N(1, 1) sample
    rng = np.random.default_rng(4)
    n = 4000
    m = rng.uniform(3.0, 4.0, n)
    X = rng.normal(0.0, 1.0, (n, 1))
    weight = np.exp(X[:, 0] - 0.5)
    params = dict(max_epochs=30, batch_size=256, learning_rate=5e-3, batch_norm=False)
    weighted = tiny_flow(**params).fit(X, m, sample_weight=weight)
    plain = tiny_flow(**params).fit(X, m)
    draws = weighted.sample(np.full(20000, 3.5), random_state=1)[:, 0]
    target = np.average(X[:, 0], weights=weight)  # 0.99
    assert abs(draws.mean() - target) < 0.12
    assert abs(draws.std() - 1.0) < 0.12
    assert abs(plain.sample(np.full(20000, 3.5), random_state=1)[:, 0].mean()) < 0.12


def _dijet_masses(n, rng, lo=2.8, hi=4.4):
    grid = np.linspace(lo, hi, 20001)
    cdf = np.cumsum(dijet_pdf(grid))
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
    return np.interp(rng.uniform(size=n), cdf, grid)


def test_the_weighted_spectrum_fit_has_the_point_estimate_of_repeated_events():
    rng = np.random.default_rng(5)
    m = _dijet_masses(6000, rng)
    counts = rng.integers(0, 4, m.size)
    kwargs = dict(signal_region=(3.3, 3.7), mass_range=(2.8, 4.4))
    weighted = DijetMassSpectrum(**kwargs).fit(m, sample_weight=counts)
    repeated = DijetMassSpectrum(**kwargs).fit(np.repeat(m, counts))
    np.testing.assert_allclose(weighted.params_, repeated.params_, rtol=1e-6)
    np.testing.assert_allclose(weighted.sideband_yield_, repeated.n_sideband_)
    mean_w, _ = weighted.expected_count()
    mean_r, _ = repeated.expected_count()
    np.testing.assert_allclose(mean_w, mean_r, rtol=1e-6)


def test_the_weighted_spectrum_covariance_covers():
    # exponential weights (var / mean^2 = 1) halve the effective statistics: the
    # inverse Hessian over the event count would give pulls of width sqrt(2)
    rng = np.random.default_rng(6)
    kwargs = dict(signal_region=(3.3, 3.7), mass_range=(2.8, 4.4))
    truth = np.asarray(DIJET_PARAMS)
    pulls = []
    for _ in range(300):
        m = _dijet_masses(20000, rng)
        weight = rng.exponential(1.0, m.size)
        fit = DijetMassSpectrum(**kwargs).fit(m, sample_weight=weight)
        pulls.append((fit.params_ - truth) / np.sqrt(np.diag(fit.covariance_)))
    pulls = np.array(pulls)
    widths = pulls.std(axis=0)
    assert np.all((widths > 0.85) & (widths < 1.18)), widths
    assert np.all(np.abs(pulls.mean(axis=0)) < 0.25), pulls.mean(axis=0)


def test_sideband_density_hands_its_weights_to_the_flow_and_the_spectrum():
    rng = np.random.default_rng(7)
    n = 3000
    m = rng.uniform(3.0, 4.0, n)
    X = np.c_[rng.normal(m, 0.2), rng.normal(0, 1, n)]
    weight = rng.uniform(0.5, 1.5, n)
    est = SidebandDensity((3.3, 3.7), density=tiny_flow(), random_state=0)
    est.fit(X, m, sample_weight=weight)
    sb = (m < 3.3) | (m >= 3.7)
    np.testing.assert_allclose(est.mass_spectrum_.sideband_yield_, weight[sb].sum())
    unweighted = SidebandDensity((3.3, 3.7), density=tiny_flow(), random_state=0).fit(X, m)
    assert np.abs(est.score_samples(X, m) - unweighted.score_samples(X, m)).max() > 1e-4


def test_a_part_without_sample_weight_gets_a_clear_error():
    class NoWeights(ConditionalFlowDensity):
        def fit(self, X, m=None):
            return super().fit(X, m)

    rng = np.random.default_rng(8)
    m = rng.uniform(3.0, 4.0, 500)
    X = rng.normal(size=(500, 2))
    est = SidebandDensity((3.3, 3.7), density=NoWeights(n_layers=1, n_hidden=8, max_epochs=1))
    with pytest.raises(TypeError, match="density NoWeights does not accept sample_weight"):
        est.fit(X, m, sample_weight=np.ones(500))


def test_curtains_draws_source_masses_in_proportion_to_the_weights():
    rng = np.random.default_rng(9)
    n = 4000
    m = rng.uniform(3.0, 4.1, n)
    X = np.c_[rng.normal(m, 0.2), rng.normal(0, 1, n)]
    weight = np.where(m < 3.3, 0.0, 1.0)  # the low sideband weighs nothing
    est = CURTAINs((3.3, 3.7), base=tiny_flow(max_epochs=1), max_epochs=1, random_state=0)
    est.fit(X, m, sample_weight=weight)
    masses = est.source_masses_ * est.base_.mass_scale_ + est.base_.mass_mean_
    assert masses.min() >= 3.7 - 1e-9
    sb = (m < 3.3) | (m >= 3.7)
    np.testing.assert_allclose(est.source_p_, weight[sb] / weight[sb].sum())
    assert est.sample(np.full(50, 3.5), random_state=0).shape == (50, 2)


def test_a_weighted_mixture_fraction_is_that_of_repeated_events():
    rng = np.random.default_rng(10)
    log_ratio = np.r_[rng.normal(-0.5, 1.0, 900), rng.normal(2.5, 1.0, 100)]
    counts = rng.integers(0, 4, log_ratio.size)
    weighted = mixture_w_hat(log_ratio, sample_weight=counts)
    repeated = mixture_w_hat(np.repeat(log_ratio, counts))
    assert weighted > 0.01
    assert weighted == pytest.approx(repeated, rel=1e-8)


def _signal_region_data(seed, n=3000):
    rng = np.random.default_rng(seed)
    m = rng.uniform(3.3, 3.7, n)
    X = np.c_[rng.normal(0, 1, n), rng.normal(0, 1, n)]
    return X, m, rng


class _StandardNormal:
    """A fixed background: two standard-normal features, at every mass."""

    n_features_in_ = 2

    def score_samples(self, X, m=None):
        X = np.asarray(X, dtype=np.float64)
        return -0.5 * (X**2).sum(axis=1) - np.log(2 * np.pi)

    def sample(self, m, random_state=None):
        rng = np.random.default_rng(random_state)
        return rng.normal(size=(np.asarray(m).shape[0], 2))


def test_residual_anode_weights_enter_its_likelihood_and_a_grid_search():
    X, m, rng = _signal_region_data(11)
    signal = rng.uniform(size=m.size) < 0.05
    X[signal] = rng.normal(2.5, 0.3, (signal.sum(), 2))
    flow = ConditionalFlowDensity(
        "rqs", n_layers=1, n_hidden=8, batch_norm=False, max_epochs=3, device="cpu"
    )
    est = ResidualANODE(_StandardNormal(), w=0.05, learn_w=True, flow=flow, random_state=0)
    # the signal events weigh nothing: the learned w falls to the background-only value
    weight = np.where(signal, 0.0, 1.0)
    fitted = est.fit(X, m, sample_weight=weight)
    plain = ResidualANODE(_StandardNormal(), w=0.05, learn_w=True, flow=flow, random_state=0)
    plain.fit(X, m)
    assert fitted.w_ < plain.w_
    search = GridSearchCV(
        ResidualANODE(_StandardNormal(), flow=flow, random_state=0),
        {"w": [0.01, 0.05]},
        cv=KFold(2, shuffle=True, random_state=0),
    )
    search.fit(X, m, sample_weight=np.where(signal, 0.0, 1.0))
    # the test folds' weights reach score: without the signal events w=0.01 fits better
    assert search.best_params_["w"] == 0.01
    held_out = search.best_estimator_
    assert held_out.score(X, m, sample_weight=weight) == pytest.approx(
        held_out.score(X[~signal], m[~signal])
    )


def test_cathode_and_the_ensemble_take_weights():
    X, m, rng = _signal_region_data(12, n=1500)
    weight = rng.uniform(0.5, 1.5, m.size)
    params = dict(signal_region=(3.3, 3.7), n_ensemble=1, random_state=0)
    cathode = CATHODEClassifier(_StandardNormal(), **params)
    doubled = CATHODEClassifier(_StandardNormal(), **params)
    proba = cathode.fit(X, m, sample_weight=weight).predict_proba(X)
    # weights are relative: doubling them all changes nothing
    np.testing.assert_allclose(doubled.fit(X, m, sample_weight=2 * weight).predict_proba(X), proba)
    plain = CATHODEClassifier(_StandardNormal(), **params).fit(X, m).predict_proba(X)
    assert np.abs(plain - proba).max() > 1e-6
    ensemble = DensityEnsemble(tiny_flow(max_epochs=1), n_estimators=2, random_state=0)
    ensemble.fit(X, m, sample_weight=weight)
    assert ensemble.score_samples(X, m).shape == (m.size,)
