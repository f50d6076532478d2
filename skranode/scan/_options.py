"""The settings of one window's k-fold procedure, checked once (:class:`WindowOptions`)."""

import math
import numbers
from dataclasses import dataclass

from skranode.presets import SCAN_PRESETS, get_preset
from skranode.stats import SIGNAL_WIDTH

__all__ = ["WindowOptions"]


def _check_int(name, value, *, allow_none=False, low=1):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(
            low, f"an integer >= {low}"
        )
        raise ValueError(f"{name} must be {what}{' or None' if allow_none else ''}; got {value!r}.")


@dataclass(frozen=True)
class WindowOptions:
    """How :func:`~skranode.scan.scan_window` analyses a window (see its parameters).

    Attributes
    ----------
    preset : {'default', 'fast'}
        Training budgets (:data:`~skranode.presets.SCAN_PRESETS`).
    n_folds : int or None
        Folds of the k-fold scoring (>= 2); None takes the preset's.
    efficiency : float in (0, 1)
        Fraction of the sideband events kept by the cut of the bump hunt.
    signal_width : float
        Relative width of the bump hunt's peak.
    w_max : float
        Largest signal fraction considered.
    min_signal_region, min_sideband : int
        Fewest events in the signal region and in each sideband.
    n_init : int or None
        Restarts of the truth-free first fit; None takes the preset's.
    start_factors : tuple of float
        Starts of each fold's signal models, as factors of ``w_start``.
    n_toys : int
        Pseudo-experiments of the bump hunt's empirical null (0: none).
    methods : tuple of str
        Registered methods analysed next to R-ANODE.
    device : str
        Torch device of the flows.
    """

    preset: str = "default"
    n_folds: int | None = None
    efficiency: float = 0.02
    signal_width: float = SIGNAL_WIDTH
    w_max: float = 0.5
    min_signal_region: int = 200
    min_sideband: int = 500
    n_init: int | None = None
    start_factors: tuple = (1.0, 2.0)
    n_toys: int = 0
    methods: tuple = ()
    device: str = "cpu"

    def __post_init__(self):
        get_preset(SCAN_PRESETS, self.preset)
        if not (isinstance(self.efficiency, numbers.Real) and 0 < self.efficiency < 1):
            raise ValueError(f"efficiency must be in (0, 1); got {self.efficiency!r}.")
        _check_int("n_folds", self.n_folds, allow_none=True, low=2)
        factors = tuple(self.start_factors)
        if not factors or not all(
            isinstance(f, numbers.Real) and not isinstance(f, bool) and math.isfinite(f) and f > 0
            for f in factors
        ):
            raise ValueError(
                f"start_factors must be one or more positive numbers; got {factors!r}."
            )
        object.__setattr__(self, "start_factors", factors)
        _check_int("n_toys", self.n_toys, low=0)
        _check_int("n_init", self.n_init, allow_none=True)
        methods = (self.methods,) if isinstance(self.methods, str) else tuple(self.methods)
        object.__setattr__(self, "methods", methods)

    @property
    def budget(self):
        """The training budgets (:class:`~skranode.presets.ScanPreset`)."""
        return SCAN_PRESETS[self.preset]

    @property
    def folds(self):
        """Number of folds."""
        return self.budget.n_folds if self.n_folds is None else int(self.n_folds)

    @property
    def restarts(self):
        """Restarts of the truth-free first fit."""
        return self.budget.start_n_init if self.n_init is None else int(self.n_init)
