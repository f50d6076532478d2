"""``skranode scan``: the sliding-window search with its table, plots and results.json.

:func:`run_scan` runs :func:`~skranode.scan.scan_spectrum` on an event table,
prints one line per window as it finishes (with the time left), then the
table, and writes ``results.json``, the plots and the per-window cache (so an
interrupted scan resumes) into the output folder. :func:`make_scan_data` makes
the built-in data: LHCO-like events with a resonance at a mass the scan is not
told.
"""

import json
import time

import numpy as np

import skranode.plotting as plotting
from skranode.closure import format_validation
from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.scan import scan_spectrum, sliding_windows
from skranode.utils._output import output_lock, staged_outputs

__all__ = ["make_scan_data", "run_scan"]


def make_scan_data(n_background=1_000_000, n_signal=1200, signal_mass=4.1, seed=0):
    """Built-in data of ``skranode scan``: LHCO-like events with a planted resonance.

    Parameters
    ----------
    n_background : int, default=1_000_000
        Background events over 2.8-7 TeV (the size of the LHCO R&D sample).
    n_signal : int, default=1200
        Signal events (about 0.6 % of the events in the signal region at 4.1 TeV).
    signal_mass : float, default=4.1
        Mass of the resonance in TeV (not a window centre of the default scan).
    seed : int, default=0

    Returns
    -------
    frame : DataFrame
        ``mjj``, the four features and ``label``.
    """
    return make_lhco_like(
        n_background=n_background, n_signal=n_signal, signal_mass=signal_mass, random_state=seed
    )


def _progress_printer():
    def report(done, total, elapsed, summary):
        lo, hi = summary["signal_region"]
        left = elapsed / done * (total - done)
        if summary.get("skipped"):
            what = f"skipped ({summary['skipped']})"
        else:
            what = (
                f"Z_local {summary['local_significance']:+.2f}, w_hat {summary['w_hat']:.4f}"
                f"{' (cached)' if summary.get('cached') else ''}"
            )
        print(
            f"  window {done}/{total} [{lo:g}, {hi:g}) TeV: {what}; "
            f"{elapsed:.0f} s elapsed, about {left:.0f} s left",
            flush=True,
        )

    return report


#: What the scan's numbers mean (``results.json["significance_meaning"]``).
SIGNIFICANCE_MEANING = (
    "local_significance: bump hunt in mjj after a cut on the k-fold R-ANODE score "
    "log p_S(x|m_c) - log p_B(x|m_c) whose threshold follows the mass, keeping the "
    "same fraction of the background at every mass (selection_flat_p_value: the "
    "selected fraction of the sideband events against flat, chi-square; below 0.01 "
    "the significance is not trusted; fit_gof_p_value: Pearson's chi-square of the "
    "signal-plus-background fit of the selected spectrum, below 0.01 not trusted) "
    "(background from the dijet fit of the selected sideband events), the fitted "
    "yield's uncertainty widened by its spread over the fold background templates "
    "(local_significance_statistical without it); "
    "w_interval_95, w_upper_limit_95, significance_likelihood_ratio: held-out mixture "
    "likelihood with the background-model (w_std_background) and signal-model "
    "(w_std_signal_model) uncertainties added; the *_statistical keys take both "
    "models as exact; "
    "global_significance: local_significance corrected for the look-elsewhere effect; "
    "windows[...]['methods'][name]: the same cut and bump hunt on another method's "
    "k-fold scores (statistical uncertainty only; not in the global significance)"
)


def _announce(windows, n_events, verbose):
    if verbose:
        print(
            f"scanning {len(windows)} windows from {windows[0].low:g} to {windows[-1].high:g} "
            f"TeV on {n_events} events ...",
            flush=True,
        )


def _checked_columns(data):
    feats = list(FEATURE_NAMES)
    missing = [c for c in ["mjj", *feats] if c not in data]
    if missing:
        raise ValueError(f"The event table lacks the columns {missing}.")
    return feats


def _truth(scan, truth_mass):
    """The planted mass, and whether the most significant window holds it."""
    if truth_mass is None:
        return {}
    out = {"truth_mass": truth_mass}
    if scan.best_window is not None:
        lo, hi = scan.windows[scan.best_window]["signal_region"]
        out["best_window_contains_truth"] = bool(lo <= truth_mass < hi)
    return out


def _run_notes(scan, preset):
    """The notes of the run: the preset's caveat, every window's and the validation's."""
    notes = []
    if preset == "fast":
        notes.append(
            "preset 'fast' is for smoke runs: its small background models are not "
            "calibrated (the main job's fast preset put its bump hunt above 2 sigma in 3 of "
            "22 background-only runs, benchmarks/bench_calibration.py); quote numbers of "
            "the default preset"
        )
    for k, win in enumerate(scan.windows):
        lo, hi = win["signal_region"]
        for note in win.get("notes", []):
            notes.append(f"window {k} [{lo:g}, {hi:g}): {note}")
        for name, part in win.get("methods", {}).items():
            if part.get("skipped"):
                notes.append(f"window {k} [{lo:g}, {hi:g}): {name} skipped: {part['skipped']}")
            for note in part.get("notes", []):
                notes.append(f"window {k} [{lo:g}, {hi:g}): {name}: {note}")
    if scan.validation is not None:
        for note in scan.validation.notes:
            notes.append(f"most significant window {scan.best_window}: {note}")
        for name, why in scan.validation.skipped.items():
            notes.append(f"most significant window {scan.best_window}: {name} skipped: {why}")
    return notes


def run_scan(
    data,
    *,
    mass_range=(3.0, 5.5),
    width=0.4,
    step=0.2,
    sideband_width=0.4,
    relative=False,
    efficiency=0.02,
    validate=True,
    preset="default",
    n_folds=None,
    methods=(),
    n_jobs=None,
    device="cpu",
    output="skranode-scan",
    seed=0,
    verbose=True,
    notes=None,
    truth_mass=None,
):
    """Run the sliding-window scan on an event table and write its results.

    Parameters
    ----------
    data : DataFrame
        ``mjj``, the four features of :data:`~skranode.datasets.FEATURE_NAMES`
        and optionally ``label`` (used only to report the truth per window).
    mass_range, width, step, sideband_width, relative
        The windows (:func:`~skranode.scan.sliding_windows`).
    efficiency : float, default=0.02
        Fraction of sideband events kept by each window's cut.
    validate, preset, n_folds
        As :func:`~skranode.scan.scan_spectrum`.
    methods : sequence of str, default=()
        Registered methods analysed next to R-ANODE in every window (e.g.
        ``("CURTAINs",)``), each with its local significance per window.
    n_jobs : int or None, default=None
        Windows in parallel (one torch thread each).
    device : str, default='cpu'
    output : str or Path, default='skranode-scan'
        Folder of ``results.json``, the plots and ``cache/``.
    seed : int, default=0
    verbose : bool, default=True
        Print the progress and the table.
    notes : list of str or None, default=None
        Lines on how the data were made, stored in ``results.json["notes"]``.
    truth_mass : float or None, default=None
        The planted mass when known (drawn on the plots, reported).

    Returns
    -------
    results : dict
        What ``results.json`` holds.
    """
    windows = sliding_windows(
        mass_range, width=width, step=step, sideband_width=sideband_width, relative=relative
    )
    feats = _checked_columns(data)
    # one run at a time in the folder: a second would mix its cache and outputs in
    with output_lock(output) as out:
        _announce(windows, len(data), verbose)
        start = time.perf_counter()
        scan = scan_spectrum(
            data[feats],
            data["mjj"].to_numpy(),
            windows=windows,
            preset=preset,
            n_folds=n_folds,
            efficiency=efficiency,
            labels=data["label"].to_numpy() if "label" in data else None,
            methods=methods,
            n_jobs=n_jobs,
            device=device,
            cache_dir=out / "cache",
            validate=validate,
            random_state=seed,
            progress=_progress_printer() if verbose else None,
        )
        res = {
            "title": "skranode scan",
            "seed": seed,
            "preset": preset,
            "efficiency": efficiency,
            "n_events": len(data),
            "notes": list(notes or []),
            **scan.to_dict(),
            "seconds": dict(scan.seconds, total=round(time.perf_counter() - start, 1)),
            "significance_meaning": SIGNIFICANCE_MEANING,
        }
        res.update(_truth(scan, truth_mass))
        res["notes"] += _run_notes(scan, preset)
        # replaces the last run's plots and results.json as a whole (the cache stays)
        with staged_outputs(out) as staging:
            res["plots"] = _write_plots(scan, data, staging, truth_mass, feats)
            (staging / "results.json").write_text(json.dumps(res, indent=2))
        if verbose:
            _print_table(scan, res, out)
        return res


def _write_plots(scan, data, out, truth_mass, feats):
    import matplotlib.pyplot as plt  # pyplot after the caller has chosen its backend

    if scan.best_window is None:
        return []
    figs = {
        "local_p_values.png": plotting.plot_local_p_values(
            scan.windows, global_significance=scan.global_significance, truth_mass=truth_mass
        ),
        "signal_fraction.png": plotting.plot_signal_fraction_scan(scan.windows),
        "mass_spectrum_windows.png": plotting.plot_scan_windows(
            data["mjj"].to_numpy(), scan.windows, best_window=scan.best_window
        ),
    }
    best = scan.details[scan.best_window]
    figs["best_window_w_likelihood.png"] = plotting.plot_profile(best.profile)
    lo, hi = scan.windows[scan.best_window]["signal_region"]
    in_sr = (data["mjj"] >= lo) & (data["mjj"] < hi)
    if "label" in data and (data["label"][in_sr] == 1).any():
        compare, label = data[in_sr & (data["label"] == 1)][feats], "true signal"
    else:
        compare, label = data[in_sr][feats], "signal-region data"
    figs["best_window_signal_samples.png"] = plotting.plot_feature_comparison(
        compare,
        best.signal_samples,
        labels=(label, "R-ANODE signal model"),
        feature_names=feats,
    )
    for name, fig in figs.items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return sorted(figs)


def _print_table(scan, res, out):
    print()
    print(
        f"{res['title']}  ({res['n_events']} events, seed {res['seed']}, "
        f"{res['seconds']['total']} s)"
    )
    for note in res["notes"]:
        print(f"  note: {note}")
    table = scan.table
    extra = [c for c in table if c.startswith("local_significance ")]
    cols = [
        c
        for c in (
            "window",
            "low",
            "high",
            "n_sr_events",
            "w_hat",
            "w_95_low",
            "w_95_high",
            "w_upper_limit_95",
            "significance_likelihood_ratio",
            "local_significance",
            "local_p_value",
            "selection_flat_p_value",
            "fit_gof_p_value",
            *extra,
            "background_check_passed",
            "n_signal_true",
            "s_over_sqrt_b_true",
        )
        if c in table
    ]
    with np.printoptions(precision=4):
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    if scan.best_window is None:
        print(f"  {scan.global_method}")
    else:
        lo, hi = scan.windows[scan.best_window]["signal_region"]
        print(
            f"  most significant window {scan.best_window} [{lo:g}, {hi:g}) TeV: local "
            f"{scan.windows[scan.best_window]['local_significance']} sigma, global "
            f"{scan.global_significance} sigma (p = {scan.global_p_value:.3g}; "
            f"{scan.global_method})"
        )
        if scan.validation is not None:
            for line in format_validation(scan.validation.windows, scan.significance_trusted):
                print(f"  {line}")
    print(f"  plots and results.json in {out}/")
