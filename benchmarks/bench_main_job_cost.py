"""What the background-model uncertainty and the truth-free validation add to the main job.

The k-fold stage of ``skranode demo`` (:func:`skranode.analysis.analyse_window`)
runs, for its signal region, :func:`~skranode.scan.scan_window` with two
starts of the fold signal models (the signal-model uncertainty), the spread of
the fold backgrounds (the background-model uncertainty, no extra training) and
1 000 toys of the empirical null, and in parallel the two validation windows
(:func:`~skranode.scan.validation_tasks`). This script times each of these
parts alone, one after the other, on the demo's data (``--preset`` default:
300 000 background events and 800 signal, seed 0), with one torch thread:

* the bare k-fold stage (one start, no toys);
* the second start of the fold signal models;
* the 1 000 toys;
* each validation window.

It prints the CPU flags and the torch thread count first. The main job runs
the signal region and the validation windows in parallel (``n_jobs`` = the
cores), so on 2 cores its k-fold stage takes about the longest of the signal
region's time and the validation windows' sum, not the total.

Run: ``python benchmarks/bench_main_job_cost.py [--preset default] [--seed 0]``.
"""

import argparse
import time

import torch
from _common import environment

from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.mass_window import MassWindow
from skranode.presets import ANALYSIS_PRESETS, DEMO_PRESETS
from skranode.scan import WindowOptions, scan_window, validation_tasks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=sorted(DEMO_PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-signal", type=int, default=800)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(environment(), flush=True)
    cfg = DEMO_PRESETS[args.preset]
    data = make_lhco_like(cfg.n_background, args.n_signal, random_state=args.seed)
    features = data[list(FEATURE_NAMES)].to_numpy()
    mass = data["mjj"].to_numpy()
    lo, hi = 3.3, 3.7
    side = hi - lo
    window = MassWindow(lo, hi, max(lo - side, float(mass.min())), hi + side)
    n_sr = int(window.in_signal_region(mass).sum())
    kfold_preset = ANALYSIS_PRESETS[args.preset].kfold
    # the main job's start: half a first learned w; a fixed value here, the same for all parts
    w_start = 0.006
    common = dict(preset=kfold_preset, w_start=w_start, random_state=args.seed)

    def timed(label, **kwargs):
        start = time.perf_counter()
        res = scan_window(features, mass, window, **dict(common, **kwargs))
        seconds = time.perf_counter() - start
        print(f"  {label:<46s} {seconds:7.1f} s   (w-hat {res.summary['w_hat']:.4g})", flush=True)
        return seconds

    print(f"\n{n_sr} signal-region events, k-fold preset {kfold_preset!r}, one torch thread")
    bare = timed("k-fold, one start, no toys", start_factors=(1.0,), n_toys=0)
    two = timed("k-fold, two starts, no toys", n_toys=0)
    full = timed("k-fold, two starts, 1000 toys (the main job's)", n_toys=1000)
    named = validation_tasks(
        features,
        mass,
        window,
        WindowOptions(preset=kfold_preset),
        n_signal_region=n_sr,
        random_state=args.seed,
    )
    val = []
    for name, (task, _) in named.items():
        start = time.perf_counter()
        task.run()
        val.append(time.perf_counter() - start)
        print(f"  {'validation window ' + name:<46s} {val[-1]:7.1f} s", flush=True)
    print(
        f"\nadded to the bare k-fold stage ({bare:.0f} s): second start {two - bare:+.0f} s, "
        f"toys {full - two:+.0f} s, validation windows {sum(val):+.0f} s in series "
        f"(in parallel on 2 cores the stage takes about max({full:.0f}, {sum(val):.0f}) = "
        f"{max(full, sum(val)):.0f} s)"
    )
    print("one timing of each part (no repeats)")


if __name__ == "__main__":
    main()
