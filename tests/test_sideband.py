"""SidebandDensity: the background model learned in the sidebands."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline

from skranode import ConditionalFlowDensity, SidebandDensity
from skranode.datasets import FEATURE_NAMES, make_lhco_like

SR = (3.3, 3.7)
TINY = dict(n_layers=2, n_hidden=16, max_epochs=3, batch_size=512, device="cpu")


@pytest.fixture(scope="module")
def events():
    return make_lhco_like(n_background=150_000, n_signal=0, random_state=3)


@pytest.fixture(scope="module")
def fitted(events):
    flow = ConditionalFlowDensity(
        n_layers=6, n_hidden=48, max_epochs=25, batch_size=2048, learning_rate=2e-3,
        patience=5, device="cpu",
    )
    X, m = events[list(FEATURE_NAMES)], events["mjj"]
    return SidebandDensity(SR, density=flow, random_state=0).fit(X, m)


def test_samples_in_signal_region_match_true_background(events, fitted):
    """A classifier cannot tell generated SR background from the true one (AUC <= 0.55)."""
    m = events["mjj"].to_numpy()
    in_sr = (m > SR[0]) & (m < SR[1])
    X_sr = events.loc[in_sr, list(FEATURE_NAMES)].to_numpy()
    generated = fitted.sample(m[in_sr], random_state=1)
    Z = np.r_[X_sr, generated]
    y = np.r_[np.ones(len(X_sr)), np.zeros(len(generated))]
    proba = cross_val_predict(
        HistGradientBoostingClassifier(max_iter=100, random_state=0), Z, y, cv=3,
        method="predict_proba",
    )[:, 1]
    auc = roc_auc_score(y, proba)
    assert auc <= 0.55, auc
    # the model interpolates the mass dependence: SR jets are heavier than low-SB jets
    low_sb = m < 3.0
    assert np.median(generated["mjmin"]) > 1.05 * np.median(events.loc[low_sb, "mjmin"])


def test_only_sideband_events_train_the_flow(events, fitted):
    m = events["mjj"].to_numpy()
    in_sr = (m > SR[0]) & (m < SR[1])
    assert fitted.n_sideband_ == int((~in_sr).sum())
    assert fitted.n_signal_region_ == int(in_sr.sum())


def test_mass_fit_predicts_signal_region_count(events, fitted):
    m = events["mjj"].to_numpy()
    observed = int(((m > SR[0]) & (m < SR[1])).sum())
    expected, std = fitted.mass_spectrum_.expected_count(SR)
    assert abs(observed - expected) < 3 * np.hypot(std, np.sqrt(expected))


def test_joint_density_adds_normalised_mass_density(events, fitted):
    X = events[list(FEATURE_NAMES)].to_numpy()[:50]
    m = np.linspace(3.31, 3.69, 50)
    conditional = fitted.score_samples(X, m)
    joint = fitted.score_samples(X, m, joint=True)
    np.testing.assert_allclose(joint - conditional, fitted.log_mass_density(m))
    total, _ = integrate.quad(lambda v: np.exp(fitted.log_mass_density([v]))[0], *SR)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_pandas_pipeline_and_clone(events):
    df = events.iloc[:20000]
    cols = ["mjj", "mjmin", "delta_mj"]
    direct = SidebandDensity(SR, density=ConditionalFlowDensity(**TINY), random_state=0)
    direct.fit(df[["mjmin", "delta_mj"]], df["mjj"])
    pipe = make_pipeline(
        ColumnTransformer([("keep", "passthrough", cols)]),
        SidebandDensity(SR, density=ConditionalFlowDensity(**TINY), mass_column=0, random_state=0),
    )
    pipe.fit(df)
    np.testing.assert_array_equal(
        pipe.score_samples(df), direct.score_samples(df[["mjmin", "delta_mj"]], df["mjj"])
    )
    fresh = clone(direct)
    assert not hasattr(fresh, "density_")
    assert list(direct.feature_names_in_) == ["mjmin", "delta_mj"]


def test_bad_input_is_rejected_with_a_clear_message(events):
    X = events[list(FEATURE_NAMES)].to_numpy()[:3000]
    m = events["mjj"].to_numpy()[:3000]
    est = SidebandDensity(SR, density=ConditionalFlowDensity(**TINY))
    with pytest.raises(ValueError, match="No event lies in the sidebands"):
        est.fit(X[:100], np.full(100, 3.5))
    with pytest.raises(ValueError, match="outside the mass range"):
        SidebandDensity((8.0, 9.0), density=ConditionalFlowDensity(**TINY)).fit(X, m)
    with pytest.raises(ValueError, match="low < high"):
        SidebandDensity((3.7, 3.3), density=ConditionalFlowDensity(**TINY)).fit(X, m)
    with pytest.raises(ValueError, match="needs the mass"):
        est.fit(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        bad = X.copy()
        bad[7, 2] = np.nan
        est.fit(bad, m)
    with pytest.raises(ValueError, match="non-numeric"):
        est.fit(pd.DataFrame({"a": ["x"] * 10, "b": np.ones(10)}), np.linspace(3, 4, 10))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        est.score_samples(X, m)


def test_caller_data_not_modified(events):
    X = events[list(FEATURE_NAMES)].to_numpy()[:3000].copy()
    m = events["mjj"].to_numpy()[:3000].copy()
    X.setflags(write=False)
    m.setflags(write=False)
    X0, m0 = X.copy(), m.copy()
    est = SidebandDensity(SR, density=ConditionalFlowDensity(**TINY), random_state=0).fit(X, m)
    est.score_samples(X, m)
    est.sample(m, random_state=0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(m, m0)


def test_default_background_flow_is_the_main_jobs_fast_recipe():
    from skranode.presets import AFFINE_BACKGROUND_FLOW, ANALYSIS_PRESETS, BACKGROUND_FLOW
    from skranode.sideband import BACKGROUND_FLOW_RECIPE, default_background_flow

    events = make_lhco_like(20_000, 0, random_state=3)
    X, m = events[list(FEATURE_NAMES)], events["mjj"]
    est = SidebandDensity(random_state=0).fit(X, m)
    got = est.density_.get_params()
    for key, value in BACKGROUND_FLOW_RECIPE.items():
        assert got[key] == value == default_background_flow().get_params()[key], key
    # the main job trains the recipes of presets (one owner), not the slow published
    # model: the splines on a true background sample, the affine flow in the sidebands
    assert ANALYSIS_PRESETS["default"].reference_flow == BACKGROUND_FLOW
    assert ANALYSIS_PRESETS["default"].sideband_flow == AFFINE_BACKGROUND_FLOW
    assert BACKGROUND_FLOW.params() == BACKGROUND_FLOW_RECIPE
    assert ConditionalFlowDensity().get_params()["n_layers"] == 15
    assert len(est.density_.history_["val_loss"]) <= BACKGROUND_FLOW_RECIPE["max_epochs"]
