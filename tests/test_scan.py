"""The sliding-window scan: windows, resonance fit, k-fold scoring, LEE, resume, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.mass_spectrum import fit_resonance
from skranode.mass_window import MassWindow
from skranode.scan import scan_spectrum, scan_window, sliding_windows
from skranode.stats import mixture_profile, profile_notes

FEATS = list(FEATURE_NAMES)


# ------------------------------------------------------------------- windows
def test_sliding_windows_fixed_and_relative():
    wins = sliding_windows((3.0, 4.0), width=0.4, step=0.2, sideband_width=0.3)
    assert [w.bounds for w in wins] == [(3.0, 3.4), (3.2, 3.6), (3.4, 3.8), (3.6, 4.0)]
    assert wins[0].sideband == (2.7, 3.7)
    rel = sliding_windows((3.0, 5.0), width=0.1, step=0.1, sideband_width=0.1, relative=True)
    widths = np.array([w.width for w in rel])
    np.testing.assert_allclose(widths, 0.1 * np.array([w.low for w in rel]), rtol=1e-8)
    assert rel[-1].high <= 5.0 + 1e-9
    np.testing.assert_allclose([b.low for b in rel[1:]], [a.high for a in rel[:-1]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mass_range=(3000.0, 5000.0)), "GeV"),
        (dict(mass_range=(3.0, 5.0), step=0.0), "zero step"),
        (dict(mass_range=(3.0, 5.0), width=-0.1), "width must be a positive"),
        (dict(mass_range=(3.0, 3.2), width=0.4), "narrower than one window"),
        (dict(mass_range=(3.0, 5.0), width=1.5, relative=True), "fraction"),
        # issue 42: 200 001 windows of half a minute each, started without a word
        (dict(mass_range=(3.0, 5.0), step=1e-5), "about 200000 windows, more than 200"),
        (dict(mass_range=(3.0, 5.0), step=1e-4, relative=True), "more than 200"),
    ],
)
def test_sliding_windows_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sliding_windows(**kwargs)


# ------------------------------------------------------------ resonance fit
def _dijet_masses(rng, n, lo=3.0, hi=4.6):
    m = 2.8 * (1.0 + rng.pareto(7.0, size=4 * n))
    return m[(m >= lo) & (m < hi)][:n]


def test_fit_resonance_null_is_standard_normal_and_peak_is_found():
    rng = np.random.default_rng(0)
    z = np.array(
        [
            fit_resonance(
                _dijet_masses(rng, 2000), mass=3.8, width=0.19, mass_range=(3.0, 4.6), n_params=3
            ).significance
            for _ in range(60)
        ]
    )
    # a one-parameter likelihood ratio: standard normal under the null
    assert abs(z.mean()) < 0.4
    assert 0.7 < z.std() < 1.3
    assert np.mean(z > 2.5) <= 0.05
    m = np.r_[_dijet_masses(rng, 2000), rng.normal(3.8, 0.19, 250)]
    fit = fit_resonance(m, mass=3.8, width=0.19, mass_range=(3.0, 4.6), n_params=3)
    assert fit.significance > 4
    assert abs(fit.n_signal - 250) < 3 * fit.n_signal_std


def test_resonance_toys_sample_the_background_fit_and_calibrate_the_peak():
    from skranode.mass_spectrum import resonance_toys

    rng = np.random.default_rng(3)
    kw = dict(mass=3.8, width=0.19, mass_range=(3.0, 4.6), n_params=3)
    m = _dijet_masses(rng, 2000)
    fit = fit_resonance(m, **kw)
    toys = resonance_toys(fit, n_toys=300, random_state=1, **kw)
    assert toys.shape == (300, 2) and np.isfinite(toys).all()
    # the toys are spectra of the background fit: Poisson counts around the observed
    # one, and the peak's significance standard normal on them (Wilks)
    z = toys[:, 0]
    assert abs(z.mean()) < 0.2 and 0.85 < z.std() < 1.15
    assert abs(np.mean(z >= 1.0) - norm.sf(1.0)) < 0.06
    # the same seed gives the same toys; another seed other ones
    np.testing.assert_array_equal(toys, resonance_toys(fit, n_toys=300, random_state=1, **kw))
    assert not np.array_equal(toys, resonance_toys(fit, n_toys=300, random_state=2, **kw))
    # a planted peak lies beyond every toy of its own background-only fit
    peak = fit_resonance(np.r_[m, rng.normal(3.8, 0.19, 250)], **kw)
    assert peak.significance > 4
    assert np.all(resonance_toys(peak, n_toys=300, **kw)[:, 0] < peak.significance)
    with pytest.raises(ValueError, match="n_params"):
        resonance_toys(fit, n_toys=10, **dict(kw, n_params=4))
    with pytest.raises(ValueError, match="n_toys"):
        resonance_toys(fit, n_toys=0, **kw)


def test_fit_resonance_deficit_is_negative_and_errors_are_clear():
    rng = np.random.default_rng(1)
    m = _dijet_masses(rng, 3000)
    keep = ~((m > 3.7) & (m < 3.9) & (rng.random(m.size) < 0.4))
    assert fit_resonance(m[keep], mass=3.8, width=0.1, mass_range=(3.0, 4.6)).significance < -2
    with pytest.raises(ValueError, match="width"):
        fit_resonance(m, mass=3.8, width=0.0, mass_range=(3.0, 4.6))
    with pytest.raises(ValueError, match="GeV"):
        fit_resonance(m * 1000, mass=3800, width=100, mass_range=(3000, 4600))
    with pytest.raises(ValueError, match="Only"):
        fit_resonance(m[:10], mass=3.8, width=0.1, mass_range=(3.0, 4.6))


# ------------------------------------------------- w from held-out ratios
def _mixture_log_ratios(rng, n, w):
    """Exact log p_S / p_B of a 1-D mixture: p_B = N(0, 1), p_S = N(2.5, 0.3)."""
    is_signal = rng.random(n) < w
    x = np.where(is_signal, rng.normal(2.5, 0.3, n), rng.normal(0.0, 1.0, n))
    return norm.logpdf(x, 2.5, 0.3) - norm.logpdf(x, 0.0, 1.0)


def test_mixture_profile_intervals_and_upper_limits_cover():
    rng = np.random.default_rng(2)
    w_true = 0.01
    covered, above, above_null = [], [], []
    for _ in range(300):
        prof = mixture_profile(_mixture_log_ratios(rng, 4000, w_true))
        covered.append(prof.covers(w_true))
        above.append(prof.upper_limit_95 >= w_true)
        assert prof.w_hat <= prof.upper_limit_95 <= prof.interval_95[1] + 1e-12
    for _ in range(300):
        null = mixture_profile(_mixture_log_ratios(rng, 4000, 0.0))
        above_null.append(null.interval_95[0] == 0.0)
    assert 0.91 <= np.mean(covered) <= 0.99
    assert np.mean(above) >= 0.93
    # under the null the two-sided 95 % interval reaches 0 in >= 95 % of cases
    assert np.mean(above_null) >= 0.93


def test_profile_notes_flag_edge_cases():
    rng = np.random.default_rng(3)
    null = mixture_profile(_mixture_log_ratios(rng, 2000, 0.0) - 5.0)
    assert null.w_hat == 0 and any("upper limit" in n for n in profile_notes(null))
    pinned = mixture_profile(np.full(500, 3.0))  # every event signal-like
    assert pinned.w_hat == 0.5
    assert any("largest w" in n for n in profile_notes(pinned))
    log_ratio = np.r_[np.zeros(2000), [60.0]]
    with pytest.warns(UserWarning, match="add more than"):
        spike = mixture_profile(log_ratio)
    assert any("almost no density" in n for n in profile_notes(spike))


# ------------------------------------------------------------------ the scan
@pytest.fixture(scope="module")
def small_spectrum():
    df = make_lhco_like(n_background=60_000, n_signal=0, random_state=0)
    return df[FEATS].to_numpy(), df["mjj"].to_numpy()


def _spy_selection_samples(monkeypatch):
    """The sizes of the background samples each fold draws for the cut's threshold.

    The set holds ``"drawing"`` while they are drawn.
    """
    from skranode.scan import _kfold

    sizes, draw = set(), _kfold._selection_samples

    def spy(*args, **kwargs):
        sizes.add("drawing")
        drawn = draw(*args, **kwargs)
        sizes.discard("drawing")
        sizes.add(len(drawn[1]))
        return drawn

    monkeypatch.setattr(_kfold, "_selection_samples", spy)
    return sizes


def test_every_score_comes_from_models_that_never_saw_the_event(small_spectrum, monkeypatch):
    from skranode.anode import ResidualANODE
    from skranode.sideband import SidebandDensity

    X, m = small_spectrum
    trained, scored = {}, []
    alive = []  # every spied model stays referenced, so that no two share an id()
    fit_ranode, fit_bkg = ResidualANODE.fit, SidebandDensity.fit
    sig_ld, bkg_ld = ResidualANODE.signal_log_density, ResidualANODE.background_log_density

    def rows(A):
        return {tuple(r) for r in np.round(np.asarray(A, dtype=float), 12)}

    def spy_bkg(self, A, mass=None):
        # a SidebandDensity is given all events and trains on the sideband ones only
        side = (np.asarray(mass) < 3.3) | (np.asarray(mass) >= 3.7)
        alive.append(self)
        trained[id(self)] = rows(np.asarray(A)[side])
        trained_mass[id(self)] = set(np.asarray(mass)[side])
        return fit_bkg(self, A, mass)

    trained_mass, sampled = {}, []
    sample_bkg = SidebandDensity.sample
    drawn_sizes = _spy_selection_samples(monkeypatch)

    def spy_sample(self, mass, random_state=None):
        if "drawing" not in drawn_sizes:  # the cut's threshold: masses uniform over the window
            sampled.append((id(self), set(np.asarray(mass))))
        return sample_bkg(self, mass, random_state=random_state)

    def spy_ranode(self, A, mass=None):
        alive.append(self)
        trained[id(self)] = rows(A)
        return fit_ranode(self, A, mass)

    def spy_sig(self, A, mass=None):
        if len(A) not in drawn_sizes:  # not the background events drawn for the cut's threshold
            scored.append((id(self), id(self.background), rows(A)))
        return sig_ld(self, A, mass)

    bkg_scored = []
    score_bkg = SidebandDensity.score_samples

    def spy_bkg_score(self, A, mass=None, **kw):
        if len(A) not in drawn_sizes:
            bkg_scored.append((id(self), rows(A)))
        return score_bkg(self, A, mass, **kw)

    monkeypatch.setattr(SidebandDensity, "fit", spy_bkg)
    monkeypatch.setattr(ResidualANODE, "fit", spy_ranode)
    monkeypatch.setattr(ResidualANODE, "signal_log_density", spy_sig)
    monkeypatch.setattr(ResidualANODE, "background_log_density", bkg_ld)
    monkeypatch.setattr(SidebandDensity, "score_samples", spy_bkg_score)
    monkeypatch.setattr(SidebandDensity, "sample", spy_sample)
    window = MassWindow(3.3, 3.7, 3.0, 4.0)
    res = scan_window(X, m, window, preset="fast", n_folds=3, min_sideband=100, random_state=0)
    assert res.summary["skipped"] is None
    # 3 folds, each with a signal model from each of the two starts
    assert len(scored) == 6
    per_fold = {}
    for model, background, events in scored:
        assert not events & trained[model], "a signal model scored an event it trained on"
        assert not events & trained[background], "a background scored an event it trained on"
        per_fold.setdefault(background, []).append((model, events))
    assert len(per_fold) == 3
    all_scored = set()
    for models in per_fold.values():
        # both starts of a fold score the same held-out events
        assert len({model for model, _ in models}) == 2
        assert models[0][1] == models[1][1]
        assert not models[0][1] & all_scored
        all_scored |= models[0][1]
    assert len(all_scored) == res.summary["n_events"] == res.scores.size
    # the background templates of the w likelihood: every fold's background
    # scores signal-region events, none of them an event it trained on
    templated = [bkg for bkg, _ in bkg_scored]
    assert len(set(templated)) == 3
    for background, events in bkg_scored:
        assert not events & trained[background], "a background scored an event it trained on"
    summary = res.summary
    lo95, hi95 = summary["w_interval_95"]
    slo, shi = summary["w_interval_95_statistical"]
    assert lo95 <= slo <= shi <= hi95
    assert summary["w_std_background"] >= 0
    assert summary["w_upper_limit_95"] >= summary["w_upper_limit_95_statistical"]
    assert summary["w_start"] > 0
    assert summary["w_std_signal_model"] >= 0
    # the bump hunt's background-model part only ever lowers the significance
    bump = summary["bump_hunt"]
    assert bump["n_signal_fit_std_background"] >= 0
    assert abs(summary["local_significance"]) <= abs(summary["local_significance_statistical"])
    # the background checks: each fold background draws events at the masses of
    # its held-out strip events only, and every strip event is checked once
    checks = summary["sideband_checks"]
    assert checks["low"]["strip"] == [3.1, 3.3] and checks["high"]["strip"] == [3.7, 3.9]
    in_strip = ((m >= 3.1) & (m < 3.3)) | ((m >= 3.7) & (m < 3.9))
    checked, support = set(), set()
    for background, masses in sampled:
        if background in trained_mass:  # not the signal-model samples' draws
            assert not masses & trained_mass[background]
            if all(3.3 <= v < 3.7 for v in masses):
                support |= masses  # background.check_support of a signal model's events
            else:
                checked |= masses
    assert checked == set(m[in_strip])
    assert support and support <= set(m[(m >= 3.3) & (m < 3.7)])
    assert checks["low"]["n_events"] + checks["high"]["n_events"] == in_strip.sum()
    for side in ("low", "high"):
        assert 0.4 < checks[side]["classifier"]["auc"] < 0.7
        assert checks[side]["likelihood"]["p_value"] >= 0
    assert checks["passed"] in (True, False)
    assert set(checks["notes"]) <= set(summary["notes"])
    # the fast preset's fold backgrounds (5 epochs) stop at their budget: the
    # window says so, naming the setting, in its notes (the table and results.json)
    budget = [n for n in summary["notes"] if "background flow did not converge" in n]
    assert len(budget) == 3 and all("max_steps" in n for n in budget)


def test_first_fit_restarts_set_the_fold_start(small_spectrum, monkeypatch):
    """scan_window(n_init=k): the truth-free first fit trains k restarts and keeps
    the best held-out one, whose w_ sets the start of every fold model (one
    training each)."""
    from skranode.anode import ResidualANODE
    from skranode.inference import cross_fit_start

    X, m = small_spectrum
    fitted = []
    fit_ranode = ResidualANODE.fit

    def spy_ranode(self, A, mass=None):
        out = fit_ranode(self, A, mass)
        fitted.append(self)
        return out

    monkeypatch.setattr(ResidualANODE, "fit", spy_ranode)
    window = MassWindow(3.3, 3.7, 3.0, 4.0)
    res = scan_window(
        X, m, window, preset="fast", n_folds=2, n_init=2, min_sideband=100, random_state=0
    )
    assert res.summary["skipped"] is None
    first, folds = fitted[0], fitted[1:]
    assert first.n_init == 2 and len(first.history_["init_val_loss"]) == 2
    kept = first.history_["best_init"]
    assert first.history_["init_val_loss"][kept] == min(first.history_["init_val_loss"])
    start = cross_fit_start(first.w_)
    assert res.summary["w_start"] == pytest.approx(start, abs=1e-6)  # rounded to 6 digits
    # two folds x two starts (1x and 2x the start), one training each
    assert len(folds) == 4 and all(f.n_init == 1 for f in folds)
    assert sorted({f.w for f in folds}) == pytest.approx(sorted({start, 2 * start}))
    with pytest.raises(ValueError, match="n_init must be a positive integer"):
        scan_window(X, m, window, preset="fast", n_init=0)


def test_registered_methods_run_on_the_same_folds_and_find_a_planted_signal(monkeypatch):
    """scan_window(methods=("CURTAINs",)): each fold's CURTAINs and classifier never
    saw the events they score, and the method's bump hunt finds a planted signal."""
    from skranode.classifiers import CATHODEClassifier
    from skranode.curtains import CURTAINs

    df = make_lhco_like(n_background=40_000, n_signal=500, signal_mass=3.5, random_state=3)
    X, m, y = df[FEATS].to_numpy(), df["mjj"].to_numpy(), df["label"].to_numpy()

    def rows(A):
        return {tuple(r) for r in np.round(np.asarray(A, dtype=float), 12)}

    seen, scored = [], []
    fit_curtains, fit_clf = CURTAINs.fit, CATHODEClassifier.fit
    proba = CATHODEClassifier.predict_proba

    def spy_curtains(self, A, mass=None):
        seen.append(rows(A))
        return fit_curtains(self, A, mass)

    def spy_clf(self, A, mass=None, **kw):
        seen.append(rows(A))
        return fit_clf(self, A, mass, **kw)

    drawn_sizes = _spy_selection_samples(monkeypatch)

    def spy_proba(self, A):
        if len(A) not in drawn_sizes:  # not the events drawn for the cut's threshold
            scored.append(rows(A))
        return proba(self, A)

    monkeypatch.setattr(CURTAINs, "fit", spy_curtains)
    monkeypatch.setattr(CATHODEClassifier, "fit", spy_clf)
    monkeypatch.setattr(CATHODEClassifier, "predict_proba", spy_proba)
    window = MassWindow(3.3, 3.7, 2.9, 4.1)
    res = scan_window(
        X, m, window, preset="fast", labels=y, methods=("CURTAINs", "IAD"), random_state=0
    )
    assert len(seen) == 4 and len(scored) == 2  # per fold: CURTAINs, classifier; a score
    for k, events in enumerate(scored):
        # fold k's models (CURTAINs then its classifier) never saw the events they score
        assert not events & seen[2 * k] and not events & seen[2 * k + 1]
    assert len(scored[0] | scored[1]) == res.summary["n_events"]
    part = res.summary["methods"]["CURTAINs"]
    assert part["skipped"] is None
    assert part["local_significance"] > 3
    assert norm.isf(part["local_p_value"]) == pytest.approx(part["local_significance"], abs=1e-3)
    # the cut keeps signal: far more true signal passes than the 2 % of the background
    n_true = res.summary["n_signal_true"]
    assert part["n_signal_selected_true"] > 0.2 * n_true
    # a method that needs a true background sample is reported, not run
    assert res.summary["methods"]["IAD"]["skipped"] == "no true background sample"
    with pytest.raises(ValueError, match="Unknown method"):
        scan_window(X, m, window, preset="fast", methods=("CURTAIN",))


def test_scan_table_skips_and_resume(small_spectrum, tmp_path):
    X, m = small_spectrum
    windows = [
        MassWindow(3.3, 3.7, 2.9, 4.1),
        MassWindow(3.5, 3.9, 3.1, 4.3),
        MassWindow(7.5, 7.9, 7.1, 8.3),  # beyond the data
        MassWindow(5.5, 5.9, 5.1, 6.3),  # too few events
    ]
    kwargs = dict(
        windows=windows, preset="fast", min_sideband=100, n_bootstrap=20, n_pseudo=20_000,
        cache_dir=tmp_path, random_state=1,
    )
    res = scan_spectrum(X, m, **kwargs)
    assert len(res.windows) == 4
    assert "outside the data" in res.windows[2]["skipped"]
    assert "signal-region events" in res.windows[3]["skipped"]
    table = res.table
    assert list(table["low"]) == [3.3, 3.5, 7.5, 5.5]
    assert np.isfinite(table.loc[:1, "local_significance"]).all()
    assert table.loc[2:, "local_significance"].isna().all()
    # the truth-free background checks of each analysed window are in its row
    assert table.loc[:1, "background_check_passed"].isin([True, False]).all()
    assert np.isfinite(table.loc[:1, "check_low_classifier_z"]).all()
    assert res.best_window in (0, 1)
    assert 0 < res.global_p_value <= 1
    # the global p-value is at least the local one and at most Bonferroni (2 windows)
    p_local = min(w["local_p_value"] for w in res.windows[:2])
    assert p_local - 1e-3 <= res.global_p_value <= min(1, 2 * p_local) + 1e-2
    # the validation windows of the most significant window: next to it, none of its
    # events, subsampled to about its signal-region count, their verdict the trust
    best = res.windows[res.best_window]
    lo, hi = best["signal_region"]
    val = res.validation
    assert set(val.windows) == {"low", "high"}
    analysed = {k: v for k, v in val.windows.items() if "skipped" not in v}
    assert analysed
    for entry in val.windows.values():
        a, b = entry["signal_region"]
        assert b - a == pytest.approx((hi - lo) / 2)
        assert b <= lo - 0.1 or a >= hi + 0.1
        inner = entry["sideband"][1] if b <= lo else entry["sideband"][0]
        assert inner == pytest.approx(lo if b <= lo else hi)
    for entry in analysed.values():
        assert entry["n_sr_events"] < 1.1 * best["n_sr_events"]
        assert np.isfinite(entry["significance"])
    assert res.significance_trusted is all(
        v["significance"] < 2 for v in analysed.values()
    )
    assert res.to_dict()["significance_trusted"] is res.significance_trusted
    assert set(val.skipped) == {f"validation window {k}" for k in val.windows} - {
        f"validation window {k}" for k in analysed
    }
    json.dumps(res.to_dict())  # plain Python
    again = scan_spectrum(X, m, **kwargs)
    assert all(w.get("cached") for w in again.windows[:2])
    for a, b in zip(res.windows[:2], again.windows[:2], strict=True):
        assert a["local_significance"] == b["local_significance"]
        assert a["w_hat"] == b["w_hat"]
    np.testing.assert_array_equal(res.details[0].scores, again.details[0].scores)
    assert again.validation == res.validation  # read back from the cache
    assert len(list(tmp_path.glob("validation_*.json"))) == 2


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda X, m: (X, m * 1000), "GeV"),
        (lambda X, m: (X, (m > 3.5).astype(float)), "labels"),
        (lambda X, m: (np.where(np.arange(len(m))[:, None] == 5, np.nan, X), m), "NaN"),
        (lambda X, m: (X, m[:-1]), "entries"),
        # issue 42: the same file twice, the mass (or a copy of it) or the labels as features
        (lambda X, m: (np.r_[X, X], np.r_[m, m]), "60000 of 120000 events repeat another"),
        (lambda X, m: (np.c_[X, m], m), r"column 4 .*is the resonant mass"),
        (lambda X, m: (np.c_[X, 2 * m + 0.01], m), r"column 4 .*carries it"),
        (lambda X, m: (np.c_[X, (m > 3.5).astype(float)], m), "column 4 takes 2 distinct"),
        (lambda X, m: (np.c_[X, np.ones_like(m)], m), "column 4 takes 1 distinct"),
        # a Cauchy-tailed feature: the flows' scaling squeezes it into a spike
        (
            lambda X, m: (np.c_[X, np.random.default_rng(0).standard_cauchy(m.size)], m),
            r"feature 4 spans .* times its central 98 %",
        ),
        (
            lambda X, m: (pd.DataFrame(X).assign(run=["a"] * len(m)), m),
            r"non-numeric columns \['run'\]",
        ),
        (
            lambda X, m: (pd.DataFrame(X, columns=["a", "b", "a", "c"]), m),
            r"names the columns \['a'\] more than once",
        ),
    ],
)
def test_scan_rejects_valid_looking_wrong_input(small_spectrum, change, match):
    X, m = change(*small_spectrum)
    with pytest.raises(ValueError, match=match):
        scan_spectrum(X, m, windows=[MassWindow(3.3, 3.7, 2.9, 4.1)], preset="fast")


def test_scan_names_the_column_and_refuses_labels_it_cannot_read(small_spectrum):
    X, m = small_spectrum
    frame = pd.DataFrame(np.c_[X, m], columns=[*FEATS, "mjj"])
    window = [MassWindow(3.3, 3.7, 2.9, 4.1)]
    with pytest.raises(ValueError, match=r"column 4 \('mjj'\) is the resonant mass"):
        scan_spectrum(frame, m, windows=window, preset="fast")
    labels = np.zeros(m.size)
    for bad, match in [
        (2 * labels - 1, r"-1/\+1 labels"),  # +-1
        (labels + 0.5, "got the values 0.5"),  # fractions
        (np.where(labels > 0, "signal", "background"), "Map them first"),  # strings
    ]:
        with pytest.raises(ValueError, match=match):
            scan_spectrum(X, m, windows=window, preset="fast", labels=bad)
    shuffled = pd.Series(labels, index=np.arange(m.size)[::-1])
    with pytest.raises(ValueError, match="giving events the labels of others"):
        scan_spectrum(pd.DataFrame(X), m, windows=window, preset="fast", labels=shuffled)


def test_scan_cli_writes_results_json(tmp_path):
    from skranode.cli import main

    out = tmp_path / "scan"
    main([
        "scan", "--preset", "fast", "--n-background", "40000", "--n-signal", "100",
        "--mass-range", "3.2", "3.8", "--step", "0.2", "--output", str(out), "--quiet",
        "--threads", "1", "--curtains",
    ])
    res = json.loads((out / "results.json").read_text())
    analysed = [w for w in res["windows"] if not w["skipped"]]
    assert analysed
    for win in analysed:
        curtains = win["methods"]["CURTAINs"]
        assert np.isfinite(curtains["local_significance"])
        # Z is stored to 3 decimals, the p-value in full
        assert norm.isf(curtains["local_p_value"]) == pytest.approx(
            curtains["local_significance"], abs=1e-3
        )
    for key in ("global_significance", "global_p_value", "best_window", "windows", "notes"):
        assert key in res
    win = res["windows"][res["best_window"]]
    for key in (
        "signal_region", "n_events", "w_hat", "w_interval_95", "w_upper_limit_95",
        "local_significance", "local_p_value", "n_signal_upper_limit_95",
    ):
        assert key in win
    # the checks that decide the trust, also in the printed table's keys
    assert 0 <= win["selection_flat_p_value"] <= 1 and 0 <= win["fit_gof_p_value"] <= 1
    assert res["significance_trusted"] in (True, False, None)
    assert set(res["validation_windows"]) <= {"low", "high"}
    assert set(res["plots"]) >= {"local_p_values.png", "signal_fraction.png"}
    assert all((out / name).exists() for name in res["plots"])


def test_logit_scaler_clip_stays_off_the_pole():
    """An event far outside the training range gets the density of the range's edge
    region, not the logit pole's (it once gave one LHCO event log p_S / p_B = 1.5e6)."""
    from skranode.preprocessing import LogitScaler

    rng = np.random.default_rng(0)
    scaler = LogitScaler().fit(rng.uniform(0, 1, size=(1000, 2)))
    far = np.array([[50.0, -50.0], [1.0 + 1e-9, 0.5]])
    Y = scaler.transform(far)
    assert np.all(np.abs(Y[0]) < 5) and abs(Y[1, 0]) < 5
    edge = scaler.log_abs_det_jacobian(np.array([[1.0, 0.0]]))[0]  # both at the range edge
    assert scaler.log_abs_det_jacobian(far)[0] - edge < 2 * 1.5
    # the training values are untouched: the round trip is exact
    X = rng.uniform(0, 1, size=(50, 2))
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, atol=1e-12)


def test_scan_on_a_dask_cluster_matches_the_local_run(small_spectrum):
    distributed = pytest.importorskip("distributed")
    import joblib

    X, m = small_spectrum
    kwargs = dict(
        windows=[MassWindow(3.3, 3.7, 2.9, 4.1), MassWindow(3.5, 3.9, 3.1, 4.3)],
        preset="fast", min_sideband=100, n_bootstrap=10, n_pseudo=10_000, random_state=2,
        validate=False,
    )
    from skranode.utils._torch import torch_threads

    # one torch thread, as in the cluster's workers: float sums depend on the thread count
    with torch_threads(1):
        local = scan_spectrum(X, m, **kwargs)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        with distributed.Client(cluster), joblib.parallel_config(backend="dask"):
            remote = scan_spectrum(X, m, n_jobs=-1, **kwargs)
    finally:
        cluster.close()
    for k in (0, 1):
        np.testing.assert_array_equal(local.details[k].scores, remote.details[k].scores)
    assert local.global_p_value == remote.global_p_value


def test_registered_methods_get_the_callers_feature_names(monkeypatch):
    """A 4-column array is not silently named as the LHCO features; a DataFrame's names
    reach the methods."""
    import pandas as pd

    import skranode.methods as methods
    from skranode.methods import Method

    seen = []

    def fit(inputs):
        seen.append((list(inputs.X_sr.columns), list(inputs.feature_names)))
        return None

    probe = Method("names probe", fit, lambda model, X, m: np.zeros(len(X)))
    monkeypatch.setitem(methods._REGISTRY, probe.name, probe)
    df = make_lhco_like(n_background=20_000, n_signal=0, random_state=1)
    X, m = df[FEATS].to_numpy(), df["mjj"].to_numpy()
    window = MassWindow(3.3, 3.7, 2.9, 4.1)
    kw = dict(preset="fast", n_folds=2, min_sideband=100, methods=(probe.name,), random_state=0)
    scan_window(X, m, window, **kw)
    assert seen == [(["x0", "x1", "x2", "x3"], ["x0", "x1", "x2", "x3"])] * 2
    seen.clear()
    named = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    scan_window(named, m, window, **kw)
    assert seen == [(["a", "b", "c", "d"], ["a", "b", "c", "d"])] * 2


def test_a_hole_in_the_spectrum_is_named_and_a_whole_spectrum_is_not():
    """Issue 42: a sideband without events at 3.6-3.8 TeV moved Z by about 3 without a word."""
    from skranode.scan._windows import spectrum_holes
    from skranode.scan_job import make_scan_data

    mass = make_scan_data(n_background=300_000, n_signal=0, seed=3)["mjj"].to_numpy()
    for seed_shift in range(2):
        part = mass[seed_shift::2]  # two independent halves: no false alarm in either
        for window in sliding_windows((3.0, 5.4)):
            clipped = window_within(window, part)
            assert spectrum_holes(part, clipped.sideband_low, clipped.sideband_high) == []
    window = sliding_windows((3.0, 5.4))[1]  # 3.2-3.6, sidebands 2.8-4.0
    holed = mass[(mass < 3.7) | (mass >= 3.8)]
    (note,) = spectrum_holes(holed, window.sideband_low, window.sideband_high)
    assert "3.700-3.750 TeV: 0 events" in note, note
    # a hole far smaller than the statistics allow is not claimed
    thinned = mass[(mass < 3.7) | (mass >= 3.75) | (np.arange(mass.size) % 10 != 0)]
    assert spectrum_holes(thinned, window.sideband_low, window.sideband_high) == []


def window_within(window, mass):
    from skranode.scan._windows import within_data

    return within_data(window, float(mass.min()), float(mass.max()))


def test_scan_window_ends_the_sidebands_where_the_events_end(small_spectrum):
    """Issue 42: called directly, a sideband past the data was fitted as empty (Z -45)."""
    from skranode.scan._windows import within_data

    X, m = small_spectrum
    window = MassWindow(3.3, 3.7, 2.0, 8.0)  # both sidebands reach past the events
    clipped = within_data(window, float(m.min()), float(m.max()))
    assert clipped.sideband_low == m.min() and clipped.sideband_high > m.max()
    assert np.all(clipped.in_range(m))
    assert within_data(MassWindow(1.0, 1.5, 0.5, 2.0), float(m.min()), float(m.max())) is None
    outside = scan_window(X, m, MassWindow(m.max() - 0.1, m.max() + 0.3, 2.9, m.max() + 0.5))
    assert "reaches outside the data" in outside.summary["skipped"]
    # too few events to train: the header shows the sidebands it would have used
    few = scan_window(X[:300], m[:300], window, preset="fast")
    low, high = few.summary["sideband"]
    assert low == m[:300].min() and high == np.nextafter(m[:300].max(), np.inf)
