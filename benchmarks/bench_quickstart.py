"""Time the README's quick start and measure what its background model is worth.

Runs the Python block under "Quick start" in ``README.rst`` as it is written
(so the numbers belong to the code a new user runs), timing it, then
measures:

* the truth: the signal fraction in the signal region next to the learned ``w``;
* the background model's quality: the AUC of a classifier (histogram
  gradient boosting, 3-fold cross-validated) telling the generated
  signal-region background from the true one (0.5 is ideal);
* the max SIC of the R-ANODE score on those (training) events, for
  orientation only: it is in-sample.

It prints the CPU flags and the torch thread count first.

Run: ``python benchmarks/bench_quickstart.py [--threads N]``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import environment


def quickstart_code():
    text = (Path(__file__).resolve().parents[1] / "README.rst").read_text()
    section = text.split("Quick start\n-----------\n", 1)[1]
    block = section.split(".. code-block:: python\n", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(environment(), flush=True)
    code = quickstart_code()
    namespace = {}
    start = time.perf_counter()
    exec(compile(code, "README.rst quick start", "exec"), namespace)  # noqa: S102
    seconds = time.perf_counter() - start
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    from skranode.metrics import max_sic

    ns = namespace
    sr = ns["events"][ns["in_sr"]]
    true_bkg = sr[sr["label"] == 0][list(ns["FEATURE_NAMES"])].to_numpy()
    generated = np.asarray(ns["generated"])
    Z = np.r_[true_bkg, generated]
    y = np.r_[np.ones(len(true_bkg)), np.zeros(len(generated))]
    proba = cross_val_predict(
        HistGradientBoostingClassifier(random_state=0), Z, y, cv=3, method="predict_proba"
    )[:, 1]
    auc = roc_auc_score(y, proba)
    w_true = float(sr["label"].mean())
    flow = ns["background"].density_
    print(f"\nquick start (README.rst): {seconds:.1f} s")
    epochs = len(flow.history_["val_loss"])
    print(f"  background flow: {flow.n_layers} x {flow.n_hidden}, {epochs} epochs")
    print(f"  AUC generated vs true SR background: {auc:.4f} (0.5 is ideal)")
    print(f"  learned w {ns['ranode'].w_:.4f}, true {w_true:.4f}")
    print(f"  max SIC of the score, in-sample: {max_sic(sr['label'], ns['score']):.2f}")


if __name__ == "__main__":
    main()
