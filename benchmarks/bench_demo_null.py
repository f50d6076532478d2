"""``skranode demo --n-signal 0``: the main job on background-only built-in data, per seed.

Runs the command exactly as a user types it (a subprocess, default preset,
its own output folder per seed) and logs one JSON line per finished seed to
``--log``: the local significance, the selection's flatness and the fit's
goodness of fit, the validation windows, ``significance_trusted`` and the
time. Seeds already in the log are skipped, so the campaign resumes.
``--summarize LOG`` prints the table.

Run: ``python benchmarks/bench_demo_null.py --seeds 0-4 --log benchmarks/results/demo_null.jsonl``.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import environment, parse_seeds

KEYS = (
    "significance", "significance_bump_hunt_statistical", "significance_likelihood_ratio",
    "w_hat", "w_upper_limit_95", "selection_flat_p_value", "fit_gof_p_value",
    "significance_trusted", "validation_passed",
)


def run_seed(seed, preset, threads):
    with tempfile.TemporaryDirectory() as out:
        argv = [sys.executable, "-m", "skranode", "demo", "--n-signal", "0", "--seed", str(seed),
                "--preset", preset, "--output", out, "--quiet", "--threads", str(threads)]
        tic = time.perf_counter()
        subprocess.run(argv, check=True)
        seconds = time.perf_counter() - tic
        res = json.loads((Path(out) / "results.json").read_text())
    row = {"seed": seed, "preset": preset, "seconds": round(seconds, 1)}
    row.update({k: res.get(k) for k in KEYS})
    row["validation_significance"] = {
        side: (v or {}).get("significance") for side, v in res["validation_windows"].items()
    }
    row["notes"] = res.get("notes", [])
    row["environment"] = environment()
    return row


def summarize(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    print(f"{'seed':>4s} {'Z':>7s} {'Z stat':>7s} {'flat p':>7s} {'gof p':>7s} "
          f"{'val. Z':>13s} {'trusted':>7s} {'s':>6s}")
    for r in rows:
        val = " ".join(
            "-" if v is None else f"{v:+.2f}" for v in r["validation_significance"].values()
        )
        z_stat = r["significance_bump_hunt_statistical"]
        print(f"{r['seed']:4d} {r['significance']:+7.2f} {z_stat:+7.2f} "
              f"{r['selection_flat_p_value']:7.3f} {r['fit_gof_p_value']:7.3f} {val:>13s} "
              f"{str(r['significance_trusted']):>7s} {r['seconds']:6.0f}")
    print(f"{len(rows)} seeds; local Z above 3 in {sum(r['significance'] > 3 for r in rows)}, "
          f"above 2 in {sum(r['significance'] > 2 for r in rows)}; "
          f"flat p < 0.01 in {sum(r['selection_flat_p_value'] < 0.01 for r in rows)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None)
    parser.add_argument("--summarize", default=None, metavar="LOG")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    done = set()
    if args.log and Path(args.log).exists():
        done = {(json.loads(x)["seed"], json.loads(x)["preset"])
                for x in Path(args.log).read_text().splitlines() if x.strip()}
    print(environment(), flush=True)
    for seed in parse_seeds(args.seeds):
        if (seed, args.preset) in done:
            continue
        row = run_seed(seed, args.preset, args.threads)
        print(json.dumps(row), flush=True)
        if args.log:
            with open(args.log, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
