"""
A sliding-window search over the dijet spectrum
===============================================

A real search does not know the mass of the new particle. Here a resonance
is planted at 3.9 TeV in LHC Olympics-like events, and
:func:`skranode.scan.scan_spectrum` slides a 0.4 TeV signal region over
3.2-4.6 TeV in steps of 0.2 TeV without being told where it is. In every
window it learns the background in that window's sidebands, scores every
event with k-fold R-ANODE models that never saw it, estimates the signal
fraction with an interval and an upper limit, and fits the mass spectrum of
the events that pass a cut on the score with the dijet function plus a peak
(the local significance). The most significant window is then corrected for
the look-elsewhere effect.

The example uses the ``fast`` training budget on 200 000 events so that it
runs in a few seconds; ``skranode scan`` runs the default recipe on a
million events.
"""

import matplotlib.pyplot as plt
import torch

from skranode import plotting
from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.scan import scan_spectrum, sliding_windows

torch.set_num_threads(1)
events = make_lhco_like(n_background=200_000, n_signal=1200, signal_mass=3.9, random_state=4)
windows = sliding_windows((3.2, 4.6), width=0.4, step=0.2, sideband_width=0.4)
result = scan_spectrum(
    events[list(FEATURE_NAMES)],
    events["mjj"],
    windows=windows,
    preset="fast",
    labels=events["label"],  # only to report the truth per window
    random_state=0,
)

# %%
# One row per window: the signal fraction with its upper limit and the
# background-model uncertainty (``w_std_background``: the spread over the fold
# backgrounds and the spurious signal of the sidebands), the statistical-only
# likelihood-ratio significance (it takes the learned background as exact),
# and the bump-hunt local significance, the number to quote.
columns = [
    "low", "high", "n_sr_events", "w_hat", "w_upper_limit_95", "w_std_background",
    "significance_likelihood_ratio_statistical", "local_significance", "s_over_sqrt_b_true",
]
print(result.table[columns].to_string(index=False))
print(
    f"most significant window {result.best_window}: global significance "
    f"{result.global_significance} sigma ({result.global_method})"
)

# %%
# The LHC "p0" plot: the local p-value of each window against its centre,
# with the 1-5 sigma lines, and the signal fraction with its upper limit.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
plotting.plot_local_p_values(
    result.windows, global_significance=result.global_significance, truth_mass=3.9, ax=left
)
plotting.plot_signal_fraction_scan(result.windows, ax=right)
fig.tight_layout()
plt.show()

# %%
# The spectrum and the windows, the most significant one highlighted.
plotting.plot_scan_windows(events["mjj"], result.windows, best_window=result.best_window)
plt.show()
