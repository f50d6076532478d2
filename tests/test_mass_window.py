"""One convention for the signal region and its sidebands, the same in every part of skranode."""

import ast
import pathlib

import numpy as np
import pandas as pd
import pytest

from skranode import CATHODEClassifier, ConditionalFlowDensity, CWoLaClassifier, SidebandDensity
from skranode.bump_hunt import enhanced_bump_hunt
from skranode.datasets import make_lhco_like, sideband_mask, signal_region_mask
from skranode.mass_spectrum import DijetMassSpectrum
from skranode.mass_window import MassWindow, check_interval

LO, HI = 3.3, 3.7
FEATS = ["mjmin", "delta_mj"]


def test_window_masks_partition_and_tile():
    m = np.array([3.0, 3.3, 3.5, np.nextafter(3.7, 0), 3.7, 4.0])
    window = MassWindow.from_params((LO, HI))
    sr, sb = window.in_signal_region(m), window.in_sidebands(m)
    np.testing.assert_array_equal(sr, [False, True, True, True, False, False])
    assert not np.any(sr & sb) and np.all(sr | sb)
    # neighbouring windows [a, b) and [b, c) never share an event
    left, right = MassWindow(3.1, LO), MassWindow(LO, HI)
    assert not np.any(left.in_signal_region(m) & right.in_signal_region(m))
    # outer limits are half-open too
    outer = MassWindow.from_params((LO, HI), (3.0, 4.0))
    np.testing.assert_array_equal(outer.in_sidebands(m), [True, False, False, False, True, False])
    assert tuple(outer) == (LO, HI) and outer.sideband == (3.0, 4.0) and window.sideband is None


@pytest.mark.parametrize(
    "interval, match",
    [((3.7, 3.3), "low < high"), ((3.3,), "pair"), ((3.3, np.nan), "finite"), ("SR", "pair")],
)
def test_one_validator(interval, match):
    with pytest.raises(ValueError, match=match):
        check_interval(interval)
    with pytest.raises(ValueError, match=match):
        MassWindow.from_params(interval)


def test_sideband_must_enclose():
    with pytest.raises(ValueError, match="must enclose"):
        MassWindow.from_params((LO, HI), (3.4, 4.0))


@pytest.fixture(scope="module")
def edge_events():
    """LHCO-like events plus one event at exactly each edge of the signal region."""
    df = make_lhco_like(n_background=30_000, n_signal=0, random_state=0)
    edges = df.iloc[:2].copy()
    edges["mjj"] = [LO, HI]
    df = pd.concat([df, edges], ignore_index=True)
    return df[FEATS], df["mjj"].to_numpy(), len(df) - 2, len(df) - 1


def test_edge_events_belong_to_one_side_everywhere(edge_events):
    X, m, at_lo, at_hi = edge_events
    window = MassWindow.from_params((LO, HI))
    sr = window.in_signal_region(m)
    assert sr[at_lo] and not sr[at_hi]
    # dataset helpers
    np.testing.assert_array_equal(signal_region_mask(m, (LO, HI)), sr)
    np.testing.assert_array_equal(sideband_mask(m, (LO, HI)), ~sr)
    n_sr, n_sb = int(sr.sum()), int((~sr).sum())
    # the background model trains on the sidebands only
    flow = ConditionalFlowDensity(n_layers=1, n_hidden=8, max_epochs=1, device="cpu")
    bkg = SidebandDensity((LO, HI), density=flow, random_state=0).fit(X, m)
    assert (bkg.n_sideband_, bkg.n_signal_region_) == (n_sb, n_sr)
    # the mass fit
    spec = DijetMassSpectrum(signal_region=(LO, HI)).fit(m)
    assert (spec.n_sideband_, spec.n_signal_region_) == (n_sb, n_sr)
    # CATHODE's data and CWoLa's classes
    cathode = CATHODEClassifier(bkg, n_ensemble=1, random_state=0).fit(X, m)
    assert cathode.n_data_ == n_sr
    cwola = CWoLaClassifier((LO, HI), n_ensemble=1, random_state=0).fit(X, m)
    assert (cwola.n_sideband_, cwola.n_signal_region_) == (n_sb, n_sr)
    # the bump hunt: every event passes with efficiency 1
    hunt = enhanced_bump_hunt(np.zeros(m.size), m, signal_region=(LO, HI), efficiency=1.0)
    assert (hunt.n_observed, hunt.n_selected) == (n_sr, m.size)
    assert hunt.sideband_efficiency == 1.0


def test_ranode_joint_takes_the_low_edge_and_refuses_the_high_edge(edge_events):
    from skranode import ResidualANODE

    X, m, at_lo, at_hi = edge_events
    flow = ConditionalFlowDensity(n_layers=1, n_hidden=8, max_epochs=1, device="cpu")
    bkg = SidebandDensity((LO, HI), density=flow, random_state=0).fit(X, m)
    signal = ConditionalFlowDensity("rqs", n_layers=1, n_hidden=8, max_epochs=1, batch_norm=False)
    sr = MassWindow(LO, HI).in_signal_region(m)
    est = ResidualANODE(bkg, w=0.01, joint=True, flow=signal, random_state=0)
    est.fit(X[sr], m[sr])  # holds the event at exactly LO
    assert np.isfinite(est.score_samples(X.iloc[[at_lo]], m[[at_lo]])).all()
    with pytest.raises(ValueError, match=r"inside the signal region \[3.3, 3.7\)"):
        est.score_samples(X.iloc[[at_hi]], m[[at_hi]])


def test_no_module_reaches_into_another_modules_private_names():
    """Modules talk through public names; underscore names stay in their module or utils."""
    root = pathlib.Path(__file__).resolve().parents[1] / "skranode"
    offences = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        module = ".".join(rel.parts)
        package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module[:-9]
        for node in ast.walk(ast.parse(path.read_text())):
            is_import = isinstance(node, ast.ImportFrom)
            if not (is_import and (node.module or "").startswith("skranode")):
                continue
            if node.module.startswith("skranode.utils"):
                continue
            parts = node.module.split(".")
            private_module = next((i for i, p in enumerate(parts) if p.startswith("_")), None)
            if private_module is not None and not package.startswith(
                ".".join(parts[:private_module])
            ):
                offences.append(f"{module} imports {node.module}")
            offences += [
                f"{module} imports {node.module}.{a.name}"
                for a in node.names
                if a.name.startswith("_")
            ]
    assert offences == []
