"""Tests of skranode.plotting: the artists and their data, not the pixels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from skranode.mass_spectrum import DijetMassSpectrum, bump_hunt_significance
from skranode.metrics import max_sic, sic_curve
from skranode.plotting import (
    plot_feature_comparison,
    plot_mass_spectrum,
    plot_roc,
    plot_sic_curve,
    plot_w_profile,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def scores(rng):
    y = np.r_[np.ones(300), np.zeros(3000)]
    good = rng.normal(loc=2.0 * y)
    weak = rng.normal(loc=0.5 * y)
    return y, good, weak


def _line(ax, label_start):
    (line,) = [ln for ln in ax.lines if ln.get_label().startswith(label_start)]
    return line


def _span(patch):
    """x extent of an axvspan (a Rectangle in recent matplotlib, a Polygon before)."""
    if hasattr(patch, "get_width"):
        return patch.get_x(), patch.get_x() + patch.get_width()
    xs = patch.get_xy()[:, 0]
    return xs.min(), xs.max()


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ------------------------------------------------------------------ SIC
def test_sic_curve_lines_are_the_computed_sic(scores):
    y, good, weak = scores
    fig = plot_sic_curve({"good": (y, good), "weak": (y, weak)}, min_background=30)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    for name, score in (("good", good), ("weak", weak)):
        tpr, sic, _ = sic_curve(y, score, min_background=30)
        line = _line(ax, f"{name} (max SIC")
        np.testing.assert_array_equal(line.get_xdata(), tpr)
        np.testing.assert_array_equal(line.get_ydata(), sic)  # NaN where masked
        best = max_sic(y, score, min_background=30)
        assert f"max SIC {best:.2f}" in line.get_label()
        marker = _line(ax, f"_max SIC of {name}")
        assert marker.get_ydata()[0] == pytest.approx(best)
        assert marker.get_color() == line.get_color()
    # the min-background cut removes the tightest cuts: the curves have NaN gaps
    assert np.isnan(_line(ax, "good").get_ydata()).any()
    random = _line(ax, "random")
    np.testing.assert_allclose(random.get_ydata(), np.sqrt(random.get_xdata()))
    assert "30" in ax.get_legend().get_title().get_text()
    assert "SIC" in ax.get_ylabel() and "efficiency" in ax.get_xlabel()
    texts = _legend_texts(ax)
    assert len(texts) == 3 and not any(t.startswith("_") for t in texts)


@pytest.mark.parametrize("n_curves", [1, 4])
@pytest.mark.parametrize("kind", ["sic", "rejection"])
def test_sic_and_rejection_legends_cover_no_curve(rng, n_curves, kind):
    """As in the main job: several curves peaking at small efficiency, the legend clear."""
    y = np.r_[np.ones(600), np.zeros(30000)]
    results = {
        f"method {k} with a long name": (y, rng.normal(loc=(1.5 + 0.5 * k) * y))
        for k in range(n_curves)
    }
    if kind == "sic":
        fig = plot_sic_curve(results)
    else:
        fig = plot_roc(results, rejection=True)
    fig.canvas.draw()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent()
    for line in ax.get_lines():
        xy = np.c_[line.get_xdata(), line.get_ydata()]
        xy = ax.transData.transform(xy[np.isfinite(xy).all(axis=1)])
        inside = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1)
        inside &= (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
        assert not inside.any(), line.get_label()


def test_sic_curve_min_background_changes_the_curve(scores):
    y, good, _ = scores
    loose = plot_sic_curve({"s": (y, good)}, min_background=1, show_random=False).axes[0]
    tight = plot_sic_curve({"s": (y, good)}, min_background=300, show_random=False).axes[0]
    n_loose = np.isfinite(_line(loose, "s (").get_ydata()).sum()
    n_tight = np.isfinite(_line(tight, "s (").get_ydata()).sum()
    assert n_tight < n_loose
    assert len(tight.lines) == 2  # curve and its maximum, no random line


def test_sic_curve_with_weights_and_on_given_axes(scores):
    y, good, _ = scores
    w = np.where(y == 1, 0.5, 1.0)
    fig, (ax0, ax1) = plt.subplots(1, 2)
    out = plot_sic_curve({"w": (y, good, w)}, ax=ax1)
    assert out is fig
    assert not ax0.lines and ax1.lines
    tpr, sic, _ = sic_curve(y, good, sample_weight=w)
    np.testing.assert_array_equal(_line(ax1, "w (").get_ydata(), sic)


def test_sic_curve_without_any_qualifying_cut():
    y = np.r_[np.ones(10), np.zeros(10)]
    ax = plot_sic_curve({"few": (y, np.arange(20.0))}, min_background=25).axes[0]
    assert "no cut keeps 25" in _line(ax, "few").get_label()
    assert np.isnan(_line(ax, "few").get_ydata()).all()


@pytest.mark.parametrize(
    "results, match",
    [
        ({}, "non-empty dict"),
        ([(0, 1)], "non-empty dict"),
        ({"a": (np.ones(3),)}, "must be a tuple"),
        ({"a": np.ones((2, 3))}, "must be a tuple"),
    ],
)
def test_sic_and_roc_reject_bad_results(results, match):
    with pytest.raises(ValueError, match=match):
        plot_sic_curve(results)
    with pytest.raises(ValueError, match=match):
        plot_roc(results)


def test_sic_rejects_bad_min_background(scores):
    y, good, _ = scores
    with pytest.raises(ValueError, match="min_background"):
        plot_sic_curve({"s": (y, good)}, min_background=-1)


# ------------------------------------------------------------------ ROC
def test_roc_lines_and_auc(scores):
    y, good, weak = scores
    ax = plot_roc({"good": (y, good), "weak": (y, weak)}).axes[0]
    for name, score in (("good", good), ("weak", weak)):
        fpr, tpr, _ = roc_curve(y, score)
        line = _line(ax, f"{name} (AUC")
        np.testing.assert_array_equal(line.get_xdata(), fpr)
        np.testing.assert_array_equal(line.get_ydata(), tpr)
        assert f"AUC {roc_auc_score(y, score):.3f}" in line.get_label()
    np.testing.assert_array_equal(_line(ax, "random").get_ydata(), [0.0, 1.0])
    assert ax.get_xlim() == (0.0, 1.0)


def test_roc_rejection(scores):
    y, good, _ = scores
    n_bkg = int((y == 0).sum())
    for min_background in (0, 25):
        ax = plot_roc({"good": (y, good)}, rejection=True, min_background=min_background).axes[0]
        fpr, tpr, _ = roc_curve(y, good, drop_intermediate=False)
        # the cuts of the SIC curve: at least min_background test background events kept
        keep = (fpr > 0) & (fpr * n_bkg >= max(min_background, 1) - 1e-9)
        line = _line(ax, "good")
        drawn = np.c_[line.get_xdata(), line.get_ydata()]
        expected = np.c_[tpr[keep], 1.0 / fpr[keep]]
        np.testing.assert_allclose(np.unique(drawn, axis=0), np.unique(expected, axis=0))
        assert ax.get_yscale() == "log"
        assert "rejection" in ax.get_ylabel()
    # with the SIC's cut the curve stops at n_bkg / 25
    assert line.get_ydata().max() == pytest.approx(n_bkg / 25)


# ------------------------------------------------------------------ mass spectrum
@pytest.fixture
def spectrum_data(rng):
    m = 2.8 * (1.0 + rng.pareto(8.0, size=20000))
    m = m[m < 7.0]
    spectrum = DijetMassSpectrum(mass_range=(2.8, 7.0)).fit(m)
    return m, spectrum


def test_mass_spectrum_artists(spectrum_data):
    m, spectrum = spectrum_data
    fig = plot_mass_spectrum(m, spectrum, bins=30)
    ax = fig.axes[0]
    edges = np.linspace(2.8, 7.0, 31)
    counts = np.histogram(m, edges)[0]
    # data points
    (data,) = [c for c in ax.containers if c.get_label() == "data"]
    np.testing.assert_allclose(data.lines[0].get_xdata(), 0.5 * (edges[1:] + edges[:-1]))
    np.testing.assert_array_equal(data.lines[0].get_ydata(), counts)
    # the fit, per bin
    (fit,) = [p for p in ax.patches if p.get_label() == "sideband fit"]
    values, fit_edges, _ = fit.get_data()
    np.testing.assert_allclose(fit_edges, edges)
    expected = [
        spectrum.expected_count((a, b))[0] for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    np.testing.assert_allclose(values, expected)
    # the fit predicts the sidebands well in total (it is fitted there)
    assert values.sum() == pytest.approx(len(m), rel=0.02)
    # the shaded signal region and the prediction text
    (span,) = [p for p in ax.patches if p.get_label() == "signal region"]
    assert _span(span) == pytest.approx((3.3, 3.7))
    observed = int(((m > 3.3) & (m < 3.7)).sum())
    pred, err = spectrum.expected_count()
    (text,) = ax.texts
    assert f"observed {observed}" in text.get_text()
    assert f"predicted {pred:.0f}" in text.get_text()
    z = bump_hunt_significance(observed, pred, err)
    assert f"$Z$ = {z:.1f}" in text.get_text()
    assert ax.get_yscale() == "log"
    assert set(_legend_texts(ax)) == {"data", "sideband fit", "signal region"}


def test_mass_spectrum_custom_bins_region_and_sideband_density(spectrum_data):
    m, spectrum = spectrum_data

    class Holder:  # stands for a fitted SidebandDensity
        mass_spectrum_ = spectrum

    edges = np.array([2.5, 3.0, 3.4, 3.6, 5.0, 7.5])
    ax = plot_mass_spectrum(m, Holder(), signal_region=(3.4, 3.6), bins=edges, log=False).axes[0]
    (fit,) = [p for p in ax.patches if p.get_label() == "sideband fit"]
    values, fit_edges, _ = fit.get_data()
    # only the bins inside the fitted range (2.8, 7.0) get a prediction
    np.testing.assert_allclose(fit_edges, [3.0, 3.4, 3.6, 5.0])
    assert values[1] == pytest.approx(spectrum.expected_count((3.4, 3.6))[0])
    (span,) = [p for p in ax.patches if p.get_label() == "signal region"]
    assert _span(span) == pytest.approx((3.4, 3.6))
    assert ax.get_yscale() == "linear"


def test_mass_spectrum_pull_panel(spectrum_data):
    m, spectrum = spectrum_data
    fig = plot_mass_spectrum(m, spectrum, bins=30)
    main, panel = fig.axes
    assert panel.get_ylabel() == "Pull" and panel.get_xlabel() == "$m_{jj}$ [TeV]"
    edges = np.linspace(2.8, 7.0, 31)
    counts = np.histogram(m, edges)[0]
    mean, std = np.array(
        [spectrum.expected_count((a, b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    ).T
    (bars,) = [p for p in panel.patches if hasattr(p, "get_data")]
    pulls, pull_edges, _ = bars.get_data()
    np.testing.assert_allclose(pull_edges, edges)
    np.testing.assert_allclose(pulls, (counts - mean) / np.sqrt(mean + std**2))
    # a fit of these data: pulls of about unit width, no systematic trend
    assert 0.5 < np.std(pulls) < 1.6 and abs(np.mean(pulls)) < 0.6
    # the same panel on axes of the caller's; one Axes has no room for it
    import matplotlib.pyplot as plt

    _, pair = plt.subplots(2, 1)
    assert len(plot_mass_spectrum(m, spectrum, bins=30, ax=pair).axes) == 2
    assert pair[1].get_ylabel() == "Pull"
    _, single = plt.subplots()
    assert len(plot_mass_spectrum(m, spectrum, bins=30, ax=single).axes) == 1
    assert len(plot_mass_spectrum(m, spectrum, bins=30, pull=False).axes) == 1
    plt.close("all")


def test_the_hep_style_stays_inside_the_call(spectrum_data):
    import matplotlib as mpl

    pytest.importorskip("mplhep")
    m, spectrum = spectrum_data
    before = dict(mpl.rcParams)
    fig = plot_mass_spectrum(m, spectrum, bins=30)
    assert dict(mpl.rcParams) == before  # no global setting changed
    # drawn in mplhep's style: ticks on all four sides, text scaled to the
    # 10-inch panel (larger than matplotlib's default)
    main = fig.axes[0]
    assert main.xaxis.get_tick_params()["top"] and main.yaxis.get_tick_params()["right"]
    size = main.yaxis.label.get_fontsize()
    assert size > 1.5 * mpl.rcParams["font.size"]
    # small panels get smaller text, so that their labels do not overlap
    rng = np.random.default_rng(0)
    panels = plot_feature_comparison(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)))
    assert panels.axes[0].yaxis.label.get_fontsize() < 0.7 * size
    # axes the caller passes keep the caller's style
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    plot_mass_spectrum(m, spectrum, bins=30, ax=ax)
    assert ax.xaxis.get_tick_params()["top"] == mpl.rcParams["xtick.top"]
    plt.close("all")


def test_mass_spectrum_errors(spectrum_data):
    m, spectrum = spectrum_data
    with pytest.raises(ValueError, match="not fitted|fit"):
        plot_mass_spectrum(m, DijetMassSpectrum())

    class Unfitted:
        mass_spectrum_ = None

    with pytest.raises(ValueError, match="mass_spectrum_ is None"):
        plot_mass_spectrum(m, Unfitted())
    with pytest.raises(TypeError, match="DijetMassSpectrum"):
        plot_mass_spectrum(m, object())
    with pytest.raises(ValueError, match="outside the fitted mass range"):
        plot_mass_spectrum(m, spectrum, signal_region=(2.0, 3.0))
    with pytest.raises(ValueError, match="bins"):
        plot_mass_spectrum(m, spectrum, bins=[3.0, 2.0])
    with pytest.raises(ValueError, match="bins"):
        plot_mass_spectrum(m, spectrum, bins=0)
    with pytest.raises(ValueError, match="NaN"):
        plot_mass_spectrum(np.r_[m, np.nan], spectrum)


# ------------------------------------------------------------------ w profile
def test_w_profile_zooms_on_the_minimum_with_both_intervals():
    w = np.linspace(0.0, 0.05, 101)
    loglik = -0.5 * ((w - 0.02) / 0.002) ** 2  # the w = 0 point is 100 units up
    fig = plot_w_profile(
        w,
        loglik,
        w_hat=0.02,
        interval={"95 %": (0.016, 0.024), "68 %": (0.018, 0.022)},
        threshold=(1.0, 3.84),
        ymax=11.5,
    )
    ax = fig.axes[0]
    assert ax.get_ylim() == pytest.approx((0.0, 11.5))
    lo, hi = ax.get_xlim()
    # the w range where the curve is below 11.5: 0.02 -+ 0.0068, plus 5 % padding
    assert 0.012 < lo < 0.0135 and 0.0265 < hi < 0.028
    spans = sorted(ax.patches, key=lambda p: _span(p)[1] - _span(p)[0])
    assert [_span(p) for p in spans] == [
        pytest.approx((0.018, 0.022)),
        pytest.approx((0.016, 0.024)),
    ]
    # the narrower interval is drawn darker, on top of the wider one
    assert spans[0].get_alpha() > spans[1].get_alpha()
    assert [t for t in _legend_texts(ax) if t.startswith("$-2")] == [
        "$-2\\Delta\\ln L$ = 1",
        "$-2\\Delta\\ln L$ = 3.84",
    ]
    with pytest.raises(ValueError, match="ymax must be a positive number"):
        plot_w_profile(w, loglik, ymax=0.0)


def test_w_profile_artists():
    w = np.linspace(0.0, 0.02, 21)[::-1]  # unsorted input is sorted
    loglik = 100.0 - 0.5 * ((w - 0.008) / 0.003) ** 2
    fig = plot_w_profile(
        w, loglik, w_hat=0.008, interval=(0.005, 0.011), w_true=0.007, threshold=3.84
    )
    ax = fig.axes[0]
    curve = _line(ax, "profile likelihood")
    order = np.argsort(w)
    np.testing.assert_allclose(curve.get_xdata(), w[order])
    np.testing.assert_allclose(curve.get_ydata(), ((w[order] - 0.008) / 0.003) ** 2)
    np.testing.assert_allclose(_line(ax, "$-2").get_ydata(), [3.84, 3.84])
    np.testing.assert_allclose(_line(ax, r"$\hat w$").get_xdata(), [0.008, 0.008])
    np.testing.assert_allclose(_line(ax, "true $w$").get_xdata(), [0.007, 0.007])
    (span,) = ax.patches
    assert _span(span) == pytest.approx((0.005, 0.011))
    assert "interval" in span.get_label()
    assert ax.get_xscale() == "linear"
    assert len(_legend_texts(ax)) == 5


def test_w_profile_minimal_and_log_scale():
    w = np.logspace(-4, -1, 10)
    ax = plot_w_profile(w, -(np.log(w) ** 2), xscale="log").axes[0]
    assert len(ax.lines) == 2 and not ax.patches  # curve and threshold only
    assert ax.get_xscale() == "log"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"w_grid": [0.0, 0.1], "loglik": [1.0]}, "same length"),
        ({"w_grid": [0.0, 0.1], "loglik": [1.0, np.nan]}, "finite"),
        ({"w_grid": [], "loglik": []}, "empty"),
        ({"w_grid": [0.0, 0.1], "loglik": [1.0, 2.0], "xscale": "log"}, "positive"),
        ({"w_grid": [0.0, 0.1], "loglik": [1.0, 2.0], "xscale": "symlog"}, "xscale"),
        ({"w_grid": [0.0, 0.1], "loglik": [1.0, 2.0], "interval": (0.1, 0.0)}, "interval"),
    ],
)
def test_w_profile_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_w_profile(**kwargs)


# ------------------------------------------------------------------ feature comparison
def test_feature_comparison_histograms(rng):
    A = pd.DataFrame(rng.normal(size=(2000, 3)), columns=["x", "y", "z"])
    B = rng.normal(0.5, 2.0, size=(500, 3))
    fig = plot_feature_comparison(A, B, labels=("true", "generated"), bins=20)
    axes = fig.axes
    visible = [a for a in axes if a.get_visible()]
    assert [a.get_xlabel() for a in visible] == ["x", "y", "z"]
    for j, panel in enumerate(visible):
        true, generated = panel.patches
        assert (true.get_label(), generated.get_label()) == ("true", "generated")
        values, edges, _ = true.get_data()
        pooled = np.r_[A.iloc[:, j], B[:, j]]
        lo, hi = np.quantile(pooled, [0.001, 0.999])
        np.testing.assert_allclose(edges, np.linspace(lo, hi, 21))
        width = np.diff(edges)
        np.testing.assert_allclose(values, np.histogram(A.iloc[:, j], edges)[0] / (2000 * width))
        g_values, g_edges, _ = generated.get_data()
        np.testing.assert_allclose(g_edges, edges)
        np.testing.assert_allclose(g_values, np.histogram(B[:, j], edges)[0] / (500 * width))
        # nearly all the events are inside the range
        assert (values * width).sum() == pytest.approx(1.0, abs=0.01)
    assert _legend_texts(visible[0]) == ["true", "generated"]


def test_feature_comparison_layout_names_and_given_axes(rng):
    X = rng.normal(size=(300, 5))
    fig = plot_feature_comparison(X, X + 1.0, quantile_range=(0.0, 1.0))
    assert len(fig.axes) == 8 and sum(a.get_visible() for a in fig.axes) == 5
    assert fig.axes[4].get_xlabel() == "feature 4"
    values, edges, _ = fig.axes[0].patches[0].get_data()
    assert edges[0] == pytest.approx(X[:, 0].min())
    assert edges[-1] == pytest.approx((X[:, 0] + 1.0).max())
    # NaN is left out, a constant feature still gets a range
    fig2, axes = plt.subplots(2, 1)
    A = np.c_[np.r_[np.nan, np.ones(9)], np.arange(10.0)]
    out = plot_feature_comparison(A, A, feature_names=["const", "ramp"], ax=axes)
    assert out is fig2
    values, edges, _ = axes[0].patches[0].get_data()
    assert edges[0] < 1.0 < edges[-1]
    assert (values * np.diff(edges)).sum() == pytest.approx(9 / 9)
    # a single feature on a single Axes
    fig3, ax = plt.subplots()
    assert plot_feature_comparison(np.arange(5.0), np.arange(5.0), ax=ax) is fig3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X_b": np.zeros((5, 3))}, "2 features but X_b has 3"),
        ({"labels": "ab"}, "labels"),
        ({"feature_names": ["a"]}, "feature_names"),
        ({"bins": 0}, "bins"),
        ({"quantile_range": (0.5, 0.5)}, "quantile_range"),
        ({"ax": []}, "0 axes"),
    ],
)
def test_feature_comparison_errors(kwargs, match):
    args = {"X_a": np.zeros((5, 2)), "X_b": np.zeros((5, 2))}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plot_feature_comparison(**args)


def test_library_never_shows(monkeypatch, scores, spectrum_data):
    def forbidden(*args, **kwargs):
        raise AssertionError("plt.show called")

    monkeypatch.setattr(plt, "show", forbidden)
    y, good, _ = scores
    plot_sic_curve({"s": (y, good)})
    plot_roc({"s": (y, good)})
    plot_mass_spectrum(*spectrum_data)
    plot_w_profile([0.0, 0.1], [0.0, -1.0])
    plot_feature_comparison(np.zeros((3, 1)), np.ones((3, 1)))


def test_scan_p_value_plot_draws_each_window_and_each_extra_method():
    from scipy.stats import norm

    from skranode.plotting import plot_local_p_values

    windows = [
        dict(centre=3.2, local_p_value=0.3, methods={"CURTAINs": {"local_p_value": 0.4}}),
        dict(centre=3.4, local_p_value=1e-4, methods={"CURTAINs": {"local_p_value": None}}),
        dict(centre=3.6, local_p_value=None, skipped="too few events"),
        dict(centre=3.8, local_p_value=0.5, methods={"CURTAINs": {"local_p_value": 1e-9}}),
    ]
    fig = plot_local_p_values(windows, global_significance=2.1, truth_mass=3.4)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    ranode = next(v for k, v in lines.items() if k.startswith("R-ANODE"))
    np.testing.assert_allclose(ranode.get_xdata(), [3.2, 3.4, 3.8])
    np.testing.assert_allclose(ranode.get_ydata(), [0.3, 1e-4, 0.5])
    curtains = lines["CURTAINs (same cut and bump hunt)"]
    np.testing.assert_allclose(curtains.get_xdata(), [3.2, 3.8])  # None is not drawn
    np.testing.assert_allclose(curtains.get_ydata(), [0.4, 1e-9])
    assert ax.get_yscale() == "log"
    assert ax.get_ylim()[0] < 1e-9  # the axis reaches the smallest p-value of any method
    levels = {float(line.get_ydata()[0]) for line in ax.get_lines() if len(line.get_ydata())}
    assert all(any(np.isclose(norm.sf(z), v, rtol=1e-9) for v in levels) for z in range(1, 6))
