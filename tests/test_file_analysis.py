"""``skranode run``: event files, how they are split, and the analysis on them."""

import json

import numpy as np
import pandas as pd
import pytest

from skranode.analysis import run_analysis
from skranode.cli import main
from skranode.datasets import COLUMNS, make_lhco_like
from skranode.file_analysis import load_events, prepare_events

SR = (3.3, 3.7)


def _in_sr(df):
    return df[(df["mjj"] >= SR[0]) & (df["mjj"] < SR[1])]


def _save(path, frame):
    np.save(path, frame[list(COLUMNS)].to_numpy())
    return path


def _keys(frame):
    # events are identified by their exact feature values
    return set(map(tuple, frame[list(COLUMNS)].to_numpy().round(12)))


def test_load_events_reads_npy_and_rejects_other_files(tmp_path):
    frame = make_lhco_like(1000, 10, random_state=0)
    loaded = load_events(_save(tmp_path / "events.npy", frame))
    assert list(loaded.columns) == list(COLUMNS)
    np.testing.assert_array_equal(loaded.to_numpy(), frame[list(COLUMNS)].to_numpy())
    with pytest.raises(ValueError, match=r"Unsupported event file .*\.csv.*six-column \.npy"):
        load_events(tmp_path / "events.csv")
    with pytest.raises(FileNotFoundError, match="No signal-region array"):
        load_events(tmp_path / "missing.npy")


def test_prepare_labelled_file_reinjects_signal_and_keeps_sets_disjoint():
    frame = make_lhco_like(40_000, 4_000, random_state=1)
    before = frame.copy()
    out = prepare_events(frame, n_signal=300, signal_region=SR, seed=0)
    pd.testing.assert_frame_equal(frame, before)  # the caller's table is untouched
    data, ref, lab, test = out["data"], out["reference"], out["labelled"], out["test"]
    assert int(data["label"].sum()) == 300
    assert len(data) == 20_000 + 300
    assert (ref["label"] == 0).all() and len(_in_sr(ref)) == len(ref)
    assert len(_in_sr(test)) == len(test) and 0 < test["label"].mean() < 1
    # no event is used twice across data, reference and test
    k_data, k_ref, k_test = _keys(data), _keys(ref), _keys(test)
    assert not (k_data & k_ref) and not (k_data & k_test) and not (k_ref & k_test)
    # the supervised sample's signal is not in the test set
    assert not (_keys(lab[lab["label"] == 1]) & k_test)
    assert "+ 300 of the 4" in out["notes"][0]


def test_prepare_signal_region_arrays_moves_a_third_of_the_reference_to_the_test():
    data = _in_sr(make_lhco_like(60_000, 100, random_state=2))
    reference = _in_sr(make_lhco_like(60_000, 50, random_state=3))
    signal = _in_sr(make_lhco_like(0, 500, random_state=4))
    out = prepare_events(data, reference=reference, test=signal, signal_region=SR, seed=0)
    n_bkg = int((reference["label"] == 0).sum())
    assert (out["reference"]["label"] == 0).all()
    assert len(out["reference"]) == 2 * n_bkg // 3
    test = out["test"]
    assert int((test["label"] == 0).sum()) == n_bkg - 2 * n_bkg // 3
    assert int(test["label"].sum()) == len(signal)
    assert not (_keys(out["reference"]) & _keys(test))
    assert len(out["data"]) == len(data)  # used as given
    assert any("dropped" in note for note in out["notes"])


def test_signal_region_data_without_background_is_a_clear_error(tmp_path):
    data = _in_sr(make_lhco_like(20_000, 50, random_state=5))
    with pytest.raises(ValueError, match="too few sidebands.*reference"):
        run_analysis(data, output=tmp_path, preset="fast", verbose=False)
    with pytest.raises(ValueError, match=r"No data event has 4\.0 <= mjj < 4\.5"):
        run_analysis(data, signal_region=(4.0, 4.5), output=tmp_path, verbose=False)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The log-likelihood stays within")
def test_cli_run_on_signal_region_arrays(tmp_path):
    data = _in_sr(make_lhco_like(50_000, 600, random_state=6))
    reference = _in_sr(make_lhco_like(60_000, 0, random_state=7))
    signal = _in_sr(make_lhco_like(0, 1_000, random_state=8))
    args = [
        "run",
        "--data",
        str(_save(tmp_path / "data.npy", data)),
        "--reference",
        str(_save(tmp_path / "reference.npy", reference)),
        "--test",
        str(_save(tmp_path / "signal.npy", signal)),
        "--preset",
        "fast",
        "--device",
        "cpu",
        "--output",
        str(tmp_path / "out"),
        "--quiet",
    ]
    assert main(args) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(res["max_sic"]) == {"R-ANODE (learned w)", "CATHODE", "IAD"}
    assert set(res["skipped"]) == {
        "sidebands",
        "supervised",
        "local significance",
        "background-model uncertainty",
    }
    assert res["n_sr_signal"] == int(data["label"].sum())
    # a planted signal at S/B ~ 10 % is found by the idealized detector
    assert res["max_sic"]["IAD"] > 3
    for name in res["plots"]:
        assert (tmp_path / "out" / name).stat().st_size > 10_000
    assert "mass_spectrum.png" not in res["plots"]
