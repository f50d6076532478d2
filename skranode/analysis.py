"""The analysis behind ``skranode demo`` and ``skranode run``, on given events.

:func:`run_analysis` takes the data (and, where known, a true background
sample, a labelled sample and a test set) and runs, each stage timed:

1. the background model: a :class:`~skranode.SidebandDensity` trained outside
   the signal region and checked inside it (mass-fit prediction vs observed
   count; classifier AUC of generated vs true background when a true
   background sample is given), or, for signal-region-only data, a given
   fitted background density;
2. R-ANODE with the signal fraction learned, and the signal fraction by
   cross-fitting (:func:`~skranode.inference.w_cross_fit`: maximum-likelihood
   w of the held-out events, 68 %/95 % intervals, significance);
3. the classifier family: CATHODE, the idealized detector (with a true
   background sample) and the supervised bound (with labelled events);
4. a table (max SIC per method on the test set, w-hat vs the true w) and plots.
"""

import json
import time
from pathlib import Path

import numpy as np

from skranode.datasets import FEATURE_NAMES
from skranode.sideband import check_signal_region

__all__ = ["ANALYSIS_PRESETS", "run_analysis"]

#: Initial w of the learned-w R-ANODE fits: below the fractions that R-ANODE
#: can detect (a start below the truth is what the learned w needs).
_W_START = 0.002

#: Training budgets. ``default`` finishes the demo in a few minutes on a
#: 2-core laptop; ``fast`` is for tests and smoke runs. ``w_folds`` and
#: ``w_repeats`` are the folds and the signal models per fold of
#: :func:`~skranode.inference.w_cross_fit`. ``reference_flow`` is the
#: background flow trained on a true background sample when the data has no
#: sidebands (a few 10k events: smaller batches, more epochs).
ANALYSIS_PRESETS = {
    "default": dict(
        sideband_flow=dict(
            n_layers=8, n_hidden=64, batch_size=4096, learning_rate=2e-3, max_epochs=15, patience=5
        ),
        reference_flow=dict(
            n_layers=6, n_hidden=64, batch_size=1024, learning_rate=2e-3, max_epochs=60, patience=10
        ),
        w_folds=5,
        w_repeats=1,
        n_ensemble=3,
    ),
    "fast": dict(
        sideband_flow=dict(
            n_layers=2, n_hidden=16, batch_size=2048, learning_rate=3e-3, max_epochs=4, patience=4
        ),
        reference_flow=dict(
            n_layers=2, n_hidden=16, batch_size=1024, learning_rate=3e-3, max_epochs=4, patience=4
        ),
        w_folds=2,
        w_repeats=1,
        n_ensemble=1,
    ),
}


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


def _in_region(df, lo, hi):
    m = df["mjj"].to_numpy()
    return df[(m >= lo) & (m < hi)]


def _labels(df):
    return df["label"].to_numpy() if "label" in df else None


def run_analysis(
    data,
    *,
    signal_region=(3.3, 3.7),
    reference=None,
    labelled=None,
    test=None,
    background=None,
    seed=0,
    device="auto",
    n_jobs=None,
    output="skranode-output",
    preset="default",
    verbose=True,
    title="skranode",
    notes=None,
):
    """Run the whole analysis on given events.

    Every event table is a DataFrame with the columns ``mjj``, the four
    features of :data:`~skranode.datasets.FEATURE_NAMES` and, where known,
    ``label`` (1 signal, 0 background).

    Parameters
    ----------
    data : DataFrame
        The data: sidebands and signal region, or the signal region only
        (then ``background`` or ``reference`` is required). Its labels, when
        present, are used only to report the true signal fraction.
    signal_region : tuple of float, default=(3.3, 3.7)
        ``(low, high)`` in TeV.
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
        Parallel trainings in the cross-fitted estimate of w.
    output : str or Path, default='skranode-output'
        Folder for ``results.json`` and the plots.
    preset : {'default', 'fast'}, default='default'
        Training budgets (:data:`ANALYSIS_PRESETS`).
    verbose : bool, default=True
        Print progress and the results table.
    title : str, default='skranode'
        First line of the printed table.
    notes : list of str or None, default=None
        Lines on how the events were prepared, stored as ``notes`` in the
        results and printed.

    Returns
    -------
    results : dict
        The numbers of the table (also written to ``results.json``), with
        ``skipped``: the stages left out for lack of inputs, and why.

    Raises
    ------
    ValueError
        If the preset is unknown, the signal region holds no data event, or
        the data has no sidebands and neither ``background`` nor ``reference``
        is given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skranode import plotting
    from skranode.anode import ResidualANODE
    from skranode.classifiers import CATHODEClassifier, IdealAD, SupervisedClassifier
    from skranode.flows import ConditionalFlowDensity
    from skranode.inference import w_cross_fit
    from skranode.metrics import max_sic
    from skranode.sideband import SidebandDensity

    if preset not in ANALYSIS_PRESETS:
        raise ValueError(f"preset must be one of {sorted(ANALYSIS_PRESETS)}; got {preset!r}.")
    cfg = ANALYSIS_PRESETS[preset]
    lo, hi = check_signal_region(signal_region)
    feats = list(FEATURE_NAMES)
    m = data["mjj"].to_numpy()
    in_sr = (m >= lo) & (m < hi)
    if not in_sr.any():
        raise ValueError(
            f"No data event has {lo} <= mjj < {hi} TeV (data mjj range "
            f"{m.min():.3f} to {m.max():.3f}); choose the signal region inside it."
        )
    has_sidebands = bool((~in_sr).sum() >= 1000)
    if background is None and not has_sidebands and reference is None:
        raise ValueError(
            f"The data has {int((~in_sr).sum())} events outside the signal region "
            f"({lo}, {hi}): too few sidebands to learn the background. Give a true "
            "background sample (reference=..., or --reference PATH) or a fitted "
            "background model (background=...)."
        )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    stages = _Stages(verbose)
    skipped = {}
    res = {"title": title, "signal_region": [lo, hi], "preset": preset, "seed": seed}
    res["notes"] = list(notes or [])

    sr = data[in_sr]
    X_sr, m_sr = sr[feats], sr["mjj"].to_numpy()
    res["n_sr_events"] = len(sr)
    y_sr = _labels(sr)
    w_true = None
    if y_sr is not None:
        n_sig_sr = int(y_sr.sum())
        w_true = n_sig_sr / len(sr)
        res.update(
            n_sr_signal=n_sig_sr,
            w_true=round(w_true, 5),
            s_over_sqrt_b=round(n_sig_sr / np.sqrt(max(len(sr) - n_sig_sr, 1)), 2),
        )

    # 1. background model -------------------------------------------------------
    if background is None and has_sidebands:

        def fit_background():
            flow = ConditionalFlowDensity(**cfg["sideband_flow"], device=device, verbose=verbose)
            density = SidebandDensity((lo, hi), density=flow, random_state=seed)
            return density.fit(data[feats], m)

        background = stages.run("background model in the sidebands", fit_background)
        expected, expected_std = background.mass_spectrum_.expected_count((lo, hi))
        res.update(
            n_sideband=background.n_sideband_,
            sr_count_predicted=[round(float(expected), 1), round(float(expected_std), 1)],
            sr_count_observed=len(sr),
        )
    elif background is None:

        def fit_reference():
            flow = ConditionalFlowDensity(
                **cfg["reference_flow"], device=device, verbose=verbose, random_state=seed
            )
            return flow.fit(reference[feats], reference["mjj"].to_numpy())

        background = stages.run("background flow on the true background sample", fit_reference)
        skipped["sidebands"] = (
            "no sidebands in the data: the background flow is trained on the given true "
            "background sample (idealized), there is no mass-spectrum fit or SR count "
            "prediction, and no check of generated vs true background"
        )
    else:
        skipped["background fit"] = "a fitted background model was given"

    generated = None
    if reference is not None and "sidebands" not in skipped:

        def background_auc():
            from sklearn.ensemble import HistGradientBoostingClassifier
            from sklearn.metrics import roc_auc_score
            from sklearn.model_selection import cross_val_predict

            true_bkg = reference[feats].to_numpy()
            generated = background.sample(reference["mjj"].to_numpy(), random_state=seed)
            Z = np.r_[true_bkg, generated]
            y = np.r_[np.ones(len(true_bkg)), np.zeros(len(generated))]
            clf = HistGradientBoostingClassifier(random_state=seed)
            proba = cross_val_predict(clf, Z, y, cv=3, method="predict_proba")[:, 1]
            return float(roc_auc_score(y, proba)), generated

        auc, generated = stages.run("checking the background model in the SR", background_auc)
        res["auc_true_vs_generated_background"] = round(auc, 4)

    # 2. R-ANODE and the signal fraction --------------------------------------------
    def fit_ranode():
        est = ResidualANODE(background, w=_W_START, learn_w=True, random_state=seed)
        return est.fit(X_sr, m_sr)

    ranode = stages.run("R-ANODE with the signal fraction learned", fit_ranode)
    res["w_learned"] = round(float(ranode.w_), 5)

    def cross_fit():
        # started at half the w learned by the fit above: w_hat is pulled towards
        # the start, from below (a p_S narrower than the signal) and from above (a
        # p_S that also takes background); the one-fit w tends to lie above the
        # truth at small S/B and below it when started far below (measured in
        # benchmarks/bench_learned_w.py and the user guide)
        start = min(max(0.5 * float(ranode.w_), _W_START), 0.5)
        template = ResidualANODE(background, w=start, learn_w=True)
        return w_cross_fit(
            template,
            X_sr,
            m_sr,
            cv=cfg["w_folds"],
            n_repeats=cfg["w_repeats"],
            n_jobs=n_jobs,
            random_state=seed,
        )

    prof = stages.run("signal fraction by cross-fitting (held-out likelihood)", cross_fit)
    res.update(
        w_hat=_round(prof.w_hat),
        w_interval_68=_round(prof.interval_68),
        w_interval_95=_round(prof.interval_95),
        significance=_round(prof.significance),
    )

    # 3. classifiers ---------------------------------------------------------------
    def fit_cathode():
        est = CATHODEClassifier(
            background, signal_region=(lo, hi), n_ensemble=cfg["n_ensemble"], random_state=seed
        )
        return est.fit(X_sr, m_sr)

    models = {
        "R-ANODE (learned w)": ranode,
        "CATHODE": stages.run("CATHODE", fit_cathode),
    }
    if reference is not None:

        def fit_iad():
            Z = np.r_[X_sr.to_numpy(), reference[feats].to_numpy()]
            y = np.r_[np.ones(len(X_sr)), np.zeros(len(reference))]
            return IdealAD(n_ensemble=cfg["n_ensemble"], random_state=seed).fit(Z, y)

        models["IAD"] = stages.run("idealized anomaly detector (IAD)", fit_iad)
    else:
        skipped["IAD"] = "no true background sample"
    if labelled is not None:

        def fit_supervised():
            est = SupervisedClassifier(n_ensemble=cfg["n_ensemble"], random_state=seed)
            return est.fit(labelled[feats].to_numpy(), labelled["label"].to_numpy())

        models["supervised"] = stages.run("supervised (truth labels)", fit_supervised)
    else:
        skipped["supervised"] = "no labelled sample"

    scores = {}
    if test is not None:
        X_test, y_test = test[feats], test["label"].to_numpy()
        m_test = test["mjj"].to_numpy()
        for name, model in models.items():
            if name.startswith("R-ANODE"):
                scores[name] = model.score_samples(X_test, m_test)
            elif name == "CATHODE":
                scores[name] = model.predict_proba(X_test)[:, 1]
            else:  # fitted on arrays
                scores[name] = model.predict_proba(X_test.to_numpy())[:, 1]
        res["n_test"] = [int((y_test == 0).sum()), int(y_test.sum())]
        res["max_sic"] = {k: round(float(max_sic(y_test, s)), 2) for k, s in scores.items()}
    else:
        skipped["max SIC"] = "no labelled test set"
    res["stage_seconds"] = stages.seconds
    res["skipped"] = skipped

    # 4. plots ----------------------------------------------------------------------
    def plots():
        figs = {"w_profile.png": prof.plot(w_true=w_true)}
        if scores:
            curves = {k: (y_test, s) for k, s in scores.items()}
            figs["sic_curves.png"] = plotting.plot_sic_curve(curves)
            figs["roc_curves.png"] = plotting.plot_roc(curves, rejection=True)
        if isinstance(background, SidebandDensity):
            figs["mass_spectrum.png"] = plotting.plot_mass_spectrum(
                m, background.mass_spectrum_, (lo, hi)
            )
        at = np.random.default_rng(seed).choice(m_sr, 2000)
        drawn, _ = ranode.sample(2000, m=at, random_state=seed)
        if test is not None and (test["label"] == 1).any():
            compare, label = test[test["label"] == 1][feats], "true signal"
        else:
            compare, label = X_sr, "signal-region data"
        figs["signal_model_samples.png"] = plotting.plot_feature_comparison(
            compare, drawn, labels=(label, "R-ANODE signal model"), feature_names=feats
        )
        if generated is not None:
            figs["generated_background.png"] = plotting.plot_feature_comparison(
                reference[feats],
                generated,
                labels=("true SR background", "background model sample"),
                feature_names=feats,
            )
        titles = {
            "w_profile.png": "Held-out likelihood of the signal fraction w (cross-fitted R-ANODE)",
            "sic_curves.png": "Significance improvement on the test set",
            "roc_curves.png": "Background rejection on the test set",
            "mass_spectrum.png": "Dijet mass spectrum and the sideband fit",
            "signal_model_samples.png": f"Samples of the learned signal model vs {label}",
            "generated_background.png": "Background model vs true background in the SR",
        }
        for name, fig in figs.items():
            fig.suptitle(titles[name])
            fig.savefig(out / name, dpi=110, bbox_inches="tight")
            plt.close(fig)
        return sorted(figs)

    res["plots"] = stages.run("plots", plots)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    if verbose:
        _print_table(res, out)
    return res


def _round(value, digits=5):
    if value is None:
        return None
    if np.ndim(value):
        return [round(float(v), digits) for v in value]
    return round(float(value), digits)


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
    print(
        f"  signal fraction: true {res.get('w_true', 'unknown')}, learned {res['w_learned']}, "
        f"cross-fit w-hat {res['w_hat']}, 68% {res['w_interval_68']}, "
        f"95% {res['w_interval_95']}, significance {res['significance']} sigma"
    )
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
