"""The multi-window driver: every window, the look-elsewhere correction, the validation.

:func:`scan_spectrum` checks the events, lays out the windows as tasks
(:func:`_plan`: each window's events with its sidebands clipped to the
data, its seed and its cache), runs them (:func:`~skranode.scan.run_windows`),
corrects the most significant local significance for the look-elsewhere
effect (:func:`~skranode.stats.bootstrap_significances`,
:func:`~skranode.stats.global_significance`) and validates that window
(:func:`~skranode.scan.run_validated`).
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from skranode.closure import ValidationVerdict, significance_trusted
from skranode.mass_window import MassWindow
from skranode.scan._kfold import check_methods, outside_data
from skranode.scan._options import WindowOptions
from skranode.scan._summary import table_row
from skranode.scan._tasks import WindowTask, cache_key, run_windows
from skranode.scan._validation import run_validated, validation_tasks
from skranode.scan._windows import check_events, sliding_windows, within_data
from skranode.stats import SIGNAL_WIDTH, bootstrap_significances, global_significance
from skranode.utils._validation import check_aligned, check_binary_labels

__all__ = ["ScanResult", "scan_spectrum"]


@dataclass
class ScanResult:
    """What :func:`scan_spectrum` returns.

    Attributes
    ----------
    windows : list of dict
        Per window, in mass order: the ``summary`` of :func:`scan_window`.
    global_significance, global_p_value : float or None
        Look-elsewhere-corrected significance and p-value of the most
        significant window (None when no window was analysed).
    global_method : str
        How the global p-value was obtained.
    best_window : int or None
        Index into ``windows`` of the most significant window.
    correlation : ndarray of shape (n_analysed, n_analysed) or None
        Correlation of the analysed windows' local significances.
    details : dict
        Per analysed window index: its :class:`WindowResult` (scores, w
        likelihood, signal-model samples), for plots; not in ``results.json``.
    validation : ValidationVerdict or None
        The validation windows of the most significant window
        (:func:`~skranode.closure.summarize_validation`); None when not run.
    significance_trusted : bool or None
        Every validation window of the most significant window below
        :data:`~skranode.closure.VALIDATION_Z` (the procedure finds nothing
        in the background next to it) and its selection flat in mass
        (:func:`~skranode.closure.significance_trusted`). None when no
        validation window was analysed.
    seconds : dict
        Wall time of the windows, of the look-elsewhere correction and of
        the validation.
    """

    windows: list
    global_significance: float = None
    global_p_value: float = None
    global_method: str = ""
    best_window: int = None
    correlation: np.ndarray = field(default=None, repr=False)
    details: dict = field(default_factory=dict, repr=False)
    validation: ValidationVerdict = None
    significance_trusted: bool = None
    seconds: dict = field(default_factory=dict)

    @property
    def table(self):
        """One row per window (a :class:`pandas.DataFrame`)."""
        return pd.DataFrame([table_row(k, win) for k, win in enumerate(self.windows)])

    def to_dict(self):
        """The results as plain Python (what ``results.json`` holds)."""
        v = self.validation
        return {
            "global_significance": self.global_significance,
            "global_p_value": self.global_p_value,
            "global_method": self.global_method,
            "best_window": self.best_window,
            "significance_trusted": self.significance_trusted,
            "validation_passed": None if v is None else v.passed,
            "validation_windows": None if v is None else v.windows,
            "validation_notes": [] if v is None else v.notes,
            "seconds": self.seconds,
            "windows": self.windows,
        }


@dataclass
class _Planned:
    """A window of the scan: its place, its events (indices) and its task."""

    k: int
    window: MassWindow
    index: np.ndarray
    task: WindowTask


def _plan(features, mass, windows, options, labels, seeds, cache_dir, names):
    """The task of every window inside the data; a skipped result for the others."""
    lo, hi = float(mass.min()), float(mass.max())
    planned, skipped = [], {}
    for k, window in enumerate(windows):
        clipped = within_data(window, lo, hi)
        if clipped is None:
            skipped[k] = outside_data(window, lo, hi)
            continue
        index = np.flatnonzero(clipped.in_range(mass))
        task = WindowTask(
            features[index],
            mass[index],
            clipped,
            options,
            random_state=int(seeds[k]),
            labels=None if labels is None else labels[index],
            feature_names=names,
        )
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            task.cache = str(Path(cache_dir) / f"window_{k:02d}_{cache_key(task)}")
        planned.append(_Planned(k, clipped, index, task))
    return planned, skipped


def _run(planned, skipped, n_windows, *, n_jobs, threads_per_job, progress):
    results = dict(skipped)
    tic = time.perf_counter()
    done = run_windows([p.task for p in planned], n_jobs=n_jobs, threads_per_job=threads_per_job)
    for n_done, (p, res) in enumerate(zip(planned, done, strict=True), start=1):
        results[p.k] = res
        if progress is not None:
            progress(n_done, len(planned), time.perf_counter() - tic, res.summary)
    result = ScanResult(windows=[results[k].summary for k in range(n_windows)])
    result.seconds["windows"] = round(time.perf_counter() - tic, 1)
    result.details = {k: results[k] for k in range(n_windows) if results[k].scores is not None}
    return result


def _look_elsewhere(result, mass, planned, n_bootstrap, n_pseudo, rng):
    """The global significance of the best window (``result`` updated)."""
    tic = time.perf_counter()
    analysed = [p for p in planned if p.k in result.details]
    z_local = np.array([result.details[p.k].summary["local_significance"] for p in analysed])
    result.best_window = analysed[int(np.argmax(z_local))].k
    z_boot = None
    if len(analysed) > 1:
        selections = []
        for p in analysed:
            res = result.details[p.k]
            bump = res.summary["bump_hunt"]
            selections.append((p.index[res.selected], p.window, bump["signal_width"]))
        z_boot = bootstrap_significances(mass, selections, n_bootstrap, rng)
    glob = global_significance(z_local, z_boot, n_pseudo=n_pseudo, rng=rng)
    result.correlation = glob.correlation
    result.global_p_value = glob.p_value
    result.global_significance = round(glob.significance, 3)
    result.global_method = glob.method
    result.seconds["look_elsewhere"] = round(time.perf_counter() - tic, 1)


def _validate_best(result, features, mass, planned, options, seeds, run_kw):
    tic = time.perf_counter()
    best = next(p for p in planned if p.k == result.best_window)
    named = validation_tasks(
        features,
        mass,
        best.window,
        options,
        n_signal_region=result.windows[best.k]["n_sr_events"],
        data_range=(float(mass.min()), float(mass.max())),
        random_state=int(seeds[best.k]),
        feature_names=best.task.feature_names,
    )
    _, result.validation = run_validated([], named, label=f"{best.k:02d}", **run_kw)
    result.significance_trusted = significance_trusted(
        result.validation.trusted,
        result.windows[best.k].get("selection_flat_p_value"),
        result.windows[best.k].get("fit_gof_p_value"),
    )
    result.seconds["validation"] = round(time.perf_counter() - tic, 1)


def _checked_labels(labels, mass):
    if labels is None:
        return None
    labels = np.asarray(labels).reshape(-1)
    if labels.shape != mass.shape:
        raise ValueError(f"labels has {labels.size} entries for {mass.size} events.")
    return check_binary_labels(labels, "labels")


def _checked_windows(windows):
    windows = list(sliding_windows((3.0, 5.5)) if windows is None else windows)
    if not windows or not all(isinstance(w, MassWindow) for w in windows):
        raise ValueError("windows must be a non-empty list of MassWindow (see sliding_windows).")
    return windows


#: What ``global_method`` says when no window could be analysed.
_NOTHING_ANALYSED = (
    "no window could be analysed (see each window's note): a scan needs the spectrum around "
    "every window, sidebands included, such as the whole LHCO R&D file; signal-region-only "
    "arrays cannot be scanned"
)


def scan_spectrum(
    X, m, *, windows=None, preset="default", n_folds=None, efficiency=0.02,
    signal_width=SIGNAL_WIDTH, w_max=0.5, min_signal_region=200, min_sideband=500, labels=None,
    n_bootstrap=100, n_pseudo=200_000, methods=(), n_init=None, n_jobs=None, threads_per_job=1,
    device="cpu", cache_dir=None, validate=True, random_state=0, progress=None,
):
    """Slide the signal region over the spectrum, analyse every window, correct for the LEE.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Features of all events.
    m : array-like of shape (n_samples,)
        Their dijet masses in TeV.
    windows : list of MassWindow or None, default=None
        The windows (:func:`sliding_windows`); None scans 3.0-5.5 TeV with
        0.4 TeV windows in steps of 0.2 TeV and 0.4 TeV sidebands.
    preset, n_folds, efficiency, signal_width, w_max, min_signal_region, \
min_sideband, methods, n_init, device
        How each window is analysed: as :func:`scan_window` (``methods``: the
        registered methods analysed next to R-ANODE; the global significance
        and the validation are R-ANODE's).
    labels : array-like of shape (n_samples,) or None, default=None
        Truth, used only to report the true signal in each window.
    n_bootstrap : int, default=100
        Bootstrap replicas for the correlation of the windows.
    n_pseudo : int, default=200000
        Pseudo-experiments of the global p-value.
    n_jobs, threads_per_job : int or None, default=None, 1
        Windows analysed in parallel and torch threads in each worker
        (:func:`~skranode.scan.run_windows`).
    cache_dir : str, path or None, default=None
        Folder of per-window results; a window whose result is there (same
        events, labels, window, settings and skranode version, unchanged since
        it was written) is not analysed again, so an interrupted scan resumes
        where it stopped; a damaged or foreign entry is recomputed, with a note.
    validate : bool, default=True
        Run the procedure in two validation windows of half the size next to
        the most significant window, where it must find nothing
        (:func:`validation_tasks`); their verdict is ``significance_trusted``.
    random_state : int, default=0
        Seed of everything (each window gets its own seed from it).
    progress : callable or None, default=None
        Called as ``progress(n_done, n_total, seconds_elapsed, summary)`` after
        each window.

    Returns
    -------
    result : ScanResult
        Per window (``windows``): its events, the ``w`` numbers (``w_hat``,
        intervals, upper limits; the likelihood-ratio significance is
        statistical only), ``local_significance`` and ``local_p_value`` (the
        bump hunt after the k-fold score cut), ``bump_hunt``, ``notes``,
        ``skipped``; with ``labels`` the truth, with ``methods`` theirs.
    """
    check_aligned(X, labels, name="labels")
    features, mass, names = check_events(X, m)
    options = WindowOptions(
        preset=preset,
        n_folds=n_folds,
        efficiency=efficiency,
        signal_width=float(signal_width),
        w_max=float(w_max),
        min_signal_region=int(min_signal_region),
        min_sideband=int(min_sideband),
        n_init=n_init,
        methods=check_methods(methods),
        device=device,
    )
    labels, windows = _checked_labels(labels, mass), _checked_windows(windows)
    seeds = np.random.default_rng(random_state).integers(0, 2**31 - 1, size=len(windows) + 1)
    planned, skipped = _plan(features, mass, windows, options, labels, seeds, cache_dir, names)
    run_kw = dict(n_jobs=n_jobs, threads_per_job=threads_per_job)
    result = _run(planned, skipped, len(windows), progress=progress, **run_kw)
    if not result.details:
        result.global_method = _NOTHING_ANALYSED
        return result
    rng = np.random.default_rng(int(seeds[-1]))
    _look_elsewhere(result, mass, planned, n_bootstrap, int(n_pseudo), rng)
    if validate:
        run_kw["cache_dir"] = cache_dir
        _validate_best(result, features, mass, planned, options, seeds, run_kw)
    return result
