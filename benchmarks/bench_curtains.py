"""CURTAINs against SidebandDensity: closure, CATHODE's max SIC, and the cost per window.

On :func:`~skranode.datasets.make_lhco_like` (jet masses growing with mjj, so a
background model must carry the features across the signal region) with a
planted W' at 3.5 TeV, signal region 3.3-3.7 TeV and sidebands 3.0-3.3 and
3.7-4.1 TeV, for each seed:

* both background models are fitted on the data's sidebands (wall time of
  the fit, one torch thread);
* **closure**: a histogram gradient-boosting classifier (3-fold
  cross-validated) separates an independent sample of true signal-region
  background from each model's events generated at the same masses: the AUC
  (0.5 is perfect);
* **CATHODE** with each background (``CATHODEClassifier`` defaults: 5
  classifiers, oversampling 4) and the idealized detector **IAD** (data
  against the true background sample): max SIC on an independent test set
  (at least 25 test background events kept).

``--scan`` measures instead the cost of the 10 windows of a scan from 3.0 to 5.2 TeV
(0.4 TeV wide, steps of 0.2 TeV, sidebands of 0.4 TeV): the fit time of each
background model per window on the same data, and their closure AUC where the
window has at least 2 000 signal-region events.

Run::

    python benchmarks/bench_curtains.py --seeds 0-2
    python benchmarks/bench_curtains.py --scan --n-background 400000
"""

import argparse
import time

import numpy as np
import torch
from _common import environment, parse_seeds

from skranode import CATHODEClassifier, CURTAINs, IdealAD, SidebandDensity
from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.mass_window import MassWindow
from skranode.metrics import max_sic

FEATS = list(FEATURE_NAMES)


def closure_auc(model, true_sr, seed):
    """Cross-validated AUC of true SR background vs the model's events at its masses."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    generated = model.sample(true_sr["mjj"].to_numpy(), random_state=seed)
    Z = np.r_[true_sr[FEATS].to_numpy(), generated]
    y = np.r_[np.ones(len(true_sr)), np.zeros(len(generated))]
    proba = cross_val_predict(
        HistGradientBoostingClassifier(random_state=0), Z, y, cv=3, method="predict_proba"
    )[:, 1]
    return roc_auc_score(y, proba)


def fit_models(window, data, seed):
    m = data["mjj"].to_numpy()
    out = {}
    for name, model in (
        (
            "SidebandDensity",
            SidebandDensity(window.bounds, sideband=window.sideband, random_state=seed),
        ),
        ("CURTAINs", CURTAINs(window.bounds, sideband=window.sideband, random_state=seed)),
    ):
        start = time.perf_counter()
        model.fit(data[FEATS], m)
        out[name] = (model, time.perf_counter() - start)
    return out


def one_seed(seed, args):
    window = MassWindow.from_params((3.3, 3.7), (3.0, 4.1))
    data = make_lhco_like(args.n_background, args.n_signal, random_state=seed)
    data = data[window.in_range(data["mjj"].to_numpy())]
    truth = make_lhco_like(args.n_background, 0, random_state=seed + 100)
    truth = truth[window.in_signal_region(truth["mjj"].to_numpy())]
    half = len(truth) // 2
    reference, closure_set = truth.iloc[:half], truth.iloc[half:]
    test = make_lhco_like(args.n_background // 2, 4000, random_state=seed + 200)
    test = test[window.in_signal_region(test["mjj"].to_numpy())]
    sr = data[window.in_signal_region(data["mjj"].to_numpy())]
    n_sig = int(sr["label"].sum())
    print(
        f"seed {seed}: SR {len(sr)} events, {n_sig} signal, S/B "
        f"{100 * n_sig / (len(sr) - n_sig):.2f} %",
        flush=True,
    )
    row = {}
    for name, (model, seconds) in fit_models(window, data, seed).items():
        auc = closure_auc(model, closure_set, seed)
        start = time.perf_counter()
        cathode = CATHODEClassifier(model, signal_region=window.bounds, random_state=seed)
        cathode.fit(sr[FEATS], sr["mjj"].to_numpy())
        sic = max_sic(test["label"], cathode.predict_proba(test[FEATS])[:, 1])
        row[name] = dict(fit=seconds, auc=auc, sic=sic, cathode=time.perf_counter() - start)
        print(
            f"  {name:<16} fit {seconds:6.0f} s  closure AUC {auc:.4f}  CATHODE max SIC {sic:5.2f}",
            flush=True,
        )
    Z = np.r_[sr[FEATS].to_numpy(), reference[FEATS].to_numpy()]
    y = np.r_[np.ones(len(sr)), np.zeros(len(reference))]
    iad = IdealAD(random_state=seed).fit(Z, y)
    row["IAD"] = dict(sic=max_sic(test["label"], iad.predict_proba(test[FEATS].to_numpy())[:, 1]))
    print(f"  {'IAD':<16} max SIC {row['IAD']['sic']:5.2f}", flush=True)
    return row


def scan_cost(args):
    from skranode.scan import sliding_windows

    data = make_lhco_like(args.n_background, 0, random_state=0)
    truth = make_lhco_like(args.n_background, 0, random_state=1)
    m, mt = data["mjj"].to_numpy(), truth["mjj"].to_numpy()
    print(
        f"\n{'window':<12}{'SB events':>10}{'SidebandDensity s':>19}{'CURTAINs s':>12}"
        f"{'AUC SD':>8}{'AUC CU':>8}"
    )
    totals = np.zeros(2)
    for window in sliding_windows((3.0, 5.2), width=0.4, step=0.2, sideband_width=0.4):
        inside = window.in_range(m)
        models = fit_models(window, data[inside], 0)
        secs = np.array([models[k][1] for k in ("SidebandDensity", "CURTAINs")])
        totals += secs
        sr_true = truth[window.in_signal_region(mt)]
        aucs = ["-", "-"]
        if len(sr_true) >= 2000:
            aucs = [
                f"{closure_auc(models[k][0], sr_true, 0):.4f}"
                for k in ("SidebandDensity", "CURTAINs")
            ]
        n_sb = int(window.in_sidebands(m).sum())
        print(
            f"{str(window.bounds):<12}{n_sb:>10}{secs[0]:>19.0f}{secs[1]:>12.0f}"
            f"{aucs[0]:>8}{aucs[1]:>8}",
            flush=True,
        )
    print(f"{'total':<22}{totals[0]:>19.0f}{totals[1]:>12.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--n-background", type=int, default=1_000_000)
    parser.add_argument("--n-signal", type=int, default=1000)
    parser.add_argument("--scan", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(environment())
    if args.scan:
        scan_cost(args)
        return 0
    rows = [one_seed(seed, args) for seed in parse_seeds(args.seeds)]
    print(f"\n{'':<16}{'fit s':>8}{'closure AUC':>13}{'CATHODE max SIC':>17}")
    for name in ("SidebandDensity", "CURTAINs"):
        fit = np.mean([r[name]["fit"] for r in rows])
        aucs = ", ".join(f"{r[name]['auc']:.4f}" for r in rows)
        sics = ", ".join(f"{r[name]['sic']:.1f}" for r in rows)
        print(f"{name:<16}{fit:>8.0f}   {aucs}   {sics}")
    iad = ", ".join(f"{r['IAD']['sic']:.1f}" for r in rows)
    print(f"{'IAD':<16}{'':>8}   {'':<22}{iad}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
