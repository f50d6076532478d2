"""The bump hunt's selection against a flat one: the default scan's lowest windows, 1M events.

On the built-in scan data without signal (``make_scan_data(n_signal=0)``,
1,000,000 LHCO-like background events), each window is analysed as
``skranode scan`` does (:func:`~skranode.scan.scan_window`, default preset,
learned backgrounds). For each, two selections of the *same* trained models:

* ``before``: one threshold on ``log p_S(x | m_c) - log p_B(x | m)`` (the
  scan's cut until issue 43);
* ``after``: the scan's cut now, ``log p_S(x | m_c) - log p_B(x | m_c)`` with
  the threshold that follows the mass.

Printed and logged per window: the local significance of the bump hunt, the
chi-square p-value of the selected fraction per mass bin of the sidebands
against flat, and those fractions. One JSON line per (seed, window) is
appended to ``--log`` as soon as it is done, and a (seed, window) already
there is skipped, so the run resumes::

    python benchmarks/bench_selection.py --seeds 0 --windows 0-2 \\
        --log benchmarks/results/selection_flatness.jsonl
    python benchmarks/bench_selection.py --summarize benchmarks/results/selection_flatness.jsonl
"""

import argparse
import json
import os
import time

from _common import environment, parse_seeds

#: Which selection ``after`` is: "quantile" (the threshold fitted on drawn
#: background events), "quantile+tilt" (its slope across the window then set
#: on the sideband events), "quantile+outer-tilt" (the slope set, and the
#: flatness tested, on the outer halves of the sidebands, away from a
#: resonance's tails). Rows of other versions are kept and not redone.
SELECTION = "quantile+outer-tilt"


def _entry(bump):
    flat = bump.flatness
    return dict(
        local_significance=round(float(bump.significance), 3),
        flat_p_value=round(float(flat.p_value), 5),
        fractions=[round(float(f), 5) for f in flat.fraction],
        bins=[
            [round(float(a), 4), round(float(b), 4)]
            for a, b in zip(flat.low, flat.high, strict=True)
        ],
    )


def run(args):
    import torch

    from skranode.datasets import FEATURE_NAMES
    from skranode.mass_window import MassWindow
    from skranode.scan import scan_window, sliding_windows
    from skranode.scan_job import make_scan_data
    from skranode.stats import window_bump_hunt

    torch.set_num_threads(1)
    done = set()
    if os.path.exists(args.log):
        with open(args.log) as f:
            done = {
                (r["seed"], r["window_index"]) for r in map(json.loads, f)
                if r.get("selection") == SELECTION
            }
    windows = sliding_windows((3.0, 5.5))
    for seed in parse_seeds(args.seeds):
        todo = [k for k in parse_seeds(args.windows) if (seed, k) not in done]
        if not todo:
            continue
        df = make_scan_data(n_signal=0, seed=seed)
        X, m = df[list(FEATURE_NAMES)].to_numpy(), df["mjj"].to_numpy()
        for k in todo:
            # the sidebands end where the data end, as in scan_spectrum (the dijet
            # fit over masses without events would read a deficit into the window)
            w = windows[k]
            window = MassWindow(w.low, w.high, max(w.sideband_low, float(m.min())),
                                min(w.sideband_high, float(m.max())))
            tic = time.perf_counter()
            res = scan_window(X, m, window, preset=args.preset, random_state=seed)
            seconds = time.perf_counter() - tic
            inside = window.in_range(m)
            mass, sr = m[inside], window.in_signal_region(m[inside])
            before = window_bump_hunt(res.scores, mass, sr, window, efficiency=0.02)
            s = res.summary
            flat = s["bump_hunt"]["selection_flatness"]
            row = dict(
                seed=seed, window_index=k, selection=SELECTION, window=list(window.bounds),
                preset=args.preset,
                n_events=int(inside.sum()), n_sr_events=int(sr.sum()),
                before=_entry(before),
                after=dict(
                    local_significance=s["local_significance"],
                    flat_p_value=flat["p_value"],
                    fractions=[b["fraction"] for b in flat["bins"]],
                    threshold_slope=s["bump_hunt"].get("threshold_slope"),
                    w_hat=s["w_hat"],
                    bins=[[b["low"], b["high"]] for b in flat["bins"]],
                ),
                seconds=round(seconds, 1), notes=s["notes"], environment=environment(),
            )
            print(json.dumps(row), flush=True)
            with open(args.log, "a") as f:
                f.write(json.dumps(row) + "\n")


def summarize(path):
    rows = [json.loads(line) for line in open(path)]
    print(rows[0]["environment"] if rows else "")
    print(f"{'seed':>4} {'window':>10} {'Z before':>9} {'p flat before':>13} "
          f"{'Z after':>8} {'p flat after':>12} {'s':>6}")
    for r in sorted(rows, key=lambda r: (r.get("selection", ""), r["seed"], r["window_index"])):
        print(f"selection after: {r.get('selection')}")
        b, a = r["before"], r["after"]
        print(f"{r['seed']:>4} {r['window'][0]:>4.1f}-{r['window'][1]:<4.1f} "
              f"{b['local_significance']:>+9.2f} {b['flat_p_value']:>13.3g} "
              f"{a['local_significance']:>+8.2f} {a['flat_p_value']:>12.3g} {r['seconds']:>6.0f}")
        for name in ("before", "after"):
            print(f"{'':>16}{name:>7} fraction per sideband bin: "
                  + " ".join(f"{f:.4f}" for f in r[name]["fractions"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--windows", default="0-2", help="indices into the default 11 windows")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--log", default="benchmarks/results/selection_flatness.jsonl")
    parser.add_argument("--summarize", metavar="LOG")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
    else:
        print(environment(), flush=True)
        run(args)


if __name__ == "__main__":
    main()
