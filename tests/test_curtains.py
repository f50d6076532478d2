"""CURTAINs (flows for flows): identity, Jacobian, normalisation, direction, protocol, bad input."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skranode import CATHODEClassifier, ConditionalFlowDensity, CURTAINs
from skranode.curtains import MorphingFlow
from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.exceptions import SkranodeWarning

BASE = dict(n_layers=2, n_hidden=16, max_epochs=4, batch_size=512, n_best=1, device="cpu")
FAST = dict(n_layers=2, n_hidden=16, max_epochs=4, batch_size=512, device="cpu")


def _randomized_morph(n_features, seed=0):
    morph = MorphingFlow(n_features, n_layers=3, n_hidden=16).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in morph.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return morph


@pytest.fixture(scope="module")
def lhco():
    df = make_lhco_like(n_background=40000, n_signal=0, random_state=0)
    return df[list(FEATURE_NAMES[:2])].to_numpy(), df["mjj"].to_numpy()


@pytest.fixture(scope="module")
def fitted(lhco):
    X, m = lhco
    return CURTAINs(base=ConditionalFlowDensity(**BASE), **FAST, random_state=0).fit(X, m)


def test_morphing_flow_is_the_identity_at_equal_masses_and_inverts():
    morph = _randomized_morph(3)
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    c1 = torch.randn(50, 1, generator=gen, dtype=torch.float64)
    c2 = torch.randn(50, 1, generator=gen, dtype=torch.float64)
    z, log_det = morph.to_source(y, c1, c1)
    assert torch.equal(z, y) and torch.equal(log_det, torch.zeros(50, dtype=torch.float64))
    z, log_det = morph.to_source(y, c1, c2)
    assert (z - y).abs().max() > 0.1  # it does move events between different masses
    back, log_det_back = morph.to_target(z, c1, c2)
    torch.testing.assert_close(back, y, rtol=0, atol=1e-7)
    torch.testing.assert_close(log_det_back, -log_det, rtol=0, atol=1e-7)


def test_morphing_flow_log_det_matches_autograd():
    morph = _randomized_morph(3, seed=2)
    gen = torch.Generator().manual_seed(3)
    y = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    c1, c2 = (
        torch.full((1, 1), -0.7, dtype=torch.float64),
        torch.full((1, 1), 0.9, dtype=torch.float64),
    )
    _, log_det = morph.to_source(y, c1.expand(6, 1), c2.expand(6, 1))
    for i in range(6):
        jac = torch.autograd.functional.jacobian(
            lambda v: morph.to_source(v[None], c1, c2)[0][0], y[i]
        )
        assert torch.linalg.slogdet(jac)[1].item() == pytest.approx(log_det[i].item(), abs=1e-9)


def test_fitted_model_morphs_an_event_to_its_own_mass_to_itself(fitted, lhco):
    X, m = lhco
    out = fitted.morph(X[:200], m[:200], m[:200])
    np.testing.assert_allclose(out, X[:200], rtol=1e-5, atol=1e-6)
    moved = fitted.morph(X[:200], m[:200], np.full(200, 3.5))
    assert np.abs(moved - X[:200]).max() > 1e-3


def test_log_density_normalises_in_one_dimension():
    df = make_lhco_like(n_background=30000, n_signal=0, random_state=1)
    X, m = df[["tau21_min"]].to_numpy(), df["mjj"].to_numpy()
    model = CURTAINs(base=ConditionalFlowDensity(**BASE), **FAST, random_state=0).fit(X, m)
    grid = np.linspace(X.min() - 0.05, X.max() + 0.05, 4001)
    for mass in (3.35, 3.5, 3.65):
        density = np.exp(model.score_samples(grid[:, None], np.full(grid.size, mass)))
        assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=0.01)


def test_generated_events_move_with_the_target_mass_as_the_data_do():
    # make_lhco_like's jet masses grow in proportion to mjj: so must the morphed events
    df = make_lhco_like(n_background=60000, n_signal=0, random_state=2)
    X, m = df[["mjmin", "delta_mj"]].to_numpy(), df["mjj"].to_numpy()
    model = CURTAINs(
        base=ConditionalFlowDensity(**{**BASE, "max_epochs": 8}),
        **{**FAST, "max_epochs": 8},
        random_state=0,
    ).fit(X, m)
    low = (m >= 3.0) & (m < 3.3)
    source = X[low][:3000]
    target = model.morph(source, m[low][:3000], m[low][:3000] * 1.2)
    ratio = np.median(target[:, 0]) / np.median(source[:, 0])
    assert ratio == pytest.approx(1.2, abs=0.08)
    at_low = model.sample(np.full(5000, 3.35), random_state=0)
    at_high = model.sample(np.full(5000, 3.65), random_state=0)
    # the same source events, morphed to two masses: the lighter jet mass scales
    assert np.median(at_high[:, 0]) / np.median(at_low[:, 0]) == pytest.approx(
        3.65 / 3.35, abs=0.04
    )


def test_protocol_pickle_clone_and_cathode(fitted, lhco):
    X, m = lhco
    sr = (m >= 3.3) & (m < 3.7)
    drawn = fitted.sample(m[sr][:500], random_state=4)
    np.testing.assert_array_equal(drawn, fitted.sample(m[sr][:500], random_state=4))
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        again.score_samples(X[sr][:300], m[sr][:300]),
        fitted.score_samples(X[sr][:300], m[sr][:300]),
    )
    np.testing.assert_array_equal(
        again.sample(m[sr][:50], random_state=1), fitted.sample(m[sr][:50], random_state=1)
    )
    assert not hasattr(clone(fitted), "morph_")
    joint = fitted.score_samples(X[sr][:10], m[sr][:10], joint=True)
    assert np.all(joint < fitted.score_samples(X[sr][:10], m[sr][:10]) + 2)
    cathode = CATHODEClassifier(fitted, signal_region=(3.3, 3.7), oversampling=1, random_state=0)
    proba = cathode.fit(X[sr], m[sr]).predict_proba(X[sr][:100])
    assert proba.shape == (100, 2) and np.isfinite(proba).all()


def test_unfitted_curtains_inside_cathode_is_fitted_on_all_events(lhco):
    X, m = lhco
    bkg = CURTAINs(base=ConditionalFlowDensity(**BASE), **FAST)
    cathode = CATHODEClassifier(bkg, signal_region=(3.3, 3.7), oversampling=1, random_state=0)
    cathode.fit(X, m)
    assert cathode.background_.n_sideband_ == int(((m < 3.3) | (m >= 3.7)).sum())


def test_too_few_sideband_events_is_a_clear_error(lhco):
    X, m = lhco
    keep = (m >= 3.3) & (m < 3.7)
    keep[np.flatnonzero(~keep)[:5]] = True
    with pytest.raises(ValueError, match=r"n_samples=5 sideband event\(s\).*at least 10"):
        CURTAINs(base=ConditionalFlowDensity(**BASE), **FAST).fit(X[keep], m[keep])


def test_masses_in_gev_are_refused_with_the_units_hint(fitted, lhco):
    X, m = lhco
    with pytest.raises(ValueError, match="GeV"):
        CURTAINs(base=ConditionalFlowDensity(**BASE), **FAST).fit(X, m * 1000)
    with pytest.raises(ValueError, match="GeV"):
        fitted.sample(np.full(3, 3500.0))
    with pytest.raises(ValueError, match="GeV"):
        fitted.score_samples(X[:3], np.full(3, 3500.0))


def test_one_sided_sidebands_warn_and_still_morph(lhco):
    X, m = lhco
    below = m < 3.7
    with pytest.warns(SkranodeWarning, match="No sideband event lies above"):
        model = CURTAINs(base=ConditionalFlowDensity(**BASE), **FAST, random_state=0).fit(
            X[below], m[below]
        )
    assert np.isfinite(model.sample(np.full(20, 3.5), random_state=0)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkranodeWarning)
        CURTAINs(base=ConditionalFlowDensity(**BASE), **{**FAST, "max_epochs": 1}).fit(X, m)


def test_ranode_uses_the_curtains_density_as_its_background(fitted, lhco):
    from skranode import ResidualANODE

    X, m = lhco
    sr = (m >= 3.3) & (m < 3.7)
    flow = ConditionalFlowDensity("rqs", n_layers=1, n_hidden=8, max_epochs=2, device="cpu")
    ranode = ResidualANODE(fitted, w=0.01, flow=flow, random_state=0).fit(X[sr], m[sr])
    Xs, ms = X[sr][:200], m[sr][:200]
    log_pb = fitted.score_samples(Xs, ms)
    np.testing.assert_allclose(ranode.background_log_density(Xs, ms), log_pb, rtol=1e-12)
    # the score is log p_S - log p_B with CURTAINs' density as p_B
    expected = ranode.signal_log_density(Xs, ms) - log_pb
    np.testing.assert_allclose(ranode.score_samples(Xs, ms), expected, rtol=1e-6, atol=1e-6)


def test_a_frozen_fitted_base_is_used_as_it_is(lhco):
    """base=FrozenEstimator(fitted density): only the morph trains, the base is untouched."""
    from sklearn.exceptions import NotFittedError
    from sklearn.frozen import FrozenEstimator

    X, m = lhco
    sb = (m < 3.3) | (m >= 3.7)
    flow = ConditionalFlowDensity(**BASE, random_state=1).fit(X[sb], m[sb])
    before = [p.detach().clone() for p in flow.flows_[0].parameters()]
    held = flow.score_samples(X[:200], m[:200])
    est = CURTAINs(base=FrozenEstimator(flow), **FAST, random_state=0).fit(X, m)
    assert est.base_ is flow
    for a, b in zip(before, flow.flows_[0].parameters(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(flow.score_samples(X[:200], m[:200]), held)
    # the morph still carries a sideband event at its own mass to itself
    np.testing.assert_allclose(est.morph(X[:50], m[:50], m[:50]), X[:50], rtol=0, atol=1e-5)
    assert np.isfinite(est.score_samples(X[:50], m[:50])).all()
    assert clone(est).base is est.base  # a frozen estimator clones to itself
    with pytest.raises(NotFittedError, match="fit it on the sideband events"):
        CURTAINs(base=FrozenEstimator(ConditionalFlowDensity(**BASE)), **FAST).fit(X, m)
    with pytest.raises(ValueError, match="fitted on 2 features"):
        CURTAINs(base=FrozenEstimator(flow), **FAST).fit(np.c_[X, X[:, :1]], m)
