"""ANODE and ResidualANODE (R-ANODE)."""

import math
import pickle

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.utils import check_random_state

from skranode import ANODE, ConditionalFlowDensity, ResidualANODE, SidebandDensity
from skranode.anode import _mixture_nll, default_data_flow, default_signal_flow
from skranode.datasets import (
    FEATURE_NAMES,
    LHCOLikeBackgroundDensity,
    lhco_like_jet_log_density,
    make_lhco_like,
    signal_region_mask,
)
from skranode.metrics import max_sic
from skranode.presets import BACKGROUND_FLOW

SR = (3.3, 3.7)
# small signal model for the fast tests on the 2-D toy below
TOY_FLOW = ConditionalFlowDensity(
    "rqs", n_layers=2, n_hidden=16, n_bins=4, batch_size=256, max_epochs=8, patience=8,
    n_best=2, device="cpu",
)  # fmt: skip


class GaussianBackground(DensityMixin, BaseEstimator):
    """Exact background of the toy: standard normal features, uniform mass in SR."""

    def __init__(self, signal_region=SR):
        self.signal_region = signal_region

    def fit(self, X=None, m=None):
        self.fitted_ = True
        return self

    def score_samples(self, X, m=None, joint=False):
        log_p = stats.norm.logpdf(np.asarray(X, dtype=float)).sum(axis=1)
        if joint:
            lo, hi = self.signal_region
            log_p = log_p - math.log(hi - lo)
        return log_p


class CountingBackground(GaussianBackground):
    """Counts score_samples calls and refuses to be refitted."""

    def __init__(self, signal_region=SR):
        super().__init__(signal_region)
        self.calls = []

    def fit(self, X=None, m=None):
        if hasattr(self, "fitted_"):
            raise AssertionError("the background was refitted")
        return super().fit(X, m)

    def score_samples(self, X, m=None, joint=False):
        self.calls.append(len(X))
        return super().score_samples(X, m, joint)


def toy(n=3000, s_over_b=0.05, seed=0):
    """Standard normal background plus a narrow blob at (1.5, 1.5), masses in SR."""
    rng = np.random.default_rng(seed)
    n_sig = int(round(s_over_b * n))
    X = np.r_[rng.normal(size=(n, 2)), rng.normal(1.5, 0.15, size=(n_sig, 2))]
    m = rng.uniform(*SR, n + n_sig)
    y = np.r_[np.zeros(n), np.ones(n_sig)]
    return X, m, y


@pytest.fixture(scope="module")
def fitted_toy():
    X, m, y = toy()
    est = ResidualANODE(GaussianBackground().fit(), w=0.05, flow=TOY_FLOW, random_state=0)
    return est.fit(X, m), X, m, y


# ------------------------------------------------------------------ errors and API
def test_no_background_says_what_to_pass():
    X, m, _ = toy(300)
    with pytest.raises(ValueError, match=r"background=SidebandDensity\(\)\.fit"):
        ResidualANODE(w=0.006).fit(X, m)
    with pytest.raises(ValueError, match=r"background=SidebandDensity\(\)\.fit"):
        ANODE().fit(X, m)


def test_score_samples_without_mass_says_pass_m_or_mass_column(fitted_toy):
    est, X, _, _ = fitted_toy
    with pytest.raises(ValueError, match="pass it as m.*mass_column"):
        est.score_samples(X)


@pytest.mark.parametrize("w", [0, 1, -0.1, 1.5, float("nan"), "0.1"])
def test_w_outside_unit_interval_is_rejected(w):
    X, m, _ = toy(300)
    with pytest.raises(ValueError, match=r"'w' parameter of ResidualANODE must be"):
        ResidualANODE(GaussianBackground().fit(), w=w).fit(X, m)


def test_unfitted_background_is_rejected_with_a_hint():
    X, m, _ = toy(300)
    with pytest.raises(NotFittedError, match=r"not fitted.*background\.fit\(X_all, m_all\)"):
        ResidualANODE(SidebandDensity()).fit(X, m)


def test_background_with_other_feature_count_is_rejected():
    rng = np.random.default_rng(0)
    m = rng.uniform(*SR, 400)
    bkg = ConditionalFlowDensity(n_layers=1, n_hidden=4, max_epochs=1, device="cpu")
    bkg.fit(rng.normal(size=(400, 3)), m)
    with pytest.raises(ValueError, match="2 feature.*fitted on 3"):
        ResidualANODE(bkg, flow=TOY_FLOW).fit(rng.normal(size=(400, 2)), m)


def test_background_is_evaluated_once_and_never_refitted():
    X, m, _ = toy(1000)
    bkg = CountingBackground().fit()
    est = ResidualANODE(bkg, w=0.05, flow=TOY_FLOW, random_state=0).fit(X, m)
    assert bkg.calls == [len(X)]  # one pass over all events, before training
    est.score_samples(X[:10], m[:10])
    assert bkg.calls == [len(X), 10]
    twin = clone(est)
    assert twin.background is bkg  # shared: clones keep the fitted background
    assert twin.get_params()["w"] == est.w and not hasattr(twin, "flow_")


def test_grid_search_over_w_picks_the_true_fraction_without_refitting_background():
    X, m, _ = toy(4000, s_over_b=0.05, seed=1)  # true w = 0.048
    bkg = CountingBackground().fit()  # fit() raises if GridSearchCV refits it
    search = GridSearchCV(
        ResidualANODE(bkg, flow=TOY_FLOW, random_state=0),
        {"w": [0.005, 0.05, 0.5]},
        cv=ShuffleSplit(n_splits=2, test_size=0.3, random_state=0),
        n_jobs=2,
    ).fit(X, m)
    assert search.best_params_ == {"w": 0.05}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] and scores[1] > scores[2]
    assert search.best_estimator_.background is bkg


def test_frozen_background_works():
    X, m, _ = toy(1000)
    bkg = FrozenEstimator(GaussianBackground().fit())
    est = ResidualANODE(bkg, w=0.05, flow=TOY_FLOW, random_state=0).fit(X, m)
    assert np.isfinite(est.score_samples(X, m)).all()
    assert clone(est).background is bkg


def test_background_with_its_own_mass_column():
    rng = np.random.default_rng(0)
    m = rng.uniform(2.8, 4.2, 3000)
    density = ConditionalFlowDensity(n_layers=1, n_hidden=8, max_epochs=2, device="cpu")
    bkg = SidebandDensity(signal_region=None, density=density, mass_column=0, random_state=0)
    bkg.fit(np.c_[m, rng.normal(size=(3000, 2))])
    X, m_sr, _ = toy(1000)
    est = ResidualANODE(bkg, w=0.05, flow=TOY_FLOW, random_state=0).fit(X, m_sr)
    expected = est.flow_.score_samples(X, m_sr) - bkg.score_samples(np.c_[m_sr, X])
    np.testing.assert_allclose(est.score_samples(X, m_sr), expected)


def test_mass_column_layout_gives_the_same_model(fitted_toy):
    est, X, m, _ = fitted_toy
    other = clone(est).set_params(mass_column=0).fit(np.c_[m, X])
    np.testing.assert_allclose(other.score_samples(np.c_[m, X]), est.score_samples(X, m))
    assert other.score(np.c_[m, X]) == pytest.approx(est.score(X, m))


def test_input_arrays_are_not_modified():
    X, m, _ = toy(500)
    X0, m0 = X.copy(), m.copy()
    est = ResidualANODE(GaussianBackground().fit(), w=0.05, flow=TOY_FLOW, random_state=0)
    est.fit(X, m).score_samples(X, m)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(m, m0)


# -------------------------------------------------------------- what it computes
def test_mixture_likelihood_is_computed_in_log_space():
    class Fixed(torch.nn.Module):
        def log_weights(self):
            w = torch.tensor(0.006)
            return torch.log(w), torch.log1p(-w)

        def log_prob(self, y, c):
            return y[:, 0]

    log_ps = torch.tensor([[-1500.0], [-3.0], [-200.0]])
    log_pb = torch.tensor([-2000.0, -2.0, -180.0])
    nll = _mixture_nll(Fixed(), log_ps, None, torch.zeros(3), log_pb)
    expected = [
        -(math.log(0.006) - 1500.0),  # background negligible; exp() would give 0
        -math.log(0.006 * math.exp(-3.0) + 0.994 * math.exp(-2.0)),
        -(math.log(0.994) - 180.0),
    ]
    np.testing.assert_allclose(nll.numpy(), expected, rtol=1e-5)
    naive = torch.log(0.006 * torch.exp(log_ps[:, 0]) + 0.994 * torch.exp(log_pb) + 1e-32)
    assert not torch.isfinite(-naive[0]) or -naive[0] > 70  # what the log space avoids


def test_scores_and_likelihood(fitted_toy):
    est, X, m, y = fitted_toy
    bkg = est.background
    log_ps = est.flow_.score_samples(X, m)
    np.testing.assert_allclose(est.score_samples(X, m), log_ps - bkg.score_samples(X, m))
    mixture = np.logaddexp(np.log(0.05) + log_ps, np.log(0.95) + bkg.score_samples(X, m))
    assert est.score(X, m) == pytest.approx(mixture.mean())
    assert est.w_ == 0.05
    assert max_sic(y, est.score_samples(X, m)) > 5  # the blob is found
    hist = est.history_
    assert len(hist["train_loss"]) == len(hist["val_loss"]) == len(hist["w"]) == 8
    assert set(hist["best_epochs"]) <= set(range(8)) and hist["w"] == [pytest.approx(0.05)] * 8


def test_same_seed_same_scores_and_pickle_round_trip(fitted_toy):
    est, X, m, _ = fitted_toy
    again = clone(est).fit(X, m)
    np.testing.assert_array_equal(again.score_samples(X, m), est.score_samples(X, m))
    other = clone(est).set_params(random_state=1).fit(X, m)
    assert not np.allclose(other.score_samples(X, m), est.score_samples(X, m))
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.score_samples(X, m), est.score_samples(X, m))
    assert loaded.score(X, m) == est.score(X, m)
    a, _ = loaded.sample(50, m=3.5, random_state=0)
    b, _ = est.sample(50, m=3.5, random_state=0)
    np.testing.assert_array_equal(a, b)


def test_sample_draws_from_the_signal_model(fitted_toy):
    est, _, _, _ = fitted_toy
    Xs, ms = est.sample(2000, m=3.5, random_state=0)
    assert Xs.shape == (2000, 2) and np.all(ms == 3.5)
    # most samples sit on the blob at (1.5, 1.5)
    assert np.mean(np.hypot(*(Xs - 1.5).T) < 0.6) > 0.6
    with pytest.raises(ValueError, match="pass the masses m"):
        est.sample(10)
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(0, m=3.5)


def test_learned_w_is_held_then_learned():
    X, m, _ = toy(3000, s_over_b=0.05)
    est = ResidualANODE(
        GaussianBackground().fit(), w=0.02, learn_w=True, flow=TOY_FLOW, random_state=0
    ).fit(X, m)
    w = est.history_["w"]
    assert w[:2] == [pytest.approx(0.02)] * 2  # held for the first quarter
    # then it moves up from below the true 0.048 (measured 0.089: the w of this
    # p_S, broader than the blob after 8 epochs; w-hat of a fresh 30k sample
    # under the same p_S is 0.080)
    assert 0.035 < w[-1] < 0.1
    assert est.w_ == pytest.approx(np.mean([f.weight() for f in est.flow_.flows_]))


@pytest.mark.parametrize("s_over_b", [0.05, 0.1])
def test_learned_w_reaches_the_truth_from_far_below(s_over_b):
    # w profiled under the current p_S is not limited by the learning rate or
    # the number of optimizer steps: 6 epochs take w from 0.002, 25 to 45 times
    # below, to the truth
    X, m, y = toy(3000, s_over_b=s_over_b)
    est = ResidualANODE(
        GaussianBackground().fit(), w=0.002, learn_w=True, flow=TOY_FLOW, random_state=0
    ).fit(X, m)
    # measured 1.85 and 1.22 times the truth on the held-out validation events:
    # the p_S of 8 epochs is broader than the blob, and a broad p_S needs a
    # larger w to hold the signal (a fresh sample gives the same)
    assert 0.8 * y.mean() < est.w_ < 2.0 * y.mean()
    assert est.history_["w"][2] > 10 * 0.002  # the first free epoch already jumps


def test_joint_model_learns_the_mass_bump():
    rng = np.random.default_rng(0)
    X, _, y = toy(3000)
    m = np.where(y == 1, np.clip(rng.normal(3.5, 0.03, len(y)), *SR), rng.uniform(*SR, len(y)))
    est = ResidualANODE(
        GaussianBackground().fit(), w=0.05, joint=True, flow=TOY_FLOW, random_state=0
    ).fit(X, m)
    assert est.mass_window_ == SR
    score = est.score_samples(X, m)
    expected = est.flow_.score_samples(X, m) - est.background.score_samples(X, m, joint=True)
    np.testing.assert_allclose(score, expected)
    Xs, ms = est.sample(500, random_state=0)
    assert Xs.shape == (500, 2) and np.all((ms >= SR[0]) & (ms <= SR[1]))
    assert abs(np.median(ms) - 3.5) < 0.05
    with pytest.raises(ValueError, match="inside the signal region"):
        est.score_samples(X[:2], np.array([3.5, 3.9]))
    with pytest.raises(ValueError, match="joint=True needs a background"):
        ResidualANODE(est.flow_, joint=True, flow=TOY_FLOW).fit(X, m)


def test_anode_default_data_model_is_a_density_of_the_data_not_the_signal_recipe():
    # ANODE's score is a difference of two densities: its default data model is the
    # background-quality recipe, not R-ANODE's small signal flow (max SIC 1.66 vs 4.0 on
    # the LHCO R&D signal region, see default_data_flow)
    X, m, _ = toy(400)
    est = ANODE(GaussianBackground().fit(), random_state=0).fit(X, m)
    expected = default_data_flow().get_params()
    got = est.flow_.get_params()
    keys = ("flow", "n_layers", "n_hidden", "batch_size", "max_epochs", "max_steps", "patience")
    for key in keys:
        assert got[key] == expected[key], key
    # the background model's recipe (presets.BACKGROUND_FLOW), not the signal model's
    assert {k: got[k] for k in keys} == {
        k: v for k, v in BACKGROUND_FLOW.params().items() if k in keys
    }
    signal = default_signal_flow().get_params()
    assert (got["n_layers"], got["n_hidden"]) != (signal["n_layers"], signal["n_hidden"])
    # it trained with early stopping, not a fixed signal-model schedule
    assert 0 < len(est.history_["val_loss"]) <= expected["max_epochs"]


def test_anode_scores_data_over_background():
    X, m, y = toy(3000, s_over_b=0.2)
    bkg = GaussianBackground().fit()
    flow = ConditionalFlowDensity(n_layers=2, n_hidden=16, max_epochs=10, device="cpu")
    est = ANODE(bkg, flow=flow, random_state=0).fit(X, m)
    np.testing.assert_allclose(
        est.score_samples(X, m), est.flow_.score_samples(X, m) - bkg.score_samples(X, m)
    )
    assert est.score(X, m) == pytest.approx(est.flow_.score_samples(X, m).mean())
    assert max_sic(y, est.score_samples(X, m)) > 2
    assert est.history_["val_loss"] == est.flow_.history_["val_loss"]
    Xs, ms = est.sample(20, m=np.full(20, 3.4), random_state=0)
    assert Xs.shape == (20, 2)
    with pytest.raises(ValueError, match="pass the masses m"):
        est.sample(5)


def test_default_signal_flow_recipe():
    flow = default_signal_flow()
    assert flow.flow == "rqs" and flow.batch_size == 512 and flow.patience == flow.max_epochs


# ------------------------------------------- planted signal on LHCO-like events
class LHCOLikeBackground(DensityMixin, BaseEstimator):
    """The exact background density p_B(x | m) of make_lhco_like (the idealised model).

    The two jets are independent draws (mass from a logit-normal in m_j / m_jj,
    tau21 from a logit-normal whose mean depends on the same normal variable);
    the ordered pair has density 2 f(jet_min) f(jet_max).
    """

    def fit(self, X=None, m=None):
        self.fitted_ = True
        return self

    def score_samples(self, X, m=None):
        return LHCOLikeBackgroundDensity().score_samples(X, m)


def lhco_sr(n_background, s_over_b, seed):
    """Signal-region events of make_lhco_like with an exact S/B."""
    n_sig = int(round(s_over_b * n_background))
    df = make_lhco_like(
        n_background=int(n_background / 0.115), n_signal=int(n_sig / 0.6) + 50, random_state=seed
    )
    df = df[signal_region_mask(df["mjj"], SR)]
    bkg, sig = df[df.label == 0].iloc[:n_background], df[df.label == 1].iloc[:n_sig]
    assert len(bkg) == n_background and len(sig) == n_sig
    events = np.concatenate([bkg.to_numpy(), sig.to_numpy()])
    return events[:, 1:5], events[:, 0], events[:, 5]


def test_lhco_like_background_density_matches_the_generator():
    """The normal variables the density inverts are standard normal on generated events."""
    X, m, _ = lhco_sr(20000, 0.0, seed=5)
    _, z, eps = lhco_like_jet_log_density(X[:, 0] + X[:, 1], X[:, 3], m)  # heavier jet
    # the heavier of two jets: its z is the max of two normals
    assert stats.kstest(z, lambda v: stats.norm.cdf(v) ** 2).pvalue > 1e-3
    assert stats.kstest(eps, "norm").pvalue > 1e-3


@pytest.fixture(scope="module")
def lhco_test_events():
    X, m, y = lhco_sr(20000, 0.15, seed=99)  # 3000 signal events to measure the SIC
    return X, m, y


@pytest.mark.slow
def test_ranode_finds_planted_signal_and_beats_anode(lhco_test_events):
    """S/B = 0.6 % in the SR (60 000 background events): R-ANODE >> ANODE."""
    X, m, _ = lhco_sr(60000, 0.006, seed=2)
    Xt, mt, yt = lhco_test_events
    bkg = LHCOLikeBackground().fit()
    ranode = ResidualANODE(bkg, w=0.006, n_init=1, random_state=0).fit(X, m)
    sic_ranode = max_sic(yt, ranode.score_samples(Xt, mt))
    # a data model with about R-ANODE's training time (measured: SIC 11.4 vs 4.5)
    data_flow = ConditionalFlowDensity(
        n_layers=8, n_hidden=64, batch_size=1024, learning_rate=1e-3, max_epochs=40, device="cpu"
    )
    anode = ANODE(bkg, flow=data_flow, random_state=0).fit(X, m)
    sic_anode = max_sic(yt, anode.score_samples(Xt, mt))
    assert sic_ranode > 7.0, (sic_ranode, sic_anode)  # fails when the signal is not found
    assert sic_ranode > 1.8 * sic_anode, (sic_ranode, sic_anode)


@pytest.mark.slow
@pytest.mark.parametrize("s_over_b, seed", [(0.006, 2), (0.003, 4)])
def test_learned_w(lhco_test_events, s_over_b, seed):
    """w learned from half the true fraction, profiled on the held-out events.

    Held out, the learned w does not count what p_S fits of its training events;
    a p_S narrower than the signal then needs a smaller w, so the learned w lies
    below the truth (measured 0.0041 at a true 0.0060; in-sample it was within
    20 %). At S/B = 0.3 % the mixture likelihood is nearly flat in w (p_S can
    trade signal for background-like density) and the learned w drops below its
    start (measured 0.0006 at a true 0.0030): it is only checked not to exceed
    the truth. ``w_cross_fit`` and the k-fold stage, whose models start from the
    learned w and learn it again, give the quoted estimate
    (``benchmarks/bench_calibration.py``; tested in test_inference.py).

    Three restarts, the default: one training at S/B = 0.6 % loses the signal
    for good in some starts (random_state 0-5 on these events: 2 of 6 with the
    package's spline layer, 1 of 6 with normflows', max SIC 1.0-4.1 against
    10.3-11.1), and the restart with the best held-out likelihood is kept.
    """
    X, m, y = lhco_sr(60000, s_over_b, seed=seed)
    true_w = y.mean()
    est = ResidualANODE(
        LHCOLikeBackground().fit(), w=true_w / 2, learn_w=True, n_init=3, random_state=0
    ).fit(X, m)
    Xt, mt, yt = lhco_test_events
    assert max_sic(yt, est.score_samples(Xt, mt)) > 5.0  # the signal is found
    if s_over_b >= 0.006:
        assert 0.5 * true_w < est.w_ < 1.2 * true_w, (est.w_, true_w)
    else:
        assert 0 < est.w_ <= 1.2 * true_w, (est.w_, true_w)


# ------------------------------------------------------------------ restarts (n_init)
def _validation_rows(est, n):
    """The held-out rows of the kept signal model: the split its random_state gives."""
    flow = est.flow_
    n_val = int(round(flow.validation_fraction * n))
    return check_random_state(flow.random_state).permutation(n)[:n_val]


def test_restarts_share_the_split_and_the_best_held_out_likelihood_is_kept():
    X, m, _ = toy(n=2000, s_over_b=0.03, seed=5)
    bkg = GaussianBackground().fit()
    one = ResidualANODE(bkg, w=0.03, flow=TOY_FLOW, n_init=1, random_state=3).fit(X, m)
    three = ResidualANODE(bkg, w=0.03, flow=TOY_FLOW, n_init=3, random_state=3).fit(X, m)
    losses = three.history_["init_val_loss"]
    assert len(losses) == 3 and len(one.history_["init_val_loss"]) == 1
    # restart 0 is the single training: same split, same initialisation
    np.testing.assert_allclose(losses[0], one.history_["init_val_loss"][0], rtol=1e-10)
    assert len(set(losses)) == 3  # the other restarts start elsewhere
    assert three.history_["best_init"] == int(np.argmin(losses))
    # the criterion is the held-out mixture likelihood of score(), on the same events
    val = _validation_rows(three, len(X))
    np.testing.assert_allclose(-three.score(X[val], m[val]), min(losses), rtol=1e-5)
    if three.history_["best_init"] == 0:
        np.testing.assert_allclose(three.score_samples(X, m), one.score_samples(X, m))


def test_a_restart_is_reproducible_and_n_init_is_validated():
    X, m, _ = toy(n=1500, s_over_b=0.03, seed=6)
    bkg = GaussianBackground().fit()
    a = ResidualANODE(bkg, w=0.03, learn_w=True, flow=TOY_FLOW, n_init=2, random_state=1)
    b = clone(a)
    a.fit(X, m)
    b.fit(X, m)
    assert a.history_["init_val_loss"] == b.history_["init_val_loss"]
    assert a.w_ == b.w_
    np.testing.assert_array_equal(a.score_samples(X[:50], m[:50]), b.score_samples(X[:50], m[:50]))
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="n_init"):
            ResidualANODE(bkg, flow=TOY_FLOW, n_init=bad).fit(X, m)


def test_restarts_in_parallel_processes_give_the_sequential_fit():
    X, m, _ = toy(n=1500, s_over_b=0.03, seed=7)
    params = dict(w=0.02, learn_w=True, flow=TOY_FLOW, n_init=3, random_state=2)
    one = ResidualANODE(GaussianBackground().fit(), n_jobs=1, **params).fit(X, m)
    two = ResidualANODE(GaussianBackground().fit(), n_jobs=2, **params).fit(X, m)
    # each worker runs one torch thread; the main process may run more: float rounding only
    np.testing.assert_allclose(
        two.history_["init_val_loss"], one.history_["init_val_loss"], rtol=1e-6
    )
    assert two.history_["best_init"] == one.history_["best_init"]
    np.testing.assert_allclose(two.w_, one.w_, rtol=1e-5)
    np.testing.assert_allclose(
        two.score_samples(X, m), one.score_samples(X, m), rtol=1e-4, atol=1e-5
    )


def test_fit_flow_init_zero_is_fit_and_other_inits_differ_only_in_the_start():
    rng = np.random.default_rng(0)
    m = rng.uniform(*SR, 1200)
    X = rng.normal(size=(1200, 2))
    flow = clone(TOY_FLOW).set_params(random_state=4)
    fitted = clone(flow).fit(X, m)
    zero = clone(flow).fit_flow(X, m, init=0)
    one = clone(flow).fit_flow(X, m, init=1)
    np.testing.assert_array_equal(fitted.score_samples(X, m), zero.score_samples(X, m))
    assert not np.allclose(one.score_samples(X, m), zero.score_samples(X, m))
    for bad in (-1, 0.5, True, "1"):
        with pytest.raises(ValueError, match="init must be a non-negative int"):
            clone(flow).fit_flow(X, m, init=bad)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_restarts_find_a_planted_toy_signal(seed):
    """With three restarts at a small fixed w the toy blob is found in every seed."""
    X, m, y = toy(n=3000, s_over_b=0.02, seed=10 + seed)
    Xt, mt, yt = toy(n=20000, s_over_b=0.05, seed=100 + seed)
    est = ResidualANODE(
        GaussianBackground().fit(), w=0.01, flow=TOY_FLOW, n_init=3, random_state=seed
    ).fit(X, m)
    assert roc_auc_score(yt, est.score_samples(Xt, mt)) > 0.95


@pytest.mark.slow
def test_default_restarts_find_the_quick_start_signal(lhco_test_events):
    """The README quick start (seed 0), where one training loses the signal.

    Measured (``benchmarks/bench_n_init.py``): with ``n_init=1`` that training
    ends with w_ = 0.001 and a test SIC of 1.0 (the signal is lost); two of
    the three default restarts find it (held-out -log L 0.016 per event lower),
    and the kept one has SIC 13.7 and w_ = 0.016 at a true 0.019.
    """
    events = make_lhco_like(n_background=200_000, n_signal=600, random_state=0)
    X, m = events[list(FEATURE_NAMES)].to_numpy(), events["mjj"].to_numpy()
    background = SidebandDensity(signal_region=SR, random_state=0).fit(X, m)
    in_sr = signal_region_mask(m, SR)
    est = ResidualANODE(background, w=0.003, learn_w=True, random_state=0)
    est.fit(X[in_sr], m[in_sr])
    Xt, mt, yt = lhco_test_events
    assert max_sic(yt, est.score_samples(Xt, mt)) > 8.0
    true_w = events["label"].to_numpy()[in_sr].mean()
    assert 0.4 * true_w < est.w_ < 2.0 * true_w, (est.w_, true_w)
    losses = est.history_["init_val_loss"]
    assert len(losses) == 3 and est.history_["best_init"] == int(np.argmin(losses))
