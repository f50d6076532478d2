"""Coverage of the GBI intervals and null distribution of the GBI significance.

For each pseudo-experiment (seeds 0, 1, ...), signal-region events are drawn
with :func:`skranode.datasets.make_lhco_like`, once with a planted signal and
once without, and :func:`skranode.inference.w_profile` scans the signal
fraction ``w`` (or, with ``--method crossfit``, :func:`skranode.inference.w_cross_fit`
estimates it from learned-w signal models trained on the other folds).
The script reports how often the 68 % and 95 % intervals contain the true
``w`` (the signal fraction of that experiment's signal region) and the
distribution of the significance Z without signal.

The background model is shared by all pseudo-experiments. With
``--background flow`` (default) it is a conditional flow trained on the
signal-region events of an *independent* background-only sample (seed
10 000), an idealised stand-in for a sideband interpolation; with
``--background exact`` it is the exact density of the generator, which
isolates the behaviour of the signal model and of the interval construction.

Usage::

    python benchmarks/bench_coverage.py                 # 20 + 20 experiments
    python benchmarks/bench_coverage.py --quick         # 5 + 5, smaller samples
    python benchmarks/bench_coverage.py --background exact --n-experiments 50
    # the default signal model, 3 models averaged per w, signal experiments 10-19
    python benchmarks/bench_coverage.py --background exact --signal-model default \
        --n-repeats 3 --kinds signal --first-seed 10 --n-experiments 10
    # cross-fitted learned-w models (w_cross_fit) instead of the grid scan
    python benchmarks/bench_coverage.py --background exact --method crossfit --cv 3
"""

import argparse
import time
import warnings

import numpy as np
import torch

from skranode import ConditionalFlowDensity, ResidualANODE
from skranode.anode import default_signal_flow
from skranode.datasets import (
    FEATURE_NAMES,
    LHCOLikeBackgroundDensity,
    make_lhco_like,
    signal_region_mask,
)
from skranode.inference import w_cross_fit, w_profile

SR = (3.3, 3.7)


ExactBackground = LHCOLikeBackgroundDensity


def sr_events(n_background, n_signal, seed):
    d = make_lhco_like(n_background=n_background, n_signal=n_signal, random_state=seed)
    s = signal_region_mask(d["mjj"], SR)
    X = d.loc[s, list(FEATURE_NAMES)].to_numpy()
    return X, d.loc[s, "mjj"].to_numpy(), d.loc[s, "label"].to_numpy()


def make_background(args):
    if args.background == "exact":
        return ExactBackground()
    X, m, _ = sr_events(args.bkg_factor * args.n_background, 0, 10_000)
    flow = ConditionalFlowDensity(
        n_layers=args.bkg_layers, n_hidden=args.bkg_hidden, max_epochs=args.bkg_epochs,
        batch_size=1024, learning_rate=2e-3, device="cpu", random_state=0,
    )
    return flow.fit(X, m)


def signal_flow(args):
    if args.signal_model == "default":
        return default_signal_flow()
    epochs = args.epochs
    return ConditionalFlowDensity(
        "rqs", n_layers=2, n_hidden=16, batch_norm=False, n_bins=4, max_epochs=epochs,
        batch_size=256, learning_rate=3e-3, patience=epochs, n_best=3, device="cpu",
    )


def run(args):
    t0 = time.perf_counter()
    background = make_background(args)
    t_bkg = time.perf_counter() - t0
    print(f"background ({args.background}): {t_bkg:.1f} s; method {args.method}")
    grid = np.geomspace(1e-3, 0.2, args.n_grid)
    if args.method == "crossfit":
        template = ResidualANODE(
            background, w=args.w_start, learn_w=True, flow=signal_flow(args)
        )
    else:
        template = ResidualANODE(background, flow=signal_flow(args))
    rows = {kind: [] for kind in args.kinds}
    kinds = [("signal", args.n_signal), ("null", 0)]
    kinds = [k for k in kinds if k[0] in args.kinds]
    for kind, n_signal in kinds:
        for seed in range(args.first_seed, args.first_seed + args.n_experiments):
            X, m, y = sr_events(args.n_background, n_signal, seed)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if args.method == "crossfit":
                    prof = w_cross_fit(
                        template, X, m, cv=args.cv, n_repeats=args.n_repeats,
                        n_jobs=args.n_jobs, random_state=seed,
                    )
                else:
                    prof = w_profile(
                        template, X, m, w_grid=grid, n_repeats=args.n_repeats,
                        n_jobs=args.n_jobs, random_state=seed,
                    )
            dt = time.perf_counter() - t
            w_true = float(y.mean())
            rows[kind].append(
                (w_true, prof.w_hat, prof.interval_68, prof.interval_95, prof.significance, dt)
            )
            print(
                f"{kind:6s} seed {seed:2d}  n_SR {len(X):6d}  w_true {w_true:.4f}  "
                f"w_hat {prof.w_hat:.4f}  68% [{prof.interval_68[0]:.4f}, "
                f"{prof.interval_68[1]:.4f}]  95% [{prof.interval_95[0]:.4f}, "
                f"{prof.interval_95[1]:.4f}]  Z {prof.significance:5.2f}  {dt:5.1f} s",
                flush=True,
            )
    print("\n=== summary ===")
    for kind, res in rows.items():
        w_true = np.array([r[0] for r in res])
        w_hat = np.array([r[1] for r in res])
        c68 = np.mean([r[2][0] <= r[0] <= r[2][1] for r in res])
        c95 = np.mean([r[3][0] <= r[0] <= r[3][1] for r in res])
        z = np.array([r[4] for r in res])
        times = np.array([r[5] for r in res])
        print(f"[{kind}] {len(res)} experiments, mean true w {w_true.mean():.4f}")
        line = f"  w_hat: median {np.median(w_hat):.4f}"
        if kind == "signal":
            line += f", median w_hat / w_true {np.median(w_hat / w_true):.2f}"
        print(line)
        print(f"  coverage of true w: 68 % interval {c68:.2f}, 95 % interval {c95:.2f}")
        q = np.quantile(z, [0.16, 0.5, 0.84, 0.95])
        print(f"  Z quantiles 16/50/84/95 %: {np.round(q, 2).tolist()}, "
              f"fraction Z > 2: {np.mean(z > 2):.2f}, fraction Z == 0: {np.mean(z == 0):.2f}")
        print(f"  wall time per profile: mean {times.mean():.1f} s, total {times.sum():.1f} s")
    print("(asymptotic expectation without signal: Z = 0 half the time, P(Z > 2) = 0.023)")
    print(f"total wall time {time.perf_counter() - t0:.1f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-experiments", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first experiment")
    parser.add_argument(
        "--n-repeats", type=int, default=1,
        help="signal models averaged per w (w_profile's n_repeats)",
    )
    parser.add_argument(
        "--method", choices=("profile", "crossfit"), default="profile",
        help="'profile': w_profile, a signal model per w of a grid, half the events held out; "
        "'crossfit': w_cross_fit, learned-w signal models on --cv folds",
    )
    parser.add_argument("--cv", type=int, default=3, help="folds of w_cross_fit")
    parser.add_argument("--w-start", type=float, default=0.01,
                        help="initial w of the learned-w models of w_cross_fit")
    parser.add_argument("--n-jobs", type=int, default=None, help="trainings run at once")
    parser.add_argument("--quick", action="store_true",
                        help="5 + 5 experiments, 7 grid points (unless set explicitly)")
    parser.add_argument("--background", choices=("flow", "exact"), default="flow")
    parser.add_argument("--n-background", type=int, default=100_000,
                        help="background events per experiment, full mass range (~12 %% in SR)")
    parser.add_argument("--n-signal", type=int, default=300,
                        help="signal events per experiment (S/B about 0.018 in the SR)")
    parser.add_argument("--n-grid", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=8, help="signal-model epochs")
    parser.add_argument(
        "--signal-model", choices=("small", "default"), default="small",
        help="'small': 2 spline layers x 16 units, --epochs epochs (fast); "
        "'default': skranode.anode.default_signal_flow()",
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=("signal", "null"), default=["signal", "null"],
        help="which pseudo-experiments to run",
    )
    parser.add_argument("--bkg-epochs", type=int, default=25)
    parser.add_argument("--bkg-factor", type=int, default=10,
                        help="background-model sample = this many times --n-background")
    parser.add_argument("--bkg-layers", type=int, default=6)
    parser.add_argument("--bkg-hidden", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_experiments = 5
        args.n_grid = 7
    torch.set_num_threads(args.threads)
    run(args)


if __name__ == "__main__":
    main()
