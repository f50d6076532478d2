"""Sliding-window scan: the null, the power, the look-elsewhere effect, pyBumpHunter and speed.

Each pseudo-experiment draws a fresh LHCO-like spectrum
(:func:`~skranode.datasets.make_lhco_like`), learns every window's background
in its sidebands (nothing is exact) and runs :func:`~skranode.scan.scan_spectrum`.
One JSON line per scan goes to ``--log`` as soon as it finishes, so the
summary can be made from a partial run (``--summarize``).

Measured (see the closing note of the scan issue and the user guide)::

    # 20 background-only scans and 10 per signal setting, 2 at a time
    python benchmarks/bench_scan.py --mode null --seeds 0-19 --log scan_null.jsonl
    python benchmarks/bench_scan.py --mode signal --signal-mass 4.0 --n-signal 300 \\
        --seeds 0-9 --log scan_signal.jsonl
    python benchmarks/bench_scan.py --summarize scan_null.jsonl scan_signal.jsonl
    # speed: 1,000,000 events, 11 windows over 3.0-5.4 TeV
    python benchmarks/bench_scan.py --mode speed --n-background 1000000 \\
        --mass-range 3.0 5.5 --n-jobs-list 2
    # the speed-up of 2 processes and of a dask LocalCluster over one
    python benchmarks/bench_scan.py --mode speed --n-jobs-list 1 2 --dask
    # closure of the per-window background recipe (generated vs true SR background)
    python benchmarks/bench_scan.py --mode closure --n-background 1000000 --mass-range 3.0 5.5 \\
        --closure-log benchmarks/results/scan_closure.jsonl --closure-label before

The pyBumpHunter comparison (``--bumphunter``, needs ``pip install -e
".[bench]"``, which installs pyBumpHunter) runs its BumpHunter1D on the mjj histogram of the same
spectrum, with the reference background taken from a 3-parameter dijet fit of
the whole spectrum, and logs its local and global significance.
"""

import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np
from _common import code_version, environment, parse_seeds


def _bumphunter(mjj, mass_range, seed):
    """pyBumpHunter's BumpHunter1D on the mjj histogram, dijet-fit reference."""
    import pyBumpHunter as pbh

    from skranode.mass_spectrum import DijetMassSpectrum

    lo, hi = mass_range
    edges = np.linspace(lo, hi, int(round((hi - lo) / 0.05)) + 1)
    # the reference: a background-only dijet fit of the whole range, as ATLAS does
    spec = DijetMassSpectrum(signal_region=(edges[1], edges[2]), mass_range=(lo, hi), n_params=4)
    inside = (mjj >= lo) & (mjj < hi)
    spec.fit(mjj[inside])
    log_pdf = spec.log_pdf(0.5 * (edges[1:] + edges[:-1]))
    ref = np.exp(log_pdf) * np.diff(edges)
    ref = ref / ref.sum() * inside.sum()
    hunter = pbh.BumpHunter1D(
        rang=[lo, hi], width_min=2, width_max=8, width_step=1, scan_step=1,
        npe=2000, nworker=1, seed=seed, bins=edges,
    )
    observed = np.histogram(mjj[inside], edges)[0]
    hunter.bump_scan(observed, ref, is_hist=True, do_pseudo=True)
    from scipy.stats import norm

    first = int(hunter.min_loc_ar[0])
    return {
        "bh_local_significance": float(norm.isf(max(hunter.min_Pval_ar[0], 1e-300))),
        "bh_global_significance": float(hunter.significance),
        "bh_global_p_value": float(hunter.global_Pval),
        "bh_bump": [float(edges[first]), float(edges[first + int(hunter.min_width_ar[0])])],
    }


def _other_efficiencies(res, mass, efficiencies, seed):
    """The bump hunt of the same scores at other cut efficiencies, with its own LEE.

    What ``scan_spectrum(efficiency=...)`` gives from the same trainings (nothing
    trained depends on the cut): every analysed window's local significance with
    the background-template spread, and the global one from the scan's
    correlated pseudo-experiments, the correlation bootstrapped anew for the cut.
    """
    from skranode.mass_window import MassWindow
    from skranode.stats import bootstrap_significances, global_significance, window_bump_hunt

    analysed = sorted(res.details)
    out = {}
    for eff in efficiencies:
        z, selections = [], []
        for k in analysed:
            scores = res.details[k].scores
            window = MassWindow(*res.windows[k]["signal_region"], *res.windows[k]["sideband"])
            index = np.flatnonzero(window.in_range(mass))
            sr = window.in_signal_region(mass[index])
            width = res.windows[k]["bump_hunt"]["signal_width"]
            try:
                bump = window_bump_hunt(
                    scores, mass[index], sr, window, efficiency=eff, signal_width=width,
                    templates=res.details[k].templates,
                )
                z.append(bump.significance)
                selected = bump.cut.selected
            except ValueError:
                z.append(float("nan"))
                selected = scores >= np.quantile(scores[~sr], 1.0 - eff, method="higher")
            selections.append((index[selected], window, width))
        z = np.nan_to_num(np.array(z), nan=-10.0)
        rng = np.random.default_rng(seed)
        boot = bootstrap_significances(mass, selections, 100, rng)
        glob = global_significance(z, boot, n_pseudo=200_000, rng=rng)
        out[str(eff)] = {
            "local_significance": [round(float(v), 3) for v in z],
            "best_window": analysed[int(np.argmax(z))],
            "global_significance": round(glob.significance, 3),
            "global_p_value": glob.p_value,
        }
    return out


def run_one(seed, args):
    from skranode.datasets import FEATURE_NAMES, make_lhco_like
    from skranode.scan import scan_spectrum, sliding_windows

    n_signal = 0 if args.mode == "null" else args.n_signal
    df = make_lhco_like(
        n_background=args.n_background,
        n_signal=n_signal,
        signal_mass=args.signal_mass,
        random_state=1000 + seed,
    )
    windows = sliding_windows(tuple(args.mass_range), width=args.width, step=args.step,
                              sideband_width=args.sideband_width)
    start = time.perf_counter()
    res = scan_spectrum(
        df[list(FEATURE_NAMES)], df["mjj"].to_numpy(), windows=windows, preset=args.preset,
        n_folds=args.n_folds, efficiency=args.efficiency, labels=df["label"].to_numpy(),
        n_init=args.n_init, n_jobs=args.n_jobs, validate=not args.no_validation,
        random_state=seed,
    )
    out = {
        "mode": args.mode, "seed": seed, "n_background": args.n_background,
        "n_signal": n_signal, "signal_mass": args.signal_mass if n_signal else None,
        "seconds": round(time.perf_counter() - start, 1),
        "global_significance": res.global_significance,
        "global_p_value": res.global_p_value, "best_window": res.best_window,
        "windows": [
            {k: w.get(k) for k in (
                "signal_region", "n_sr_events", "n_signal_true", "s_over_sqrt_b_true",
                "w_hat", "w_interval_95", "w_upper_limit_95", "significance_likelihood_ratio",
                "local_significance", "local_p_value", "seconds", "notes", "skipped",
                "w_start", "w_learned_folds", "selection_flat_p_value", "fit_gof_p_value",
            )}
            | {"n_signal_selected_true": (w.get("bump_hunt") or {}).get("n_signal_selected_true")}
            for w in res.windows
        ],
        "n_init": args.n_init, "preset": args.preset, "n_jobs": args.n_jobs,
        "significance_trusted": res.significance_trusted,
        "validation_windows": res.to_dict()["validation_windows"],
        "stage_seconds": res.seconds,
        "environment": environment(),
        "commit": code_version(),
    }
    if args.other_efficiencies and res.details:
        out["other_efficiencies"] = _other_efficiencies(
            res, df["mjj"].to_numpy(), args.other_efficiencies, seed
        )
    if res.best_window is not None and n_signal:
        lo, hi = res.windows[res.best_window]["signal_region"]
        out["best_contains_truth"] = bool(lo <= args.signal_mass < hi)
    if args.bumphunter:
        lo = args.mass_range[0] - args.sideband_width
        hi = args.mass_range[1] + args.sideband_width
        out.update(_bumphunter(df["mjj"].to_numpy(), (max(lo, 2.8), hi), seed))
    return out


def _null_calibration(null):
    """The maximum local Z of each background-only scan against what its global p-value claims."""
    from scipy.stats import norm

    z_max = np.array([max(w["local_significance"] for w in r["windows"]
                          if w["local_significance"] is not None) for r in null])
    p = np.array([r["global_p_value"] for r in null])
    print(f"  maximum local Z per scan: median {np.median(z_max):.2f}, 90 % quantile "
          f"{np.quantile(z_max, 0.9):.2f}, max {z_max.max():.2f}; above 3 in "
          f"{int(np.sum(z_max > 3))}/{len(null)} scans")
    for alpha in (0.5, 0.1, 0.05):
        # a calibrated global p-value is below alpha in a fraction alpha of null scans
        print(f"  global p < {alpha}: {int(np.sum(p < alpha))}/{len(null)} scans "
              f"(expected {alpha * len(null):.1f}); global Z > {norm.isf(alpha):.2f}")
    flat = [w.get("selection_flat_p_value") for r in null for w in r["windows"]]
    flat = np.array([f for f in flat if f is not None])
    gof = [w.get("fit_gof_p_value") for r in null for w in r["windows"]]
    gof = np.array([g for g in gof if g is not None])
    if flat.size:
        print(f"  selection flat p < 0.01 in {np.mean(flat < 0.01):.1%} of {flat.size} windows")
    if gof.size:
        print(f"  fit goodness of fit p < 0.01 in {np.mean(gof < 0.01):.1%} of {gof.size} windows")
    trusted = [r for r in null if r.get("significance_trusted")]
    print(f"  significance trusted in {len(trusted)}/{len(null)} scans; trusted with global Z "
          f"> 2: {sum((r['global_significance'] or 0) > 2 for r in trusted)}")


def summarize(paths):
    from scipy.stats import kstest

    rows = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    null = [r for r in rows if r["mode"] == "null"]
    if null:
        p = np.array([r["global_p_value"] for r in null])
        z = np.array([w["local_significance"] for r in null for w in r["windows"]
                      if w["local_significance"] is not None])
        z_lr = np.array([w["significance_likelihood_ratio"] for r in null for w in r["windows"]
                         if w["significance_likelihood_ratio"] is not None])
        cover = [w["w_interval_95"][0] == 0 for r in null for w in r["windows"]
                 if w["w_interval_95"] is not None]
        print(f"background-only scans: {len(null)}, windows analysed: {z.size}")
        print(f"  global p-values: KS test against uniform p = {kstest(p, 'uniform').pvalue:.3f}"
              f" (min {p.min():.3f}, median {np.median(p):.3f})")
        print(f"  local Z (bump hunt): mean {z.mean():+.2f}, std {z.std():.2f}, "
              f"> 2: {np.mean(z > 2):.1%}, > 3: {np.mean(z > 3):.1%} (nominal 2.3 %, 0.13 %)")
        print(f"  likelihood-ratio Z (statistical only): median {np.median(z_lr):.2f}, "
              f"> 2: {np.mean(z_lr > 2):.1%}, > 3: {np.mean(z_lr > 3):.1%}")
        print(f"  95 % w interval reaching 0: {np.mean(cover):.1%} of windows")
        _null_calibration(null)
    for key in sorted({(r["signal_mass"], r["n_signal"]) for r in rows if r["mode"] == "signal"}):
        sig = [
            r for r in rows
            if r["mode"] == "signal" and (r["signal_mass"], r["n_signal"]) == key
        ]
        best = [r["windows"][r["best_window"]] for r in sig]
        truth_best = []
        for r in sig:
            with_truth = [w for w in r["windows"] if w.get("s_over_sqrt_b_true") is not None
                          and w["local_significance"] is not None]
            top = max(with_truth, key=lambda w: w["s_over_sqrt_b_true"])
            truth_best.append(top)
        zg = np.array([r["global_significance"] for r in sig])
        print(f"signal at {key[0]} TeV, {key[1]} events: {len(sig)} scans")
        print(f"  S/sqrt(B) of the truest window: median "
              f"{np.median([w['s_over_sqrt_b_true'] for w in truth_best]):.2f}")
        print(f"  best window contains the mass: {sum(r['best_contains_truth'] for r in sig)}"
              f"/{len(sig)}; global Z median {np.median(zg):.2f}, >= 3 in "
              f"{int(np.sum(zg >= 3))}/{len(sig)}; local Z of the best median "
              f"{np.median([w['local_significance'] for w in best]):.2f}")
        w_true = [w["n_signal_true"] / w["n_sr_events"] for w in truth_best]
        pairs = list(zip(truth_best, w_true, strict=True))
        cov = [w["w_interval_95"][0] <= t <= w["w_interval_95"][1] for w, t in pairs]
        ul = [w["w_upper_limit_95"] >= t for w, t in pairs]
        print(f"  in the truest window: 95 % interval covers w {sum(cov)}/{len(sig)}, upper limit "
              f"above w {sum(ul)}/{len(sig)}; LR Z median "
              f"{np.median([w['significance_likelihood_ratio'] for w in truth_best]):.1f}")
        if "bh_global_significance" in sig[0]:
            print(f"  pyBumpHunter (mjj only): local Z median "
                  f"{np.median([r['bh_local_significance'] for r in sig]):.2f}, global median "
                  f"{np.median([r['bh_global_significance'] for r in sig]):.2f}")
    if null and "bh_global_significance" in null[0]:
        print(f"  null pyBumpHunter global Z median "
              f"{np.median([r['bh_global_significance'] for r in null]):.2f}")


@contextlib.contextmanager
def _backend(name):
    """joblib's default processes, or a dask LocalCluster of 2 one-thread workers."""
    if name != "dask":
        yield
        return
    import joblib
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster), joblib.parallel_config(backend="dask"):
        yield


def speed(args):
    """Wall time of a scan of the built-in data; per-window times and the parallel speed-up."""
    from skranode.scan import scan_spectrum, sliding_windows
    from skranode.scan_job import make_scan_data

    print(environment())
    df = make_scan_data(n_background=args.n_background, n_signal=1200, seed=0)
    windows = sliding_windows(tuple(args.mass_range), width=args.width, step=args.step,
                              sideband_width=args.sideband_width)
    feats = ["mjmin", "delta_mj", "tau21_min", "tau21_max"]
    runs = [(n, "loky") for n in args.n_jobs_list]
    if args.dask:
        runs.append((2, "dask"))
    for n_jobs, backend in runs:
        start = time.perf_counter()
        with _backend(backend):
            res = scan_spectrum(df[feats], df["mjj"].to_numpy(), windows=windows,
                                preset=args.preset, n_jobs=n_jobs,
                                labels=df["label"].to_numpy(), random_state=0)
        wall = time.perf_counter() - start
        print(f"\nn_jobs={n_jobs} ({backend}): {len(windows)} windows over {windows[0].low:g}-"
              f"{windows[-1].high:g} TeV, {len(df)} events: wall {wall:.0f} s (windows "
              f"{res.seconds['windows']} s, look-elsewhere {res.seconds['look_elsewhere']} s)")
        print(f"  {'window':<14}{'events':>9}{'seconds':>9}{'Z_local':>9}{'S/sqrtB':>9}")
        total = 0.0
        for w in res.windows:
            total += w.get("seconds") or 0.0
            print(f"  {str(w['signal_region']):<14}{w['n_events']:>9}{w.get('seconds', 0):>9}"
                  f"{str(w.get('local_significance')):>9}{str(w.get('s_over_sqrt_b_true')):>9}")
        print(f"  sum of per-window times {total:.0f} s: parallel speed-up "
              f"{total / res.seconds['windows']:.2f}x over running them one after the other")
        print(f"  best window {res.best_window}, global significance {res.global_significance}")


def closure(args):
    """AUC of generated vs true signal-region background for the scan's background recipe."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    from skranode.datasets import FEATURE_NAMES, make_lhco_like
    from skranode.presets import SCAN_PRESETS
    from skranode.scan import sliding_windows, window_background

    print(environment())
    feats = list(FEATURE_NAMES)
    df = make_lhco_like(n_background=args.n_background, n_signal=0, random_state=7)
    truth = make_lhco_like(n_background=args.n_background, n_signal=0, random_state=8)
    cfg = SCAN_PRESETS[args.preset]
    for window in sliding_windows(tuple(args.mass_range), width=args.width, step=args.step,
                                  sideband_width=args.sideband_width):
        inside = window.in_range(df["mjj"].to_numpy())
        train = df[inside]
        keep = (train.index.to_numpy() % cfg.n_folds) != 0  # one fold's share
        start = time.perf_counter()
        n_sideband = int((~window.in_signal_region(train["mjj"].to_numpy()[keep])).sum())
        bkg = window_background(window, n_sideband, preset=args.preset)
        bkg.fit(train[feats][keep], train["mjj"].to_numpy()[keep])
        seconds = time.perf_counter() - start
        sr = truth[window.in_signal_region(truth["mjj"].to_numpy())]
        generated = bkg.sample(sr["mjj"].to_numpy(), random_state=0)
        Z = np.r_[sr[feats].to_numpy(), generated]
        y = np.r_[np.ones(len(sr)), np.zeros(len(generated))]
        proba = cross_val_predict(HistGradientBoostingClassifier(random_state=0), Z, y, cv=3,
                                  method="predict_proba")[:, 1]
        auc = float(roc_auc_score(y, proba))
        print(f"window {window}: closure AUC {auc:.4f} "
              f"({len(sr)} SR events; background fit {seconds:.0f} s)", flush=True)
        if args.closure_log:
            row = dict(
                label=args.closure_label, window=list(window.bounds),
                n_background=args.n_background, preset=args.preset, n_sideband=n_sideband,
                epochs=len(bkg.density_.history_["val_loss"]),
                batch_size=bkg.density_.history_.get("batch_size", bkg.density_.batch_size),
                steps=bkg.density_.history_.get("n_steps"),
                stopped_early=bkg.density_.history_["stopped_early"],
                closure_auc=round(auc, 4), n_sr_events=len(sr), seconds=round(seconds, 1),
                environment=environment(),
            )
            with open(args.closure_log, "a") as f:
                f.write(json.dumps(row) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode", choices=("null", "signal", "speed", "closure"), default="null"
    )
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--n-background", type=int, default=400_000)
    parser.add_argument("--n-signal", type=int, default=300)
    parser.add_argument("--signal-mass", type=float, default=4.0)
    parser.add_argument("--mass-range", type=float, nargs=2, default=(3.4, 4.6))
    parser.add_argument("--width", type=float, default=0.4)
    parser.add_argument("--step", type=float, default=0.2)
    parser.add_argument("--sideband-width", type=float, default=0.4)
    parser.add_argument("--efficiency", type=float, default=0.02)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--n-folds", type=int, default=None)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--n-init", type=int, default=None,
                        help="restarts of each window's first fit (default: the preset's)")
    parser.add_argument("--no-validation", action="store_true",
                        help="skip the validation windows (the global significance is the same)")
    parser.add_argument("--other-efficiencies", type=float, nargs="+", default=[],
                        help="also log the bump hunt of the same scores at these cuts")
    parser.add_argument("--n-jobs-list", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--bumphunter", action="store_true")
    parser.add_argument("--dask", action="store_true",
                        help="speed mode: also run on a dask LocalCluster (2 workers)")
    parser.add_argument("--log", default="scan_bench.jsonl")
    parser.add_argument("--closure-log", default=None,
                        help="closure mode: append one JSON line per window to this file")
    parser.add_argument("--closure-label", default="",
                        help="closure mode: a label of the run in its JSON lines (before/after)")
    parser.add_argument("--summarize", nargs="+", metavar="LOG")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return 0
    if args.mode == "speed":
        import torch

        torch.set_num_threads(1)  # n_jobs=1 on one thread, as every worker
        speed(args)
        return 0
    if args.mode == "closure":
        import torch

        torch.set_num_threads(1)
        closure(args)
        return 0
    import torch

    torch.set_num_threads(1)
    print(environment(), file=sys.stderr)
    done = set()
    if os.path.exists(args.log):  # resume: skip the scans already logged
        with open(args.log) as f:
            done = {
                (r["mode"], r["seed"], r["n_background"], r["n_signal"], r.get("signal_mass"))
                for r in map(json.loads, f)
            }
    for seed in parse_seeds(args.seeds):
        n_signal = 0 if args.mode == "null" else args.n_signal
        mass = args.signal_mass if n_signal else None
        if (args.mode, seed, args.n_background, n_signal, mass) in done:
            continue
        out = run_one(seed, args)
        with open(args.log, "a") as f:
            f.write(json.dumps(out) + "\n")
        print(f"seed {seed}: global Z {out['global_significance']} best {out['best_window']} "
              f"in {out['seconds']} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
