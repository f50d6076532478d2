"""One ``verbose`` parameter on each public estimator, with bars named after what trains."""

import numpy as np
import pytest

from skranode import CATHODEClassifier, ConditionalFlowDensity, ResidualANODE, SidebandDensity
from skranode.anode import default_signal_flow
from skranode.datasets import FEATURE_NAMES, make_lhco_like


@pytest.fixture(scope="module")
def events():
    df = make_lhco_like(20000, 50, random_state=0)
    return df[list(FEATURE_NAMES)], df["mjj"].to_numpy()


def _fits(events, verbose):
    X, m = events
    flow = ConditionalFlowDensity(n_layers=1, n_hidden=8, max_epochs=2)
    background = SidebandDensity(density=flow, random_state=0, verbose=verbose).fit(X, m)
    sr = (m >= 3.3) & (m < 3.7)
    signal_flow = default_signal_flow().set_params(max_epochs=2)
    ResidualANODE(background, flow=signal_flow, verbose=verbose, random_state=0).fit(X[sr], m[sr])
    CATHODEClassifier(
        SidebandDensity(density=flow), n_ensemble=2, verbose=verbose, random_state=0
    ).fit(X, m)


def test_verbose_shows_a_bar_named_after_each_training(events, capsys):
    _fits(events, verbose=True)
    err = capsys.readouterr().err
    for label in (
        "ConditionalFlowDensity",
        "R-ANODE signal model",
        "CATHODEClassifier classifiers",
    ):
        assert label in err


def test_quiet_by_default(events, capsys):
    _fits(events, verbose=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.parametrize("cls", [SidebandDensity, ResidualANODE, CATHODEClassifier])
def test_verbose_is_a_parameter_that_clones(cls):
    from sklearn.base import clone

    est = cls(verbose=True)
    assert clone(est).get_params()["verbose"] is True
    assert np.isin("verbose", list(cls().get_params())).item()
