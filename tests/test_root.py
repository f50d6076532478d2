"""ROOT files: events from a TTree (uproot), on their own and through ``skranode run``."""

import json

import numpy as np
import pandas as pd
import pytest

from skranode.cli import main
from skranode.datasets import COLUMNS, load_root, make_lhco_like
from skranode.datasets._lhco import RND_COLUMNS, rnd_features

uproot = pytest.importorskip("uproot")

SR = (3.3, 3.7)


def _write(path, trees, *, rntuple=False):
    """TTrees (the usual analysis ntuple), or RNTuples (uproot's default)."""
    with uproot.recreate(path) as f:
        for name, branches in trees.items():
            branches = {k: np.asarray(v) for k, v in branches.items()}
            if rntuple:
                f[name] = branches
            else:
                f.mktree(name, {k: v.dtype for k, v in branches.items()})
                f[name].extend(branches)
    return path


def _events(n_background=4000, n_signal=100, seed=0):
    return make_lhco_like(n_background, n_signal, random_state=seed)


def _as_branches(frame, rename=None, scale=1.0):
    rename = rename or {}
    out = {}
    for col in COLUMNS:
        values = np.array(frame[col].to_numpy(), dtype=np.float64)
        if col in ("mjj", "mjmin", "delta_mj"):
            values = values * scale
        out[rename.get(col, col)] = values
    return out


@pytest.mark.parametrize("rntuple", [False, True], ids=["TTree", "RNTuple"])
def test_branches_named_as_the_columns_are_read_exactly(tmp_path, rntuple):
    events = _events()
    path = _write(tmp_path / "events.root", {"events": _as_branches(events)}, rntuple=rntuple)
    frame = load_root(path)
    assert list(frame.columns) == list(COLUMNS)
    np.testing.assert_allclose(frame[list(COLUMNS)].to_numpy(), events[list(COLUMNS)].to_numpy())
    assert frame["label"].dtype == np.int64


def test_mapped_branches_in_gev_become_tev(tmp_path):
    events = _events()
    rename = {"mjj": "Mjj", "label": "isSignal"}
    path = _write(tmp_path / "gev.root", {"t": _as_branches(events, rename, scale=1000.0)})
    frame = load_root(path, branches=rename, units="GeV")
    np.testing.assert_allclose(frame[list(COLUMNS)].to_numpy(), events[list(COLUMNS)].to_numpy())
    # the same file taken as TeV is refused: its masses are far above sqrt(s)
    with pytest.raises(ValueError, match=r"median mjj .* look like GeV. Pass units='GeV'"):
        load_root(path, branches=rename)


def test_without_a_label_branch_the_table_has_no_label(tmp_path):
    events = _events()
    branches = _as_branches(events)
    del branches["label"]
    frame = load_root(_write(tmp_path / "data.root", {"t": branches}))
    assert list(frame.columns) == list(COLUMNS[:-1])


def test_rnd_jet_branches_give_the_rnd_features(tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    jets = {c: rng.uniform(10.0, 600.0, n) for c in RND_COLUMNS if c != "label"}
    for j in ("j1", "j2"):
        jets[f"pz{j}"] = rng.normal(0.0, 800.0, n)
        jets[f"px{j}"] = rng.normal(0.0, 1500.0, n)
        jets[f"tau2{j}"] = jets[f"tau1{j}"] * rng.uniform(0.1, 0.9, n)
    jets["label"] = rng.integers(0, 2, n).astype(np.float64)
    frame = load_root(_write(tmp_path / "rnd.root", {"output": jets}))
    expected, label = rnd_features(pd.DataFrame(jets))
    np.testing.assert_allclose(frame[list(COLUMNS[:-1])].to_numpy(), expected)
    np.testing.assert_array_equal(frame["label"], label)


def test_trees_are_chosen_by_name(tmp_path):
    events = _events()
    path = _write(
        tmp_path / "two.root",
        {"signal": _as_branches(events.iloc[:10]), "events": _as_branches(events)},
    )
    with pytest.raises(ValueError, match=r"holds 2 trees \(events, signal\); name the one"):
        load_root(path)
    assert len(load_root(path, "events")) == len(events)
    with pytest.raises(ValueError, match=r"no tree 'Events'; its trees are: events, signal"):
        load_root(path, "Events")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda b: b.pop("mjmin"), r"no branch for \['mjmin'\].*its branches are"),
        (
            lambda b: b["mjj"].__setitem__(3, np.nan),
            r"NaN or infinity in 1 event\(s\) \(first at entry 3\)",
        ),
        (lambda b: b["label"].__setitem__(0, 2.0), r"label branch 'label' .* only 0 and 1"),
    ],
    ids=["missing-branch", "nan", "bad-label"],
)
def test_bad_trees_are_named(tmp_path, change, match):
    branches = _as_branches(_events())
    change(branches)
    path = _write(tmp_path / "bad.root", {"t": branches})
    with pytest.raises(ValueError, match=match):
        load_root(path)


def test_jagged_branches_and_non_root_files_are_refused(tmp_path):
    import awkward as ak

    events = _events(200, 0)
    branches = _as_branches(events)
    branches["mjmin"] = ak.Array([[v, v] for v in events["mjmin"]])
    with uproot.recreate(tmp_path / "jagged.root") as f:
        f["t"] = branches
    with pytest.raises(ValueError, match="does not hold one number per event"):
        load_root(tmp_path / "jagged.root")
    (tmp_path / "text.root").write_text("not a ROOT file")
    with pytest.raises(ValueError, match="is not a readable ROOT file"):
        load_root(tmp_path / "text.root")
    with pytest.raises(ValueError, match="units must be one of"):
        load_root(tmp_path / "text.root", units="MeV")
    with pytest.raises(ValueError, match="unknown column"):
        load_root(tmp_path / "jagged.root", branches={"m": "mjj"})


def test_cli_runs_on_a_root_ntuple_and_names_bad_options(tmp_path, capsys):
    def in_sr(df):
        return df[(df["mjj"] >= SR[0]) & (df["mjj"] < SR[1])]

    rename = {"mjj": "Mjj"}
    data = in_sr(make_lhco_like(50_000, 600, random_state=6))
    reference = in_sr(make_lhco_like(60_000, 0, random_state=7))
    signal = in_sr(make_lhco_like(0, 1_000, random_state=8))
    for name, frame in (("data", data), ("reference", reference), ("signal", signal)):
        _write(tmp_path / f"{name}.root", {"events": _as_branches(frame, rename, 1000.0)})
    common = ["--tree", "events", "--branch", "mjj=Mjj", "--units", "GeV"]
    args = [
        "run",
        "--data", str(tmp_path / "data.root"),
        "--reference", str(tmp_path / "reference.root"),
        "--test", str(tmp_path / "signal.root"),
        *common,
        "--preset", "fast", "--device", "cpu", "--quiet",
        "--output", str(tmp_path / "out"),
    ]  # fmt: skip
    assert main(args) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["n_sr_events"] == len(data)
    assert res["n_sr_signal"] == int(data["label"].sum())
    assert res["max_sic"]["IAD"] > 3
    # ROOT options on a file that is not ROOT, and a bad mapping: one line, status 2
    np.save(tmp_path / "data.npy", data[list(COLUMNS)].to_numpy())
    assert main(["run", "--data", str(tmp_path / "data.npy"), "--tree", "events"]) == 2
    assert "apply to ROOT files only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--data", str(tmp_path / "data.root"), "--branch", "mjj"])
    assert "expected COLUMN=BRANCH" in capsys.readouterr().err
