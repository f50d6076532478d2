"""Where one scan window spends its time: a profile of ``scan_window`` by stage.

Runs :func:`~skranode.scan.scan_window` on one window of the built-in
background-only data (``make_scan_data``, default preset, one torch thread)
under :mod:`cProfile` and prints the cumulative seconds of the stages that
dominate it: the R-ANODE signal-flow trainings, the sideband background
trainings, the optimiser steps, the signal and background scoring, the
sampling of the selection's background events, and the whole window. The
stages overlap (a training includes its optimiser steps and validation
scoring), so the rows do not add up.

Run: ``python benchmarks/profile_window.py --window 2 --n-background 1000000``.
"""

import argparse
import cProfile
import pstats
import time

import torch
from _common import environment

STAGES = {
    "R-ANODE fits (all restarts and starts)": ("anode.py", "fit", None),
    "signal-flow trainings": ("anode.py", "_fit_signal_flow", None),
    "background-flow fits (SidebandDensity.fit)": ("sideband.py", "fit", None),
    "optimiser steps (AdamW)": ("optimizer.py", "wrapper", None),
    "signal scoring (signal_log_density)": ("anode.py", "signal_log_density", None),
    "background scoring (background_log_density)": ("anode.py", "background_log_density", None),
    "SidebandDensity.score_samples": ("sideband.py", "score_samples", None),
    "SidebandDensity.sample": ("sideband.py", "sample", None),
    "spline transforms (normflows RQS, before 248959c)": (
        "splines.py", "unconstrained_rational_quadratic_spline", None
    ),
    "spline transforms (skranode.flows RQS)": ("_spline.py", "rational_quadratic_spline", None),
}


def stage_seconds(stats):
    """Cumulative seconds of each stage's function (the largest match)."""
    out = {}
    for label, (file, name, line) in STAGES.items():
        best = 0.0
        for (path, lineno, func), (_, _, _, cumulative, _) in stats.stats.items():
            if path.endswith(file) and func == name and (line is None or lineno == line):
                best = max(best, cumulative)
        out[label] = best
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=2, help="index into the 11 default windows")
    parser.add_argument("--n-background", type=int, default=1_000_000)
    parser.add_argument("--preset", default="default")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from skranode.datasets import FEATURE_NAMES
    from skranode.scan import scan_window, sliding_windows
    from skranode.scan._windows import within_data
    from skranode.scan_job import make_scan_data

    data = make_scan_data(n_background=args.n_background, n_signal=0, seed=0)
    X, m = data[list(FEATURE_NAMES)].to_numpy(), data["mjj"].to_numpy()
    window = within_data(sliding_windows((3.0, 5.4))[args.window], m.min(), m.max())
    inside = window.in_range(m)
    profile = cProfile.Profile()
    tic = time.perf_counter()
    profile.enable()
    result = scan_window(X[inside], m[inside], window, preset=args.preset, random_state=0)
    profile.disable()
    seconds = time.perf_counter() - tic
    print(environment())
    print(f"window {window}, {int(inside.sum())} events, preset {args.preset}: {seconds:.0f} s "
          f"under the profiler, local Z {result.summary['local_significance']}")
    for label, value in stage_seconds(pstats.Stats(profile)).items():
        print(f"  {label:48s} {value:7.1f} s  {100 * value / seconds:5.1f} %")


if __name__ == "__main__":
    main()
