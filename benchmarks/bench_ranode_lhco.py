"""Max SIC of R-ANODE (fixed and learned w) and ANODE on the LHCO R&D signal region.

Real data (``shared/data/lhco-sr``, see its README; located with
:func:`skranode.datasets.lhco_sr_path`, never copied into the repository),
the protocol of ``bench_classifiers_lhco.py``:

* data: ``sr_data_part2.npy`` as given (61747 background + 377 signal,
  S/B = 0.61 %), and its background with signal from ``sr_signal_pool_a.npy``
  re-injected at S/B = 0.3 % and 0.2 %;
* background model p_B(x | m): an idealized ``ConditionalFlowDensity`` trained
  on two thirds of the background of ``sr_data_part1.npy`` (this data has no
  sidebands);
* test: the remaining third of that background plus ``sr_signal_pool_b.npy``.

For each data set and seed the script fits R-ANODE with ``w`` fixed at the
true signal fraction, R-ANODE with ``w`` learned (started at half the truth,
as the :class:`~skranode.ResidualANODE` docstring advises, and at a fixed
0.002 that does not use the truth), and ANODE, and prints the max SIC (at least
25 test background events kept), the learned ``w`` next to the truth, and the
wall time of each fit on this machine (torch threads: ``--threads``).

Published for orientation (R-ANODE paper, arXiv:2312.11629, larger samples and
a sideband background model; read off its figures): R-ANODE ~14.6 at
N_sig = 1000 (S/B = 0.61 %) and ~11.3 at N_sig = 300 (S/B ~ 0.2 %); ANODE ~8.6
and ~2.6. With 19.9k test background events the SIC cannot exceed
sqrt(19.9k / 25) = 28 times the signal efficiency, so the published maxima,
which sit near a background efficiency of 1e-4, are out of reach here.

With ``--cross-fit`` it also estimates ``w`` with
:func:`skranode.inference.w_cross_fit` (learned-w models from 0.002 on 5
folds, every event held out once) and prints w-hat, its 95 % interval and the
significance next to the truth; ``--cross-fit-only`` skips the SIC table.

With ``--calibrated`` it runs the main job's calibrated w estimate on each
data set and also with the signal removed (S/B 0): ``--templates`` background
flows trained on the reference with different seeds (a
:class:`~skranode.ensemble.DensityEnsemble`, its average the nominal p_B, each
member a template), a learned-w R-ANODE whose :func:`cross_fit_start` and
twice that are the starts of two cross-fits (5 folds), the signal-model spread
between them, the spurious signal of the held-out reference background (the
third kept for the test, scored by every fold model), and
:func:`~skranode.stats.with_background_spread`. It prints w-hat, the 95 %
interval, the upper limit and the significance with and without the
systematic parts, and the same without the 10 events that add most to the
likelihood ratio ("no single event decides").

Run: ``python benchmarks/bench_ranode_lhco.py [--seeds 3] [--quick] [--cross-fit]``
or ``python benchmarks/bench_ranode_lhco.py --calibrated``.
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch
from _common import environment

from skranode import ANODE, ConditionalFlowDensity, ResidualANODE
from skranode.anode import default_data_flow
from skranode.datasets import FEATURE_NAMES, inject_signal, lhco_sr_path, load_lhco_sr
from skranode.inference import w_cross_fit
from skranode.metrics import max_sic
from skranode.stats import MAX_EVENT_GAIN, mixture_profile

FEATURES = list(FEATURE_NAMES)
PUBLISHED = {
    ("R-ANODE", 0.006): "~14.6 (N_sig=1000)",
    ("R-ANODE", 0.002): "~11.3 (N_sig=300)",
    ("ANODE", 0.006): "~8.6",
    ("ANODE", 0.002): "~2.6",
}


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def background_flow(args):
    if args.quick:
        return ConditionalFlowDensity(
            n_layers=4, n_hidden=32, batch_size=1024, max_epochs=20, random_state=args.seed
        )
    # the idealized background flow: the recipe of ANODE's data model, so that the
    # two densities of ANODE's ratio are of the same quality
    return default_data_flow().set_params(random_state=args.seed)


def anode_flow(args):
    """ANODE's data model: its default (:func:`~skranode.anode.default_data_flow`), shorter
    with ``--quick``."""
    flow = default_data_flow()
    return flow.set_params(max_epochs=15) if args.quick else flow


def load(args):
    names = ["sr_data_part1", "sr_data_part2", "sr_signal_pool_a", "sr_signal_pool_b"]
    paths = {name: lhco_sr_path(name) for name in names}
    if any(p is None for p in paths.values()):
        return None
    part1, part2, pool_a, pool_b = (load_lhco_sr(paths[n]) for n in names)
    rng = np.random.default_rng(args.seed)
    bkg1 = part1[part1["label"] == 0]
    bkg1 = bkg1.iloc[rng.permutation(len(bkg1))]
    n_ref = 2 * len(bkg1) // 3
    reference, test_bkg = bkg1.iloc[:n_ref], bkg1.iloc[n_ref:]
    test = pd.concat([test_bkg, pool_b], ignore_index=True)
    bkg2 = part2[part2["label"] == 0].reset_index(drop=True)
    datasets = [part2]
    for s_over_b in args.injections:
        datasets.append(inject_signal(bkg2, pool_a, s_over_b=s_over_b, random_state=args.seed))
    return reference, test, datasets


def calibrated(args, reference, test, datasets):
    """The calibrated w numbers on real signal-region data (``--calibrated``)."""
    from skranode.ensemble import DensityEnsemble
    from skranode.inference import (
        W_START,
        cross_fit_start,
        mixture_profile,
        with_background_spread,
    )
    from skranode.utils._math import log_mean_exp

    flow = background_flow(args)
    ens, t_bkg = timed(
        DensityEnsemble(flow, n_estimators=args.templates, n_jobs=args.n_jobs, random_state=0).fit,
        reference[FEATURES],
        reference["mjj"],
    )
    print(f"{args.templates} background templates: {t_bkg:.0f} s with {args.n_jobs} jobs")
    control = test[test["label"] == 0]
    X_c, m_c = control[FEATURES], control["mjj"].to_numpy()
    bkg2 = datasets[0][datasets[0]["label"] == 0].reset_index(drop=True)
    print(
        f"\n{'S/B':>6s} {'w true':>8s} {'learned':>8s} {'w-hat':>8s} {'95 % (stat+syst)':>20s} "
        f"{'UL95':>8s} {'Z':>6s} {'Z stat':>7s} {'sig.-model':>10s} {'bkg':>8s} "
        f"{'spurious':>9s} {'w-hat, Z without top 10 events':>32s} {'s':>6s}"
    )
    for data in [*datasets, bkg2]:
        start = time.perf_counter()
        X, m = data[FEATURES], data["mjj"].to_numpy()
        n_sig = int(data["label"].sum())
        w_true = n_sig / len(data)
        first = ResidualANODE(ens, w=W_START, learn_w=True, random_state=0).fit(X, m)
        w0 = cross_fit_start(first.w_)
        profiles = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for factor in (1.0, 2.0):
                template = ResidualANODE(ens, w=min(factor * w0, 0.5), learn_w=True)
                profiles.append(
                    w_cross_fit(template, X, m, cv=5, n_jobs=args.n_jobs, random_state=int(factor))
                )
            log_ratio = log_mean_exp([p.log_ratio for p in profiles], axis=0)
            nominal = mixture_profile(log_ratio)
            sigma_signal = float(np.std([p.w_hat for p in profiles], ddof=1))
            log_pb = np.stack([e.score_samples(X, m) for e in ens.estimators_])
            log_ps = log_ratio + ens.score_samples(X, m)
            estimators = [e for p in profiles for e in p.estimators]
            control_ps = log_mean_exp([e.signal_log_density(X_c, m_c) for e in estimators], axis=0)
            spurious = mixture_profile(control_ps - ens.score_samples(X_c, m_c)).w_hat
            prof = with_background_spread(
                nominal, log_ps - log_pb, spurious=spurious, signal_model=sigma_signal
            )
            # no single event decides: the same without the 10 largest terms of LL(w_hat)
            w_hat = max(nominal.w_hat, 1e-6)
            gain = np.logaddexp(np.log1p(-w_hat), np.log(w_hat) + log_ratio)
            keep = np.argsort(gain)[:-10]
            reduced = mixture_profile(log_ratio[keep])
        lo, hi = prof.interval_95
        print(
            f"{100 * n_sig / max(len(data) - n_sig, 1):5.2f}% {w_true:8.5f} {first.w_:8.5f} "
            f"{prof.w_hat:8.5f} {f'[{lo:.5f}, {hi:.5f}]':>20s} {prof.upper_limit_95:8.5f} "
            f"{prof.significance:6.2f} {prof.significance_statistical:7.2f} "
            f"{sigma_signal:10.5f} {prof.w_std_background:8.5f} {spurious:9.5f} "
            f"{reduced.w_hat:11.5f}, {reduced.significance:5.2f} (top {gain.max():5.1f} nats)"
            f" {time.perf_counter() - start:6.0f}",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="signal-model seeds per data set")
    parser.add_argument("--quick", action="store_true", help="small background flow, 1 seed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data split")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--injections", type=float, nargs="*", default=[0.003, 0.002], help="re-injected S/B"
    )
    parser.add_argument("--cross-fit", action="store_true", help="also run w_cross_fit")
    parser.add_argument("--cross-fit-only", action="store_true", help="only run w_cross_fit")
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel trainings of w_cross_fit")
    parser.add_argument("--calibrated", action="store_true", help="the calibrated w numbers")
    parser.add_argument("--templates", type=int, default=4, help="background templates")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load(args)
    if loaded is None:
        print("LHCO signal-region data not found (see shared/data/lhco-sr); skipping.")
        return
    reference, test, datasets = loaded
    if args.calibrated:
        print(environment(), flush=True)
        calibrated(args, reference, test, datasets)
        return
    n_test_bkg = int((test["label"] == 0).sum())
    print(
        f"reference background {len(reference)}, test {n_test_bkg} background + "
        f"{int(test['label'].sum())} signal; torch threads {args.threads}"
    )
    print(f"(test-set ceiling: SIC <= {np.sqrt(n_test_bkg / 25):.1f} x signal efficiency)")
    bkg, t_bkg = timed(background_flow(args).fit, reference[FEATURES], reference["mjj"])
    print(
        f"idealized background flow ({bkg.n_layers} x {bkg.n_hidden}): "
        f"{len(bkg.history_['val_loss'])} epochs, {t_bkg:.0f} s"
    )
    X_test, m_test, y_test = test[FEATURES], test["mjj"].to_numpy(), test["label"].to_numpy()
    seeds = range(1 if args.quick else args.seeds)

    print(
        f"\n{'method':<28s} {'S/B':>7s} {'max SIC (per seed)':>26s} {'mean':>6s}"
        f" {'w learned / true':>22s} {'fit s':>7s}   published"
    )
    for data in datasets:
        X, m = data[FEATURES], data["mjj"].to_numpy()
        n_sig = int(data["label"].sum())
        w_true = n_sig / len(data)
        s_over_b = n_sig / (len(data) - n_sig)
        if args.cross_fit or args.cross_fit_only:
            template = ResidualANODE(bkg, w=0.002, learn_w=True)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # events without background density: below
                prof = w_cross_fit(template, X, m, cv=5, n_jobs=args.n_jobs, random_state=0)
            t = time.perf_counter() - start
            lo, hi = prof.interval_95
            print(
                f"{'w cross-fit (5 folds)':<28s} {100 * s_over_b:6.2f}%  w-hat / true "
                f"{prof.w_hat / w_true:.2f}, 95 % [{lo / w_true:.2f}, {hi / w_true:.2f}], "
                f"Z {prof.significance:.1f} ({prof.w_hat:.5f} / {w_true:.5f}), {t:.0f} s "
                f"with {args.n_jobs} jobs",
                flush=True,
            )
            # Diagnostic: events where the background flow (trained on 39.7k events) has
            # (almost) no density dominate Z; the same numbers without them.
            gain = np.logaddexp(np.log1p(-prof.w_hat), np.log(prof.w_hat) + prof.log_ratio)
            keep = gain <= MAX_EVENT_GAIN
            if not keep.all():
                kept = mixture_profile(prof.log_ratio[keep], w_max=0.5)
                w_hat, ll_max, (lo, hi) = kept.w_hat, kept.delta_loglik_max, kept.interval_95
                print(
                    f"{'  without ' + str(int((~keep).sum())) + ' event(s) > 20 nats':<28s} "
                    f"{100 * s_over_b:6.2f}%  w-hat / true {w_hat / w_true:.2f}, 95 % "
                    f"[{lo / w_true:.2f}, {hi / w_true:.2f}], Z {np.sqrt(2 * ll_max):.1f} "
                    f"(largest log p_S/p_B {prof.log_ratio.max():.3g})",
                    flush=True,
                )
        if args.cross_fit_only:
            continue
        variants = [
            ("R-ANODE (w = truth)", dict(w=w_true)),
            ("R-ANODE (w learned, 0.5x)", dict(w=0.5 * w_true, learn_w=True)),
            ("R-ANODE (w learned, 0.002)", dict(w=0.002, learn_w=True)),
            ("ANODE", None),
        ]
        for name, params in variants:
            sics, ws, secs = [], [], []
            for seed in seeds:
                if params is None:
                    est = ANODE(bkg, flow=anode_flow(args), random_state=seed)
                else:
                    est = ResidualANODE(bkg, **params, random_state=seed)
                est, t = timed(est.fit, X, m)
                sics.append(max_sic(y_test, est.score_samples(X_test, m_test)))
                secs.append(t)
                ws.append(getattr(est, "w_", np.nan))
            per_seed = " ".join(f"{s:5.1f}" for s in sics)
            w_col = "" if params is None else f"{np.mean(ws):.5f} / {w_true:.5f}"
            ref = PUBLISHED.get((name.split(" ")[0], round(s_over_b, 3)), "")
            print(
                f"{name:<28s} {100 * s_over_b:6.2f}% {per_seed:>26s} {np.mean(sics):6.2f}"
                f" {w_col:>22s} {np.mean(secs):7.1f}   {ref}",
                flush=True,
            )


if __name__ == "__main__":
    main()
