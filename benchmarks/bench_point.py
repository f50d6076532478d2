"""Wall time of one R-ANODE point (fit + score) and peak memory of scoring 1M events.

A "point" of the published studies is one R-ANODE training at one signal
injection: fit the signal model on the signal-region events with the
background held fixed, then score events. This script measures, on
:func:`~skranode.datasets.make_lhco_like` events at S/B = 0.6 % with about
62 000 signal-region events (the size of the LHCO R&D signal region):

* the background model, fitted once: ``SidebandDensity`` with the demo's
  flow (8 MAF layers x 64 units, batch 4096, 15 epochs) on the sidebands;
* the R-ANODE fit (w fixed at the truth; the default signal model, see
  :func:`skranode.anode.default_signal_flow`) and scoring a 1M-event test set,
  with the max SIC of that score;
* the peak resident memory (``VmHWM``, Linux) of a fresh process that loads the fitted R-ANODE
  (pickled, background included) and scores 1,000,000 events, against the
  2 GB target (the process's baseline, torch imported, is printed too).

Run: ``python benchmarks/bench_point.py [--threads 1]``.
"""

import argparse
import pickle
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from skranode import ConditionalFlowDensity, ResidualANODE, SidebandDensity
from skranode.datasets import FEATURE_NAMES, make_lhco_like, signal_region_mask
from skranode.metrics import max_sic

SR = (3.3, 3.7)
FEATURES = list(FEATURE_NAMES)

_SCORER = textwrap.dedent(
    """
    import pickle, sys, time
    import numpy as np
    import torch
    torch.set_num_threads(int(sys.argv[3]))
    def peak_mb():
        # VmHWM: this process's peak resident set (ru_maxrss would include the
        # parent's peak, which Linux carries over fork and exec)
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    base = peak_mb()
    with open(sys.argv[1], "rb") as f:
        model = pickle.load(f)
    data = np.load(sys.argv[2])
    loaded = peak_mb()
    start = time.perf_counter()
    score = model.score_samples(data[:, 1:], data[:, 0])
    wall = time.perf_counter() - start
    assert score.shape == (len(data),) and np.isfinite(score).all()
    print(f"{base:.0f} {loaded:.0f} {peak_mb():.0f} {wall:.2f}")
    """
)


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-score", type=int, default=1_000_000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    # ~12.1 % of the background and ~75 % of the signal fall in the signal region
    n_background = 510_000
    n_signal = int(round(0.006 * 0.121 * n_background / 0.75))
    events = make_lhco_like(n_background, n_signal, random_state=args.seed)
    X, m = events[FEATURES].to_numpy(), events["mjj"].to_numpy()
    sr = signal_region_mask(m, SR)
    y_sr = events["label"].to_numpy()[sr]
    w_true = y_sr.mean()
    print(
        f"make_lhco_like: {sr.sum()} signal-region events, {int(y_sr.sum())} signal "
        f"(w = {w_true:.4f}); torch threads {args.threads}"
    )
    flow = ConditionalFlowDensity(
        n_layers=8, n_hidden=64, batch_size=4096, learning_rate=2e-3, max_epochs=15, patience=5
    )
    background, t_bkg = timed(SidebandDensity(SR, density=flow, random_state=0).fit, X, m)
    print(f"background: SidebandDensity on {background.n_sideband_} sideband events, {t_bkg:.1f} s")

    test = make_lhco_like(9 * args.n_score, 20_000, random_state=args.seed + 1)
    test = test[signal_region_mask(test["mjj"], SR)].iloc[: args.n_score]
    X_test, m_test = test[FEATURES].to_numpy(), test["mjj"].to_numpy()
    ranode = ResidualANODE(background, w=float(w_true), random_state=args.seed)
    ranode, t_fit = timed(ranode.fit, X[sr], m[sr])
    _, t_score_sr = timed(ranode.score_samples, X[sr], m[sr])
    score, t_score = timed(ranode.score_samples, X_test, m_test)
    sic = max_sic(test["label"].to_numpy(), score)
    print()
    print(f"{'step':<44}{'wall [s]':>10}")
    print(f"{'R-ANODE fit (' + str(sr.sum()) + ' SR events)':<44}{t_fit:>10.1f}")
    print(f"{'R-ANODE score (the ' + str(sr.sum()) + ' SR events)':<44}{t_score_sr:>10.1f}")
    print(f"{'one point (fit + score of the SR events)':<44}{t_fit + t_score_sr:>10.1f}")
    print(f"{'R-ANODE score (' + str(len(test)) + ' test events)':<44}{t_score:>10.1f}")
    print(f"max SIC on the test set ({int(test['label'].sum())} signal): {sic:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        model_path, data_path = Path(tmp) / "ranode.pkl", Path(tmp) / "events.npy"
        with open(model_path, "wb") as f:
            pickle.dump(ranode, f)
        np.save(data_path, np.c_[m_test, X_test])
        out = subprocess.run(
            [sys.executable, "-c", _SCORER, str(model_path), str(data_path), str(args.threads)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    base, loaded, peak, wall = map(float, out)
    print()
    print(f"scoring {len(test):,} events in a fresh process ({wall:.1f} s):")
    print(f"  peak resident memory {peak:.0f} MB (target < 2048 MB)")
    print(f"  of which python + torch {base:.0f} MB, + model and events {loaded - base:.0f} MB")


if __name__ == "__main__":
    main()
