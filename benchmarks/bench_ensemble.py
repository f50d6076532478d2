"""Wall time of a DensityEnsemble of ConditionalFlowDensity members on several backends.

Fits the same 10-member ensemble (same seeds) on the sideband events of
``make_lhco_like`` with ``n_jobs=1``, with ``n_jobs=2`` (loky worker processes,
first call cold, then warm) and on a ``dask.distributed`` LocalCluster of two
single-threaded worker processes, and prints a table of wall times. Every run
must give the same scores as ``n_jobs=1``; the last column says whether it did.

Run ``python benchmarks/bench_ensemble.py`` (about ten minutes on two free
cores) or ``python benchmarks/bench_ensemble.py --quick`` for a small version.
"""

import argparse
import time

import joblib
import numpy as np
import torch

from skranode import ConditionalFlowDensity
from skranode.datasets import make_lhco_like
from skranode.ensemble import DensityEnsemble

FEATURES = ["mjmin", "delta_mj", "tau21_min", "tau21_max"]


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-background", type=int, default=50_000)
    parser.add_argument("--n-estimators", type=int, default=10)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--n-hidden", type=int, default=64)
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument(
        "--quick", action="store_true", help="20k events, 2 layers of 32 units, 3 epochs"
    )
    args = parser.parse_args()
    if args.quick:
        args.n_background, args.n_layers, args.n_hidden, args.max_epochs = 20_000, 2, 32, 3
    return args


def _timed(ensemble, X, m):
    start = time.perf_counter()
    ensemble.fit(X, m)
    return time.perf_counter() - start


def main():
    args = _parse()
    torch.set_num_threads(1)
    df = make_lhco_like(n_background=args.n_background, n_signal=0, random_state=0)
    sideband = ((df["mjj"] < 3.3) | (df["mjj"] > 3.7)).to_numpy()
    X, m = df.loc[sideband, FEATURES].to_numpy(), df.loc[sideband, "mjj"].to_numpy()
    flow = ConditionalFlowDensity(
        n_layers=args.n_layers,
        n_hidden=args.n_hidden,
        max_epochs=args.max_epochs,
        patience=args.max_epochs,
        batch_size=1024,
        device="cpu",
    )
    print(
        f"{args.n_estimators} x ConditionalFlowDensity(n_layers={args.n_layers}, "
        f"n_hidden={args.n_hidden}, max_epochs={args.max_epochs}) on {len(m)} sideband "
        f"events with {len(FEATURES)} features; torch {torch.__version__}, "
        f"joblib {joblib.__version__}"
    )
    ensemble = DensityEnsemble(flow, n_estimators=args.n_estimators, random_state=0)
    X_eval, m_eval = X[:5000], m[:5000]
    rows = []

    def run(label, n_jobs):
        ens = DensityEnsemble(**{**ensemble.get_params(deep=False), "n_jobs": n_jobs})
        seconds = _timed(ens, X, m)
        rows.append((label, seconds, ens.score_samples(X_eval, m_eval)))

    run("n_jobs=1", 1)
    run("n_jobs=2, loky (cold: starts workers)", 2)
    run("n_jobs=2, loky (warm)", 2)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        print("dask.distributed is not installed: skipping the cluster run")
    else:
        start = time.perf_counter()
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster),
        ):
            startup = time.perf_counter() - start
            with joblib.parallel_config(backend="dask"):
                run(f"dask LocalCluster 2x1 (cold; cluster start {startup:.1f} s extra)", -1)
                run("dask LocalCluster 2x1 (warm)", -1)

    reference = rows[0][2]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'backend':<{width}}  {'wall [s]':>9}  {'speed-up':>8}  same scores")
    for label, seconds, scores in rows:
        same = "yes" if np.array_equal(scores, reference) else "NO"
        print(f"{label:<{width}}  {seconds:9.1f}  {rows[0][1] / seconds:8.2f}  {same}")


if __name__ == "__main__":
    main()
