"""CATHODE's and IAD's options on the real LHCO signal region, one background model per seed.

The protocol of ``bench_defaults_lhco.py`` (issue 40's "CATHODE at least IAD"):
the default ``SidebandDensity(signal_region=None)`` on 39.7k true background
events, data = ``sr_data_part2`` (S/B 0.61 %), max SIC on 19.9k test
background and 27.3k signal events. Per seed the background model is fitted
once (kept in ``--cache``, never in the repository) and every variant is
measured on it:

* ``cathode``: ``CATHODEClassifier(background)`` with every default;
* ``cathode_os10``: ``oversampling=10`` (default 4);
* ``cathode_ens20``: ``n_ensemble=20`` (default 5), each member its own sample;
* ``cathode_latent``: ``latent=True`` (LaCATHODE);
* ``cathode_reg``: the gradient-boosting members with ``min_samples_leaf=200``
  and ``max_leaf_nodes=15``;
* ``iad``, ``iad_ens20``, ``iad_reg``: ``IdealAD`` on the 39.7k true
  background events, with the default, 20 members, the regularised members.

One JSON line per (seed, variant) goes to ``--log``; lines there are skipped.

Run: ``python benchmarks/bench_cathode_options.py --seeds 0-2 [--variants cathode,iad]``.
"""

import argparse
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import torch
from _common import environment, parse_seeds
from bench_defaults_lhco import FEATS, load, test_set
from sklearn.ensemble import HistGradientBoostingClassifier

from skranode import CATHODEClassifier, IdealAD, SidebandDensity
from skranode.metrics import max_sic

RESULTS = Path(__file__).resolve().parent / "results"


def _regularised():
    return HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=500, early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=20, min_samples_leaf=200, max_leaf_nodes=15,
    )


CATHODE_OPTIONS = {
    "cathode": {},
    "cathode_os10": {"oversampling": 10},
    "cathode_ens20": {"n_ensemble": 20},
    "cathode_latent": {"latent": True},
    "cathode_reg": {"classifier": "regularised"},
}
IAD_OPTIONS = {"iad": {}, "iad_ens20": {"n_ensemble": 20}, "iad_reg": {"classifier": "regularised"}}


def _options(raw):
    return {k: _regularised() if v == "regularised" else v for k, v in raw.items()}


def background_for(seed, reference, cache):
    path = Path(cache) / f"background_seed{seed}.pkl"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f), None
    torch.manual_seed(seed)
    start = time.perf_counter()
    bkg = SidebandDensity(signal_region=None, random_state=seed)
    bkg.fit(reference[FEATS], reference["mjj"].to_numpy())
    seconds = round(time.perf_counter() - start, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(bkg, f)
    return bkg, seconds


def run_variant(name, seed, background, reference, data, X_test, m_test, y_test):
    X, m = data[FEATS], data["mjj"].to_numpy()
    start = time.perf_counter()
    if name in IAD_OPTIONS:
        Z = np.r_[X.to_numpy(), reference[FEATS].to_numpy()]
        y = np.r_[np.ones(len(X)), np.zeros(len(reference))]
        est = IdealAD(random_state=seed, **_options(IAD_OPTIONS[name])).fit(Z, y)
        scores = est.predict_proba(X_test)[:, 1]
    else:
        est = CATHODEClassifier(background, random_state=seed, **_options(CATHODE_OPTIONS[name]))
        est.fit(X, m)
        scores = est.predict_proba(X_test, m_test)[:, 1]
    return {"seed": seed, "name": name, "sic": round(float(max_sic(y_test, scores)), 2),
            "sec": round(time.perf_counter() - start, 1)}


def summarize(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    names = list(dict.fromkeys(r["name"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    table = {(r["seed"], r["name"]): r["sic"] for r in rows}
    print(f"{'variant':<16}" + "".join(f"{'seed ' + str(s):>9}" for s in seeds) + f"{'mean':>8}")
    for name in names:
        vals = [table.get((s, name)) for s in seeds]
        got = [v for v in vals if v is not None]
        print(f"{name:<16}" + "".join(f"{v if v is not None else '-':>9}" for v in vals)
              + f"{np.mean(got):>8.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--variants", default=",".join([*CATHODE_OPTIONS, *IAD_OPTIONS]))
    parser.add_argument("--log", default=str(RESULTS / "cathode_options.jsonl"))
    parser.add_argument("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                        "skranode-cathode-options"))
    parser.add_argument("--summarize", action="store_true")
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
    done = set()
    if log.exists():
        done = {(r["seed"], r["name"]) for r in map(json.loads, log.read_text().splitlines())}
    for seed in parse_seeds(args.seeds):
        todo = [n for n in args.variants.split(",") if (seed, n) not in done]
        if not todo:
            continue
        reference, data, test_bkg, test_sig = load(seed)
        X_test, m_test, y_test = test_set(test_bkg, test_sig)
        background, seconds = background_for(seed, reference, args.cache)
        for name in todo:
            row = run_variant(name, seed, background, reference, data, X_test, m_test, y_test)
            row.update(background_seconds=seconds, environment=environment())
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    summarize(log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
