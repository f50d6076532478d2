r"""
The LHC Olympics R&D data in the signal region
==============================================

The LHC Olympics 2020 R&D dataset is the community benchmark of resonant
anomaly detection: simulated QCD dijet events and a 3.5 TeV resonance
:math:`W' \to X Y`, with X and Y (500 and 100 GeV) decaying to quarks.
:func:`~skranode.datasets.load_lhco_sr` reads the signal-region arrays
released with the CATHODE paper (3.3 < :math:`m_{jj}` < 3.7 TeV, the mass and
the four features of ANODE and CATHODE, and a truth label), and
:func:`~skranode.datasets.lhco_sr_path` finds them: in ``$SKRANODE_LHCO_SR``
or in ``../shared/data/lhco-sr`` next to the skranode checkout.

The arrays are not distributed with skranode. **When they are not found,
this example falls back to synthetic events** of
:func:`~skranode.datasets.make_lhco_like`, which are tuned to resemble them;
the output below says which data it used.
"""

# %%
# Load the data, or fall back to synthetic events
# -----------------------------------------------
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from skranode.datasets import (
    FEATURE_NAMES,
    lhco_sr_path,
    load_lhco_sr,
    make_lhco_like,
    signal_region_mask,
)
from skranode.metrics import max_sic
from skranode.plotting import plot_feature_comparison, plot_roc, plot_sic_curve

data_path = lhco_sr_path("sr_data_part1")
pool_path = lhco_sr_path("sr_signal_pool_a")
if data_path is not None and pool_path is not None:
    source = "the real LHC Olympics R&D events"
    events = load_lhco_sr(data_path)  # SR background with the benchmark signal injected
    signal_pool = load_lhco_sr(pool_path)  # extra signal events, for training and testing
else:
    source = "synthetic make_lhco_like events (the LHCO arrays were not found)"
    synthetic = make_lhco_like(n_background=500_000, n_signal=550, random_state=0)
    events = synthetic[signal_region_mask(synthetic["mjj"])].reset_index(drop=True)
    extra = make_lhco_like(n_background=0, n_signal=30_000, random_state=1)
    signal_pool = extra[signal_region_mask(extra["mjj"])].reset_index(drop=True)
print(f"Using {source}.")

background = events[events["label"] == 0]
print(
    f"{len(events)} events in the signal region: {len(background)} background, "
    f"{int(events['label'].sum())} signal; {len(signal_pool)} more signal events"
)
events.describe().T

# %%
# What the signal looks like
# --------------------------
# The signal jets have masses near 100 and 500 GeV (so ``mjmin`` near 0.1 TeV
# and ``delta_mj`` near 0.4 TeV) and are two-pronged (small
# :math:`\tau_{21}`); the QCD background jets are light and one-pronged.
fig = plot_feature_comparison(
    background[list(FEATURE_NAMES)],
    signal_pool[list(FEATURE_NAMES)],
    labels=("background", "signal"),
)
fig.suptitle(f"Signal region features, {source.split(' (')[0]}")

# %%
# How well can the signal be found?
# ---------------------------------
# A supervised classifier, trained with the truth labels, is the upper bound
# of every anomaly detection method on these features. It is compared with a
# hand-made score, the summed :math:`\tau_{21}` of the two jets (smaller is
# more two-pronged, hence more signal-like). Each event is scored by a model
# that did not see it (5-fold cross-validation); all the SR background is in
# the test sample, with a subsample of the signal pool.
signal = signal_pool.sample(n=5000, random_state=0)
sample = pd.concat([background, signal], ignore_index=True)
X = sample[list(FEATURE_NAMES)].to_numpy()
y = sample["label"].to_numpy()
supervised = cross_val_predict(
    HistGradientBoostingClassifier(max_iter=100, random_state=0),
    X,
    y,
    cv=StratifiedKFold(5, shuffle=True, random_state=0),
    method="predict_proba",
)[:, 1]
two_prong = -(sample["tau21_min"] + sample["tau21_max"]).to_numpy()
results = {
    "supervised classifier": (y, supervised),
    "-(tau21_min + tau21_max)": (y, two_prong),
}
for name, (truth, score) in results.items():
    print(f"{name}: max SIC {max_sic(truth, score):.1f}")

# %%
# The SIC curve shows by how much a cut multiplies the significance
# :math:`S/\sqrt{B}` of the signal region at each signal efficiency. Cuts that
# keep fewer than 25 test background events are not drawn: their background
# efficiency is too uncertain (see the user guide). With about 60 000 test
# background events no score can exceed :math:`\sqrt{60000/25} \approx 49`.
fig = plot_sic_curve(results)
fig.axes[0].set_title("Significance improvement in the signal region")

# %%
# The ROC curve in the particle-physics convention, background rejection
# :math:`1/\epsilon_B` against signal efficiency:
fig = plot_roc(results, rejection=True)
fig.axes[0].set_title("Background rejection in the signal region")

# %%
# Anomaly detection methods aim at the supervised curve without labels: they
# replace the truth by a background model learned in the sidebands. The
# signal-region arrays hold no sideband events, so those methods are trained
# on synthetic sidebands or on the full R&D dataset
# (:func:`~skranode.datasets.fetch_lhco_rnd`, 1.1 million events).
