"""Calibration of the main job's numbers: false-positive rate, coverage and power.

Each pseudo-experiment draws a fresh LHCO-like data set
(:func:`~skranode.datasets.make_lhco_like`, sidebands included), learns the
background in the sidebands and runs :func:`~skranode.analysis.analyse_window`
with the R-ANODE method only (the classifier family does not enter the
numbers checked here), exactly as ``skranode demo`` does. Nothing is exact:
the background is a flow trained in the sidebands.

Per experiment it logs, for every significance the job reports,

* ``significance``: the headline, the bump hunt in mjj after a cut on k-fold
  R-ANODE scores, its yield widened by the spread over the fold backgrounds;
* ``significance_bump_hunt_statistical``: the same without that spread;
* ``significance_toys``: the headline against its empirical null (pseudo-data
  spectra of its own background-only fit, refitted; resolves 3.1 sigma);
* ``significance_likelihood_ratio``: the held-out mixture likelihood ratio with
  the background-model part (spread over the k-fold background templates and
  the sideband spurious signal) and the signal-model part (two starts);
* ``significance_likelihood_ratio_statistical``: the same taking the learned
  background as exact;

the truth-free checks (the validation windows' bump hunts and w intervals,
``significance_trusted``, the sideband-strip tests; the validation windows
run one after the other in the experiment's process, ``n_jobs=1``);

and, for the signal fraction, the 95 % interval and the one-sided 95 % upper
limit with and without the background- and signal-model parts. One JSON line per
experiment goes to ``--log`` as soon as it finishes; ``--summarize`` prints the
table (false-positive rates above 2 and 3 sigma of the background-only
experiments, coverage of the true ``w``, median significance with signal).

Usage::

    # the documented smaller recipe: the main job's default training budgets on
    # data sets of the fast demo's size (60k background events), 69 s each
    python benchmarks/bench_calibration.py --preset default --kind null --seeds 200-249 \\
        --log cal.jsonl
    python benchmarks/bench_calibration.py --preset default --kind signal --n-signal 340 \\
        --seeds 200-249 --log cal.jsonl
    python benchmarks/bench_calibration.py --summarize cal.jsonl

Measured: the user guide, section "What each number means".
"""

import argparse
import json
import time
import warnings

import numpy as np
from _common import environment, parse_seeds

KEYS = (
    "w_true",
    "s_over_sqrt_b",
    "w_learned",
    "w_hat",
    "w_interval_95",
    "w_interval_95_statistical",
    "w_upper_limit_95",
    "w_upper_limit_95_statistical",
    "w_std_background",
    "w_std_signal_model",
    "w_std_templates",
    "w_hat_sideband",
    "significance_likelihood_ratio_sideband",
    "significance",
    "significance_bump_hunt_statistical",
    "significance_toys",
    "p_value_toys",
    "significance_likelihood_ratio",
    "significance_likelihood_ratio_statistical",
    "significance_trusted",
    "validation_passed",
    "notes",
)


def run(args):
    from skranode.analysis import analyse_window
    from skranode.datasets import make_lhco_like

    print(environment(), flush=True)
    for seed in parse_seeds(args.seeds):
        n_signal = 0 if args.kind == "null" else args.n_signal
        data = make_lhco_like(args.n_background, n_signal, random_state=1000 + seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = analyse_window(
                data,
                methods=("R-ANODE (learned w)",),
                preset=args.preset,
                seed=seed,
                device="cpu",
                n_jobs=1,
            )
        res = out.results
        row = {k: res.get(k) for k in KEYS}
        row["validation"] = {
            name: [v.get("significance"), v.get("w_interval_95")]
            for name, v in (res.get("validation_windows") or {}).items()
        }
        checks = res.get("sideband_checks") or {}
        row["sideband_checks"] = {
            side: [checks[side]["classifier"]["z"], checks[side]["likelihood"]["z"]]
            for side in ("low", "high")
            if "classifier" in checks.get(side, {})
        }
        row["sideband_checks_passed"] = checks.get("passed")
        if row["w_true"] is None:
            row["w_true"] = 0.0
        row.update(
            kind=args.kind,
            seed=seed,
            preset=args.preset,
            n_background=args.n_background,
            n_signal=n_signal,
            seconds=round(time.perf_counter() - start, 1),
        )
        print(json.dumps(row), flush=True)
        if args.log:
            with open(args.log, "a") as f:
                f.write(json.dumps(row) + "\n")


def _rate(values, cut):
    v = np.asarray([x if x is not None else np.nan for x in values], dtype=float)
    v = v[np.isfinite(v)]
    return f"{np.mean(v > cut):.3f} ({int(np.sum(v > cut))}/{v.size})" if v.size else "-"


def _covers(rows, key):
    hits = [r[key][0] <= r["w_true"] <= r[key][1] for r in rows if r.get(key)]
    return f"{np.mean(hits):.2f} ({sum(hits)}/{len(hits)})" if hits else "-"


def _above(rows, key):
    hits = [r[key] >= r["w_true"] for r in rows if r.get(key) is not None]
    return f"{np.mean(hits):.2f} ({sum(hits)}/{len(hits)})" if hits else "-"


def summarize(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    z_keys = (
        ("bump hunt (headline)", "significance"),
        ("bump hunt, no template spread", "significance_bump_hunt_statistical"),
        ("bump hunt, empirical null", "significance_toys"),
        ("bump hunt if trusted", "claimed_if_trusted"),
        ("LR + background spread", "significance_likelihood_ratio"),
        ("LR statistical only", "significance_likelihood_ratio_statistical"),
    )
    for r in rows:
        # what a physicist claims who quotes the headline only when the validation
        # windows trust it (and 0, no claim, otherwise)
        if r.get("significance_trusted") is not None and r.get("significance") is not None:
            r["claimed_if_trusted"] = r["significance"] if r["significance_trusted"] else 0.0
    groups = {}
    for r in rows:
        groups.setdefault((r["kind"], r["preset"], r["n_background"], r["n_signal"]), []).append(r)
    for (kind, preset, nb, ns), rs in sorted(groups.items()):
        sb = np.median([r["s_over_sqrt_b"] or 0 for r in rs])
        print(
            f"\n[{kind}] preset {preset}, {nb} background + {ns} signal events, "
            f"{len(rs)} experiments, median S/sqrt(B) {sb:.2f}, "
            f"mean {np.mean([r['seconds'] for r in rs]):.0f} s each"
        )
        print(f"  {'significance':<32}{'> 2 sigma':>14}{'> 3 sigma':>14}{'median':>9}")
        for name, key in z_keys:
            z = [r[key] for r in rs if r.get(key) is not None]
            print(
                f"  {name:<32}{_rate(z, 2):>14}{_rate(z, 3):>14}"
                f"{np.median(z) if z else float('nan'):>9.2f}"
            )
        print(
            "  95 % interval covers w: with background spread "
            f"{_covers(rs, 'w_interval_95')}, statistical only "
            f"{_covers(rs, 'w_interval_95_statistical')}"
        )
        print(
            "  95 % upper limit >= w:  with background spread "
            f"{_above(rs, 'w_upper_limit_95')}, statistical only "
            f"{_above(rs, 'w_upper_limit_95_statistical')}"
        )
        reach = [r["w_interval_95"][0] == 0 for r in rs if r.get("w_interval_95")]
        print(f"  95 % interval reaches 0: {np.mean(reach):.2f} ({sum(reach)}/{len(reach)})")
        w_true = np.array([r["w_true"] for r in rs])
        w_hat = np.array([r["w_hat"] if r.get("w_hat") is not None else np.nan for r in rs])
        sig_b = np.array([r.get("w_std_background") or np.nan for r in rs])
        line = f"  w_hat median {np.nanmedian(w_hat):.5f}, true w median {np.median(w_true):.5f}"
        if kind == "signal":
            line += f", median w_hat / w {np.nanmedian(w_hat / w_true):.2f}"
        print(line + f"; median background spread {np.nanmedian(sig_b):.5f}")

        def median(key, rs=rs):
            v = [r[key] for r in rs if r.get(key) is not None]
            return f"{np.median(v):.5f}" if v else "-"

        val = [z for r in rs for z, _ in (r.get("validation") or {}).values() if z is not None]
        if val:
            reach = [
                iv[0] == 0
                for r in rs
                for z, iv in (r.get("validation") or {}).values()
                if z is not None
            ]
            trusted = [
                r["significance_trusted"] for r in rs if r.get("significance_trusted") is not None
            ]
            print(
                f"  validation windows ({len(val)}): bump hunt > 2 sigma {_rate(val, 2)}, "
                f"mean {np.mean(val):.2f}, std {np.std(val):.2f}; w interval reaches 0 "
                f"{np.mean(reach):.2f}; significance trusted in {np.mean(trusted):.2f} "
                f"({sum(trusted)}/{len(trusted)})"
            )
        strips = [
            r["sideband_checks_passed"] for r in rs if r.get("sideband_checks_passed") is not None
        ]
        if strips:
            cz = [zs[0] for r in rs for zs in (r.get("sideband_checks") or {}).values()]
            print(
                f"  sideband-strip checks passed in {np.mean(strips):.2f} "
                f"({sum(strips)}/{len(strips)}); classifier z median {np.median(cz):.2f}"
            )
        print(
            f"  medians: learned w {median('w_learned')}, signal-model spread "
            f"{median('w_std_signal_model')}, 95 % upper limit {median('w_upper_limit_95')} "
            f"(statistical only {median('w_upper_limit_95_statistical')})"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=("null", "signal"), default="null")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-49 or 0,3,7")
    parser.add_argument("--preset", choices=("fast", "default"), default="default")
    parser.add_argument("--n-background", type=int, default=60_000)
    parser.add_argument("--n-signal", type=int, default=340)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None, help="append one JSON line per experiment")
    parser.add_argument("--summarize", nargs="+", metavar="LOG", help="print the table")
    args = parser.parse_args(argv)
    if args.summarize:
        summarize(args.summarize)
        return
    import torch

    torch.set_num_threads(args.threads)
    run(args)


if __name__ == "__main__":
    main()
