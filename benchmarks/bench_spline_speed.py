"""The spline flows' cost per training step, scored event and drawn event: normflows' layer vs ours.

The package's two spline recipes, built from their estimators
(:func:`skranode.anode.default_signal_flow`, R-ANODE's signal model, and
:func:`skranode.sideband.default_background_flow`, ``SidebandDensity``'s
background), once with normflows' ``AutoregressiveRationalQuadraticSpline``
layers and once with :class:`skranode.flows._spline.AutoregressiveSplineFlow`
(the same parameters loaded into both). Per recipe and layer: one AdamW
training step at the recipe's batch size (the background's ``'auto'`` batch
for 60 000 events), ``log_prob`` of 16 384 events (the package's inference
batch) and drawing 16 384 events, on one torch thread, best of five.

Run: ``python benchmarks/bench_spline_speed.py``.
"""

import time

import normflows as nf
import torch
from _common import environment

from skranode.anode import default_signal_flow
from skranode.flows._spline import AutoregressiveSplineFlow
from skranode.sideband import default_background_flow
from skranode.training import INFERENCE_BATCH, resolve_batch_size
from skranode.utils._torch import adamw


def _normflows_twin(model):
    """The same model with normflows' spline layers and the same parameters."""
    layers = []
    for layer in model.flows:
        if isinstance(layer, AutoregressiveSplineFlow):
            t = layer.mprqat
            twin = nf.flows.AutoregressiveRationalQuadraticSpline(
                t.autoregressive_net.initial_layer.in_features - 0,
                len(t.autoregressive_net.blocks),
                t.autoregressive_net.initial_layer.out_features,
                num_context_channels=1,
                num_bins=t.num_bins,
                tail_bound=t.tail_bound,
                permute_mask=False,
                init_identity=True,
            )
            twin.load_state_dict(layer.state_dict())
            layers.append(twin)
        else:
            layers.append(layer)
    return nf.ConditionalNormalizingFlow(model.q0, layers)


def _best(fn, repeats, rounds=5):
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def measure(model, batch):
    gen = torch.Generator().manual_seed(0)
    x, c = torch.randn(batch, 4, generator=gen), torch.rand(batch, 1, generator=gen)
    xi, ci = torch.randn(INFERENCE_BATCH, 4, generator=gen), torch.rand(INFERENCE_BATCH, 1)
    opt = adamw(list(model.parameters()), lr=1e-4, weight_decay=0.0)

    def step():
        opt.zero_grad()
        (-model.log_prob(x, c).mean()).backward()
        opt.step()

    model.train()
    train = _best(step, 20)
    model.eval()
    with torch.no_grad():
        score = _best(lambda: model.log_prob(xi, ci), 2)
        draw = _best(lambda: model.sample(INFERENCE_BATCH, context=ci), 1)
    return train, score, draw


def main():
    torch.set_num_threads(1)
    print(environment())
    recipes = {
        "signal (R-ANODE)": (default_signal_flow(), None),
        "background (SidebandDensity)": (default_background_flow(), 60_000),
    }
    print(f"{'recipe':<30}{'layer':<11}{'batch':>6}{'step ms':>9}{'score ev/s':>12}"
          f"{'draw ev/s':>11}")
    for name, (estimator, n_events) in recipes.items():
        batch = estimator.batch_size
        if n_events is not None:
            batch = resolve_batch_size(estimator.batch_size, n_events)
        torch.manual_seed(0)
        ours = estimator.build_module(4)
        with torch.no_grad():  # away from the identity start, as after training
            for p in ours.parameters():
                p.add_(0.05 * torch.randn_like(p))
        twin = _normflows_twin(ours)
        rows = {}
        for label, model in (("normflows", twin), ("skranode", ours)):
            rows[label] = measure(model, batch)
            t, s, d = rows[label]
            print(f"{name:<30}{label:<11}{batch:>6}{t * 1e3:>9.2f}"
                  f"{INFERENCE_BATCH / s:>12,.0f}{INFERENCE_BATCH / d:>11,.0f}", flush=True)
        ratio = [a / b for a, b in zip(rows["normflows"], rows["skranode"], strict=True)]
        print(f"{'':<30}{'speed-up':<11}{'':>6}{ratio[0]:>8.2f}x{ratio[1]:>11.2f}x"
              f"{ratio[2]:>10.2f}x")


if __name__ == "__main__":
    main()
