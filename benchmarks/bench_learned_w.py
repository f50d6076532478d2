"""Recovery of the signal fraction w on LHCO-like data: learned w and cross-fitting.

For each S/B and pseudo-dataset, the signal region (3.3-3.7 TeV) of
:func:`skranode.datasets.make_lhco_like` with the size of the LHC Olympics R&D
set (1M background events, about 121k of them in the signal region) gets
exactly ``S/B x n_background`` planted signal events. The background density
is the exact density of the generator (as in ``bench_coverage.py``), so that
what is measured is the signal model and the estimator of ``w``:

* ``learned``: one :class:`~skranode.ResidualANODE` with ``learn_w=True``
  (default signal model) trained on all events; its ``w_``.
* ``cross-fit``: :func:`skranode.inference.w_cross_fit` with the same
  template: learned-w models trained on ``cv - 1`` folds, the held-out
  likelihood of every event, its maximum, 95 % interval and significance.
* ``oracle`` (``--oracle``): the maximum-likelihood w with a signal density
  trained on 80 000 pure signal events: the statistical floor, what a perfect
  signal model would give.

Both learned-w estimators start from the same ``--w-start`` for every S/B
(they are not told the truth); with ``--start-from-learned F`` the cross-fit
models start at F times the one-fit learned w instead (``skranode demo``: 0.5).
Printed: ratios to the true w, the 95 % intervals, Z and wall times on this
machine.

Usage::

    python benchmarks/bench_learned_w.py                     # 0.6 % and 0.3 %, 3 datasets
    python benchmarks/bench_learned_w.py --s-over-b 0.003 --n-datasets 5 --oracle
    python benchmarks/bench_learned_w.py --quick             # 200k background, 1 dataset
"""

import argparse
import time
import warnings

import numpy as np
import torch
from bench_coverage import ExactBackground
from scipy.optimize import minimize_scalar
from scipy.special import expit

from skranode import ConditionalFlowDensity, ResidualANODE
from skranode.anode import default_signal_flow
from skranode.datasets import FEATURE_NAMES, make_lhco_like, signal_region_mask
from skranode.inference import w_cross_fit

SR = (3.3, 3.7)


def planted(n_background, s_over_b, seed):
    """Signal-region events with exactly round(S/B x n_bkg_SR) signal events."""
    frame = make_lhco_like(
        n_background=n_background,
        n_signal=int(s_over_b * 0.125 * n_background / 0.6) + 100,
        random_state=seed,
    )
    frame = frame[signal_region_mask(frame["mjj"], SR)]
    bkg, sig = frame[frame.label == 0], frame[frame.label == 1]
    sig = sig.iloc[: int(round(s_over_b * len(bkg)))]
    events = np.concatenate([bkg.to_numpy(), sig.to_numpy()])
    X = events[:, 1:5]
    return X, events[:, 0], events[:, 5]


def oracle_signal():
    frame = make_lhco_like(n_background=0, n_signal=110_000, random_state=777)
    frame = frame[signal_region_mask(frame["mjj"], SR)].iloc[:80_000]
    flow = ConditionalFlowDensity(
        "rqs", n_layers=4, n_hidden=64, n_bins=8, max_epochs=40, batch_size=512, random_state=0
    )
    return flow.fit(frame[list(FEATURE_NAMES)].to_numpy(), frame["mjj"].to_numpy())


def ml_w(log_ps, log_pb):
    def nll(z):
        return -np.sum(np.logaddexp(np.log(expit(z)) + log_ps, np.log(expit(-z)) + log_pb))

    return float(expit(minimize_scalar(nll, bounds=(-14, 0), method="bounded").x))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--s-over-b", type=float, nargs="+", default=[0.006, 0.003])
    parser.add_argument("--n-datasets", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--n-background", type=int, default=1_000_000)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--n-repeats", type=int, default=1)
    parser.add_argument("--w-start", type=float, default=0.003)
    parser.add_argument("--oracle", action="store_true")
    parser.add_argument(
        "--start-from-learned", type=float, default=None, metavar="F",
        help="start the cross-fit models at F times the one-fit learned w",
    )
    parser.add_argument("--no-single", action="store_true", help="skip the one-fit learned w")
    parser.add_argument("--n-jobs", type=int, default=2, help="trainings run at once")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_background, args.n_datasets, args.cv = 200_000, 1, 3
    torch.set_num_threads(1)
    bkg = ExactBackground()
    signal = oracle_signal() if args.oracle else None
    flow = default_signal_flow()
    template = ResidualANODE(bkg, w=args.w_start, learn_w=True, flow=flow)
    print(
        f"n_background {args.n_background}, cv {args.cv}, n_repeats {args.n_repeats}, "
        f"w start {args.w_start}, exact background, default signal model, 1 torch thread"
        + (
            f" (cross-fit from {args.start_from_learned} x the learned w)"
            if args.start_from_learned is not None
            else ""
        )
    )
    header = (
        f"{'S/B':>6} {'seed':>4} {'n_SR':>7} {'true w':>8} | {'learned/true':>12} {'s':>5} | "
        f"{'cross-fit/true':>14} {'95 % / true':>14} {'Z':>5} {'s':>5}"
        + (f" | {'oracle/true':>11}" if signal is not None else "")
    )
    rows = []
    for s_over_b in args.s_over_b:
        print(header)
        for seed in range(args.first_seed, args.first_seed + args.n_datasets):
            X, m, y = planted(args.n_background, s_over_b, seed)
            w_true = float(y.mean())
            learned, t_single = np.nan, 0.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if not args.no_single:
                    t = time.perf_counter()
                    est = ResidualANODE(
                        bkg, w=args.w_start, learn_w=True, flow=flow, random_state=seed
                    ).fit(X, m)
                    learned, t_single = est.w_ / w_true, time.perf_counter() - t
                t = time.perf_counter()
                if args.start_from_learned is not None and not args.no_single:
                    start = args.start_from_learned * est.w_
                    template = ResidualANODE(bkg, w=start, learn_w=True, flow=flow)
                prof = w_cross_fit(
                    template, X, m, cv=args.cv, n_repeats=args.n_repeats,
                    n_jobs=args.n_jobs, random_state=seed,
                )
                t_cf = time.perf_counter() - t
            lo, hi = prof.interval_95
            line = (
                f"{s_over_b:6.3%} {seed:4d} {len(X):7d} {w_true:8.5f} | {learned:12.2f} "
                f"{t_single:5.0f} | {prof.w_hat / w_true:14.2f} "
                f"{f'[{lo / w_true:.2f}, {hi / w_true:.2f}]':>14} {prof.significance:5.1f} "
                f"{t_cf:5.0f}"
            )
            oracle = np.nan
            if signal is not None:
                oracle = ml_w(signal.score_samples(X, m), bkg.score_samples(X, m)) / w_true
                line += f" | {oracle:11.2f}"
            print(line, flush=True)
            rows.append((s_over_b, learned, prof.w_hat / w_true, prof.covers(w_true), oracle))
    print("\n=== summary (ratios to the true w) ===")
    for s_over_b in args.s_over_b:
        r = np.array([row[1:] for row in rows if row[0] == s_over_b], dtype=float)
        within = np.nanmean(np.abs(r[:, :2] - 1) <= 0.2, axis=0)
        print(
            f"S/B {s_over_b:.3%}: learned mean {np.nanmean(r[:, 0]):.2f} (within 20 %: "
            f"{within[0]:.2f}); cross-fit mean {np.mean(r[:, 1]):.2f} (within 20 %: "
            f"{within[1]:.2f}, 95 % interval covers: {np.mean(r[:, 2]):.2f})"
            + (f"; oracle mean {np.mean(r[:, 3]):.2f}" if signal is not None else "")
        )


if __name__ == "__main__":
    main()
