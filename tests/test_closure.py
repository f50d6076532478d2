"""Truth-free checks: the classifier test, the likelihood check, the validation windows."""

import numpy as np
import pytest
from scipy.stats import norm

from skranode.closure import (
    ALPHA,
    classifier_two_sample_test,
    likelihood_check,
    outside_observed_range,
    strip_checks,
    validation_windows,
)
from skranode.mass_window import MassWindow


def test_classifier_test_holds_its_null_and_finds_a_difference():
    zs = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        a, b = rng.normal(size=(600, 4)), rng.normal(size=(600, 4))
        zs.append(classifier_two_sample_test(a, b, random_state=seed)["z"])
    zs = np.array(zs)
    # measured: mean -0.14, std 0.92 over 100 such tests (ties make it a bit conservative)
    assert abs(zs.mean()) < 0.5
    assert 0.6 < zs.std() < 1.3
    assert np.mean(zs > 2) <= 0.1
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 4)), rng.normal(size=(4000, 4))
    b[:, 1] *= 1.25
    res = classifier_two_sample_test(a, b)
    assert res["auc"] > 0.53 and res["z"] > 4 and res["p_value"] < 1e-4
    assert res["n_observed"] == res["n_generated"] == 4000


def test_paired_samples_are_split_by_pair():
    # generated[i] drawn at the mass of observed[i], the mass a column of both:
    # split apart, the pairs make the classifier worse than chance
    z = {True: [], False: []}
    for seed in range(30):
        rng = np.random.default_rng(seed)
        m = rng.uniform(3.7, 3.9, 800)
        a = np.c_[rng.normal(size=(800, 2)) + m[:, None], m]
        b = np.c_[rng.normal(size=(800, 2)) + m[:, None], m]
        for paired in z:
            z[paired].append(
                classifier_two_sample_test(a, b, paired=paired, random_state=seed)["z"]
            )
    assert abs(np.mean(z[True])) < 0.4
    assert np.mean(z[False]) < np.mean(z[True]) - 0.3
    with pytest.raises(ValueError, match="same length"):
        classifier_two_sample_test(a, b[:-1], paired=True)


def test_likelihood_check_holds_its_null_and_tells_narrow_from_broad():
    zs = []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        obs, gen = rng.normal(size=400), rng.normal(size=400)
        zs.append(likelihood_check(norm.logpdf(obs), norm.logpdf(gen))["z"])
    assert abs(np.mean(zs)) < 0.3 and 0.8 < np.std(zs) < 1.2
    rng = np.random.default_rng(1)
    gen = rng.normal(size=5000)  # the model: a standard normal
    wide = likelihood_check(norm.logpdf(rng.normal(scale=1.2, size=5000)), norm.logpdf(gen))
    narrow = likelihood_check(norm.logpdf(rng.normal(scale=0.8, size=5000)), norm.logpdf(gen))
    assert wide["z"] < -5 and wide["p_value"] < 1e-6  # the model is too narrow for the data
    assert narrow["z"] > 5  # too broad
    assert wide["mean_observed"] < wide["mean_generated"]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: classifier_two_sample_test(np.zeros((50, 2)), np.zeros((50, 3))), "same columns"),
        (lambda: classifier_two_sample_test(np.zeros((5, 2)), np.zeros((50, 2))), "at least 10"),
        (
            lambda: classifier_two_sample_test(np.full((50, 2), np.nan), np.zeros((50, 2))),
            "NaN",
        ),
        (lambda: likelihood_check(np.r_[np.zeros(20), -np.inf], np.zeros(20)), "support"),
        (lambda: validation_windows(MassWindow(3.3, 3.7, 2.9, 4.1), (2.8, 7), scale=2), "scale"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_validation_windows_sit_next_to_the_signal_region_outside_it():
    window = MassWindow(3.3, 3.7, 2.9, 4.1)
    wins = validation_windows(window, (2.8, 7.0))
    low, high = wins["low"], wins["high"]
    assert low.bounds == pytest.approx((2.9, 3.1)) and high.bounds == pytest.approx((3.9, 4.1))
    # the low window's lower sideband ends where the data end; the inner ones at the SR
    assert low.sideband_low == 2.8 and low.sideband_high == 3.3
    assert high.sideband_low == 3.7 and high.sideband_high == pytest.approx(4.3)
    m = np.linspace(2.8, 7.0, 100_001)
    for w in wins.values():
        assert not np.any(w.in_range(m) & window.in_signal_region(m))
    # a side without room in the data gets no window
    assert list(validation_windows(window, (3.0, 7.0))) == ["high"]
    assert validation_windows(window, (3.0, 4.0)) == {}


def _conditional_gaussian(mass, rng, shift=0.0):
    mu = np.c_[mass, -mass]
    return mu + shift + rng.normal(size=(mass.size, 2))


def _logp(X, mass):
    mu = np.c_[mass, -mass]
    return norm.logpdf(X - mu).sum(axis=1)


def test_strip_checks_pass_an_exact_model_and_fail_a_shifted_one():
    rng = np.random.default_rng(0)
    mass = np.r_[rng.uniform(3.1, 3.3, 4000), rng.uniform(3.7, 3.9, 3000), rng.uniform(3.9, 4, 50)]
    observed = _conditional_gaussian(mass, rng)
    strips = {"low": (3.1, 3.3), "high": (3.7, 3.9), "far": (3.9, 4.0)}
    exact = _conditional_gaussian(mass, rng)
    checks, notes = strip_checks(
        mass, observed, exact, _logp(observed, mass), _logp(exact, mass), strips
    )
    assert checks["passed"] is True and notes == []
    assert checks["low"]["n_events"] == 4000 and checks["high"]["strip"] == [3.7, 3.9]
    assert "skipped" in checks["far"] and "classifier" not in checks["far"]
    # a model 20 % too narrow in both features: both tests see it
    mu = np.c_[mass, -mass]
    off = mu + 0.8 * rng.normal(size=mu.shape)
    logp_off = norm.logpdf(observed, mu, 0.8).sum(axis=1)
    logp_gen = norm.logpdf(off, mu, 0.8).sum(axis=1)
    checks, notes = strip_checks(mass, observed, off, logp_off, logp_gen, strips)
    assert checks["passed"] is False
    low = checks["low"]
    assert low["classifier"]["p_value"] < ALPHA / 4 and low["likelihood"]["z"] < 0
    assert any("3.1-3.3 TeV" in n and "classifier" in n for n in notes)
    assert any("too narrow" in n for n in notes)
    # nothing testable: no verdict
    checks, notes = strip_checks(
        mass[-50:], observed[-50:], exact[-50:], np.zeros(50), np.zeros(50), {"far": (3.9, 4)}
    )
    assert checks["passed"] is None and notes == []


def test_outside_observed_range_counts_draws_beyond_every_observed_event():
    rng = np.random.default_rng(0)
    observed = rng.uniform(0.0, 1.0, size=(5000, 3))
    inside = rng.uniform(0.01, 0.99, size=(1000, 3))
    res = outside_observed_range(observed, inside, ["a", "b", "c"])
    assert res["fraction"] == 0.0 and res["note"] is None
    generated = inside.copy()
    generated[:30, 1] = -0.05  # 3 % of the draws below the smallest observed b
    generated[30:40, 2] = 1.2  # 1 % above the largest c
    res = outside_observed_range(observed, generated, ["a", "b", "c"])
    assert res["fraction"] == pytest.approx(0.04)
    assert res["per_feature"] == {"a": 0.0, "b": 0.03, "c": 0.01}
    assert "4.0% of its draws" in res["note"] and "most often b: 3.0%" in res["note"]
    # below the note's threshold: counted, not noted
    few = inside.copy()
    few[:2, 0] = 2.0
    res = outside_observed_range(observed, few)
    assert res["fraction"] == pytest.approx(0.002) and res["note"] is None
    with pytest.raises(ValueError, match="observed has 3 features but generated has 2"):
        outside_observed_range(observed, inside[:, :2])
