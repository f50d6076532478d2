"""Training budgets and sizes of the jobs, in one place, as frozen dataclasses.

* :data:`BACKGROUND_FLOW`: the background flow of
  :class:`~skranode.SidebandDensity` (``density=None``) and of the main job.
* :data:`SCAN_PRESETS`: the models of one window of a search
  (:func:`~skranode.scan.scan_window`, both jobs' k-fold stage).
* :data:`ANALYSIS_PRESETS`: the main job's models
  (:func:`~skranode.analysis.analyse_window`); its k-fold stage takes the scan
  preset it names.
* :data:`DEMO_PRESETS`: the event counts of ``skranode demo``.

``default`` is the calibrated recipe (user guide); ``fast`` is for tests and
smoke runs, its numbers are not calibrated. What each costs is measured in
``benchmarks/`` and quoted in the user guide.
"""

import dataclasses
from dataclasses import dataclass

__all__ = [
    "AFFINE_BACKGROUND_FLOW",
    "ANALYSIS_PRESETS",
    "BACKGROUND_FLOW",
    "DEMO_PRESETS",
    "SCAN_PRESETS",
    "AnalysisPreset",
    "DemoPreset",
    "FlowRecipe",
    "ScanPreset",
    "SignalBudget",
    "get_preset",
]


class _Parameters:
    def params(self):
        """The settings as keyword arguments."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FlowRecipe(_Parameters):
    """Parameters of a :class:`~skranode.ConditionalFlowDensity` (the rest default).

    ``batch_size='auto'`` and ``max_steps`` make the budget a number of
    optimizer steps that does not depend on the size of the data
    (:func:`~skranode.training.auto_batch_size`); ``max_epochs`` and
    ``patience`` then only end a training that has converged.
    """

    n_layers: int
    n_hidden: int
    batch_size: int | str
    learning_rate: float
    max_epochs: int
    patience: int
    max_steps: int | None = None
    flow: str = "maf"  # 'maf' (affine) or 'rqs' (rational-quadratic splines)


@dataclass(frozen=True)
class SignalBudget(_Parameters):
    """Overrides of :func:`~skranode.anode.default_signal_flow` in a window.

    ``max_samples_per_epoch`` caps the cost of the signal models of the
    windows with the most events (the lowest masses of a falling spectrum).
    """

    max_epochs: int
    n_best: int
    max_samples_per_epoch: int  # fresh random subset of this size each epoch


@dataclass(frozen=True)
class ScanPreset:
    """The models of one window: folds, the sideband background, the signal models.

    ``n_ensemble`` is the number of classifiers of the extra methods
    (``methods=``, e.g. CURTAINs' CATHODE); ``start_n_init`` the restarts of
    the truth-free first fit that sets the fold models' start (one training
    can lose a small signal for good, and then every fold starts at the floor).
    ``selection_samples`` is the number of background events each fold draws
    to fit the mass-dependent threshold of the bump hunt's cut
    (:func:`~skranode.stats.fit_mass_quantile`), at an efficiency of 2 %
    (proportionally more at smaller ones).
    """

    n_folds: int
    sideband_flow: FlowRecipe  # the window's background p_B(x | m)
    signal_flow: SignalBudget  # R-ANODE's signal models
    n_ensemble: int
    start_n_init: int
    selection_samples: int = 50_000


@dataclass(frozen=True)
class AnalysisPreset:
    """The main job's models.

    ``reference_flow`` is the background flow trained on a true background
    sample when the data has no sidebands; ``w_folds`` and ``w_repeats`` the
    folds and signal models per fold of
    :func:`~skranode.inference.w_cross_fit`, used only then; ``kfold`` the
    name of the :data:`SCAN_PRESETS` entry of the k-fold stage.
    """

    sideband_flow: FlowRecipe
    reference_flow: FlowRecipe
    w_folds: int
    w_repeats: int
    n_ensemble: int
    kfold: str


@dataclass(frozen=True)
class DemoPreset:
    """Event counts of ``skranode demo``: background of the data, test set."""

    n_background: int
    n_test_background: int
    n_test_signal: int


#: layers, hidden units, batch size, learning rate, epochs, patience, optimizer
#: steps, flow. A budget of optimizer steps with the batch adapted to the data,
#: and spline layers (benchmarks/bench_defaults_lhco.py, the user guide's
#: table): on the 31 800 training events of the real LHCO signal region the
#: former 15 epochs of 4096 events (120 steps) left a closure AUC of 0.55 and
#: R-ANODE without the signal; affine layers trained to convergence left the
#: tails of the jet masses short, which CATHODE reads as an excess.
BACKGROUND_FLOW = FlowRecipe(4, 64, "auto", 1e-3, 200, 10, max_steps=2000, flow="rqs")

#: The affine (MAF) background flow with the same budget: a third of the cost
#: of :data:`BACKGROUND_FLOW`; the base density of CURTAINs, which evaluates
#: it at every step of its morphing flow, and the main job's sideband flow.
AFFINE_BACKGROUND_FLOW = FlowRecipe(6, 64, "auto", 2e-3, 200, 10, max_steps=2000)

#: folds, background flow, signal models, classifiers of extra methods,
#: first-fit restarts, background events drawn per fold for the cut's threshold
#: (50 000: with exact densities and 1M events the selected fraction stays flat
#: and the bump hunt within -1 < Z < 1, tests/test_selection.py)
SCAN_PRESETS = {
    "default": ScanPreset(
        3,
        FlowRecipe(6, 64, "auto", 2e-3, 200, 10, max_steps=1200),
        SignalBudget(12, 4, 50_000),
        3,
        3,
    ),
    "fast": ScanPreset(
        2, FlowRecipe(3, 32, 2048, 3e-3, 5, 5), SignalBudget(6, 2, 50_000), 1, 1, 25_000
    ),
}

#: The main job's background flows. In the sidebands (the demo: 264 000
#: events) the affine flow, within 0.003 nats per event of the splines
#: (0.0087 against 0.0063 below the exact density of the LHCO-like data, 2000
#: steps each) at a third of their cost (58 s against about 200 s on one
#: thread); on a true background sample, which is small (the real LHCO signal
#: region: 40 000 to 60 000 events), the splines, which CATHODE needs there.
ANALYSIS_PRESETS = {
    "default": AnalysisPreset(
        sideband_flow=AFFINE_BACKGROUND_FLOW,
        reference_flow=BACKGROUND_FLOW,
        w_folds=5, w_repeats=1, n_ensemble=3, kfold="default",
    ),
    "fast": AnalysisPreset(
        sideband_flow=FlowRecipe(2, 16, 2048, 3e-3, 4, 4),
        reference_flow=FlowRecipe(2, 16, 1024, 3e-3, 4, 4),
        w_folds=2, w_repeats=1, n_ensemble=1, kfold="fast",
    ),
}

DEMO_PRESETS = {
    "default": DemoPreset(n_background=300_000, n_test_background=60_000, n_test_signal=3_000),
    "fast": DemoPreset(n_background=60_000, n_test_background=20_000, n_test_signal=1_000),
}


def get_preset(table, name):
    """``table[name]``, or a ValueError that lists the presets.

    Parameters
    ----------
    table : dict
        :data:`SCAN_PRESETS`, :data:`ANALYSIS_PRESETS` or :data:`DEMO_PRESETS`.
    name : str

    Returns
    -------
    preset : ScanPreset, AnalysisPreset or DemoPreset
    """
    if name not in table:
        raise ValueError(f"preset must be one of {sorted(table)}; got {name!r}.")
    return table[name]
