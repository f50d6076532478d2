"""The main job on event files (``skranode run --data PATH``).

Supported inputs (:func:`load_events`):

* the official LHC Olympics 2020 R&D features file
  (``events_anomalydetection_v2.features.h5``, read by
  :func:`~skranode.datasets.load_lhco_rnd`), or ``fetch`` for the
  :func:`~skranode.datasets.fetch_lhco_rnd` download;
* six-column ``.npy`` arrays ``mjj, mjmin, delta_mj, tau21_min, tau21_max,
  label`` (:func:`~skranode.datasets.load_lhco_sr`): the CATHODE-format
  signal-region arrays, or any event table in that layout;
* a TTree of a ROOT file (``.root``, read with uproot by
  :func:`~skranode.datasets.load_root`): branches named as those columns or
  mapped to them, or the R&D jet branches.

How the events are used (:func:`prepare_events`):

* a labelled file with sidebands and more signal than ``n_signal`` (the R&D
  file): the background is split in two halves; the data are the first half
  plus ``n_signal`` signal events (the benchmark injection; the R-ANODE paper's
  N_sig = 1000 by default); the signal-region background of the second half is
  split into the true background sample (idealized detector, supervised bound)
  and the test background; the remaining signal is split into the supervised
  training signal and the test signal;
* any other file with sidebands (``as_is=True``, or no labels): used as the
  data, as it is;
* signal-region-only data: used as it is, with ``reference`` (a true
  background sample) to train the background flow; without sidebands there is
  no mass-spectrum fit. Test files holding only signal get one third of the
  reference background as their background.
"""

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from skranode.analysis import run_analysis
from skranode.datasets import fetch_lhco_rnd, load_lhco_rnd, load_lhco_sr, load_root
from skranode.mass_window import DEFAULT_SIGNAL_REGION, MassWindow

__all__ = ["load_events", "prepare_events", "run_on_file"]

_HDF_SUFFIXES = (".h5", ".hdf5", ".hdf")


def load_events(path, *, tree=None, branches=None, units="TeV"):
    """Read an event file into a DataFrame with the columns of :data:`~skranode.datasets.COLUMNS`.

    Parameters
    ----------
    path : str or path-like
        An LHCO R&D HDF file (``.h5``, ``.hdf5``, ``.hdf``), a six-column
        ``.npy`` array, a ROOT file (``.root``), or ``'fetch'`` for
        :func:`~skranode.datasets.fetch_lhco_rnd`.
    tree, branches, units : optional
        For a ROOT file: the tree, the column-to-branch mapping and the mass
        units of :func:`~skranode.datasets.load_root`. Refused for other files.

    Returns
    -------
    frame : DataFrame
        ``mjj, mjmin, delta_mj, tau21_min, tau21_max, label``.

    Raises
    ------
    ValueError
        If the file type is not supported.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".root":
        return load_root(path, tree, branches=branches, units=units)
    if tree is not None or branches or units != "TeV":
        raise ValueError(
            f"tree, branches and units apply to ROOT files only; {str(path)!r} is not one (.root)."
        )
    if str(path) == "fetch":
        return fetch_lhco_rnd()
    if suffix in _HDF_SUFFIXES:
        return load_lhco_rnd(path)
    if suffix == ".npy":
        return load_lhco_sr(path)
    raise ValueError(
        f"Unsupported event file {str(path)!r}: expected the LHCO R&D features file "
        f"({', '.join(_HDF_SUFFIXES)}), a six-column .npy array (mjj, mjmin, delta_mj, "
        "tau21_min, tau21_max, label), a ROOT file (.root), or 'fetch'."
    )


def _shuffled(frame, rng):
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def _in_sr(frame, window):
    return frame[window.in_signal_region(frame["mjj"].to_numpy())].reset_index(drop=True)


def prepare_events(
    data, *, reference=None, test=None, n_signal=1000, as_is=False,
    signal_region=DEFAULT_SIGNAL_REGION, seed=0,
):
    """Turn event tables into the inputs of :func:`skranode.analysis.run_analysis`.

    Parameters
    ----------
    data : DataFrame
        Events with the columns of :data:`~skranode.datasets.COLUMNS`.
    reference : DataFrame or None, default=None
        A true background sample; its signal events (label 1) are dropped.
    test : DataFrame or None, default=None
        Labelled test events.
    n_signal : int, default=1000
        Signal events kept in the data when ``data`` is a labelled file with
        sidebands (see the module docstring).
    as_is : bool, default=False
        Use ``data`` as it is, without re-injecting signal.
    signal_region : tuple of float, default=(3.3, 3.7)
        ``(low, high)`` in TeV.
    seed : int, default=0
        Seed of the splits.

    Returns
    -------
    inputs : dict
        ``data``, ``reference``, ``labelled``, ``test`` (DataFrames or None)
        and ``notes`` (list of str: what was done with the events).
    """
    window = MassWindow.from_params(signal_region)
    rng = np.random.default_rng(seed)
    notes = []
    n_sideband = int(window.in_sidebands(data["mjj"].to_numpy()).sum())
    labels = data["label"].to_numpy()
    n_sig_file = int(labels.sum())
    labelled = None
    if reference is not None:
        n_drop = int(reference["label"].sum())
        if n_drop:
            reference = reference[reference["label"] == 0]
            notes.append(f"dropped {n_drop} signal events from the reference sample")
        reference = _in_sr(reference, window)
    if n_sideband >= 1000 and not as_is and n_sig_file > n_signal and reference is None:
        bkg = _shuffled(data[labels == 0], rng)
        sig = _shuffled(data[labels == 1], rng)
        half = len(bkg) // 2
        data = _shuffled(pd.concat([bkg.iloc[:half], sig.iloc[:n_signal]]), rng)
        rest = _in_sr(bkg.iloc[half:], window)
        reference, test_bkg = rest.iloc[: len(rest) // 2], rest.iloc[len(rest) // 2 :]
        sig_rest = _in_sr(sig.iloc[n_signal:], window)
        labelled = pd.concat([reference, sig_rest.iloc[: len(sig_rest) // 2]])
        if test is None:
            test = pd.concat([test_bkg, sig_rest.iloc[len(sig_rest) // 2 :]])
        notes.append(
            f"data: half of the background ({half} events) + {n_signal} of the "
            f"{n_sig_file} signal events; true SR background {len(reference)}, test "
            f"{len(test_bkg)} background + {len(sig_rest) - len(sig_rest) // 2} signal"
        )
    else:
        notes.append(f"data used as given ({len(data)} events, {n_sideband} in the sidebands)")
    if test is not None:
        test = _in_sr(test, window)
        if not (test["label"] == 0).any() and reference is not None:
            reference = _shuffled(reference, rng)
            n_ref = 2 * len(reference) // 3
            test = pd.concat([reference.iloc[n_ref:], test], ignore_index=True)
            reference = reference.iloc[:n_ref]
            notes.append(
                f"the test file holds only signal: one third of the reference background "
                f"({len(test) - int(test['label'].sum())} events) moved to the test set"
            )
    return dict(data=data, reference=reference, labelled=labelled, test=test, notes=notes)


def run_on_file(
    data, *, reference=None, test=None, n_signal=1000, as_is=False,
    signal_region=DEFAULT_SIGNAL_REGION, seed=0, root_options=None, **options,
):
    """Run the whole analysis on event files.

    Parameters
    ----------
    data : str or path-like
        The data file (see :func:`load_events`).
    reference : str, path-like or None, default=None
        File of a true background sample in the signal region (required when
        the data has no sidebands).
    test : list of (str or path-like) or None, default=None
        Labelled test files, concatenated.
    n_signal : int, default=1000
        Signal events kept when re-injecting into a labelled file with
        sidebands (see :func:`prepare_events`).
    as_is : bool, default=False
        Use the data file as it is.
    signal_region : tuple of float, default=(3.3, 3.7)
        ``(low, high)`` in TeV.
    seed : int, default=0
        Seed of the splits and of every training.
    root_options : dict or None, default=None
        ``tree``, ``branches`` and ``units`` of :func:`load_events`, for ROOT
        files (every file given).
    **options
        Further arguments of :func:`skranode.analysis.run_analysis`
        (``device``, ``n_jobs``, ``output``, ``preset``, ``verbose``,
        ``methods``).

    Returns
    -------
    results : dict
        As :func:`skranode.analysis.run_analysis`, with ``notes`` on how the
        events were used.
    """
    root = dict(root_options or {})
    paths = [data, *([] if reference is None else [reference]), *(test or [])]

    def is_root(path):
        return Path(str(path)).suffix.lower() == ".root"

    def load(path):
        return load_events(path, **root) if is_root(path) else load_events(path)

    if not any(map(is_root, paths)):
        load = partial(load_events, **root)  # refuses ROOT options before reading anything

    frame = load(data)
    ref = None if reference is None else load(reference)
    tst = None if not test else pd.concat([load(p) for p in test], ignore_index=True)
    inputs = prepare_events(
        frame,
        reference=ref,
        test=tst,
        n_signal=n_signal,
        as_is=as_is,
        signal_region=signal_region,
        seed=seed,
    )
    return run_analysis(
        **inputs, signal_region=signal_region, seed=seed, title=f"skranode run on {data}", **options
    )
