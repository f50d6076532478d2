"""The summary of one scanned window: its keys, its rounding, its skipped form, its table row.

:func:`window_summary` turns the typed results of a window's stages into the
plain dictionary of ``results.json["windows"][k]`` (and of the scan's cache),
rounding each number once, here; :func:`skipped_summary` is the form of a
window that could not be analysed; :func:`table_row` is its row of
:attr:`~skranode.scan.ScanResult.table`. Readers of a summary (the main job,
the validation verdict, the printed report) use the keys documented in
:func:`~skranode.scan.scan_spectrum`.
"""

import math

import numpy as np
from scipy.stats import norm

from skranode.utils._output import round_value

__all__ = [
    "bump_hunt_keys",
    "flatness_entry",
    "skipped_summary",
    "table_row",
    "window_header",
    "window_summary",
]


def window_header(window, n_events, n_sr, n_low, n_high, n_signal_true=None):
    """The keys every window summary has, analysed or not."""
    summary = {
        "signal_region": [window.low, window.high],
        "sideband": [window.sideband_low, window.sideband_high],
        "centre": round(window.center, 6),
        "n_events": int(n_events),
        "n_sr_events": int(n_sr),
        "n_sideband_low": n_low,
        "n_sideband_high": n_high,
        "notes": [],
    }
    if n_low is None:
        del summary["n_sideband_low"], summary["n_sideband_high"]
    if n_signal_true is not None:
        summary["n_signal_true"] = int(n_signal_true)
        b = max(int(n_sr) - int(n_signal_true), 1)
        summary["s_over_sqrt_b_true"] = round(int(n_signal_true) / math.sqrt(b), 3)
    return summary


def skipped_summary(summary, why):
    """``summary`` marked as not analysed, with the reason (in place; returned)."""
    summary.update(skipped=why, local_significance=None, local_p_value=None)
    summary.setdefault("notes", []).append(f"skipped: {why}")
    return summary


def _toy_keys(toys):
    if toys is None:
        return {}
    return dict(
        local_p_value_toys=toys.p_value,
        local_significance_toys=round_value(toys.significance, 3),
        toys=dict(
            n_toys=toys.n_toys,
            n_fitted=toys.n_fitted,
            z_mean=round_value(toys.z_mean, 3),
            z_std=round_value(toys.z_std, 3),
            resolves_below=round_value(toys.resolves_below, 6),
            beyond_every_toy=toys.beyond_every_toy,
        ),
    )


def _profile_keys(profile, control, sigma_signal, n_sr):
    std_templates = None
    if profile.w_hat_templates is not None:
        std_templates = np.std(profile.w_hat_templates, ddof=1)
    return dict(
        w_hat=round_value(profile.w_hat, 6),
        w_interval_68=round_value(profile.interval_68, 6),
        w_interval_95=round_value(profile.interval_95, 6),
        w_upper_limit_95=round_value(profile.upper_limit_95, 6),
        n_signal_upper_limit_95=round_value(profile.upper_limit_95 * n_sr, 1),
        significance_likelihood_ratio=round_value(profile.significance, 3),
        w_std_background=round_value(profile.w_std_background, 6),
        w_interval_95_statistical=round_value(profile.interval_95_statistical, 6),
        w_upper_limit_95_statistical=round_value(profile.upper_limit_95_statistical, 6),
        significance_likelihood_ratio_statistical=round_value(profile.significance_statistical, 3),
        w_std_signal_model=round_value(sigma_signal, 6),
        w_std_templates=round_value(std_templates, 6),
        w_hat_sideband=round_value(control.w_hat, 6),
        significance_likelihood_ratio_sideband=round_value(control.significance, 3),
    )


def bump_hunt_keys(bump, signal_region, labels):
    """The ``bump_hunt`` entry of a summary (:class:`~skranode.stats.WindowBumpHunt`)."""
    selected = bump.cut.selected
    out = dict(
        threshold=round_value(bump.cut.threshold, 6),
        n_selected_sr=int(selected[signal_region].sum()),
        n_signal_fit=round_value(bump.fit.n_signal, 1),
        n_signal_fit_std=round_value(bump.fit.n_signal_std, 1),
        selection_flat_p_value=round_value(bump.flatness.p_value, 4),
        fit_gof_p_value=round_value(bump.fit.gof_p_value, 4),
    )
    if labels is not None:
        out["n_signal_selected_true"] = int((labels[selected] == 1).sum())
    return out


def flatness_entry(flatness):
    """The selected fraction per sideband mass bin (:class:`~skranode.stats.Flatness`) as JSON."""
    return dict(
        p_value=round_value(flatness.p_value, 4),
        chi2=round_value(flatness.chi2, 2),
        dof=flatness.dof,
        flat=bool(flatness.flat),
        bins=[
            dict(
                low=round_value(lo, 4),
                high=round_value(hi, 4),
                n=int(n),
                n_selected=int(k),
                n_signal_fit=round_value(s, 1),
                fraction=round_value(f, 5),
            )
            for lo, hi, n, k, s, f in zip(
                flatness.low,
                flatness.high,
                flatness.n_events,
                flatness.n_selected,
                flatness.n_signal,
                flatness.fraction,
                strict=True,
            )
        ],
    )


def window_summary(summary, fraction, bump, *, toys, signal_width, labels, sr, extra):
    """Complete a window's ``summary`` with the numbers of its stages (in place; returned).

    Parameters
    ----------
    summary : dict
        From :func:`window_header`.
    fraction : object
        The window's signal fraction: ``profile`` (:class:`~skranode.stats.WProfile`),
        ``control`` (the sideband profile), ``sigma_signal``, ``w_start``.
    bump : WindowBumpHunt
        Its bump hunt.
    toys : ToyNull or None
    signal_width : float
    labels : ndarray or None
    sr : ndarray of bool
        Signal-region events.
    extra : dict
        Further keys, in order (methods, fold numbers, checks, timing, notes).
    """
    z_local = bump.significance
    keys = bump_hunt_keys(bump, sr, labels)
    bump_entry = dict(
        threshold=keys["threshold"],
        efficiency=bump.cut.efficiency,
        signal_width=signal_width,
        n_selected=int(bump.cut.selected.sum()),
        n_selected_sr=keys["n_selected_sr"],
        n_signal_fit=keys["n_signal_fit"],
        n_signal_fit_std=keys["n_signal_fit_std"],
        n_signal_fit_std_background=round_value(bump.n_signal_std_background, 1),
        threshold_slope=round_value(bump.threshold_slope, 6),
        selection_flatness=flatness_entry(bump.flatness),
    )
    if "n_signal_selected_true" in keys:
        bump_entry["n_signal_selected_true"] = keys["n_signal_selected_true"]
    summary.update(
        **_profile_keys(fraction.profile, fraction.control, fraction.sigma_signal, int(sr.sum())),
        w_start=round_value(fraction.w_start, 6),
        local_significance=round_value(z_local, 3),
        local_p_value=float(norm.sf(z_local)),
        local_significance_statistical=round_value(bump.significance_statistical, 3),
        selection_flat_p_value=keys["selection_flat_p_value"],
        fit_gof_p_value=keys["fit_gof_p_value"],
        **_toy_keys(toys),
        bump_hunt=bump_entry,
        **extra,
    )
    return summary


_TABLE_KEYS = (
    "w_hat",
    "w_upper_limit_95",
    "n_signal_upper_limit_95",
    "w_std_background",
    "w_std_signal_model",
    "w_hat_sideband",
    "significance_likelihood_ratio",
    "significance_likelihood_ratio_statistical",
    "local_significance",
    "local_significance_statistical",
    "local_p_value",
    "selection_flat_p_value",
    "fit_gof_p_value",
    "n_signal_true",
    "s_over_sqrt_b_true",
)


def table_row(k, win):
    """Row ``k`` of the scan's table from a window summary."""
    row = {
        "window": k,
        "low": win["signal_region"][0],
        "high": win["signal_region"][1],
        "n_sr_events": win["n_sr_events"],
    }
    row.update({key: win[key] for key in _TABLE_KEYS if key in win})
    row["w_95_low"], row["w_95_high"] = win.get("w_interval_95") or (None, None)
    for name, part in win.get("methods", {}).items():
        row[f"local_significance {name}"] = part.get("local_significance")
    checks = win.get("sideband_checks")
    if checks is not None:
        for side in ("low", "high"):
            tests = checks.get(side, {})
            for test in ("classifier", "likelihood"):
                if test in tests:
                    row[f"check_{side}_{test}_z"] = tests[test]["z"]
        row["background_check_passed"] = checks.get("passed")
    row["notes"] = "; ".join(win.get("notes", []))
    return row
