r"""
CATHODE, LaCATHODE, the idealized anomaly detector and the supervised limit
===========================================================================

The classifier-based methods look for the signal by training a classifier to
tell the signal-region (SR) data apart from a sample of *background*. Where the
two differ, the data hold something the background does not, and the
classifier output grows with the likelihood ratio
:math:`p_\mathrm{data}(x) / p_B(x)`, the optimal anomaly score. The methods
differ in where that background sample comes from:

* :class:`~skranode.CATHODEClassifier` (Hallin et al., 2021) *generates* it:
  a flow learned in the sidebands, :class:`~skranode.SidebandDensity`,
  interpolated into the SR and sampled there, usually several times the
  size of the data;
* with ``latent=True`` (LaCATHODE, Hallin et al., 2022) the classifier works in
  the latent space of that flow, where the background is a standard normal
  at every mass, so that a cut on the score does not sculpt the mass
  spectrum;
* :class:`~skranode.IdealAD` uses a sample of *true* SR background events,
  which only a simulation provides: the limit of CATHODE with a perfect
  background model;
* :class:`~skranode.SupervisedClassifier` is trained on truth labels, signal
  against background: the upper bound of any method on these features.

All four share the same classifier stage (an ensemble of histogram gradient
boosting classifiers) and are compared here on one independent test sample.
"""

# %%
# Data
# ----
# The data are 60 000 synthetic background events with a 3.5 TeV resonance
# that makes up about 4 % of the SR (the LHC Olympics benchmark has a million
# events and a smaller fraction; this example has to train in a minute).
# Independent samples provide the true background for IdealAD, the signal for
# the supervised classifier and the test events.
import numpy as np
import pandas as pd
import torch

from skranode import (
    CATHODEClassifier,
    ConditionalFlowDensity,
    IdealAD,
    SidebandDensity,
    SupervisedClassifier,
)
from skranode.datasets import FEATURE_NAMES, make_lhco_like, signal_region_mask
from skranode.metrics import max_sic
from skranode.plotting import plot_roc, plot_sic_curve

torch.set_num_threads(1)  # small flows train fastest on one thread

SIGNAL_REGION = (3.3, 3.7)
FEATURES = list(FEATURE_NAMES)


def sr_events(n_background, n_signal, seed):
    """The signal-region events of one synthetic sample."""
    events = make_lhco_like(n_background=n_background, n_signal=n_signal, random_state=seed)
    return events[signal_region_mask(events["mjj"], SIGNAL_REGION)].reset_index(drop=True)


events = make_lhco_like(n_background=60_000, n_signal=400, random_state=0)
X_all, m_all = events[FEATURES].to_numpy(), events["mjj"].to_numpy()
in_sr = signal_region_mask(m_all, SIGNAL_REGION)
X_sr, m_sr = X_all[in_sr], m_all[in_sr]
print(f"data: {in_sr.sum()} SR events, {events['label'][in_sr].sum()} of them signal")

reference = sr_events(60_000, 0, seed=3)  # true SR background, for IdealAD
signal_pool = sr_events(0, 3000, seed=4)  # signal events, for the supervised classifier
test = sr_events(60_000, 3000, seed=1)
X_test, m_test, y_test = test[FEATURES].to_numpy(), test["mjj"].to_numpy(), test["label"]
print(f"test: {(y_test == 0).sum()} background and {y_test.sum()} signal events")

# %%
# CATHODE and LaCATHODE
# ---------------------
# Both take the fitted background model. CATHODE draws SR masses from a
# kernel density estimate of the data masses, samples
# :math:`x \sim p_B(x \mid m)` at them (``oversampling`` times as many events
# as the data), and trains ``n_ensemble`` classifiers of data against samples,
# each with its own sample.
background = SidebandDensity(
    SIGNAL_REGION,
    density=ConditionalFlowDensity(
        n_layers=4, n_hidden=32, max_epochs=15, batch_size=1024, learning_rate=2e-3
    ),
    random_state=0,
).fit(X_all, m_all)

cathode = CATHODEClassifier(
    background, signal_region=SIGNAL_REGION, n_ensemble=3, random_state=0
).fit(X_sr, m_sr)
lacathode = CATHODEClassifier(
    background, signal_region=SIGNAL_REGION, latent=True, n_ensemble=3, random_state=0
).fit(X_sr, m_sr)
print(f"CATHODE: {cathode.n_data_} data events against {cathode.n_samples_} samples per member")

# %%
# Idealized anomaly detector and supervised classifier
# ----------------------------------------------------
# Both are ordinary scikit-learn classifiers, ``fit(X, y)``. For IdealAD,
# ``y = 1`` marks the data (signal and background, unlabelled) and ``y = 0``
# the true background sample; for the supervised classifier ``y`` is the
# truth: signal against background.
X_iad = np.vstack([X_sr, reference[FEATURES].to_numpy()])
y_iad = np.r_[np.ones(len(X_sr)), np.zeros(len(reference))]
ideal = IdealAD(n_ensemble=3, random_state=0).fit(X_iad, y_iad)

labelled = pd.concat([reference, signal_pool], ignore_index=True)
supervised = SupervisedClassifier(n_ensemble=3, random_state=0).fit(
    labelled[FEATURES].to_numpy(), labelled["label"].to_numpy()
)

# %%
# Comparison on the test sample
# -----------------------------
# ``decision_function`` is the anomaly score of each method (the log-odds of
# the averaged probability; larger is more signal-like). LaCATHODE scores in
# the latent space and so needs the masses too.
results = {
    "supervised (truth labels)": (y_test, supervised.decision_function(X_test)),
    "IdealAD (true background)": (y_test, ideal.decision_function(X_test)),
    "CATHODE (generated background)": (y_test, cathode.decision_function(X_test)),
    "LaCATHODE (latent space)": (y_test, lacathode.decision_function(X_test, m_test)),
}
print(f"{'method':32s} max SIC")
for name, (truth, score) in results.items():
    print(f"{name:32s} {max_sic(truth, score):6.2f}")

# %%
# The SIC curves: the supervised classifier bounds the others from above;
# IdealAD falls short of it because it learns the signal only from the few
# hundred signal events hidden among the data; CATHODE approaches IdealAD to
# the extent that its generated background matches the true one: every
# mismodelling of the small, briefly trained flow is a difference the
# classifier can learn instead of the signal. LaCATHODE's classifier sees the
# same information through an invertible map, so its ideal performance is the
# same; in practice it is often a little lower, and in exchange it does not
# sculpt the mass spectrum.
fig = plot_sic_curve(results)
fig.axes[0].set_title("Significance improvement in the signal region")

# %%
# The ROC curves in the particle-physics convention, background rejection
# :math:`1/\epsilon_B` against signal efficiency:
fig = plot_roc(results, rejection=True)
fig.axes[0].set_title("Background rejection in the signal region")
