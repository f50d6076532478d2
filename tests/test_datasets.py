"""Tests of skranode.datasets: synthetic events, LHCO loaders, regions and injection."""

import numpy as np
import pandas as pd
import pytest

from skranode.datasets import (
    COLUMNS,
    FEATURE_NAMES,
    dijet_pdf,
    inject_signal,
    lhco_sr_path,
    load_lhco_rnd,
    load_lhco_sr,
    make_lhco_like,
    sideband_mask,
    signal_region_mask,
)
from skranode.datasets._lhco import RND_COLUMNS, rnd_features

SR = (3.3, 3.7)
LHCO_SR_DIR = lhco_sr_path()
needs_lhco = pytest.mark.skipif(
    LHCO_SR_DIR is None, reason="LHCO signal-region arrays not found (set SKRANODE_LHCO_SR)"
)


@pytest.fixture(scope="module")
def big_sample():
    """A sample large enough for percent-level checks (about 0.3 s to generate)."""
    return make_lhco_like(n_background=400_000, n_signal=60_000, random_state=7)


def _in_sr(df):
    return df[(df["mjj"] > SR[0]) & (df["mjj"] < SR[1])]


# -- make_lhco_like: layout and reproducibility ------------------------------


def test_columns_and_constants():
    assert COLUMNS == ("mjj", "mjmin", "delta_mj", "tau21_min", "tau21_max", "label")
    assert FEATURE_NAMES == ("mjmin", "delta_mj", "tau21_min", "tau21_max")
    df = make_lhco_like(n_background=500, n_signal=20, random_state=0)
    assert list(df.columns) == list(COLUMNS)
    assert df.shape == (520, 6)
    assert df["label"].dtype == np.int64
    assert all(df[c].dtype == np.float64 for c in COLUMNS[:-1])
    assert int(df["label"].sum()) == 20
    assert isinstance(df.index, pd.RangeIndex)


def test_as_frame_false_matches_frame():
    df = make_lhco_like(n_background=300, n_signal=30, random_state=3)
    X, y = make_lhco_like(n_background=300, n_signal=30, random_state=3, as_frame=False)
    assert X.shape == (330, 5) and y.shape == (330,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, df[list(COLUMNS[:-1])].to_numpy())
    np.testing.assert_array_equal(y, df["label"].to_numpy())


def test_same_seed_identical_different_seed_differs():
    a = make_lhco_like(n_background=2000, n_signal=50, random_state=11)
    b = make_lhco_like(n_background=2000, n_signal=50, random_state=11)
    c = make_lhco_like(n_background=2000, n_signal=50, random_state=12)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["mjj"].to_numpy(), c["mjj"].to_numpy())
    g1 = make_lhco_like(n_background=100, n_signal=5, random_state=np.random.default_rng(4))
    g2 = make_lhco_like(n_background=100, n_signal=5, random_state=np.random.default_rng(4))
    pd.testing.assert_frame_equal(g1, g2)
    r1 = make_lhco_like(n_background=100, n_signal=5, random_state=np.random.RandomState(4))
    r2 = make_lhco_like(n_background=100, n_signal=5, random_state=np.random.RandomState(4))
    pd.testing.assert_frame_equal(r1, r2)


def test_events_are_shuffled():
    df = make_lhco_like(n_background=5000, n_signal=500, random_state=1)
    pos = np.flatnonzero(df["label"].to_numpy())
    # signal spread over the whole table, not a block at the end
    assert pos.min() < 500 and pos.max() > 5000 - 500
    assert np.ptp(pos) > 4000


def test_only_background_or_only_signal():
    bkg = make_lhco_like(n_background=100, n_signal=0, random_state=0)
    assert (bkg["label"] == 0).all()
    sig = make_lhco_like(n_background=0, n_signal=100, random_state=0)
    assert (sig["label"] == 1).all()


def test_features_are_physical(big_sample):
    df = big_sample
    lo, hi = 2.8, 7.0
    assert df["mjj"].between(lo, hi).all()
    assert (df["mjmin"] > 0).all()
    assert (df["delta_mj"] >= 0).all()
    for c in ("tau21_min", "tau21_max"):
        assert ((df[c] > 0) & (df[c] < 1)).all()
    # a jet cannot weigh more than half of the dijet system here
    assert (df["mjmin"] + df["delta_mj"] < df["mjj"] / 2).all()
    assert np.isfinite(df.to_numpy()).all()


def test_one_million_events_is_fast():
    import time

    start = time.perf_counter()
    X, y = make_lhco_like(random_state=0, as_frame=False)
    elapsed = time.perf_counter() - start
    assert X.shape == (1_001_000, 5) and int(y.sum()) == 1000
    assert elapsed < 5.0  # about 0.5 s on a laptop core


# -- make_lhco_like: statistics ----------------------------------------------


def test_background_fraction_in_signal_region(big_sample):
    bkg = big_sample[big_sample["label"] == 0]
    frac = signal_region_mask(bkg["mjj"]).mean()
    assert frac == pytest.approx(0.121, abs=0.004)


def test_background_mjj_follows_dijet_function(big_sample):
    m = big_sample.loc[big_sample["label"] == 0, "mjj"].to_numpy()
    edges = np.array([2.8, 3.0, 3.3, 3.7, 4.2, 7.0])
    counts = np.histogram(m, edges)[0]
    grid = np.linspace(2.8, 7.0, 200_001)
    pdf = dijet_pdf(grid)
    cdf = np.concatenate(([0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))))
    expected = np.diff(np.interp(edges, grid, cdf / cdf[-1])) * m.size
    # Poisson-level agreement in every bin
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 5)
    # falling spectrum
    assert np.all(np.diff(counts / np.diff(edges)) < 0)


def test_background_signal_region_matches_lhco_reference(big_sample):
    bkg = _in_sr(big_sample[big_sample["label"] == 0])
    # real LHCO R&D background, 3.3 < mjj < 3.7: median [16 %, 84 %] in TeV
    q_min = np.percentile(bkg["mjmin"], [16, 50, 84])
    q_dm = np.percentile(bkg["delta_mj"], [16, 50, 84])
    np.testing.assert_allclose(q_min, [0.058, 0.108, 0.215], rtol=0.08)
    np.testing.assert_allclose(q_dm, [0.032, 0.126, 0.326], rtol=0.10)
    assert bkg["tau21_min"].mean() == pytest.approx(0.58, abs=0.02)
    assert bkg["tau21_min"].std() == pytest.approx(0.18, abs=0.02)
    assert bkg["tau21_max"].mean() == pytest.approx(0.48, abs=0.02)
    assert bkg["tau21_max"].std() == pytest.approx(0.19, abs=0.02)


def test_background_correlations(big_sample):
    bkg = _in_sr(big_sample[big_sample["label"] == 0])
    corr = bkg[list(FEATURE_NAMES)].corr()
    # tau21 falls with jet mass: lighter jet ~ -0.3, heavier jet ~ -0.45 (LHCO: -0.28, -0.44)
    assert -0.38 < corr.loc["tau21_min", "mjmin"] < -0.22
    assert -0.50 < corr.loc["tau21_max", "delta_mj"] < -0.35
    assert -0.30 < corr.loc["tau21_max", "mjmin"] < -0.15
    assert abs(corr.loc["tau21_min", "delta_mj"]) < 0.07


def test_background_jet_mass_grows_linearly_with_mjj(big_sample):
    bkg = big_sample[big_sample["label"] == 0]
    ratios, medians = [], []
    for lo, hi in [(2.8, 2.9), (3.3, 3.7), (4.0, 4.5), (4.5, 7.0)]:
        sel = bkg[(bkg["mjj"] >= lo) & (bkg["mjj"] < hi)]
        assert len(sel) > 1000
        medians.append(sel["mjmin"].median())
        ratios.append(sel["mjmin"].median() / sel["mjj"].median())
    # clearly visible: ~40 % heavier jets at 4.2 TeV than at 2.85 TeV
    assert medians[2] > 1.35 * medians[0]
    assert np.all(np.diff(medians) > 0)
    # and proportional to mjj: the ratio is constant within statistics
    np.testing.assert_allclose(ratios, np.mean(ratios), rtol=0.05)
    # whereas tau21 does not depend on mjj
    t_low = bkg.loc[bkg["mjj"] < 2.9, "tau21_max"].median()
    t_high = bkg.loc[bkg["mjj"] > 4.0, "tau21_max"].median()
    assert t_low == pytest.approx(t_high, abs=0.02)


def test_signal_signal_region_matches_lhco_reference(big_sample):
    sig = _in_sr(big_sample[big_sample["label"] == 1])
    q_min = np.percentile(sig["mjmin"], [16, 50, 84])
    q_dm = np.percentile(sig["delta_mj"], [16, 50, 84])
    np.testing.assert_allclose(q_min, [0.098, 0.110, 0.147], rtol=0.05)
    np.testing.assert_allclose(q_dm, [0.300, 0.383, 0.426], rtol=0.05)
    assert sig["tau21_min"].mean() == pytest.approx(0.39, abs=0.02)
    assert sig["tau21_min"].std() == pytest.approx(0.15, abs=0.02)
    assert sig["tau21_max"].median() == pytest.approx(0.19, abs=0.02)
    assert sig["tau21_max"].mean() == pytest.approx(0.24, abs=0.02)
    # heavy daughter near mx = 0.5 TeV
    assert (sig["mjmin"] + sig["delta_mj"]).median() == pytest.approx(0.5, abs=0.01)


def test_signal_mjj_peak():
    df = make_lhco_like(n_background=0, n_signal=40_000, random_state=5)
    m = df["mjj"].to_numpy()
    assert np.median(m) == pytest.approx(3.5, abs=0.005)
    # relative width 5 %: sigma = 0.175 TeV, so ~74.6 % of the signal in the SR
    q16, q84 = np.percentile(m, [16, 84])
    assert (q84 - q16) / 2 == pytest.approx(0.175, rel=0.03)
    assert signal_region_mask(m).mean() == pytest.approx(0.746, abs=0.01)


def test_signal_parameters_move_the_signal():
    df = make_lhco_like(
        n_background=0,
        n_signal=20_000,
        signal_mass=4.5,
        signal_width=0.02,
        mx=0.3,
        my=0.2,
        random_state=0,
    )
    assert df["mjj"].median() == pytest.approx(4.5, abs=0.01)
    assert df["mjj"].std() == pytest.approx(0.09, rel=0.05)
    heavy = df["mjmin"] + df["delta_mj"]
    assert heavy.median() == pytest.approx(np.hypot(0.3, 0.04), abs=0.01)
    assert df["mjmin"].median() == pytest.approx(np.hypot(0.2, 0.04), abs=0.01)


def test_signal_truncated_to_range():
    df = make_lhco_like(
        n_background=0, n_signal=5000, signal_mass=3.0, signal_width=0.1, random_state=0
    )
    assert df["mjj"].min() >= 2.8


def test_signal_is_separable_from_background(big_sample):
    sr = _in_sr(big_sample)
    sig, bkg = sr[sr["label"] == 1], sr[sr["label"] == 0]

    # a window on the heavy-jet mass alone already enriches the signal strongly
    def window(d):
        heavy = d["mjmin"] + d["delta_mj"]
        return (heavy > 0.45) & (heavy < 0.55) & (d["mjmin"] > 0.08) & (d["mjmin"] < 0.15)

    assert window(sig).mean() > 0.5
    assert window(bkg).mean() < 0.03


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_background": -1}, "n_background"),
        ({"n_signal": -5}, "n_signal"),
        ({"n_signal": 2.5}, "n_signal"),
        ({"n_background": True}, "n_background"),
        ({"n_background": 0, "n_signal": 0}, "at least 1"),
        ({"signal_width": 0.0}, "signal_width"),
        ({"signal_width": -0.1}, "signal_width"),
        ({"signal_width": np.nan}, "signal_width"),
        ({"signal_mass": 8.0}, "outside mjj_range"),
        ({"signal_mass": 2.0}, "outside mjj_range"),
        ({"signal_mass": -1.0}, "signal_mass"),
        ({"mjj_range": (3.0, 2.9)}, "mjj_range"),
        ({"mjj_range": (2.8, 14.0)}, "mjj_range"),
        ({"mjj_range": 3.0}, "mjj_range"),
        ({"mx": 0.0}, "mx"),
        ({"my": -0.1}, "my"),
        ({"mx": 0.1, "my": 0.5}, "heavier"),
        ({"mx": 2.0, "my": 1.6}, "kinematically"),
        ({"random_state": "seed"}, "random_state"),
        ({"random_state": -3}, "random_state"),
    ],
)
def test_make_lhco_like_validation(kwargs, match):
    params = {"n_background": 10, "n_signal": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_lhco_like(**params)


# -- load_lhco_rnd -------------------------------------------------------------


def _rnd_frame(rows):
    frame = pd.DataFrame(rows, columns=list(RND_COLUMNS))
    return frame.astype({"label": np.float64})


def _hand_events():
    # px, py, pz, m, tau1, tau2, tau3 for jet 1 and jet 2 (GeV), label
    return [
        # back to back along x: E1 = sqrt(1500^2 + 100^2), E2 = sqrt(1500^2 + 500^2)
        [1500, 0, 0, 100, 0.5, 0.25, 0.1, -1500, 0, 0, 500, 0.4, 0.1, 0.05, 1],
        # massless, at right angles: mjj^2 = 2 * 1200 * 1600
        [1200, 0, 0, 0, 0.0, 0.0, 0.0, 0, 1600, 0, 0, 0.3, 0.15, 0.1, 0],
        # heavier jet first, with pz: p1 = (0, 1000, 1000), p2 = (0, -1000, 0)
        [0, 1000, 1000, 300, 0.8, 0.2, 0.1, 0, -1000, 0, 50, 0.6, 0.3, 0.2, 0],
    ]


def _expected_hand_mjj():
    m0 = np.sqrt(1500**2 + 100**2) + np.sqrt(1500**2 + 500**2)
    m1 = np.sqrt(2 * 1200 * 1600)
    e1, e2 = np.sqrt(2 * 1000**2 + 300**2), np.sqrt(1000**2 + 50**2)
    m2 = np.sqrt((e1 + e2) ** 2 - 1000**2)  # total momentum (0, 0, 1000)
    return np.array([m0, m1, m2]) / 1000


def test_rnd_features_hand_computed():
    data, label = rnd_features(_rnd_frame(_hand_events()))
    np.testing.assert_allclose(data[:, 0], _expected_hand_mjj(), rtol=1e-12)
    np.testing.assert_allclose(data[:, 0], [3.08447, 1.95959, 2.23327], atol=1e-4)
    np.testing.assert_allclose(data[:, 1], [0.1, 0.0, 0.05])
    np.testing.assert_allclose(data[:, 2], [0.4, 0.0, 0.25])
    # tau21 of the lighter jet, then of the heavier jet
    np.testing.assert_allclose(data[:, 3], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(data[:, 4], [0.25, 0.5, 0.25])
    np.testing.assert_array_equal(label, [1, 0, 0])


def test_tau1_zero_gives_tau21_zero_and_keeps_event():
    rows = _hand_events()
    rows[0][4] = 0.0  # tau1 of jet 1 (the lighter) is zero
    rows[0][5] = 0.0
    data, _ = rnd_features(_rnd_frame(rows))
    assert data.shape[0] == 3
    assert data[0, 3] == 0.0
    assert np.isfinite(data).all()


def test_load_lhco_rnd_from_hdf(tmp_path):
    pytest.importorskip("tables")
    path = tmp_path / "events.h5"
    frame = _rnd_frame(_hand_events()).astype(np.float32)  # the real file is float32-ish
    frame.to_hdf(path, key="df", mode="w")
    df = load_lhco_rnd(path)
    assert list(df.columns) == list(COLUMNS)
    np.testing.assert_allclose(df["mjj"], _expected_hand_mjj(), rtol=1e-6)
    assert df["label"].tolist() == [1, 0, 0]
    X, y = load_lhco_rnd(path, as_frame=False)
    assert X.shape == (3, 5)
    np.testing.assert_array_equal(y, [1, 0, 0])


def test_load_lhco_rnd_missing_columns(tmp_path):
    pytest.importorskip("tables")
    path = tmp_path / "bad.h5"
    _rnd_frame(_hand_events()).drop(columns=["tau2j2", "label"]).to_hdf(path, key="df")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['tau2j2', 'label'\]"):
        load_lhco_rnd(path)


def test_load_lhco_rnd_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_lhco_rnd(tmp_path / "nope.h5")


def test_rnd_features_rejects_nan():
    frame = _rnd_frame(_hand_events())
    frame.loc[1, "mj2"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rnd_features(frame)


# -- load_lhco_sr and lhco_sr_path ---------------------------------------------


def test_load_lhco_sr_synthetic(tmp_path):
    X, y = make_lhco_like(n_background=200, n_signal=10, random_state=0, as_frame=False)
    path = tmp_path / "sr.npy"
    np.save(path, np.column_stack([X, y]).astype(np.float64))
    df = load_lhco_sr(path)
    assert list(df.columns) == list(COLUMNS)
    np.testing.assert_array_equal(df[list(COLUMNS[:-1])].to_numpy(), X)
    X2, y2 = load_lhco_sr(path, as_frame=False)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_load_lhco_sr_validation(tmp_path):
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="expected"):
        load_lhco_sr(path)
    arr = np.zeros((4, 6))
    arr[2, 5] = 2.0
    np.save(path, arr)
    with pytest.raises(ValueError, match="only 0 and 1"):
        load_lhco_sr(path)
    arr[2, 5] = np.nan
    np.save(path, arr)
    with pytest.raises(ValueError, match="NaN"):
        load_lhco_sr(path)
    with pytest.raises(FileNotFoundError):
        load_lhco_sr(tmp_path / "missing.npy")


def test_lhco_sr_path_env(monkeypatch, tmp_path):
    (tmp_path / "sr_data_part1.npy").write_bytes(b"")
    monkeypatch.setenv("SKRANODE_LHCO_SR", str(tmp_path))
    assert lhco_sr_path() == tmp_path.resolve()
    assert lhco_sr_path("sr_data_part1") == (tmp_path / "sr_data_part1.npy").resolve()
    assert lhco_sr_path("sr_data_part1.npy") == (tmp_path / "sr_data_part1.npy").resolve()
    assert lhco_sr_path("other") is None
    monkeypatch.setenv("SKRANODE_LHCO_SR", str(tmp_path / "does-not-exist"))
    assert lhco_sr_path() is None
    assert lhco_sr_path("sr_data_part1") is None


@pytest.mark.lhco
@needs_lhco
def test_real_signal_region_files():
    part1 = load_lhco_sr(lhco_sr_path("sr_data_part1"))
    assert part1.shape == (60000, 6)
    assert int(part1["label"].sum()) == 395
    assert signal_region_mask(part1["mjj"]).all()
    pool = load_lhco_sr(lhco_sr_path("sr_signal_pool_a"))
    assert (pool["label"] == 1).all()


@pytest.mark.lhco
@needs_lhco
def test_synthetic_matches_real_signal_region(big_sample):
    real = pd.concat(
        [load_lhco_sr(lhco_sr_path(n)) for n in ("sr_data_part1", "sr_data_part2")],
        ignore_index=True,
    )
    synth = _in_sr(big_sample)
    for label, rtol in ((0, 0.12), (1, 0.06)):
        r, s = real[real["label"] == label], synth[synth["label"] == label]
        for col in ("mjmin", "delta_mj"):
            np.testing.assert_allclose(
                np.percentile(s[col], [16, 50, 84]),
                np.percentile(r[col], [16, 50, 84]),
                rtol=rtol,
                err_msg=f"{col}, label {label}",
            )
        for col in ("tau21_min", "tau21_max"):
            assert s[col].median() == pytest.approx(r[col].median(), abs=0.03)


# -- signal_region_mask and sideband_mask ------------------------------------


def test_masks_by_hand():
    m = np.array([2.9, 3.3, 3.5, 3.6999, 3.7, 4.5, 6.0])
    np.testing.assert_array_equal(signal_region_mask(m), [0, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(sideband_mask(m), [1, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(sideband_mask(m, sideband=(3.0, 5.0)), [0, 0, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(sideband_mask(m, sideband=(None, 5.0)), [1, 0, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(sideband_mask(m, sideband=(2.0, None)), [1, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(
        signal_region_mask(m, signal_region=(3.0, 4.0)), [0, 1, 1, 1, 1, 0, 0]
    )


def test_masks_partition_and_accept_pandas(big_sample):
    m = big_sample["mjj"]
    sr, sb = signal_region_mask(m), sideband_mask(m)
    assert isinstance(sr, np.ndarray) and sr.dtype == bool
    assert not np.any(sr & sb) and np.all(sr | sb)
    np.testing.assert_array_equal(signal_region_mask(big_sample), sr)  # uses the mjj column
    np.testing.assert_array_equal(signal_region_mask(m.to_numpy()[:, None]), sr)


def test_masks_do_not_modify_read_only_input():
    m = np.array([3.0, 3.5, 4.0])
    m.setflags(write=False)
    signal_region_mask(m)
    sideband_mask(m, sideband=(2.9, 4.1))
    np.testing.assert_array_equal(m, [3.0, 3.5, 4.0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: signal_region_mask([3.0, np.nan]), "NaN"),
        (lambda: sideband_mask([3.0, np.inf]), "NaN"),
        (lambda: signal_region_mask(np.ones((3, 2))), "1-D"),
        (lambda: signal_region_mask([3.5], signal_region=(3.7, 3.3)), "low < high"),
        (lambda: signal_region_mask([3.5], signal_region=(3.3, 3.3)), "low < high"),
        (lambda: signal_region_mask([3.5], signal_region=(3.3,)), "pair"),
        (lambda: signal_region_mask([3.5], signal_region=(3.3, np.nan)), "pair"),
        (lambda: sideband_mask([3.5], sideband=(3.4, 4.0)), "enclose"),
        (lambda: sideband_mask([3.5], sideband=(3.0, 3.6)), "enclose"),
        (lambda: sideband_mask([3.5], sideband=(4.0, 3.0)), "low < high"),
        (lambda: signal_region_mask(pd.DataFrame({"a": [1.0], "b": [2.0]})), "mjj"),
        (lambda: signal_region_mask(["a", "b"]), "numbers"),
    ],
)
def test_mask_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- inject_signal -------------------------------------------------------------


@pytest.fixture
def pools():
    bkg = make_lhco_like(n_background=5000, n_signal=0, random_state=1)
    sig = make_lhco_like(n_background=0, n_signal=800, random_state=2)
    return bkg, sig


def test_inject_counts_and_s_over_b(pools):
    bkg, sig = pools
    mixed = inject_signal(bkg, sig, n_signal=123, random_state=0)
    assert len(mixed) == 5123 and int(mixed["label"].sum()) == 123
    assert list(mixed.columns) == list(bkg.columns)
    assert (mixed.dtypes == bkg.dtypes).all()
    assert isinstance(mixed.index, pd.RangeIndex)
    mixed = inject_signal(bkg, sig, s_over_b=0.006, random_state=0)
    assert int(mixed["label"].sum()) == 30  # round(0.006 * 5000)
    assert int(mixed["label"].sum()) / int((mixed["label"] == 0).sum()) == pytest.approx(0.006)
    assert len(inject_signal(bkg, sig, n_signal=0, random_state=0)) == 5000


def test_inject_draws_without_replacement_and_keeps_background(pools):
    bkg, sig = pools
    mixed = inject_signal(bkg, sig, n_signal=800, random_state=0)  # the whole pool
    keys = list(COLUMNS[:-1])
    got_sig = mixed[mixed["label"] == 1].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got_sig, sig.sort_values(keys).reset_index(drop=True))
    got_bkg = mixed[mixed["label"] == 0].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got_bkg, bkg.sort_values(keys).reset_index(drop=True))
    # shuffled: the signal is not a block at the end
    pos = np.flatnonzero(mixed["label"].to_numpy())
    assert pos.min() < 1000


def test_inject_reproducible(pools):
    bkg, sig = pools
    a = inject_signal(bkg, sig, n_signal=50, random_state=3)
    b = inject_signal(bkg, sig, n_signal=50, random_state=3)
    c = inject_signal(bkg, sig, n_signal=50, random_state=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_inject_numpy_read_only_inputs(pools):
    bkg, sig = (df.to_numpy() for df in pools)
    bkg_copy, sig_copy = bkg.copy(), sig.copy()
    bkg.setflags(write=False)
    sig.setflags(write=False)
    mixed = inject_signal(bkg, sig, s_over_b=0.01, random_state=0)
    assert isinstance(mixed, np.ndarray) and mixed.shape == (5050, 6)
    assert mixed[:, -1].sum() == 50
    np.testing.assert_array_equal(bkg, bkg_copy)
    np.testing.assert_array_equal(sig, sig_copy)


def test_inject_does_not_modify_frames(pools):
    bkg, sig = pools
    bkg_copy, sig_copy = bkg.copy(), sig.copy()
    inject_signal(bkg, sig[list(reversed(sig.columns))], n_signal=10, random_state=0)
    pd.testing.assert_frame_equal(bkg, bkg_copy)
    pd.testing.assert_frame_equal(sig, sig_copy)


def test_inject_reorders_signal_columns(pools):
    bkg, sig = pools
    mixed = inject_signal(bkg, sig[list(reversed(sig.columns))], n_signal=10, random_state=0)
    assert list(mixed.columns) == list(COLUMNS)
    assert int(mixed["label"].sum()) == 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_signal": 801}, "only 800"),
        ({"s_over_b": 0.5}, "only 800"),
        ({}, "exactly one"),
        ({"n_signal": 5, "s_over_b": 0.1}, "exactly one"),
        ({"n_signal": -1}, "n_signal"),
        ({"s_over_b": -0.1}, "s_over_b"),
        ({"s_over_b": np.nan}, "s_over_b"),
    ],
)
def test_inject_validation(pools, kwargs, match):
    bkg, sig = pools
    with pytest.raises(ValueError, match=match):
        inject_signal(bkg, sig, **kwargs)


def test_inject_validation_of_tables(pools):
    bkg, sig = pools
    with pytest.raises(ValueError, match="same columns"):
        inject_signal(bkg, sig.drop(columns="tau21_max"), n_signal=1)
    with pytest.raises(ValueError, match="columns"):
        inject_signal(bkg.to_numpy(), sig.to_numpy()[:, :5], n_signal=1)
    bad = bkg.copy()
    bad.loc[3, "mjmin"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        inject_signal(bad, sig, n_signal=1)
    with pytest.raises(ValueError, match="2-D"):
        inject_signal(bkg["mjj"].to_numpy(), sig, n_signal=1)
