"""What ``sample`` returns: one convention across the generative estimators.

Background models are conditional on masses the caller gives:
``sample(m) -> X``. Models that can also choose the masses (ANODE, R-ANODE)
follow scikit-learn's ``GaussianMixture.sample``: ``sample(n_samples, m) ->
(X, m)``. In both, ``X`` has the layout of ``X`` in ``fit`` and is a
DataFrame with the fitted columns when the model was fitted on a DataFrame.
"""

import numpy as np
import pandas as pd
import pytest

from skranode import (
    ANODE,
    ConditionalFlowDensity,
    CURTAINs,
    DensityEnsemble,
    ResidualANODE,
    SidebandDensity,
)

COLUMNS = ["mjmin", "delta_mj", "tau21_min"]
RNG = np.random.default_rng(0)
M = RNG.uniform(3.0, 4.0, 1500)
X = pd.DataFrame(RNG.normal(size=(1500, 3)) + 0.2 * M[:, None], columns=COLUMNS)
AT = np.linspace(3.35, 3.65, 40)


def tiny_flow(**params):
    base = dict(n_layers=2, n_hidden=16, max_epochs=2, device="cpu", random_state=0)
    return ConditionalFlowDensity(**{**base, **params})


def background():
    return SidebandDensity((3.3, 3.7), density=tiny_flow(), random_state=0)


CONDITIONAL = {
    "ConditionalFlowDensity": tiny_flow,
    "SidebandDensity": background,
    "CURTAINs": lambda: CURTAINs((3.3, 3.7), base=tiny_flow(), max_epochs=1, random_state=0),
    "DensityEnsemble": lambda: DensityEnsemble(tiny_flow(), n_estimators=2, random_state=0),
}


@pytest.mark.parametrize("name", sorted(CONDITIONAL))
def test_conditional_sample_keeps_the_fitted_columns(name):
    on_frame = CONDITIONAL[name]().fit(X, M)
    on_array = CONDITIONAL[name]().fit(X.to_numpy(), M)
    named = on_frame.sample(AT, random_state=3)
    plain = on_array.sample(AT, random_state=3)
    assert isinstance(named, pd.DataFrame)
    assert list(named.columns) == COLUMNS
    assert isinstance(plain, np.ndarray)  # fitted on an array: an array back
    # the names are the only difference: the same events
    np.testing.assert_allclose(named.to_numpy(), plain, rtol=1e-6, atol=1e-6)


def test_the_mass_column_is_put_back_under_its_name():
    with_mass = X.assign(mjj=M)[["mjmin", "mjj", "delta_mj", "tau21_min"]]
    flow = tiny_flow(mass_column=1).fit(with_mass)
    drawn = flow.sample(AT, random_state=0)
    assert list(drawn.columns) == ["mjmin", "mjj", "delta_mj", "tau21_min"]
    np.testing.assert_allclose(drawn["mjj"].to_numpy(), AT)


@pytest.mark.parametrize("model", ["ANODE", "ResidualANODE"])
def test_generative_sample_returns_events_and_masses(model):
    sr = (M >= 3.3) & (M < 3.7)
    bkg = background().fit(X, M)
    if model == "ANODE":
        est = ANODE(bkg, flow=tiny_flow(), random_state=0)
    else:
        est = ResidualANODE(bkg, w=0.05, flow=tiny_flow(), random_state=0)
    est.fit(X[sr], M[sr])
    drawn, mass = est.sample(len(AT), m=AT, random_state=0)
    assert isinstance(drawn, pd.DataFrame) and list(drawn.columns) == COLUMNS
    np.testing.assert_array_equal(mass, AT)
    # a single mass is repeated
    drawn, mass = est.sample(5, m=3.5, random_state=0)
    assert drawn.shape == (5, 3) and np.all(mass == 3.5)


def test_the_transformer_follows_set_output():
    from skranode.preprocessing import LogitScaler

    frame = pd.DataFrame(RNG.uniform(0.1, 0.9, size=(50, 2)), columns=["tau21_min", "tau21_max"])
    out = LogitScaler().set_output(transform="pandas").fit_transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["tau21_min", "tau21_max"]
    plain = LogitScaler().fit_transform(frame)
    np.testing.assert_allclose(out.to_numpy(), plain)
