"""The statistics of skranode: the likelihood of ``w``, the selection, the bump hunt, the LEE.

Nothing here trains a model: each function takes scores, log-density ratios
or masses and returns an unrounded, typed result.

* The signal fraction (:class:`WProfile`): :func:`mixture_profile`,
  :func:`mixture_w_hat`, :func:`with_background_spread`,
  :func:`profile_notes`, :func:`profile_intervals`.
* The selection (:class:`ScoreCut`): :func:`cut_at_efficiency`, the one cut
  rule of every bump hunt, made mass-decorrelated by a threshold that follows
  the mass (:func:`fit_mass_quantile`, :class:`MassQuantile`) and checked by
  :func:`selection_flatness` (:class:`Flatness`).
* The bump hunt of a window (:class:`WindowBumpHunt`): :func:`window_bump_hunt`
  (cut, :func:`fit_peak`, :func:`template_spread`,
  :func:`widened_significance`) and its empirical null :func:`toy_null`
  (:class:`ToyNull`).
* The look-elsewhere effect (:class:`GlobalSignificance`):
  :func:`bootstrap_significances`, :func:`global_significance`.

The truth-free checks of a background model live in :mod:`skranode.closure`.
"""

from skranode.stats._bump_hunt import (
    BUMP_HUNT_PARAMS,
    GOF_P_MIN,
    SIGNAL_WIDTH,
    ToyNull,
    WindowBumpHunt,
    fit_peak,
    template_spread,
    toy_null,
    widened_significance,
    window_bump_hunt,
)
from skranode.stats._look_elsewhere import (
    GlobalSignificance,
    bootstrap_significances,
    global_significance,
)
from skranode.stats._profile import (
    DROP_68,
    DROP_95,
    DROP_UL95,
    MAX_EVENT_GAIN,
    WProfile,
    mixture_delta_loglik,
    mixture_profile,
    mixture_w_hat,
    profile_intervals,
    profile_notes,
    with_background_spread,
)
from skranode.stats._selection import (
    FLATNESS_BINS,
    FLATNESS_P_MIN,
    QUANTILE_BINS,
    QUANTILE_MAX_DEGREE,
    QUANTILE_P_MIN,
    Flatness,
    MassQuantile,
    ScoreCut,
    cut_at_efficiency,
    fit_mass_quantile,
    selection_flatness,
    sideband_tilt,
)

__all__ = [
    "BUMP_HUNT_PARAMS",
    "DROP_68",
    "DROP_95",
    "DROP_UL95",
    "FLATNESS_BINS",
    "FLATNESS_P_MIN",
    "GOF_P_MIN",
    "MAX_EVENT_GAIN",
    "MassQuantile",
    "QUANTILE_BINS",
    "QUANTILE_MAX_DEGREE",
    "QUANTILE_P_MIN",
    "SIGNAL_WIDTH",
    "Flatness",
    "GlobalSignificance",
    "ScoreCut",
    "ToyNull",
    "WProfile",
    "WindowBumpHunt",
    "bootstrap_significances",
    "cut_at_efficiency",
    "fit_mass_quantile",
    "fit_peak",
    "global_significance",
    "mixture_delta_loglik",
    "mixture_profile",
    "mixture_w_hat",
    "profile_intervals",
    "profile_notes",
    "selection_flatness",
    "sideband_tilt",
    "template_spread",
    "toy_null",
    "widened_significance",
    "window_bump_hunt",
    "with_background_spread",
]
