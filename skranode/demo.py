"""The main job on built-in synthetic LHCO-like data (``skranode demo``).

:func:`run_demo` draws events with :func:`~skranode.datasets.make_lhco_like`
(the data: background plus a planted signal over the whole mass range; an
independent background sample in the signal region for the idealized
detector; a labelled sample for the supervised bound; a test set) and runs
:func:`skranode.analysis.run_analysis` on them.
"""

from skranode.analysis import run_analysis
from skranode.datasets import make_lhco_like
from skranode.mass_window import DEFAULT_SIGNAL_REGION, MassWindow
from skranode.presets import DEMO_PRESETS, get_preset

__all__ = ["run_demo"]

def _sr(df, window):
    return df[window.in_signal_region(df["mjj"].to_numpy())]


def run_demo(
    *,
    n_signal=800,
    signal_region=DEFAULT_SIGNAL_REGION,
    seed=0,
    preset="default",
    verbose=True,
    **options,
):
    """Run the whole analysis on :func:`~skranode.datasets.make_lhco_like` events.

    Parameters
    ----------
    n_signal : int, default=800
        Signal events planted in the data over the whole mass range (about
        three quarters fall in the default signal region).
    signal_region : tuple of float, default=(3.3, 3.7)
        ``(low, high)`` in TeV.
    seed : int, default=0
        Seed of every random step.
    preset : {'default', 'fast'}, default='default'
        Sizes (:data:`~skranode.presets.DEMO_PRESETS`) and training budgets
        (:data:`~skranode.presets.ANALYSIS_PRESETS`).
    verbose : bool, default=True
        Print progress and the results table.
    **options
        Further arguments of :func:`skranode.analysis.run_analysis`
        (``device``, ``n_jobs``, ``output``, ``methods``).

    Returns
    -------
    results : dict
        The numbers of the table (also written to ``results.json``).
    """
    cfg = get_preset(DEMO_PRESETS, preset)
    window = MassWindow.from_params(signal_region)
    nb = cfg.n_background
    if verbose:
        print("[0] generating events ...", flush=True)
    data = make_lhco_like(nb, n_signal, random_state=seed)
    reference = _sr(make_lhco_like(nb, 0, random_state=seed + 1), window)
    labelled = _sr(make_lhco_like(nb // 2, 20 * max(n_signal, 100), random_state=seed + 2), window)
    n_test = cfg.n_test_background * 9
    test = _sr(make_lhco_like(n_test, cfg.n_test_signal, random_state=seed + 3), window)
    return run_analysis(
        data, signal_region=window.bounds, reference=reference, labelled=labelled,
        test=test, seed=seed, preset=preset, verbose=verbose, title="skranode demo",
        **options,
    )
