"""scikit-learn's estimator checks on every skranode estimator (fast settings)."""

from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.estimator_checks import parametrize_with_checks

from skranode import (
    ANODE,
    CATHODEClassifier,
    ConditionalFlowDensity,
    CURTAINs,
    CWoLaClassifier,
    IdealAD,
    LogitScaler,
    ResidualANODE,
    SidebandDensity,
    SupervisedClassifier,
    TorchMLPClassifier,
)
from skranode.ensemble import ClassifierEnsemble, DensityEnsemble
from skranode.estimator_checks import check_table, expected_failed_checks

FAST_FLOW = dict(n_layers=1, n_hidden=8, max_epochs=2, batch_size=64, device="cpu")
FAST_MLP = dict(max_epochs=30, batch_size=16, learning_rate=1e-2, n_best=2, device="cpu")


def _fast_hgb():
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=20)


def _classifiers():
    # CATHODE's background for the checks: a flow fitted in fit on every event
    def background():
        return SidebandDensity(signal_region=None, density=ConditionalFlowDensity(**FAST_FLOW))

    return [
        TorchMLPClassifier((16,), **FAST_MLP, random_state=0),
        SupervisedClassifier(_fast_hgb(), n_ensemble=2, random_state=0),
        IdealAD(_fast_hgb(), mass_column=0, random_state=0),
        # y of the checks is the mass here: the events with y = 1 are the signal region
        CWoLaClassifier((0.5, 1.5), classifier=_fast_hgb(), random_state=0),
        CATHODEClassifier(
            background(),
            signal_region=None,
            oversampling=1,
            classifier=_fast_hgb(),
            mass_column=0,
            random_state=0,
        ),
        CATHODEClassifier(
            background(),
            signal_region=None,
            latent=True,
            oversampling=1,
            classifier=_fast_hgb(),
            mass_column=0,
            random_state=0,
        ),
    ]


class _StandardNormalBackground(DensityMixin, BaseEstimator):
    """A fitted background density for any number of features (R-ANODE/ANODE checks).

    It is never refitted, and clones of the estimators share it, as a real
    fitted SidebandDensity would be shared.
    """

    def fit(self, X=None, m=None):
        self.fitted_ = True
        return self

    def score_samples(self, X, m=None):
        import numpy as np

        X = np.asarray(X, dtype=np.float64)
        return -0.5 * (X**2).sum(axis=1) - 0.5 * X.shape[1] * np.log(2 * np.pi)


def _background_ratio_estimators():
    background = _StandardNormalBackground().fit()
    flow = ConditionalFlowDensity(**FAST_FLOW)
    return [
        ResidualANODE(background, w=0.1, flow=flow, mass_column=0, random_state=0),
        ResidualANODE(background, w=0.1, learn_w=True, flow=flow, mass_column=0, random_state=0),
        ANODE(background, flow=flow, mass_column=0, random_state=0),
    ]


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
        CURTAINs(
            signal_region=None,
            base=ConditionalFlowDensity(**FAST_FLOW, n_best=1),
            n_layers=1,
            n_hidden=8,
            max_epochs=2,
            batch_size=64,
            n_source_masses=2,
            mass_column=0,
            device="cpu",
            random_state=0,
        ),
        DensityEnsemble(
            ConditionalFlowDensity(**FAST_FLOW, mass_column=0), n_estimators=2, random_state=0
        ),
        ClassifierEnsemble(_fast_hgb(), n_estimators=2, random_state=0),
        *_background_ratio_estimators(),
        *_classifiers(),
    ]


@parametrize_with_checks(_estimators(), expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_score_checks_n_features():
    import numpy as np
    import pytest

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    for est in _estimators()[1:]:
        if not hasattr(est, "score_samples"):
            continue
        est.fit(X)
        for method in ("score", "score_samples"):
            with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 3"):
                getattr(est, method)(np.c_[X, X[:, 0]])


def test_rqs_subset_invariance_to_float32_precision():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    est = ConditionalFlowDensity("rqs", **FAST_FLOW, mass_column=0, random_state=0).fit(X)
    full = est.score_samples(X)
    for part in np.array_split(np.arange(300), 7):
        np.testing.assert_allclose(est.score_samples(X[part]), full[part], rtol=1e-5, atol=1e-5)
    order = rng.permutation(300)
    np.testing.assert_allclose(est.score_samples(X[order]), full[order], rtol=1e-5, atol=1e-5)


def test_every_public_estimator_is_checked_or_declared_one_dimensional():
    import inspect
    import warnings

    from sklearn.base import BaseEstimator
    from sklearn.utils import get_tags
    from sklearn.utils.estimator_checks import check_estimator

    import skranode

    checked = {type(est).__name__ for est in _estimators()}
    public = {
        name
        for name, obj in vars(skranode).items()
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator)
    }
    assert public - checked == {"DijetMassSpectrum"}
    # the one left out declares 1-D input, for which scikit-learn runs no common check
    spectrum = skranode.DijetMassSpectrum()
    assert not get_tags(spectrum).input_tags.two_d_array
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ran = check_estimator(spectrum, on_fail=None)
    # only the check that it clones runs, and passes
    assert [(r["check_name"], r["status"]) for r in ran] == [
        ("check_estimator_cloneable", "passed")
    ]
    assert any("Can't test estimator" in str(w.message) for w in caught)


def test_expected_failures_are_listed_once_with_a_reason():
    rows = check_table()
    assert len(rows) == len({(name, check) for name, check, _ in rows})
    assert all(reason and reason[0].islower() for _, _, reason in rows)
    for est in _estimators():
        name = type(est).__name__
        listed = {check for cls, check, _ in rows if cls.split(" ")[0] == name}
        assert set(expected_failed_checks(est)) <= listed, name
    import pytest

    with pytest.raises(ValueError, match="not a skranode estimator"):
        expected_failed_checks(_fast_hgb())
