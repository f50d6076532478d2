r"""
Ensembles trained in parallel, on local cores or a dask cluster
===============================================================

Flows and classifiers trained on a few thousand events depend on their seed:
the initialisation, the train/validation split and the batches. Averaging
several trainings removes much of that noise, which is why the published
CATHODE and R-ANODE results are ensembles.

:class:`~skranode.DensityEnsemble` (densities and likelihood-ratio scores such
as R-ANODE's) and :class:`~skranode.ClassifierEnsemble` (classifiers such as
CATHODE) fit ``n_estimators`` clones of an estimator, each with its own seed,
with :class:`joblib.Parallel`: in local worker processes with ``n_jobs``, or
on any joblib backend, for example a ``dask.distributed`` cluster. Each member
uses one torch thread while it trains (``torch_threads=1``), so that the
members running side by side do not compete for the cores.
"""

# %%
# Data and the background model
# -----------------------------
# As in :ref:`sphx_glr_auto_examples_plot_ranode.py`: 60 000 synthetic
# background events with a 3.5 TeV resonance that makes up about 4 % of the
# signal region (SR), a :class:`~skranode.SidebandDensity` trained on the
# sidebands, and an independent test sample.
import time

import joblib
import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.base import clone

from skranode import (
    CATHODEClassifier,
    ClassifierEnsemble,
    ConditionalFlowDensity,
    DensityEnsemble,
    IdealAD,
    ResidualANODE,
    SidebandDensity,
)
from skranode.datasets import FEATURE_NAMES, make_lhco_like, signal_region_mask
from skranode.metrics import max_sic
from skranode.plotting import plot_sic_curve

torch.set_num_threads(1)  # small flows train fastest on one thread

SIGNAL_REGION = (3.3, 3.7)
FEATURES = list(FEATURE_NAMES)
events = make_lhco_like(n_background=60_000, n_signal=400, random_state=0)
X_all, m_all = events[FEATURES].to_numpy(), events["mjj"].to_numpy()
in_sr = signal_region_mask(m_all, SIGNAL_REGION)
X_sr, m_sr = X_all[in_sr], m_all[in_sr]
w_true = events["label"].to_numpy()[in_sr].mean()

test = make_lhco_like(n_background=60_000, n_signal=3000, random_state=1)
test = test[signal_region_mask(test["mjj"], SIGNAL_REGION)]
X_test, m_test, y_test = test[FEATURES].to_numpy(), test["mjj"].to_numpy(), test["label"]

background = SidebandDensity(
    SIGNAL_REGION,
    density=ConditionalFlowDensity(
        n_layers=4, n_hidden=32, max_epochs=15, batch_size=1024, learning_rate=2e-3
    ),
    random_state=0,
).fit(X_all, m_all)

# %%
# An ensemble of R-ANODE signal models
# ------------------------------------
# Three :class:`~skranode.ResidualANODE` members, two at a time in worker
# processes (``n_jobs=2``). The fitted background is sent to the workers and
# shared by every member; only the signal flows are trained.
signal_flow = ConditionalFlowDensity(
    "rqs",
    n_layers=2,
    n_hidden=16,
    batch_norm=False,
    n_bins=4,
    batch_size=256,
    learning_rate=3e-3,
    max_epochs=20,
    patience=20,
    n_best=3,
)
ranode = ResidualANODE(background, w=w_true, flow=signal_flow)
start = time.perf_counter()
ranode_ensemble = DensityEnsemble(ranode, n_estimators=3, n_jobs=2, random_state=0)
ranode_ensemble.fit(X_sr, m_sr)
elapsed = time.perf_counter() - start
print(f"3 R-ANODE members fitted in {elapsed:.1f} s; their seeds: {ranode_ensemble.seeds_}")

# %%
# The scores of R-ANODE are log likelihood ratios :math:`\log p_S / p_B`, so
# the ensemble averages them in probability space (``combine='auto'``
# resolves to ``'log_mean_exp'``): its score is
# :math:`\log \frac{1}{n} \sum_i p_{S,i} / p_B`, the log of the averaged
# ratio, not the mean of the logs. Recomputed from the fitted members:
members = np.stack([est.score_samples(X_test, m_test) for est in ranode_ensemble.estimators_])
by_hand = logsumexp(members, axis=0) - np.log(len(members))
ensemble_score = ranode_ensemble.score_samples(X_test, m_test)
print("combine rule:", ranode_ensemble.combine_)
print(
    "largest difference from log(mean(exp(member scores))):",
    np.max(np.abs(ensemble_score - by_hand)),
)

# %%
# An ensemble of CATHODE classifiers
# ----------------------------------
# :class:`~skranode.ClassifierEnsemble` averages the predicted probabilities
# of its members. Each CATHODE member here has one classifier and draws its
# own background sample from the shared flow. (``CATHODEClassifier`` also
# averages ``n_ensemble`` classifiers internally, in one process; the
# ensemble spreads whole CATHODE trainings over workers.) The mass is the
# second argument of ``fit``, where a classifier takes its labels.
cathode = CATHODEClassifier(background, signal_region=SIGNAL_REGION, n_ensemble=1)
cathode_ensemble = ClassifierEnsemble(cathode, n_estimators=3, n_jobs=2, random_state=0)
cathode_ensemble.fit(X_sr, m_sr)
member_proba = [est.predict_proba(X_test)[:, 1] for est in cathode_ensemble.estimators_]
print(
    "largest difference from the mean of the members' probabilities:",
    np.max(np.abs(cathode_ensemble.predict_proba(X_test)[:, 1] - np.mean(member_proba, axis=0))),
)

# %%
# Members against the ensemble
# ----------------------------
# The max SIC of each member and of the ensemble on the test sample. The
# members scatter with their seed; the ensemble is usually at least as good
# as a typical member and, above all, more stable, which is why its
# performance can be quoted without picking a lucky seed.
results = {}
for name, scores, ensemble in (
    ("R-ANODE", members, ensemble_score),
    ("CATHODE", member_proba, cathode_ensemble.decision_function(X_test)),
):
    for i, score in enumerate(scores):
        print(f"{name} member {i}: max SIC {max_sic(y_test, score):.2f}")
        results[f"{name} member {i}"] = (y_test, score)
    print(f"{name} ensemble: max SIC {max_sic(y_test, ensemble):.2f}")
    results[f"{name} ensemble"] = (y_test, ensemble)
fig = plot_sic_curve(results)
ax = fig.axes[0]
for line in ax.get_lines():
    if "member" in line.get_label():
        line.set_alpha(0.4)
        line.set_linewidth(1)
ax.set_title("Ensemble members and their average")

# %%
# On a dask cluster
# -----------------
# The same ``fit`` runs on a ``dask.distributed`` cluster when it is called
# inside ``joblib.parallel_config(backend="dask")``; the members are sent to
# the cluster's workers, and ``n_jobs=-1`` uses all of them. On a real
# cluster ``Client("scheduler-address:8786")`` connects to it; here a local
# cluster with two workers stands in.
#
# The workers of this example are threads of this process
# (``processes=False``), which exchange data in memory without opening a
# network port. Worker *processes* (dask's default; a local cluster of them
# listens on ``host="127.0.0.1"``, as in ``tests/test_ensemble.py``) started
# from a script need the script to be guarded by
# ``if __name__ == "__main__":``, which an example page cannot show well.
# Threads share torch's global random generator, which the flows seed for
# their initialisation, so members trained in threads may differ from a run
# in processes; the ensemble of :class:`~skranode.IdealAD` classifiers below
# uses no torch at all and is reproduced exactly. (With worker processes
# every ensemble is reproduced exactly: ``tests/test_ensemble.py`` checks
# this.)
#
# ``dask.distributed`` is optional; without it this part is skipped.
reference = make_lhco_like(n_background=60_000, n_signal=0, random_state=3)
reference = reference[signal_region_mask(reference["mjj"], SIGNAL_REGION)]
X_iad = np.vstack([X_sr, reference[FEATURES].to_numpy()])
y_iad = np.r_[np.ones(len(X_sr)), np.zeros(len(reference))]
ideal_ensemble = ClassifierEnsemble(IdealAD(n_ensemble=1), n_estimators=4, n_jobs=2, random_state=0)
ideal_ensemble.fit(X_iad, y_iad)
local_proba = ideal_ensemble.predict_proba(X_test)[:, 1]

try:
    from dask.distributed import Client, LocalCluster
except ImportError:
    print("dask.distributed is not installed: skipping the cluster run")
else:
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,  # workers are threads; they talk in memory, not over the network
        dashboard_address=None,
    )
    client = Client(cluster)
    try:
        print(f"cluster with {len(client.scheduler_info()['workers'])} workers")
        with joblib.parallel_config(backend="dask"):
            remote = clone(ideal_ensemble).set_params(n_jobs=-1).fit(X_iad, y_iad)
        remote_proba = remote.predict_proba(X_test)[:, 1]
        same_seeds = np.array_equal(remote.seeds_, ideal_ensemble.seeds_)
        print("IdealAD ensemble on dask: same seeds as the local run:", same_seeds)
        print(
            "largest difference from the local run:",
            np.max(np.abs(remote_proba - local_proba)),
        )
        print(f"IdealAD ensemble max SIC: {max_sic(y_test, remote_proba):.2f}")
    finally:
        client.close()
        cluster.close()
