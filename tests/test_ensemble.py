"""DensityEnsemble and ClassifierEnsemble: combination rules, seeds, backends."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from scipy.special import logit, logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KernelDensity

from skranode import ConditionalFlowDensity, SidebandDensity, SupervisedClassifier
from skranode.datasets import make_lhco_like
from skranode.ensemble import ClassifierEnsemble, DensityEnsemble

FAST_FLOW = dict(n_layers=1, n_hidden=8, max_epochs=2, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(0)
    m = rng.uniform(3.0, 4.0, 400)
    X = np.c_[rng.normal(0.1 * m, 0.02), rng.uniform(0.05, 0.95, 400)]
    return X, m


@pytest.fixture(scope="module")
def fitted(events):
    X, m = events
    ens = DensityEnsemble(ConditionalFlowDensity(**FAST_FLOW), n_estimators=3, random_state=0)
    return ens.fit(X, m)


def test_density_score_is_log_mean_exp_of_members(events, fitted):
    X, m = events
    members = np.stack([est.score_samples(X, m) for est in fitted.estimators_])
    assert fitted.combine_ == "log_mean_exp"
    expected = np.log(np.mean(np.exp(members), axis=0))
    np.testing.assert_allclose(fitted.score_samples(X, m), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fitted.member_scores(X, m), members)
    assert fitted.score(X, m) == pytest.approx(expected.mean())
    # the members differ: each has its own seed, hence its own split and initialisation
    assert len(set(fitted.seeds_.tolist())) == 3
    assert [est.random_state for est in fitted.estimators_] == fitted.seeds_.tolist()
    assert not np.allclose(members[0], members[1])


def test_mean_rule_averages_the_scores(events, fitted):
    X, m = events
    ens = clone(fitted).set_params(combine="mean").fit(X, m)
    members = np.stack([est.score_samples(X, m) for est in ens.estimators_])
    np.testing.assert_array_equal(members, fitted.member_scores(X, m))  # same seeds
    np.testing.assert_allclose(ens.score_samples(X, m), members.mean(axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="only with combine='log_mean_exp'"):
        ens.sample(m[:5])


def test_auto_rule_by_estimator_type(events):
    X, _ = events
    kde = DensityEnsemble(KernelDensity(bandwidth=0.1), n_estimators=2).fit(X)
    assert kde.combine_ == "log_mean_exp"
    np.testing.assert_allclose(kde.score_samples(X[:5]), kde.estimators_[0].score_samples(X[:5]))
    # outlier scores are not log-probabilities: their plain mean
    iso = DensityEnsemble(IsolationForest(n_estimators=10), n_estimators=2, random_state=0)
    iso.fit(X)
    assert iso.combine_ == "mean"
    scores = [est.score_samples(X) for est in iso.estimators_]
    np.testing.assert_allclose(iso.score_samples(X), np.mean(scores, axis=0))


def test_sideband_members_and_score_keywords():
    df = make_lhco_like(n_background=3000, n_signal=0, random_state=1)
    X, m = df[["mjmin", "delta_mj"]], df["mjj"]
    bkg = SidebandDensity(density=ConditionalFlowDensity(**FAST_FLOW))
    ens = DensityEnsemble(bkg, n_estimators=2, random_state=3).fit(X, m)
    assert ens.combine_ == "log_mean_exp"
    assert list(ens.feature_names_in_) == ["mjmin", "delta_mj"]
    sr = ((m > 3.3) & (m < 3.7)).to_numpy()
    joint = [est.score_samples(X[sr], m[sr], joint=True) for est in ens.estimators_]
    expected = logsumexp(joint, axis=0) - np.log(2)
    np.testing.assert_allclose(ens.score_samples(X[sr], m[sr], joint=True), expected)
    # the nested flow's seed follows from the member's seed, not from its own None
    seeds = [est.density_.random_state for est in ens.estimators_]
    assert None not in seeds and seeds[0] != seeds[1]


def test_sample_mixture(events, fitted):
    _, m = events
    a = fitted.sample(m[:50], random_state=1)
    b = fitted.sample(m[:50], random_state=1)
    assert a.shape == (50, 2)
    np.testing.assert_array_equal(a, b)
    assert fitted.sample(3.5, random_state=0).shape == (1, 2)
    # with the mass as a column of X the samples come back in that layout
    X, m = events
    ens = DensityEnsemble(
        ConditionalFlowDensity(**FAST_FLOW, mass_column=0), n_estimators=2, random_state=0
    ).fit(np.c_[m, X])
    drawn = ens.sample(m[:20], random_state=0)
    np.testing.assert_array_equal(drawn[:, 0], m[:20])
    assert not hasattr(DensityEnsemble(IsolationForest()), "sample")


def test_n_jobs_1_and_2_agree(events, fitted):
    X, m = events
    parallel = clone(fitted).set_params(n_jobs=2).fit(X, m)
    np.testing.assert_array_equal(parallel.seeds_, fitted.seeds_)
    np.testing.assert_array_equal(parallel.score_samples(X, m), fitted.score_samples(X, m))


def test_pickle_and_clone(events, fitted):
    X, m = events
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.score_samples(X, m), fitted.score_samples(X, m))
    fresh = clone(fitted)
    assert not hasattr(fresh, "estimators_")
    assert fresh.get_params()["estimator__n_hidden"] == FAST_FLOW["n_hidden"]
    with pytest.raises(NotFittedError):
        fresh.score_samples(X, m)


class _ThreadRecorder(BaseEstimator):
    """Records torch's thread count during fit."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        self.threads_ = torch.get_num_threads()
        return self

    def score_samples(self, X):
        return np.zeros(len(X))


@pytest.mark.parametrize("torch_threads, expected", [(1, 1), (None, 2)])
def test_torch_threads_set_during_fit_and_restored(torch_threads, expected):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ens = DensityEnsemble(_ThreadRecorder(), n_estimators=2, torch_threads=torch_threads)
        ens.fit(np.zeros((4, 1)))
        assert [est.threads_ for est in ens.estimators_] == [expected, expected]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_classifier_ensemble_averages_probabilities():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + rng.normal(0, 1, 300) > 0).astype(int)
    base = SupervisedClassifier(HistGradientBoostingClassifier(max_iter=10))
    ens = ClassifierEnsemble(base, n_estimators=3, random_state=0).fit(X, y)
    proba = np.mean([est.predict_proba(X) for est in ens.estimators_], axis=0)
    np.testing.assert_allclose(ens.predict_proba(X), proba, rtol=1e-12)
    np.testing.assert_allclose(ens.decision_function(X), logit(proba[:, 1]), rtol=1e-9)
    np.testing.assert_array_equal(ens.predict(X), np.argmax(proba, axis=1))
    np.testing.assert_array_equal(ens.classes_, [0, 1])
    restored = pickle.loads(pickle.dumps(ens))
    np.testing.assert_array_equal(restored.predict_proba(X), ens.predict_proba(X))


class _SeedClasses(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose classes depend on its seed."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.classes_ = np.arange(2 + self.random_state % 2)
        return self

    def predict_proba(self, X):
        return np.full((len(X), self.classes_.size), 1 / self.classes_.size)


def test_classifier_members_must_agree_on_classes():
    X, y = np.zeros((6, 1)), np.array([0, 1] * 3)
    ens = ClassifierEnsemble(_SeedClasses(), n_estimators=8, random_state=0)
    with pytest.raises(ValueError, match="learned different classes"):
        ens.fit(X, y)


def test_invalid_parameters(events):
    X, m = events
    with pytest.raises(ValueError, match="n_estimators"):
        DensityEnsemble(ConditionalFlowDensity(), n_estimators=0).fit(X, m)
    with pytest.raises(ValueError, match="combine"):
        DensityEnsemble(ConditionalFlowDensity(), combine="median").fit(X, m)
    with pytest.raises(ValueError, match="estimator"):
        DensityEnsemble(HistGradientBoostingClassifier()).fit(X, m)


# ---------------------------------------------------------------- dask cluster
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask")
    # worker processes: threads would share torch's global random generator,
    # which the flows seed, so only processes give reproducible members
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_cluster_matches_local_run(events, fitted, dask_client):
    X, m = events
    with joblib.parallel_config(backend="dask"):
        remote = clone(fitted).set_params(n_jobs=-1).fit(X, m)
    np.testing.assert_array_equal(remote.seeds_, fitted.seeds_)
    np.testing.assert_array_equal(remote.score_samples(X, m), fitted.score_samples(X, m))


def test_dask_grid_search_matches_local_run(events, dask_client):
    X, m = events
    ens = DensityEnsemble(ConditionalFlowDensity(**FAST_FLOW), n_estimators=2, random_state=0)
    grid = {"estimator__n_hidden": [4, 8]}
    cv = KFold(2, shuffle=True, random_state=0)
    local = GridSearchCV(ens, grid, cv=cv).fit(X, m)
    with joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(ens, grid, cv=cv, n_jobs=-1).fit(X, m)
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
