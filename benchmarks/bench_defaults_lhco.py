"""The design card's one-liners with every default, on the real LHCO R&D signal region.

What a new user runs: ``SidebandDensity(signal_region=None).fit(X_ref, m_ref)`` as the
background model, ``ResidualANODE(background, w=w_true).fit(X, m)``,
``CATHODEClassifier(background).fit(X, m)`` and ``IdealAD().fit(Z, y)``, with
no argument changed, next to the same with a tuned background flow
(``--tuned``: :func:`skranode.anode.default_data_flow`, the published-size
recipe). Real data (``shared/data/lhco-sr``, its README; never copied into
the repository), the protocol of ``bench_ranode_lhco.py``:

* background model: two thirds of the background of ``sr_data_part1.npy``
  (39.7k events; this data has no sidebands, so ``signal_region=None``);
* data: ``sr_data_part2.npy`` as given (61 747 background + 377 signal,
  S/B = 0.61 %); R-ANODE at the true ``w``;
* test: the remaining third of that background (19.9k) plus
  ``sr_signal_pool_b.npy`` (27.3k signal): max SIC at >= 25 test background
  events, and the closure AUC (a classifier of background-model samples
  against the test background, 3-fold; 0.5 is ideal).

One JSON line per (seed, background recipe) is appended to ``--log``
(default ``benchmarks/results/defaults_lhco.jsonl``); lines already there are
skipped, so an interrupted run resumes. ``--summarize`` prints the table.

Run: ``python benchmarks/bench_defaults_lhco.py --seeds 0-2 [--tuned] [--label after]``.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _common import environment, parse_seeds
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from skranode import CATHODEClassifier, IdealAD, ResidualANODE, SidebandDensity
from skranode.anode import default_data_flow
from skranode.datasets import FEATURE_NAMES, lhco_sr_path, load_lhco_sr
from skranode.ensemble import DensityEnsemble
from skranode.metrics import max_sic

FEATS = list(FEATURE_NAMES)
RESULTS = Path(__file__).resolve().parent / "results"


def load(seed):
    names = ["sr_data_part1", "sr_data_part2", "sr_signal_pool_b"]
    paths = {name: lhco_sr_path(name) for name in names}
    if any(p is None for p in paths.values()):
        return None
    part1, part2, pool_b = (load_lhco_sr(paths[n]) for n in names)
    bkg1 = part1[part1["label"] == 0]
    bkg1 = bkg1.iloc[np.random.default_rng(seed).permutation(len(bkg1))]
    n_ref = 2 * len(bkg1) // 3
    reference, test = bkg1.iloc[:n_ref], bkg1.iloc[n_ref:]
    return reference, part2, test, pool_b


def test_set(test_bkg, test_sig):
    """Features, masses and truth labels (1 = signal) of the independent test events."""
    X = np.r_[test_bkg[FEATS].to_numpy(), test_sig[FEATS].to_numpy()]
    m = np.r_[test_bkg["mjj"].to_numpy(), test_sig["mjj"].to_numpy()]
    y = np.r_[np.zeros(len(test_bkg)), np.ones(len(test_sig))]
    return X, m, y


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - start, 1)


def closure_auc(background, test_bkg, seed):
    drawn = background.sample(test_bkg["mjj"].to_numpy(), random_state=seed)
    Z = np.r_[test_bkg[FEATS].to_numpy(), np.asarray(drawn)]
    y = np.r_[np.ones(len(test_bkg)), np.zeros(len(drawn))]
    clf = HistGradientBoostingClassifier(random_state=seed)
    return float(roc_auc_score(y, cross_val_predict(clf, Z, y, cv=3, method="predict_proba")[:, 1]))


def run_one(seed, recipe):
    reference, data, test_bkg, test_sig = load(seed)
    X_test, m_test, y_test = test_set(test_bkg, test_sig)
    torch.manual_seed(seed)
    density = default_data_flow() if recipe == "tuned" else None
    background = SidebandDensity(signal_region=None, density=density, random_state=seed)
    if recipe.startswith("ensemble"):
        # ensemble<k>: k default background models, their mixture density
        k = int(recipe[len("ensemble"):] or 5)
        background = DensityEnsemble(background, n_estimators=k, n_jobs=2, random_state=seed)
    background, t_bkg = timed(
        lambda: background.fit(reference[FEATS], reference["mjj"].to_numpy())
    )
    member = background.estimators_[0] if recipe.startswith("ensemble") else background
    X, m = data[FEATS], data["mjj"].to_numpy()
    w_true = float(data["label"].mean())
    out = {
        "seed": seed, "recipe": recipe, "n_reference": len(reference), "n_data": len(data),
        "w_true": round(w_true, 6), "n_test": [len(test_bkg), len(test_sig)],
        "seconds": {"background": t_bkg},
        "closure_auc": round(closure_auc(background, test_bkg, seed), 4),
        "background_epochs": len(member.density_.history_["val_loss"]),
        "background_steps": member.density_.history_.get("n_steps"),
        "background_batch": member.density_.history_.get("batch_size"),
        "background_converged": member.converged_,
    }
    ranode, out["seconds"]["R-ANODE"] = timed(
        lambda: ResidualANODE(background, w=w_true, random_state=seed).fit(X, m)
    )
    cathode, out["seconds"]["CATHODE"] = timed(
        lambda: CATHODEClassifier(background, random_state=seed).fit(X, m)
    )
    Z = np.r_[X.to_numpy(), reference[FEATS].to_numpy()]
    y = np.r_[np.ones(len(X)), np.zeros(len(reference))]
    iad, out["seconds"]["IAD"] = timed(lambda: IdealAD(random_state=seed).fit(Z, y))
    out["max_sic"] = {
        "R-ANODE": round(float(max_sic(y_test, ranode.score_samples(X_test, m_test))), 2),
        "CATHODE": round(float(max_sic(y_test, cathode.predict_proba(X_test, m_test)[:, 1])), 2),
        "IAD": round(float(max_sic(y_test, iad.predict_proba(X_test)[:, 1])), 2),
    }
    return out


def summarize(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    print(f"{'label':<8}{'recipe':<8}{'seed':>5}{'AUC':>8}{'R-ANODE':>9}{'CATHODE':>9}{'IAD':>7}"
          f"{'epochs':>8}{'steps':>7}  seconds (background, R-ANODE, CATHODE, IAD)")
    for r in sorted(rows, key=lambda r: (r.get("label", "before"), r["recipe"], r["seed"])):
        s, t = r["max_sic"], r["seconds"]
        print(f"{r.get('label', 'before'):<8}{r['recipe']:<8}{r['seed']:>5}"
              f"{r['closure_auc']:>8.4f}{s['R-ANODE']:>9.2f}{s['CATHODE']:>9.2f}{s['IAD']:>7.2f}"
              f"{r['background_epochs']:>8}{r.get('background_steps') or '':>7}  "
              f"{t['background']}, {t['R-ANODE']}, {t['CATHODE']}, {t['IAD']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--tuned", action="store_true",
                        help="also the tuned background flow (default_data_flow)")
    parser.add_argument("--recipes", default=None,
                        help="comma-separated background recipes instead: default, tuned, "
                             "ensemble<k> (k default models, their mixture)")
    parser.add_argument("--log", default=str(RESULTS / "defaults_lhco.jsonl"))
    parser.add_argument("--summarize", action="store_true")
    parser.add_argument("--label", default="after",
                        help="label of this run's lines (the package version measured); lines "
                             "without one are the 'before' numbers of issue 40")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.log)
        return 0
    if load(0) is None:
        print("the LHCO signal-region arrays are not there (see shared/data/lhco-sr)")
        return 1
    torch.set_num_threads(1)
    print(environment(), flush=True)
    log = Path(args.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if log.exists():
        done = {
            (r.get("label", "before"), r["seed"], r["recipe"])
            for r in map(json.loads, log.read_text().splitlines())
        }
    recipes = ["default", "tuned"] if args.tuned else ["default"]
    if args.recipes:
        recipes = args.recipes.split(",")
    for seed in parse_seeds(args.seeds):
        for recipe in recipes:
            if (args.label, seed, recipe) in done:
                continue
            out = {"label": args.label, **run_one(seed, recipe)}
            out["environment"] = environment()
            with log.open("a") as f:
                f.write(json.dumps(out) + "\n")
            print(json.dumps(out), flush=True)
    summarize(log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
