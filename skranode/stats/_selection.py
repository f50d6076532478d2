"""The selection of a bump hunt: a cut on an anomaly score at a background efficiency.

One rule for every bump hunt of skranode (the scan's windows, the main job's
k-fold stage, :func:`~skranode.bump_hunt.enhanced_bump_hunt`): the threshold
is the ``1 - efficiency`` quantile of the scores of reference events (the
sideband events), and an event is selected when its score reaches it.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ScoreCut", "cut_at_efficiency"]


@dataclass(frozen=True)
class ScoreCut:
    """A threshold on an anomaly score and the events it selects.

    Attributes
    ----------
    threshold : float
        Events with a score ``>= threshold`` are selected.
    selected : ndarray of bool of shape (n_events,)
        Which events pass.
    efficiency : float
        The fraction of reference events the cut was asked to keep.
    n_reference, n_reference_pass : int
        Reference (sideband) events, and how many of them pass.
    """

    threshold: float
    selected: np.ndarray = field(repr=False)
    efficiency: float
    n_reference: int
    n_reference_pass: int

    @property
    def achieved_efficiency(self):
        """Fraction of the reference events that pass the cut."""
        return self.n_reference_pass / self.n_reference

    @property
    def tied(self):
        """Whether ties at the threshold let far more events pass than asked.

        More than ``max(1.5 * efficiency * n, efficiency * n + 5)`` of the
        ``n`` reference events: a score constant over many events.
        """
        asked = self.efficiency * self.n_reference
        return self.n_reference_pass > max(1.5 * asked, asked + 5)

    def tie_note(self):
        """The sentence that reports a tied cut (see :attr:`tied`)."""
        return (
            f"the anomaly scores are tied at the cut: {self.achieved_efficiency:.3g} of the "
            f"sideband events pass it, not the {self.efficiency} asked (a score constant "
            "over many events); the bump hunt has much less power than it should"
        )


def cut_at_efficiency(scores, reference, efficiency):
    """Cut the scores where a fraction ``efficiency`` of the reference events passes.

    Parameters
    ----------
    scores : ndarray of shape (n_events,)
        Anomaly scores of all events (finite).
    reference : ndarray of bool of shape (n_events,)
        The events that set the threshold (the sideband events).
    efficiency : float in (0, 1]
        Fraction of them to keep; 1 keeps every event.

    Returns
    -------
    cut : ScoreCut
    """
    if efficiency == 1:
        threshold = -np.inf
    else:
        threshold = float(np.quantile(scores[reference], 1.0 - efficiency, method="higher"))
    selected = scores >= threshold
    return ScoreCut(
        threshold=threshold,
        selected=selected,
        efficiency=efficiency,
        n_reference=int(reference.sum()),
        n_reference_pass=int((selected & reference).sum()),
    )
