"""analyse_window: one signal region, no printing, no files; methods from the registry."""

import os

import numpy as np
import pytest
from scipy.stats import norm

from skranode.analysis import analyse_window
from skranode.datasets import make_lhco_like, signal_region_mask
from skranode.methods import Method, get_method, register_method, registered_methods


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The log-likelihood stays within")
@pytest.mark.filterwarnings("ignore:.*each add more than")
def test_one_window_returns_results_without_side_effects(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = make_lhco_like(60_000, 800, random_state=0)
    test = make_lhco_like(40_000, 600, random_state=3)
    test = test[signal_region_mask(test["mjj"], (3.3, 3.7))]

    def fit_mass_blind(inputs):
        return float(np.mean(inputs.m_sr))

    name = "test: constant score"
    if name not in registered_methods():
        register_method(Method(name, fit_mass_blind, lambda model, X, m: np.zeros(len(X))))
    result = analyse_window(
        data,
        signal_region=(3.3, 3.7),
        test=test,
        methods=("R-ANODE (learned w)", "CATHODE", "IAD", name),
        preset="fast",
        seed=0,
        device="cpu",
    )
    assert capsys.readouterr().out == ""
    assert os.listdir(tmp_path) == []
    res = result.results
    assert list(res["max_sic"]) == ["R-ANODE (learned w)", "CATHODE", name]
    assert res["skipped"]["IAD"] == "no true background sample"
    assert res["max_sic"][name] <= 1.5  # a constant score cannot enrich signal
    assert res["max_sic"]["R-ANODE (learned w)"] > 2
    assert 0 <= res["w_hat"] < 0.5 and result.profile is not None
    # the headline significance is the k-fold bump hunt; the likelihood ratio of w
    # is kept, labelled statistical only; the caveats are in the results
    assert res["significance"] > 3 and "bump_hunt" in res  # S/sqrt(B) about 7 planted
    assert res["significance_likelihood_ratio"] >= 0
    assert res["w_hat"] <= res["w_upper_limit_95"] <= res["w_interval_95"][1]
    # the w numbers are the k-fold stage's, widened by the background-model part
    lo, hi = res["w_interval_95"]
    slo, shi = res["w_interval_95_statistical"]
    assert lo <= slo <= res["w_hat"] <= shi <= hi
    assert res["w_std_background"] >= max(res["w_std_templates"], res["w_hat_sideband"])
    assert res["significance_likelihood_ratio"] <= res["significance_likelihood_ratio_statistical"]
    # the signal-model part: two starts per fold
    assert res["w_std_signal_model"] >= 0
    # the bump hunt's yield widened by its spread over the fold backgrounds
    assert 0 < res["significance"] <= res["significance_bump_hunt_statistical"]
    assert res["bump_hunt"]["n_signal_fit_std_background"] >= 0
    # its empirical null: pseudo-data spectra of the background fit, standard normal
    toys = res["toys"]
    assert toys["n_toys"] == 1000 and toys["n_fitted"] >= 990
    assert abs(toys["z_mean"]) < 0.2 and 0.5 < toys["z_std"] < 1.1
    assert res["p_value_toys"] <= 0.01  # the planted excess is beyond almost every toy
    assert res["significance_toys"] == pytest.approx(norm.isf(res["p_value_toys"]), abs=1e-3)
    assert isinstance(res["notes"], list)
    assert any("preset 'fast' is for smoke runs" in note for note in res["notes"])
    # the fast preset's background flow (4 epochs) stops at its budget: said in the results
    assert res["background_converged"] is False
    assert any(n.startswith("the background flow did not converge") for n in res["notes"])
    assert result.window.bounds == (3.3, 3.7)
    # the truth-free checks: the sideband strips and the validation windows
    assert set(res["sideband_checks"]) == {"low", "high", "passed"}
    val = res["validation_windows"]
    assert val["low"]["signal_region"] == pytest.approx([2.9, 3.1])
    assert val["low"]["sideband"] == pytest.approx([2.8, 3.3], abs=1e-4)
    # subsampled to the signal region's size
    assert abs(val["low"]["n_sr_events"] - res["n_sr_events"]) < 0.05 * res["n_sr_events"]
    assert val["low"]["significance"] < 2 and val["low"]["w_interval_95"][0] == 0
    # 60k events leave the high window's outer sideband too few events
    assert "too close to the edge" in val["high"]["skipped"]
    assert "validation window high" in res["skipped"]
    assert res["significance_trusted"] is True and res["validation_passed"] is True
    assert res["fit_gof_p_value"] >= 0.01 and res["selection_flat_p_value"] >= 0.01


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The log-likelihood stays within")
@pytest.mark.filterwarnings("ignore:.*each add more than")
def test_a_validation_window_with_an_excess_withdraws_the_trust():
    # a resonance at 3.0 TeV, inside the low validation window, none in the SR
    background = make_lhco_like(60_000, 0, random_state=5)
    bump = make_lhco_like(0, 1500, signal_mass=3.0, signal_width=0.02, random_state=6)
    data = __import__("pandas").concat([background, bump], ignore_index=True)
    result = analyse_window(
        data,
        signal_region=(3.3, 3.7),
        methods=("R-ANODE (learned w)",),
        preset="fast",
        seed=0,
        device="cpu",
        n_jobs=1,
    )
    res = result.results
    low = res["validation_windows"]["low"]
    assert low["significance"] >= 2 and low["w_interval_95"][0] > 0
    assert res["significance_trusted"] is False and res["validation_passed"] is False
    assert any(n.startswith("validation window 2.9-3.1 TeV") for n in res["notes"])
    assert res["significance"] < 2  # the signal region itself has no excess


def test_registry_refuses_duplicates_and_unknown_names():
    with pytest.raises(ValueError, match="registered already"):
        register_method(get_method("CATHODE"))
    with pytest.raises(ValueError, match="Unknown method 'nope'"):
        get_method("nope")
    with pytest.raises(TypeError, match="takes a Method"):
        register_method("CATHODE")


def test_a_reference_that_repeats_the_data_is_refused_before_training():
    """Issue 42: ``skranode run --reference`` given the data file itself ran without a word."""
    data = make_lhco_like(20_000, 100, random_state=0)
    data = data[signal_region_mask(data["mjj"], (3.3, 3.7))]
    with pytest.raises(ValueError, match=r"reference events \(100%\) are data events"):
        analyse_window(data, signal_region=(3.3, 3.7), reference=data, preset="fast", seed=0)
    half = data.iloc[: len(data) // 2]
    with pytest.raises(ValueError, match=r"\(100%\) are data events"):
        analyse_window(data, signal_region=(3.3, 3.7), reference=half, preset="fast", seed=0)
