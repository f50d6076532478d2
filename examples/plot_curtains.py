"""
CURTAINs: sideband events morphed into the signal region
========================================================

:class:`skranode.CURTAINs` builds the signal-region background from *real*
sideband events. It learns a base density of the sidebands and, on top of it,
a flow that carries an event's features from one mass to another (flows for
flows, trained by maximum likelihood on pairs of sideband masses); then it
morphs sideband events, drawn from both sides, to signal-region masses.

In LHC Olympics-like events the jet masses grow in proportion to mjj, so a
sideband event cannot be used as it is: the lower sideband's jets are too
light, the upper one's too heavy. Below, the morphed events are compared with
the true signal-region background feature by feature, next to the raw
sideband events, and a classifier tells the morphed events from the truth
(AUC 0.5 is perfect).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from skranode import CURTAINs
from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.flows import ConditionalFlowDensity

torch.set_num_threads(1)
features = list(FEATURE_NAMES)
events = make_lhco_like(n_background=150_000, n_signal=0, random_state=0)
X, m = events[features], events["mjj"].to_numpy()
base = ConditionalFlowDensity(n_layers=4, n_hidden=32, batch_size=2048, max_epochs=8, n_best=1)
curtains = CURTAINs((3.3, 3.7), sideband=(3.0, 4.1), base=base, max_epochs=8, random_state=0)
curtains.fit(X, m)

# an independent sample of true signal-region background, and morphed events at its masses
truth = make_lhco_like(n_background=150_000, n_signal=0, random_state=1)
truth = truth[(truth["mjj"] >= 3.3) & (truth["mjj"] < 3.7)]
morphed = curtains.sample(truth["mjj"].to_numpy(), random_state=0)
sideband = X[((m >= 3.0) & (m < 3.3)) | ((m >= 3.7) & (m < 4.1))].to_numpy()

# %%
# Feature by feature: the raw sideband events (grey) miss the signal region's
# jet masses, the morphed events follow the truth.
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
for k, (ax, name) in enumerate(zip(axes, features, strict=True)):
    edges = np.quantile(truth[name], np.linspace(0.005, 0.995, 41))
    ax.hist(sideband[:, k], edges, density=True, histtype="step", color="0.6", label="sidebands")
    ax.hist(
        truth[name],
        edges,
        density=True,
        histtype="stepfilled",
        alpha=0.3,
        label="true SR background",
    )
    ax.hist(morphed[name], edges, density=True, histtype="step", lw=1.5, label="CURTAINs (morphed)")
    ax.set_xlabel(f"{name} [TeV]" if name in ("mjmin", "delta_mj") else name)
axes[0].legend(fontsize=7)
fig.tight_layout()

# %%
# The morphing is the identity when source and target masses agree, and the
# closure test: a classifier separating morphed from true background.
x0 = X.to_numpy()[:5]
print("identity at m1 = m2: max |change|", np.abs(curtains.morph(x0, m[:5], m[:5]) - x0).max())
Z = np.r_[truth[features].to_numpy(), morphed]
y = np.r_[np.ones(len(truth)), np.zeros(len(morphed))]
proba = cross_val_predict(
    HistGradientBoostingClassifier(random_state=0), Z, y, cv=3, method="predict_proba"
)[:, 1]
print(f"closure AUC, morphed vs true SR background: {roc_auc_score(y, proba):.3f}")
