"""The enhanced bump hunt: a cut on an anomaly score, then a fit of the dijet mass spectrum.

:func:`enhanced_bump_hunt` is the classic CATHODE / ANODE procedure: cut on the
anomaly score, fit the dijet mass spectrum of the selected events in the
sidebands, and compare the predicted signal-region count with the observed one.
The signal region and sidebands follow :class:`~skranode.mass_window.MassWindow`;
the cut is :func:`~skranode.stats.cut_at_efficiency`, the one cut rule of
every bump hunt (the scan's and the main job's fit a peak instead:
:func:`~skranode.stats.window_bump_hunt`).
"""

import numbers
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone

from skranode.mass_spectrum import DijetMassSpectrum, bump_hunt_significance
from skranode.mass_window import MassWindow
from skranode.stats import Flatness, cut_at_efficiency, selection_flatness

__all__ = ["BumpHuntResult", "enhanced_bump_hunt"]


@dataclass
class BumpHuntResult:
    """Outcome of :func:`enhanced_bump_hunt`.

    Attributes
    ----------
    threshold : float
        Cut on the anomaly score (less ``baseline`` where given); events with
        a larger score are selected.
    sideband_efficiency : float
        Fraction of the sideband events that pass the cut.
    n_selected : int
        Number of events passing the cut (all masses).
    n_observed : int
        Selected events in the signal region.
    expected, expected_std : float
        Background predicted there from the sideband fit, and its uncertainty.
    significance : float
        :func:`~skranode.mass_spectrum.bump_hunt_significance` of
        ``n_observed`` over ``expected +- expected_std`` (negative for a deficit).
    spectrum : DijetMassSpectrum
        The fitted mass spectrum of the selected events.
    flatness : Flatness
        The selected fraction per mass bin of the sidebands against a flat
        one (:func:`~skranode.stats.selection_flatness`): a small
        ``flatness.p_value`` says that the cut sculpts the spectrum.
    """

    threshold: float
    sideband_efficiency: float
    n_selected: int
    n_observed: int
    expected: float
    expected_std: float
    significance: float
    spectrum: DijetMassSpectrum = field(repr=False)
    flatness: Flatness = field(default=None, repr=False)


def _checked_events(scores_all, m_all, baseline):
    """Scores (less ``baseline``) and masses as float arrays, or a clear error."""
    scores = np.asarray(scores_all, dtype=np.float64).reshape(-1)
    mass = np.asarray(m_all, dtype=np.float64).reshape(-1)
    if scores.shape != mass.shape:
        raise ValueError(
            f"scores_all and m_all must have the same length; got {scores.size} and {mass.size}."
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError(
            "scores_all must be finite for every event: the bump hunt needs the score in "
            "the sidebands as well as in the signal region."
        )
    if not np.all(np.isfinite(mass)):
        raise ValueError("m_all must be finite.")
    if baseline is not None:
        baseline = np.asarray(baseline, dtype=np.float64).reshape(-1)
        if baseline.shape != scores.shape or not np.all(np.isfinite(baseline)):
            raise ValueError(
                "baseline must hold one finite threshold per event (t(m) of a MassQuantile "
                f"at each event's mass); got shape {baseline.shape} for {scores.size} events."
            )
        scores = scores - baseline
    return scores, mass


def enhanced_bump_hunt(
    scores_all,
    m_all,
    *,
    signal_region,
    efficiency=0.1,
    threshold=None,
    spectrum=None,
    baseline=None,
):
    """Bump hunt in the dijet mass after a cut on an anomaly score.

    The events whose score exceeds the threshold are kept; the dijet function
    is fitted to their mass spectrum in the sidebands and interpolated into the
    signal region, and the observed count there is compared with the
    prediction.

    Parameters
    ----------
    scores_all : array-like of shape (n_samples,)
        Anomaly score of every event, signal region and sidebands alike (the
        score model must be defined at every mass, as for R-ANODE or a
        classifier that takes the mass as an input); larger is more signal-like.
    m_all : array-like of shape (n_samples,)
        Dijet mass of every event.
    signal_region : tuple of float
        ``(low, high)``; the events with ``low <= m < high`` are the signal
        region (:class:`~skranode.mass_window.MassWindow`), the others inside the
        spectrum's ``mass_range`` (all, when it is None) the sidebands.
    efficiency : float in (0, 1], default=0.1
        The threshold is the score exceeded by this fraction of the sideband
        events (ignored when ``threshold`` is given).
    threshold : float, default=None
        Explicit cut on the score.
    spectrum : DijetMassSpectrum, default=None
        Template of the mass fit (cloned; its ``signal_region`` is replaced);
        None uses ``DijetMassSpectrum()``.
    baseline : array-like of shape (n_samples,) or None, default=None
        A mass-dependent threshold of each event, ``t(m)`` of a
        :class:`~skranode.stats.MassQuantile` fitted on background events'
        scores (:func:`~skranode.stats.fit_mass_quantile`): the cut is then
        on ``scores - baseline``, the mass-decorrelated cut of the scan.

    Returns
    -------
    result : BumpHuntResult

    Notes
    -----
    The procedure is valid only when the score is (nearly) independent of the
    mass for the background: a score that sculpts the spectrum breaks the
    dijet-function interpolation. ``flatness`` tests that in the sidebands;
    ``baseline`` removes a known dependence.
    """
    scores, mass = _checked_events(scores_all, m_all, baseline)
    template = DijetMassSpectrum() if spectrum is None else spectrum
    if not isinstance(template, DijetMassSpectrum):
        raise ValueError(f"spectrum must be a DijetMassSpectrum; got {type(template).__name__}.")
    window = MassWindow.from_params(signal_region, template.mass_range)
    spec = clone(template).set_params(signal_region=window.bounds)
    sideband = window.in_sidebands(mass)
    if not sideband.any():
        raise ValueError("No event lies in the sidebands: cannot set the cut or fit the spectrum.")
    if threshold is None:
        if not (isinstance(efficiency, numbers.Real) and 0 < efficiency <= 1):
            raise ValueError(f"efficiency must be in (0, 1]; got {efficiency!r}.")
        cut = cut_at_efficiency(scores, sideband, efficiency)
        if cut.tied:
            raise ValueError(
                f"The scores are tied at the cut: {cut.n_reference_pass} of {cut.n_reference} "
                f"sideband events ({cut.achieved_efficiency:.3g}) have a score >= "
                f"{cut.threshold:.6g}, not the efficiency {efficiency} asked. Use a score "
                "without ties, or pass threshold= and read sideband_efficiency from the result."
            )
        threshold, selected = cut.threshold, cut.selected
    else:
        threshold = float(threshold)
        selected = scores >= threshold
    n_sb_pass = int((selected & sideband).sum())
    n_sb = int(sideband.sum())
    if n_sb_pass < 10:
        raise ValueError(
            f"Only {n_sb_pass} sideband event(s) pass the cut: too few to fit the spectrum. "
            "Use a larger efficiency or a lower threshold."
        )
    spec.fit(mass[selected])
    flatness = selection_flatness(selected, mass, sideband, split_at=window.bounds)
    expected, std = spec.expected_count()
    observed = int(spec.n_signal_region_)
    return BumpHuntResult(
        threshold=threshold,
        sideband_efficiency=n_sb_pass / n_sb,
        n_selected=int(selected.sum()),
        n_observed=observed,
        expected=float(expected),
        expected_std=float(std),
        significance=float(bump_hunt_significance(observed, expected, std)),
        spectrum=spec,
        flatness=flatness,
    )
