"""Training throughput of the background flow at the published size, and SidebandDensity fit time.

Prints, for this machine:

* events/s of one training step (forward, backward, AdamW) of the published
  background model (15 masked affine layers, MADE with 2 hidden layers of 128
  units, 4 features, 1 context) for several batch sizes and torch thread
  counts, next to the FLOP bound (the model's FLOPs per event divided by the
  machine's measured fp32 matmul rate);
* the same with the conditioners' matrix products in bfloat16
  (``ConditionalFlowDensity(precision='bfloat16')``; the bound stays the fp32 one);
* the same for normflows' own ``MaskedAffineAutoregressive`` built naively;
* the wall time of ``SidebandDensity.fit`` on 500k sideband events of
  ``make_lhco_like`` (published architecture, batch 4096, 8 epochs), and the AUC of a classifier
  separating true signal-region background from generated events.

Run: ``python benchmarks/bench_flow_speed.py [--quick]``.
"""

import argparse
import time

import normflows as nf
import numpy as np
import torch

from skranode.flows import build_flow

N_FEATURES, N_CONTEXT, N_LAYERS, N_HIDDEN = 4, 1, 15, 128


def flops_per_event():
    """Forward multiply-adds of the MADEs x 2 FLOPs, x 3 for forward + backward."""
    macs = (N_FEATURES + N_CONTEXT) * N_HIDDEN + N_HIDDEN * N_HIDDEN + N_HIDDEN * 2 * N_FEATURES
    return 3 * 2 * macs * N_LAYERS


def matmul_gflops(threads, n=2048, reps=20):
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def naive_normflows_maf():
    layers = []
    for _ in range(N_LAYERS):
        layers.append(
            nf.flows.MaskedAffineAutoregressive(N_FEATURES, N_HIDDEN, context_features=N_CONTEXT)
        )
        layers.append(nf.flows.Permute(N_FEATURES, mode="swap"))
    return nf.ConditionalNormalizingFlow(nf.distributions.DiagGaussian(N_FEATURES), layers)


def throughput(model, batch_size, threads, seconds=4.0):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x, c = torch.randn(batch_size, N_FEATURES), torch.randn(batch_size, N_CONTEXT)

    def step():
        loss = -model.log_prob(x, c).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return n * batch_size / (time.perf_counter() - start)


def sideband_fit(n_sideband, threads):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    from skranode import ConditionalFlowDensity, SidebandDensity
    from skranode.datasets import FEATURE_NAMES, make_lhco_like

    torch.set_num_threads(threads)
    # about 88 % of make_lhco_like background lies outside 3.3-3.7 TeV
    df = make_lhco_like(int(n_sideband / 0.879), 0, random_state=0)
    X, m = df[list(FEATURE_NAMES)].to_numpy(), df["mjj"].to_numpy()
    # the published architecture (15 x 128) with a CPU schedule: large batches,
    # a higher learning rate on a cosine schedule, few epochs
    flow = ConditionalFlowDensity(
        batch_size=4096, learning_rate=2e-3, max_epochs=8, patience=3, device="cpu"
    )
    start = time.perf_counter()
    bkg = SidebandDensity((3.3, 3.7), density=flow, random_state=0).fit(X, m)
    wall = time.perf_counter() - start
    in_sr = (m > 3.3) & (m < 3.7)
    gen = bkg.sample(m[in_sr], random_state=0)
    Z = np.r_[X[in_sr], gen]
    y = np.r_[np.ones(in_sr.sum()), np.zeros(in_sr.sum())]
    proba = cross_val_predict(HistGradientBoostingClassifier(), Z, y, cv=3, method="predict_proba")
    hist = bkg.density_.history_
    return bkg.n_sideband_, wall, len(hist["val_loss"]), roc_auc_score(y, proba[:, 1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 500k-event fit")
    args = parser.parse_args()
    fpe = flops_per_event()
    print(
        f"model: {N_LAYERS} MAF layers x MADE(2 x {N_HIDDEN}), {N_FEATURES} features, "
        f"{N_CONTEXT} context; {fpe / 1e6:.2f} MFLOP per event per training step"
    )
    print()
    print(
        f"{'implementation':<28}{'threads':>8}{'batch':>8}{'events/s':>12}"
        f"{'FLOP bound':>12}{'of bound':>10}"
    )
    for threads in (1, 2):
        bound = matmul_gflops(threads) * 1e9 / fpe
        for precision in ("float32", "bfloat16"):
            for bs in (256, 1024, 4096, 16384):
                model = build_flow(
                    "maf",
                    4,
                    1,
                    n_layers=N_LAYERS,
                    n_hidden=N_HIDDEN,
                    low_precision=precision == "bfloat16",
                )
                rate = throughput(model, bs, threads)
                name = f"skranode MAF {precision}"
                print(
                    f"{name:<28}{threads:>8}{bs:>8}{rate:>12,.0f}"
                    f"{bound:>12,.0f}{rate / bound:>10.0%}"
                )
        rate = throughput(naive_normflows_maf(), 256, threads, seconds=6.0)
        print(
            f"{'normflows MAF (naive)':<28}{threads:>8}{256:>8}{rate:>12,.0f}"
            f"{bound:>12,.0f}{rate / bound:>10.0%}"
        )
    if not args.quick:
        print()
        n, wall, epochs, auc = sideband_fit(500_000, threads=2)
        print(
            f"SidebandDensity.fit on {n} sideband events (15x128 MAF, batch 4096, "
            "at most 8 epochs, 2 threads): "
            f"{wall:.0f} s, {epochs} epochs; AUC true vs generated SR background {auc:.3f}"
        )


if __name__ == "__main__":
    main()
