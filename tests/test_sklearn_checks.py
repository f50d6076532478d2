"""scikit-learn's estimator checks on every skranode estimator (fast settings)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skranode import ConditionalFlowDensity, LogitScaler, SidebandDensity

FAST_FLOW = dict(n_layers=1, n_hidden=8, max_epochs=2, batch_size=64, device="cpu")


def _estimators():
    return [
        LogitScaler(),
        ConditionalFlowDensity(**FAST_FLOW, mass_column=0, random_state=0),
        ConditionalFlowDensity("rqs", **FAST_FLOW, mass_column=0, random_state=0),
        # the checks' data are not dijet spectra: take every event as sideband
        SidebandDensity(
            signal_region=None,
            density=ConditionalFlowDensity(**FAST_FLOW),
            mass_column=0,
            random_state=0,
        ),
    ]


def _expected_failures(estimator):
    if isinstance(estimator, LogitScaler):
        return {}
    return {
        # The second argument of fit/score is the resonant mass and is named m;
        # it is passed positionally by Pipeline and GridSearchCV like y.
        "check_fit_score_takes_y": "the mass argument is named m, not y",
        # calls score(X, y=y) by keyword; the same check with m is
        # test_score_checks_n_features below
        "check_n_features_in_after_fitting": "score takes the mass as m, not y",
    }


@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_score_checks_n_features():
    import numpy as np
    import pytest

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    for est in _estimators()[1:]:
        est.fit(X)
        for method in ("score", "score_samples"):
            with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 3"):
                getattr(est, method)(np.c_[X, X[:, 0]])
