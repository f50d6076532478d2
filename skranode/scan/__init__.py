"""Search the whole spectrum: a sliding-window scan, k-fold scores, a global significance.

A resonant search does not know the mass of the new particle. :func:`scan_spectrum`
slides the signal region over the dijet spectrum (:func:`sliding_windows`) and
runs, in every window (:func:`scan_window`):

1. **k-fold models**: the events of the window and its sidebands are split
   into ``n_folds`` folds. For each fold a :class:`~skranode.SidebandDensity`
   is trained on the *sideband* events of the other folds and a learned-w
   :class:`~skranode.ResidualANODE` on the *signal-region* events of the other
   folds; the held-out fold is scored with ``log p_S / p_B``. Every event's
   score therefore comes from models that never saw it, whether it lies in
   the signal region or in a sideband.
2. **Signal fraction** (:func:`~skranode.stats.mixture_profile`): the
   held-out mixture likelihood of the signal-region events gives ``w_hat``,
   its 68 % / 95 % intervals, the one-sided 95 % CL upper limit on ``w`` and
   on the number of signal events, and a likelihood-ratio significance. That
   significance is *statistical only*: it assumes that the learned p_B is the
   true background density, which a learned background never is exactly (it
   reads mismodelling as signal). It is reported as
   ``significance_likelihood_ratio``.
3. **Local significance** (the headline): a bump hunt in the dijet mass
   after a cut on the k-fold score that keeps a fraction ``efficiency`` of
   the sideband events: :func:`~skranode.mass_spectrum.fit_resonance` fits
   the selected events of the window and its sidebands with the dijet
   function plus a Gaussian peak at the window centre (width
   ``signal_width`` times the mass) and the likelihood ratio of the peak is
   the local significance, as in the LHC dijet resonance searches. It does
   not rely on p_B(x | m) being right, only on the cut not sculpting a bump
   into the mass spectrum: the score holds p_S at the window centre (one
   function of x) and p_B at each event's own mass, and is k-fold (a model
   that had seen the sideband events would score them lower than the unseen
   signal-region events). Its false-positive rate on background-only
   spectra is measured in ``benchmarks/bench_scan.py``.
4. **Background checks** (truth-free, :mod:`skranode.closure`): in the
   sideband strips next to the signal region (half its width on each side),
   each fold background is compared with its held-out events there, by a
   classifier test of events drawn from it at their masses and by their
   log-likelihood against that of its own samples (``sideband_checks``; a
   failure is a note: the numbers that take p_B as exact do not hold there).

After the scan, the most significant window gets its **validation windows**
(:func:`validation_tasks`, the main job's too: the same procedure in two
half-size pseudo-signal regions next to it, where it must find nothing;
:func:`run_validated` runs them); their verdict is
``ScanResult.significance_trusted``. Windows are analysed in parallel by
:func:`run_windows`, each as a :class:`WindowTask` with its
:class:`WindowOptions`.

The **look-elsewhere effect** is corrected by pseudo-experiments of the
local significances: a Poisson bootstrap of the events (one weight per event,
shared by every window, so that overlapping windows fluctuate together) gives
the correlation matrix of the windows' local significances; the global p-value
is the fraction of 200 000 multivariate-normal pseudo-experiments with that
correlation whose largest local significance reaches the observed one. Where
fewer than 20 pseudo-experiments reach it, the Bonferroni bound
``n_windows * p_local`` is quoted instead (an upper bound on the global
p-value whatever the correlation).

Layout (private files behind this public face): ``_windows`` (the window
grid, the training budgets, the window's background model, the input
check), ``_options`` (:class:`WindowOptions`), ``_kfold`` (the one-window
procedure, in stages), ``_summary`` (a window summary's keys, rounding,
skipped form and table row), ``_tasks`` (tasks, workers, cache),
``_validation`` (validation windows, one run path for both jobs),
``_spectrum`` (the multi-window driver). The statistics they call are
:mod:`skranode.stats`.
"""

# the training budgets moved to skranode.presets; importable from here as before
from skranode.presets import SCAN_PRESETS as SCAN_PRESETS
from skranode.scan._kfold import WindowResult, scan_window, selection_score, window_score
from skranode.scan._options import WindowOptions
from skranode.scan._spectrum import ScanResult, scan_spectrum
from skranode.scan._tasks import WindowTask, run_windows
from skranode.scan._validation import run_validated, validation_tasks
from skranode.scan._windows import sliding_windows, window_background
from skranode.stats import SIGNAL_WIDTH

__all__ = [
    "SIGNAL_WIDTH",
    "ScanResult",
    "WindowOptions",
    "WindowResult",
    "WindowTask",
    "run_validated",
    "run_windows",
    "scan_spectrum",
    "scan_window",
    "selection_score",
    "sliding_windows",
    "validation_tasks",
    "window_background",
    "window_score",
]
