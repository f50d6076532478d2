"""The optimiser's share of a training: AdamW fused against the per-tensor loop.

Trains the two flows of a scan window with a fixed number of steps, once
with each optimiser, on one thread, and prints milliseconds per step and
the optimiser's own time per step:

* the window's background flow (masked affine, 6 layers of 64 units,
  batches of 2048 sideband events, as :func:`~skranode.scan.window_background`
  builds it for a large window);
* the R-ANODE signal flow (:func:`~skranode.anode.default_signal_flow`:
  rational-quadratic splines, batches of 512).

Run: ``python benchmarks/bench_optimizer.py [--steps 300]``.
"""

import argparse
import time
import warnings
from unittest import mock

import numpy as np
import torch
from _common import environment

import skranode.training as training
from skranode.anode import default_signal_flow
from skranode.flows import ConditionalFlowDensity
from skranode.utils._torch import adamw


def _time_fit(flow, X, m, fused):
    make = lambda params, **kw: adamw(params, **kw, fused=fused)  # noqa: E731
    with mock.patch.object(training, "adamw", make), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tic = time.perf_counter()
        flow.fit(X, m)
        seconds = time.perf_counter() - tic
    return seconds, flow.history_["n_steps"]


def _optimizer_step_ms(flow, fused, reps=300):
    params = [p for p in flow.build_module(4).parameters() if p.requires_grad]
    opt = adamw(params, lr=1e-4, weight_decay=0.0, fused=fused)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    opt.step()
    tic = time.perf_counter()
    for _ in range(reps):
        opt.step()
    return (time.perf_counter() - tic) / reps * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(environment())
    rng = np.random.default_rng(0)
    X, m = rng.normal(size=(200_000, 4)), rng.uniform(3.0, 4.2, 200_000)
    flows = {
        "background MAF 6x64, batch 2048": lambda: ConditionalFlowDensity(
            n_layers=6, n_hidden=64, batch_size=2048, max_steps=args.steps, max_epochs=200,
            patience=10**6, random_state=0,
        ),
        "signal RQS (default_signal_flow), batch 512": lambda: default_signal_flow().set_params(
            max_steps=args.steps, max_epochs=200, patience=10**6, random_state=0,
        ),
    }
    print(f"{'flow':46s} {'optimiser':10s} {'ms/step':>8s} {'opt ms/step':>11s} {'steps':>6s}")
    for name, make in flows.items():
        for fused in (False, True):
            seconds, steps = _time_fit(make(), X, m, fused)
            step_ms = _optimizer_step_ms(make(), fused)
            label = "fused" if fused else "per-tensor"
            print(f"{name:46s} {label:10s} {1e3 * seconds / steps:8.2f} {step_ms:11.3f} {steps:6d}")


if __name__ == "__main__":
    main()
