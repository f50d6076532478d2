"""The scan's cache returns only what a fresh run would: damaged or foreign entries are redone."""

import json
from pathlib import Path

import numpy as np
import pytest

from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.mass_window import MassWindow
from skranode.scan import scan_spectrum

WINDOWS = [MassWindow(3.3, 3.7, 2.9, 4.1), MassWindow(3.5, 3.9, 3.1, 4.3)]
KW = dict(windows=WINDOWS, preset="fast", min_sideband=100, n_bootstrap=5, n_pseudo=2000,
          validate=False, random_state=0)


@pytest.fixture(scope="module")
def events():
    df = make_lhco_like(n_background=30_000, n_signal=150, signal_mass=3.5, random_state=4)
    return df[list(FEATURE_NAMES)].to_numpy(), df["mjj"].to_numpy(), df["label"].to_numpy()


@pytest.fixture(scope="module")
def fresh(events, tmp_path_factory):
    """A scan that writes its cache, and the folder it wrote."""
    folder = tmp_path_factory.mktemp("cache")
    X, m, y = events
    return scan_spectrum(X, m, labels=y, cache_dir=folder, **KW), folder


def _copy(folder, tmp_path):
    target = tmp_path / "cache"
    target.mkdir()
    for path in Path(folder).iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _entry(folder, k):
    return next(p for p in Path(folder).glob(f"window_{k:02d}_*.json") if ".tmp" not in p.name)


def _edit_number(folder):
    path = _entry(folder, 0)
    record = json.loads(path.read_text())
    record["summary"]["local_significance"] = 9.0
    path.write_text(json.dumps(record))


def _garbage(folder):
    _entry(folder, 0).write_text("{not json")


def _empty(folder):
    _entry(folder, 0).write_text("")


def _truncate_arrays(folder):
    npz = _entry(folder, 0).with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])


def _delete_arrays(folder):
    _entry(folder, 0).with_suffix(".npz").unlink()


def _swap_arrays(folder):
    a, b = (_entry(folder, k).with_suffix(".npz") for k in (0, 1))
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)


def _foreign_entry(folder):
    """Window 1's cached files placed under window 0's name."""
    a, b = _entry(folder, 0), _entry(folder, 1)
    a.write_bytes(b.read_bytes())
    a.with_suffix(".npz").write_bytes(b.with_suffix(".npz").read_bytes())


@pytest.mark.parametrize(
    "damage, why",
    [
        (_edit_number, "changed after it was written"),
        (_garbage, "unreadable"),
        (_empty, "unreadable"),
        (_truncate_arrays, "not the ones written"),
        (_delete_arrays, "missing"),
        (_swap_arrays, "not the ones written"),
        (_foreign_entry, "other events or settings"),
    ],
)
def test_a_damaged_or_foreign_cache_entry_is_recomputed_with_a_note(
    events, fresh, tmp_path, damage, why
):
    first, folder = fresh
    cache = _copy(folder, tmp_path)
    damage(cache)
    X, m, y = events
    again = scan_spectrum(X, m, labels=y, cache_dir=cache, **KW)
    win = again.windows[0]
    assert not win.get("cached")
    assert any(why in note and "recomputed" in note for note in win["notes"])
    assert win["local_significance"] == first.windows[0]["local_significance"]
    np.testing.assert_array_equal(again.details[0].scores, first.details[0].scores)
    assert bool(again.windows[1].get("cached")) == (damage is not _swap_arrays)


def test_an_intact_cache_is_used_and_relabelled_events_are_not(events, fresh, tmp_path):
    first, folder = fresh
    X, m, y = events
    cache = _copy(folder, tmp_path)
    _garbage(cache)
    scan_spectrum(X, m, labels=y, cache_dir=cache, **KW)  # rewrites the damaged entry
    reused = scan_spectrum(X, m, labels=y, cache_dir=cache, **KW)
    assert all(w.get("cached") for w in reused.windows)
    assert [w["n_signal_true"] for w in reused.windows] == [
        w["n_signal_true"] for w in first.windows
    ]
    relabelled = scan_spectrum(X, m, labels=np.zeros_like(y), cache_dir=cache, **KW)
    assert not any(w.get("cached") for w in relabelled.windows)
    assert [w["n_signal_true"] for w in relabelled.windows] == [0, 0]
    assert first.windows[0]["n_signal_true"] > 0
