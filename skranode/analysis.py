"""The analysis behind ``skranode demo`` and ``skranode run``, on given events.

:func:`run_analysis` takes the data (and, where known, a true background
sample, a labelled sample and a test set) and runs, each stage timed:

1. the background model: a :class:`~skranode.SidebandDensity` trained outside
   the signal region and checked inside it (mass-fit prediction vs observed
   count; classifier AUC of generated vs true background when a true
   background sample is given), or, for signal-region-only data, a given
   fitted background density;
2. the methods of the registry: R-ANODE with the signal fraction learned,
   CATHODE, the idealized detector (with a true background sample) and the
   supervised bound (with labelled events);
3. the k-fold stage (:func:`~skranode.scan.scan_window`, what a scan runs in
   every window): background and R-ANODE models trained on all folds but one
   score every event of the signal region and its sidebands; a bump hunt in
   the mass spectrum after a cut on that score gives the headline local
   significance, and the held-out mixture likelihood of the signal-region
   events gives w-hat, its 68 %/95 % intervals and 95 % CL upper limit with
   the background-model uncertainty (spread over the fold backgrounds and
   the spurious signal of the sideband events) and the signal-model
   uncertainty (spread over two starts of the signal models); the same stage
   runs, in parallel, in two **validation windows**
   (:func:`~skranode.closure.validation_windows`: pseudo-signal regions next
   to the signal region, with their own sideband backgrounds and no
   signal-region event) where nothing should be found, and gives the
   truth-free background checks of the sideband strips
   (:mod:`skranode.closure`); the validation windows decide
   ``significance_trusted``;
4. without sidebands (signal-region-only data) w is cross-fitted in the
   signal region instead (:func:`~skranode.inference.w_cross_fit`,
   statistical only);
5. a table (max SIC per method on the test set, w-hat vs the true w, the
   caveats as ``notes``) and plots.

:func:`analyse_window` does steps 1-4 for one signal region and returns the
numbers and the fitted models, printing nothing (unless asked) and writing no
file: the entry point of a scan over many windows. :func:`run_analysis` adds
the printed table, the plots and ``results.json``. The methods of step 2 come
from the registry of :mod:`skranode.methods`.
"""

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from scipy.stats import norm
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

import skranode.plotting as plotting
from skranode.anode import ResidualANODE
from skranode.closure import format_validation, outside_observed_range, significance_trusted
from skranode.datasets import FEATURE_NAMES
from skranode.exceptions import SkranodeConvergenceWarning
from skranode.flows import ConditionalFlowDensity
from skranode.inference import W_START, cross_fit_start, w_cross_fit
from skranode.mass_window import DEFAULT_SIGNAL_REGION, MassWindow
from skranode.methods import DEFAULT_METHODS, MethodInputs, get_method
from skranode.metrics import max_sic
from skranode.presets import ANALYSIS_PRESETS, AnalysisPreset, get_preset
from skranode.scan import WindowOptions, WindowTask, run_validated, validation_tasks
from skranode.sideband import SidebandDensity
from skranode.stats import profile_notes
from skranode.training import convergence_note
from skranode.utils._output import output_lock, round_value, staged_outputs
from skranode.utils._validation import resolve_device

__all__ = ["AnalysisResult", "analyse_window", "run_analysis"]


#: What the main job's numbers mean (``results.json["significance_meaning"]``).
SIGNIFICANCE_MEANING = (
    "significance: bump hunt in mjj after a cut on k-fold R-ANODE scores (the number "
    "to quote), its fitted yield's uncertainty widened by the spread over the fold "
    "background templates of the signal-region scores (significance_bump_hunt_statistical "
    "without it); assumes the cut does not sculpt the background spectrum "
    "(selection_flat_p_value) and the dijet function describes the selected spectrum "
    "(fit_gof_p_value); below 0.01 either makes it not trusted. "
    "significance_toys: the same significance against its empirical null, pseudo-data "
    "spectra drawn from the background-only fit of the selected events and refitted (no "
    "asymptotic formula; takes the fitted dijet shape as true). "
    "w_hat, w_interval_*, w_upper_limit_95 and significance_likelihood_ratio: held-out "
    "mixture likelihood of the k-fold models in the signal region with the "
    "background-model uncertainty w_std_background (the spread over the fold "
    "background templates and the spurious signal w_hat_sideband of the held-out "
    "sideband events) and the signal-model uncertainty w_std_signal_model (the spread "
    "over two starts of the signal models) added; the *_statistical keys take both "
    "models as exact (coverage: user guide). Truth-free checks: sideband_checks "
    "compares the fold backgrounds with their held-out sideband events next to the "
    "signal region (a classifier test and the log-likelihood against the model's own "
    "samples: a failure means the *_statistical numbers do not hold); "
    "validation_windows repeats the k-fold stage in pseudo-signal regions next to the "
    "signal region, with their own sideband backgrounds and no signal-region event, "
    "where nothing should be found: significance_trusted is whether every one stays "
    "below 2 sigma"
)


class _Stages:
    def __init__(self, verbose):
        self.verbose = verbose
        self.seconds = {}

    def run(self, name, fn):
        if self.verbose:
            print(f"[{len(self.seconds) + 1}] {name} ...", flush=True)
        start = time.perf_counter()
        out = fn()
        self.seconds[name] = round(time.perf_counter() - start, 1)
        if self.verbose:
            print(f"    done in {self.seconds[name]} s", flush=True)
        return out


#: The w numbers of the k-fold stage that the main job reports as its own.
_KFOLD_W_KEYS = (
    "w_hat",
    "w_interval_68",
    "w_interval_95",
    "w_upper_limit_95",
    "significance_likelihood_ratio",
    "w_std_background",
    "w_std_signal_model",
    "w_std_templates",
    "w_hat_sideband",
    "significance_likelihood_ratio_sideband",
    "w_interval_95_statistical",
    "w_upper_limit_95_statistical",
    "significance_likelihood_ratio_statistical",
)


#: Pseudo-experiments of the bump hunt's empirical null in the signal region
#: (:func:`~skranode.stats.toy_null`): they resolve p down to 1 / 1001, 3.1 sigma.
_N_TOYS = 1000


def _kfold_with_validation(features, mass, window, *, n_sr, preset, w_start, device, n_jobs, seed):
    """The k-fold stage of the signal region and its validation windows, in parallel.

    Each validation window (:func:`~skranode.scan.validation_tasks`) is the
    same procedure (:func:`~skranode.scan.scan_window`) in a pseudo-signal
    region next to the signal region, on its own events; one parallel call
    (:func:`~skranode.scan.run_validated`) runs them with the signal region.
    """
    options = WindowOptions(preset=preset, device=device, n_toys=_N_TOYS)
    named = validation_tasks(
        features, mass, window, options, n_signal_region=n_sr, random_state=seed,
        feature_names=_FEATS,
    )
    task = WindowTask(
        features, mass, window, options, random_state=seed, w_start=w_start,
        feature_names=_FEATS,
    )
    on_gpu = resolve_device(device).type == "cuda"
    if n_jobs is None:
        n_jobs = 1 if on_gpu else min(1 + len(named), os.cpu_count() or 1)
    (result,), verdict = run_validated([task], named, n_jobs=n_jobs, threads_per_job=1)
    return result, verdict


#: The feature columns of the main job's event tables.
_FEATS = list(FEATURE_NAMES)


def _labels(df):
    return df["label"].to_numpy() if "label" in df else None


#: Largest share of the reference sample that may repeat data events.
_REFERENCE_OVERLAP_LIMIT = 0.01


def _check_reference_overlap(data, reference):
    """Refuse a true background sample that repeats data events (the data file given twice)."""
    cols = [*_FEATS, "mjj"]
    rows = np.ascontiguousarray(data[cols].to_numpy(dtype=np.float64))
    ref = np.ascontiguousarray(reference[cols].to_numpy(dtype=np.float64))
    void = np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))
    shared = np.isin(ref.view(void).ravel(), rows.view(void).ravel())
    if shared.mean() > _REFERENCE_OVERLAP_LIMIT:
        raise ValueError(
            f"{int(shared.sum())} of the {len(reference)} reference events ({shared.mean():.0%}) "
            "are data events: the true background sample must be independent of the data (an "
            "idealized detector trained against the data itself learns nothing, and the "
            "background flow would be trained on the signal). Pass a separate background "
            "sample as the reference."
        )


@dataclass
class _Run:
    """One run of :func:`analyse_window`: its inputs, and what its stages add up."""

    data: object
    window: MassWindow
    cfg: AnalysisPreset
    reference: object
    labelled: object
    seed: int
    device: str
    n_jobs: int | None
    verbose: bool
    stages: _Stages
    res: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def check_events(self, background):
        """The signal region holds data and the background can be learned; sets the masks."""
        lo, hi = self.window.bounds
        self.m = self.data["mjj"].to_numpy()
        self.in_sr = self.window.in_signal_region(self.m)
        if not self.in_sr.any():
            raise ValueError(
                f"No data event has {lo} <= mjj < {hi} TeV (data mjj range "
                f"{self.m.min():.3f} to {self.m.max():.3f}); choose the signal region inside it."
            )
        self.has_sidebands = bool((~self.in_sr).sum() >= 1000)
        if background is None and not self.has_sidebands and self.reference is None:
            raise ValueError(
                f"The data has {int((~self.in_sr).sum())} events outside the signal region "
                f"({lo}, {hi}): too few sidebands to learn the background. Give a true "
                "background sample (reference=..., or --reference PATH) or a fitted "
                "background model (background=...)."
            )
        if self.reference is not None:
            _check_reference_overlap(self.data, self.reference)

    def describe_signal_region(self):
        """The signal-region events, and the truth where the data has labels."""
        self.sr = self.data[self.in_sr]
        self.X_sr, self.m_sr = self.sr[_FEATS], self.sr["mjj"].to_numpy()
        self.res["n_sr_events"] = len(self.sr)
        y_sr = _labels(self.sr)
        if y_sr is not None:
            n_sig = int(y_sr.sum())
            self.res.update(
                n_sr_signal=n_sig,
                w_true=round(n_sig / len(self.sr), 5),
                s_over_sqrt_b=round(n_sig / np.sqrt(max(len(self.sr) - n_sig, 1)), 2),
            )


def _fit_sideband_background(run):
    cfg, window, data = run.cfg, run.window, run.data

    def fit_background():
        flow = ConditionalFlowDensity(
            **cfg.sideband_flow.params(), device=run.device, verbose=run.verbose
        )
        density = SidebandDensity(window.bounds, density=flow, random_state=run.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkranodeConvergenceWarning)  # a note instead
            return density.fit(data[_FEATS], run.m)

    background = run.stages.run("background model in the sidebands", fit_background)
    _note_convergence(run, background.density_, "the background flow")
    expected, expected_std = background.mass_spectrum_.expected_count(window.bounds)
    run.res.update(
        n_sideband=background.n_sideband_,
        sr_count_predicted=[round(float(expected), 1), round(float(expected_std), 1)],
        sr_count_observed=len(run.sr),
    )
    sidebands = window.in_sidebands(run.m)
    draws = background.sample(run.m_sr, random_state=run.seed)
    outside = outside_observed_range(data[_FEATS].to_numpy()[sidebands], draws, _FEATS)
    run.res["background_draws_outside_range"] = outside["fraction"]
    if outside["note"]:
        run.notes.append(outside["note"])
    return background


def _note_convergence(run, flow, what):
    """Record whether ``flow`` converged in results.json, and a note when it did not."""
    run.res["background_converged"] = bool(flow.history_.get("converged", True))
    note = convergence_note(flow.history_, what)
    if note is not None:
        run.notes.append(note)


def _fit_reference_background(run):
    def fit_reference():
        flow = ConditionalFlowDensity(
            **run.cfg.reference_flow.params(),
            device=run.device,
            verbose=run.verbose,
            random_state=run.seed,
        )
        return flow.fit(run.reference[_FEATS], run.reference["mjj"].to_numpy())

    background = run.stages.run("background flow on the true background sample", fit_reference)
    _note_convergence(run, background, "the background flow on the true background sample")
    run.skipped["sidebands"] = (
        "no sidebands in the data: the background flow is trained on the given true "
        "background sample (idealized), there is no mass-spectrum fit or SR count "
        "prediction, and no check of generated vs true background"
    )
    return background


def _background_auc(run, background):
    """Classifier AUC of background-model draws against the true signal-region background."""
    true_bkg = run.reference[_FEATS].to_numpy()
    generated = background.sample(run.reference["mjj"].to_numpy(), random_state=run.seed)
    Z = np.r_[true_bkg, generated]
    y = np.r_[np.ones(len(true_bkg)), np.zeros(len(generated))]
    clf = HistGradientBoostingClassifier(random_state=run.seed)
    proba = cross_val_predict(clf, Z, y, cv=3, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba)), generated


def _background_stage(run, background):
    """Step 1: the background model (fitted here or given) and its check in the SR."""
    if background is None and run.has_sidebands:
        background = _fit_sideband_background(run)
    elif background is None:
        background = _fit_reference_background(run)
    else:
        run.skipped["background fit"] = "a fitted background model was given"
    generated = None
    if run.reference is not None and "sidebands" not in run.skipped:
        auc, generated = run.stages.run(
            "checking the background model in the SR", partial(_background_auc, run, background)
        )
        run.res["auc_true_vs_generated_background"] = round(auc, 4)
    return background, generated


def _methods_stage(run, chosen, background):
    """Step 2: the methods of the registry; the first R-ANODE model's learned w."""
    inputs = MethodInputs(
        X_sr=run.X_sr,
        m_sr=run.m_sr,
        background=background,
        window=run.window,
        reference=run.reference,
        labelled=run.labelled,
        seed=run.seed,
        n_ensemble=run.cfg.n_ensemble,
        feature_names=_FEATS,
        X_all=run.data[_FEATS] if run.has_sidebands else None,
        m_all=run.m if run.has_sidebands else None,
    )
    models, ranode = {}, None
    for method in chosen:
        reason = method.missing(inputs)
        if reason is not None:
            run.skipped[method.name] = reason
            continue
        models[method.name] = run.stages.run(
            method.stage or method.name, partial(method.fit, inputs)
        )
        if ranode is None and isinstance(models[method.name], ResidualANODE):
            ranode = models[method.name]
            run.res["w_learned"] = round(float(ranode.w_), 5)
    return models, ranode


def _kfold_stage(run, ranode):
    """Step 3: the k-fold stage and its validation windows; None if it was skipped."""
    lo, hi = run.window.bounds
    side = run.window.width
    kfold_window = MassWindow(lo, hi, max(lo - side, float(run.m.min())), hi + side)
    w_start = cross_fit_start(ranode.w_) if ranode is not None else W_START
    kfold, verdict = run.stages.run(
        "k-fold scores: local significance (bump hunt) and w; validation windows",
        partial(
            _kfold_with_validation,
            run.data[_FEATS].to_numpy(),
            run.m,
            kfold_window,
            n_sr=int(run.in_sr.sum()),
            preset=run.cfg.kfold,
            w_start=w_start,
            device=run.device,
            n_jobs=run.n_jobs,
            seed=run.seed,
        ),
    )
    summary, res = kfold.summary, run.res
    checks = summary.get("sideband_checks", {})
    res["sideband_checks"] = {k: v for k, v in checks.items() if k != "notes"}
    run.notes += checks.get("notes", [])
    res["validation_windows"] = verdict.windows
    res["validation_passed"] = verdict.passed
    res["significance_trusted"] = significance_trusted(
        verdict.trusted, summary.get("selection_flat_p_value"), summary.get("fit_gof_p_value")
    )
    run.notes += verdict.notes
    run.skipped.update(verdict.skipped)
    if summary["skipped"]:
        run.skipped["local significance"] = summary["skipped"]
        return None
    res.update(
        significance=summary["local_significance"],
        p_value=float(norm.sf(summary["local_significance"])),
        significance_bump_hunt_statistical=summary["local_significance_statistical"],
        selection_flat_p_value=summary["selection_flat_p_value"],
        fit_gof_p_value=summary["fit_gof_p_value"],
        significance_toys=summary.get("local_significance_toys"),
        p_value_toys=summary.get("local_p_value_toys"),
        toys=summary.get("toys"),
        bump_hunt=dict(summary["bump_hunt"], fit_range=list(kfold_window.sideband)),
    )
    res.update({key: summary[key] for key in _KFOLD_W_KEYS})
    res["n_signal_upper_limit_95"] = round(summary["w_upper_limit_95"] * len(run.sr), 1)
    return kfold


def _cross_fit_stage(run, background, ranode):
    """Step 4, without the k-fold stage: w by cross-fitting in the signal region."""
    # one training per fold: the cross-fit averages its folds and repeats already
    template = ResidualANODE(background, w=cross_fit_start(ranode.w_), learn_w=True, n_init=1)
    cross_fit = partial(
        w_cross_fit,
        template,
        run.X_sr,
        run.m_sr,
        cv=run.cfg.w_folds,
        n_repeats=run.cfg.w_repeats,
        n_jobs=run.n_jobs,
        random_state=run.seed,
    )
    prof = run.stages.run("signal fraction by cross-fitting (held-out likelihood)", cross_fit)
    run.res.update(
        w_hat=round_value(prof.w_hat),
        w_interval_68=round_value(prof.interval_68),
        w_interval_95=round_value(prof.interval_95),
        w_upper_limit_95=round_value(prof.upper_limit_95),
        n_signal_upper_limit_95=round(prof.upper_limit_95 * len(run.sr), 1),
        significance_likelihood_ratio=round_value(prof.significance),
    )
    run.skipped["background-model uncertainty"] = (
        "no k-fold stage (no sidebands): w is cross-fitted in the signal region and its "
        "interval, upper limit and likelihood-ratio significance are statistical only"
    )
    return prof


def _closing_notes(run, prof, preset):
    res, notes = run.res, run.notes
    if prof is not None:
        notes += [f"w likelihood: {note}" for note in profile_notes(prof)]
    if res.get("significance_likelihood_ratio", 0) > 3 and (res.get("significance") or 0) < 2:
        notes.append(
            f"the likelihood-ratio significance ({res['significance_likelihood_ratio']} "
            "sigma) assumes the learned background density is exact; the bump hunt, "
            "which does not, finds no comparable excess: read the large value as "
            "background mismodelling"
        )
    if preset == "fast":
        notes.append(
            "preset 'fast' is for smoke runs: its small background models are not "
            "calibrated (benchmarks/bench_calibration.py measured, on an earlier version, "
            "its bump hunt above 2 sigma in 3 of 22 background-only runs and its w-hat "
            "1.4 times the truth); "
            "quote numbers of the default preset"
        )
    res["notes"] = notes


def _test_scores(run, models, test):
    """Step 5: every method's scores on the test set, and its max SIC."""
    if test is None:
        run.skipped["max SIC"] = "no labelled test set"
        return {}
    X_test, y_test, m_test = test[_FEATS], test["label"].to_numpy(), test["mjj"].to_numpy()
    scores = {name: get_method(name).score(model, X_test, m_test) for name, model in models.items()}
    run.res["n_test"] = [int((y_test == 0).sum()), int(y_test.sum())]
    run.res["max_sic"] = {k: round(float(max_sic(y_test, v)), 2) for k, v in scores.items()}
    return scores


@dataclass
class AnalysisResult:
    """What :func:`analyse_window` returns.

    Attributes
    ----------
    results : dict
        The numbers of the table (what ``results.json`` holds).
    window : MassWindow
        The signal region.
    background : object
        The fitted background model.
    models : dict
        Fitted model of each method that ran, by name.
    scores : dict
        Anomaly scores of the test events, by method (empty without a test set).
    profile : WProfile
        The cross-fitted likelihood of ``w``.
    generated : ndarray or None
        Background-model samples at the reference masses (when checked).
    """

    results: dict
    window: MassWindow
    background: object
    models: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    profile: object = None
    generated: object = None


def analyse_window(
    data, *, signal_region=DEFAULT_SIGNAL_REGION, reference=None, labelled=None, test=None,
    background=None, methods=DEFAULT_METHODS, seed=0, device="auto", n_jobs=None, preset="default",
    verbose=False,
):
    """Analyse one signal region: background model, R-ANODE and w, the methods, the SIC.

    The same inputs as :func:`run_analysis` (see there); nothing is printed
    unless ``verbose`` and no file is written.

    Parameters
    ----------
    data : DataFrame
        Sidebands and signal region, or the signal region only.
    signal_region : tuple of float or MassWindow, default=(3.3, 3.7)
        The window (``low <= mjj < high``).
    reference, labelled, test : DataFrame or None, default=None
        True background sample, labelled sample and test set (signal region).
    background : estimator or None, default=None
        A fitted background model; None fits one.
    methods : sequence of str, default=DEFAULT_METHODS
        Names of registered methods (:mod:`skranode.methods`) to run, in
        order; those whose inputs are missing are skipped. The first is the
        R-ANODE fit whose learned ``w`` starts the cross-fit, when present.
    seed : int, default=0
        Seed of every random step.
    device : str, default='auto'
        Torch device for the flows.
    n_jobs : int or None, default=None
        Processes of the k-fold stage (the signal region and its validation
        windows in parallel, one torch thread each) and parallel trainings of
        the cross-fitted estimate of w (data without sidebands). None: as
        many processes as windows and CPU cores allow (one on a GPU); 1 runs
        them one after another in this process.
    preset : {'default', 'fast'}, default='default'
        Training budgets (:data:`~skranode.presets.ANALYSIS_PRESETS`).
    verbose : bool, default=False
        Print the progress of each stage.

    Returns
    -------
    result : AnalysisResult
    """
    cfg = get_preset(ANALYSIS_PRESETS, preset)
    run = _Run(
        data=data,
        window=MassWindow.from_params(signal_region),
        cfg=cfg,
        reference=reference,
        labelled=labelled,
        seed=seed,
        device=device,
        n_jobs=n_jobs,
        verbose=verbose,
        stages=_Stages(verbose),
    )
    chosen = [get_method(name) for name in methods]
    run.check_events(background)
    run.res.update(signal_region=list(run.window.bounds), preset=preset, seed=seed)
    run.describe_signal_region()
    background, generated = _background_stage(run, background)
    models, ranode = _methods_stage(run, chosen, background)
    kfold = (
        _kfold_stage(run, ranode) if run.has_sidebands and "sidebands" not in run.skipped else None
    )
    if kfold is None and "local significance" not in run.skipped:
        run.skipped["local significance"] = (
            "no sidebands: the bump hunt needs the mass spectrum around the signal region; "
            "only the statistical-only likelihood-ratio significance is given"
        )
    prof = None if kfold is None else kfold.profile
    if kfold is None and ranode is not None:
        prof = _cross_fit_stage(run, background, ranode)
    elif ranode is None:
        run.skipped["signal fraction"] = "no R-ANODE method among the methods run"
    _closing_notes(run, prof, preset)
    scores = _test_scores(run, models, test)
    run.res["stage_seconds"] = run.stages.seconds
    run.res["skipped"] = run.skipped
    return AnalysisResult(
        results=run.res,
        window=run.window,
        background=background,
        models=models,
        scores=scores,
        profile=prof,
        generated=generated,
    )


def run_analysis(
    data, *, signal_region=DEFAULT_SIGNAL_REGION, reference=None, labelled=None, test=None,
    background=None, seed=0, device="auto", n_jobs=None, output="skranode-output",
    preset="default", verbose=True, title="skranode", notes=None, methods=DEFAULT_METHODS,
):
    """Run the whole analysis on given events (DataFrames of ``mjj``, the features, ``label``).

    Parameters
    ----------
    data : DataFrame
        The data: sidebands and signal region, or the signal region only
        (then ``background`` or ``reference`` is required). Its labels, when
        present, are used only to report the true signal fraction.
    signal_region : tuple of float, default=(3.3, 3.7)
        ``(low, high)`` in TeV (``low <= mjj < high``).
    reference : DataFrame or None, default=None
        A true background sample in the signal region: the idealized
        detector's background, the check of the background model, and, for
        signal-region-only data without ``background``, the sample the
        background flow is trained on.
    labelled : DataFrame or None, default=None
        Labelled signal-region events for the supervised bound.
    test : DataFrame or None, default=None
        Labelled signal-region events on which the max SIC is measured.
        Without it no SIC is reported.
    background : estimator or None, default=None
        A fitted background density (``score_samples(X, m)`` and ``sample(m)``);
        None fits a :class:`~skranode.SidebandDensity` on ``data`` when it has
        sidebands, or a :class:`~skranode.ConditionalFlowDensity` on
        ``reference`` when it does not.
    seed : int, default=0
        Seed of every random step.
    device : str, default='auto'
        Torch device for the flows.
    n_jobs : int or None, default=None
        Processes of the k-fold stage and its validation windows, and
        parallel trainings of the cross-fitted w (see :func:`analyse_window`).
    output : str or Path, default='skranode-output'
        Folder for ``results.json`` and the plots.
    preset : {'default', 'fast'}, default='default'
        Training budgets (:data:`~skranode.presets.ANALYSIS_PRESETS`).
    verbose : bool, default=True
        Print progress and the results table.
    title : str, default='skranode'
        First line of the printed table.
    notes : list of str or None, default=None
        Lines on how the events were prepared, stored as ``notes`` in the
        results and printed.
    methods : sequence of str, default=DEFAULT_METHODS
        Registered methods to run (:mod:`skranode.methods`).

    Returns
    -------
    results : dict
        The numbers of the table (also written to ``results.json``), with
        ``skipped``: the stages left out for lack of inputs, and why.

    Raises
    ------
    ValueError
        For an unknown preset, a signal region without data, or data without
        sidebands and neither ``background`` nor ``reference``.
    """
    # one run at a time in the folder: a second would mix its outputs in
    with output_lock(output):
        analysis = analyse_window(
            data,
            signal_region=signal_region,
            reference=reference,
            labelled=labelled,
            test=test,
            background=background,
            methods=methods,
            seed=seed,
            device=device,
            n_jobs=n_jobs,
            preset=preset,
            verbose=verbose,
        )
        res = analysis.results
        res = {"title": title, **res, "notes": list(notes or []) + res.get("notes", [])}
        res["significance_meaning"] = SIGNIFICANCE_MEANING
        order = ["title", "signal_region", "preset", "seed", "notes"]
        res = {**{k: res[k] for k in order}, **{k: v for k, v in res.items() if k not in order}}
        _write_outputs(analysis, res, Path(output), (data, reference, test), seed, verbose)
        if verbose:
            _print_table(res, Path(output))
        return res


def _write_outputs(analysis, res, out, events, seed, verbose):
    """The plots and results.json of a run, in place of the last run's as a whole."""
    start = time.perf_counter()
    if verbose:
        print(f"[{len(res['stage_seconds']) + 1}] plots ...", flush=True)
    with staged_outputs(out) as staging:
        plot_names = _write_plots(analysis, *events, staging, seed)
        res["stage_seconds"]["plots"] = round(time.perf_counter() - start, 1)
        res["plots"] = plot_names
        (staging / "results.json").write_text(json.dumps(res, indent=2))
    if verbose:
        print(f"    done in {res['stage_seconds']['plots']} s", flush=True)


def _write_plots(analysis, data, reference, test, out, seed):
    """The figures of the main job, saved into ``out``; returns their file names."""
    import matplotlib.pyplot as plt  # pyplot after the caller has chosen its backend

    feats = list(FEATURE_NAMES)
    window, background = analysis.window, analysis.background
    res = analysis.results
    w_true = res.get("w_true")
    sr = data[window.in_signal_region(data["mjj"].to_numpy())]
    X_sr, m_sr = sr[feats], sr["mjj"].to_numpy()
    figs = {}
    titles = {}
    if analysis.profile is not None:
        figs["w_profile.png"] = plotting.plot_profile(analysis.profile, w_true=w_true)
        if analysis.profile.w_std_background is not None:
            titles["w_profile.png"] = (
                "Held-out likelihood of w (k-fold R-ANODE): curve statistical only,\n"
                "bands the 68 and 95 % intervals with the background- and signal-model parts"
            )
        else:
            titles["w_profile.png"] = (
                "Held-out likelihood of the signal fraction w (cross-fitted R-ANODE)"
            )
    if analysis.scores:
        y_test = test["label"].to_numpy()
        curves = {k: (y_test, s) for k, s in analysis.scores.items()}
        figs["sic_curves.png"] = plotting.plot_sic_curve(curves)
        figs["roc_curves.png"] = plotting.plot_roc(curves, rejection=True)
        titles["sic_curves.png"] = "Significance improvement on the test set"
        titles["roc_curves.png"] = "Background rejection on the test set"
    if isinstance(background, SidebandDensity):
        figs["mass_spectrum.png"] = plotting.plot_mass_spectrum(
            data["mjj"].to_numpy(), background.mass_spectrum_, window.bounds
        )
        titles["mass_spectrum.png"] = "Dijet mass spectrum and the sideband fit"
    ranode = next((mod for mod in analysis.models.values() if hasattr(mod, "w_")), None)
    if ranode is not None:
        at = np.random.default_rng(seed).choice(m_sr, 2000)
        drawn, _ = ranode.sample(2000, m=at, random_state=seed)
        if test is not None and (test["label"] == 1).any():
            compare, label = test[test["label"] == 1][feats], "true signal"
        else:
            compare, label = X_sr, "signal-region data"
        figs["signal_model_samples.png"] = plotting.plot_feature_comparison(
            compare, drawn, labels=(label, "R-ANODE signal model"), feature_names=feats
        )
        titles["signal_model_samples.png"] = f"Samples of the learned signal model vs {label}"
    if analysis.generated is not None:
        figs["generated_background.png"] = plotting.plot_feature_comparison(
            reference[feats],
            analysis.generated,
            labels=("true SR background", "background model sample"),
            feature_names=feats,
        )
        titles["generated_background.png"] = "Background model vs true background in the SR"
    for name, fig in figs.items():
        fig.suptitle(titles[name])
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return sorted(figs)


def _print_table(res, out):
    lo, hi = res["signal_region"]
    print()
    print(f"{res['title']}  (signal region {lo} < mjj < {hi} TeV, seed {res['seed']})")
    for note in res["notes"]:
        print(f"  {note}")
    line = f"  SR events {res['n_sr_events']}"
    if "w_true" in res:
        line += (
            f", of which signal {res['n_sr_signal']}  (w = {res['w_true']}, "
            f"S/sqrt(B) = {res['s_over_sqrt_b']})"
        )
    print(line)
    if "sr_count_predicted" in res:
        pred, err = res["sr_count_predicted"]
        print(
            f"  background model: SR count predicted from the sidebands {pred} +- {err}, "
            f"observed {res['sr_count_observed']}"
        )
    if "auc_true_vs_generated_background" in res:
        print(
            "  AUC true vs generated SR background "
            f"{res['auc_true_vs_generated_background']} (0.5 is ideal)"
        )
    if "w_hat" in res:
        how = "k-fold" if "w_std_background" in res else "cross-fit, statistical only"
        print(
            f"  signal fraction: true {res.get('w_true', 'unknown')}, learned "
            f"{res.get('w_learned')}, w-hat ({how}) {res['w_hat']}, 68% {res['w_interval_68']}, "
            f"95% {res['w_interval_95']}, 95% CL upper limit {res['w_upper_limit_95']} "
            f"({res['n_signal_upper_limit_95']} events)"
        )
        if "w_std_background" in res:
            print(
                f"    background-model uncertainty {res['w_std_background']} (template spread "
                f"{res['w_std_templates']}, sideband control w-hat {res['w_hat_sideband']}), "
                f"signal-model uncertainty {res.get('w_std_signal_model')} (two starts); "
                f"statistical only: 95% {res['w_interval_95_statistical']}, "
                f"likelihood-ratio significance {res['significance_likelihood_ratio_statistical']}"
            )
        print(
            "    likelihood-ratio significance (not calibrated, see the user guide): "
            f"{res['significance_likelihood_ratio']} sigma"
        )
    if res.get("significance") is not None:
        print(
            f"  local significance (bump hunt after the k-fold score cut): "
            f"{res['significance']} sigma (p = {res['p_value']:.3g}); without the "
            "background-template spread of the fitted yield "
            f"{res.get('significance_bump_hunt_statistical')} sigma"
        )
        if res.get("selection_flat_p_value") is not None:
            print(
                "    selected fraction of the sideband events flat in mass (chi-square p, "
                f"below 0.01 not trusted): p = {res['selection_flat_p_value']}"
            )
        if res.get("fit_gof_p_value") is not None:
            print(
                "    dijet fit of the selected spectrum (goodness of fit p, below 0.01 not "
                f"trusted): p = {res['fit_gof_p_value']}"
            )
        toys = res.get("toys")
        if toys:
            print(
                f"    empirical null ({toys['n_fitted']} pseudo-data spectra of the background "
                f"fit, z mean {toys['z_mean']}, std {toys['z_std']}): "
                + (
                    f"beyond every one: at least {res['significance_toys']} sigma "
                    f"(p <= {res['p_value_toys']:.3g})"
                    if toys["beyond_every_toy"]
                    else f"{res['significance_toys']} sigma (p = {res['p_value_toys']:.3g})"
                )
            )
    checks = res.get("sideband_checks") or {}
    for side in ("low", "high"):
        entry = checks.get(side)
        if entry and "classifier" in entry:
            a, b = entry["strip"]
            c, ll = entry["classifier"], entry["likelihood"]
            print(
                f"  background check, held-out sideband events at {a}-{b} TeV: classifier AUC "
                f"{c['auc']} (z {c['z']}), log-likelihood {ll['mean_observed']} vs "
                f"{ll['mean_generated']} for the model's samples (z {ll['z']})"
            )
    for line in format_validation(res.get("validation_windows"), res.get("significance_trusted")):
        print(f"  {line}")
    if "max_sic" in res:
        print()
        print(f"  {'method':<22}{'max SIC':>9}")
        for name, value in res["max_sic"].items():
            print(f"  {name:<22}{value:>9}")
    print()
    for stage, why in res["skipped"].items():
        print(f"  skipped {stage}: {why}")
    print(f"  stage times [s]: {res['stage_seconds']}")
    print(f"  plots and results.json in {out}/")
