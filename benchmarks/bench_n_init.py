"""How often one R-ANODE training misses the signal, and what restarts (``n_init``) buy.

For each seed: the README quick start's data (``make_lhco_like`` with 200,000
background events and ``--n-signal`` signal events), its background model
(``SidebandDensity`` on the sidebands of 3.3-3.7 TeV), then R-ANODE as in the
quick start (``w=0.003``, ``learn_w=True``) fitted twice on the signal-region
events: with ``n_init=1`` (one training, as published) and with
``n_init=--n-init`` (the kept restart is the one with the best held-out
mixture likelihood). Restart 0 of the second fit is the first fit (same split,
same initialisation), so the table shows what the extra restarts change.

Each fit is judged on an independent test sample (its own seed, 20,000 signal
events): the max SIC (>= 25 test background events) and whether the signal was
found (SIC above ``--found-sic``). Per seed: the learned ``w``, the held-out
-log L of every restart, the kept one, wall time. It prints the CPU flags and
the torch thread count first.

Run: ``python benchmarks/bench_n_init.py --n-signal 600 --seeds 0-9``
"""

import argparse
import time

import numpy as np
import torch
from _common import environment, parse_seeds

from skranode import ResidualANODE, SidebandDensity
from skranode.datasets import FEATURE_NAMES, make_lhco_like, signal_region_mask
from skranode.metrics import max_sic

SR = (3.3, 3.7)


def signal_region(frame):
    frame = frame[signal_region_mask(frame["mjj"], SR)]
    return frame[list(FEATURE_NAMES)], frame["mjj"], frame["label"].to_numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-signal", type=int, default=600)
    parser.add_argument("--seeds", default="0-9", help='"0-9" or "0,3,7"')
    parser.add_argument("--n-init", type=int, default=3, help="restarts of the second fit")
    parser.add_argument("--w", type=float, default=0.003, help="initial w (learned)")
    parser.add_argument("--found-sic", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(environment(), flush=True)
    rows = []
    for seed in parse_seeds(args.seeds):
        events = make_lhco_like(n_background=200_000, n_signal=args.n_signal, random_state=seed)
        X, m = events[list(FEATURE_NAMES)], events["mjj"]
        tic = time.perf_counter()
        background = SidebandDensity(signal_region=SR, random_state=seed).fit(X, m)
        t_bkg = time.perf_counter() - tic
        X_sr, m_sr, y_sr = signal_region(events)
        test = make_lhco_like(n_background=200_000, n_signal=20_000, random_state=10_000 + seed)
        X_t, m_t, y_t = signal_region(test)
        for n_init in (1, args.n_init):
            tic = time.perf_counter()
            est = ResidualANODE(
                background, w=args.w, learn_w=True, n_init=n_init, random_state=seed
            ).fit(X_sr, m_sr)
            seconds = time.perf_counter() - tic
            sic = max_sic(y_t, est.score_samples(X_t, m_t))
            losses = est.history_["init_val_loss"]
            rows.append((seed, n_init, est.w_, sic, sic > args.found_sic, seconds))
            print(
                f"seed {seed}  n_init {n_init}  true w {y_sr.mean():.4f}  w_ {est.w_:.4f}  "
                f"test SIC {sic:5.2f}  held-out -logL per restart "
                f"{' '.join(f'{v:.4f}' for v in losses)}  kept {est.history_['best_init']}  "
                f"{seconds:.0f} s (background fit {t_bkg:.0f} s, SR {len(m_sr)} events)",
                flush=True,
            )
    print(f"\nsummary ({args.n_signal} signal events; found = test SIC > {args.found_sic})")
    print(f"{'n_init':>6} {'found':>8} {'median SIC':>11} {'SIC range':>13} {'s per fit':>10}")
    for n_init in (1, args.n_init):
        sel = [r for r in rows if r[1] == n_init]
        sics = np.array([r[3] for r in sel])
        print(
            f"{n_init:>6} {sum(r[4] for r in sel):>3}/{len(sel):<4} {np.median(sics):>11.2f} "
            f"{sics.min():>6.2f}-{sics.max():<6.2f} {np.mean([r[5] for r in sel]):>10.0f}"
        )


if __name__ == "__main__":
    main()
