"""The main job: the whole analysis on synthetic LHCO-like data (``skranode demo``).

Stages, each timed:

1. events from :func:`~skranode.datasets.make_lhco_like`: the data (background
   plus a planted signal), an independent background sample in the signal
   region (for the idealized detector), a labelled sample (for the supervised
   bound) and a test set;
2. the background model: :class:`~skranode.SidebandDensity` trained outside
   the signal region, checked inside it (mass-fit prediction vs observed count,
   classifier AUC of generated vs true background);
3. R-ANODE with the signal fraction learned, and the generator-based w profile
   (maximum-likelihood w, 68 %/95 % intervals, significance);
4. ANODE-free classifier family: CATHODE, the idealized detector and the
   supervised bound;
5. a table (max SIC per method, w-hat vs the true w) and plots.
"""

import json
import time
from pathlib import Path

import numpy as np

from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.sideband import check_signal_region

__all__ = ["run_demo", "DEMO_PRESETS"]

#: Sizes and training budgets of the demo. ``default`` finishes in minutes on
#: a 2-core laptop; ``fast`` is for tests and smoke runs.
DEMO_PRESETS = {
    "default": dict(
        n_background=300_000,
        n_test_background=60_000,
        n_test_signal=3_000,
        sideband_flow=dict(
            n_layers=8, n_hidden=64, batch_size=4096, learning_rate=2e-3, max_epochs=15, patience=5
        ),
        w_grid=(0.0025, 0.005, 0.01, 0.02, 0.04, 0.08),
        n_ensemble=3,
    ),
    "fast": dict(
        n_background=60_000,
        n_test_background=20_000,
        n_test_signal=1_000,
        sideband_flow=dict(
            n_layers=2, n_hidden=16, batch_size=2048, learning_rate=3e-3, max_epochs=4, patience=4
        ),
        w_grid=(0.01, 0.05, 0.2),
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


def _sr(df, lo, hi):
    m = df["mjj"].to_numpy()
    return df[(m > lo) & (m < hi)]


def run_demo(
    *,
    n_signal=800,
    signal_region=(3.3, 3.7),
    seed=0,
    device="auto",
    n_jobs=None,
    output="skranode-output",
    preset="default",
    verbose=True,
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
    device : str, default='auto'
        Torch device for the flows.
    n_jobs : int or None, default=None
        Parallel jobs for the w profile.
    output : str or Path, default='skranode-output'
        Folder for ``results.json`` and the plots.
    preset : {'default', 'fast'}, default='default'
        Sizes and training budgets (:data:`DEMO_PRESETS`).
    verbose : bool, default=True
        Print progress and the results table.

    Returns
    -------
    results : dict
        The numbers of the table (also written to ``results.json``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skranode import plotting
    from skranode.anode import ResidualANODE
    from skranode.classifiers import CATHODEClassifier, IdealAD, SupervisedClassifier
    from skranode.flows import ConditionalFlowDensity
    from skranode.inference import w_profile
    from skranode.metrics import max_sic
    from skranode.sideband import SidebandDensity

    if preset not in DEMO_PRESETS:
        raise ValueError(f"preset must be one of {sorted(DEMO_PRESETS)}; got {preset!r}.")
    cfg = DEMO_PRESETS[preset]
    lo, hi = check_signal_region(signal_region)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    feats = list(FEATURE_NAMES)
    stages = _Stages(verbose)
    res = {"signal_region": [lo, hi], "preset": preset, "seed": seed}

    # 1. events ---------------------------------------------------------------
    def make_events():
        nb = cfg["n_background"]
        data = make_lhco_like(nb, n_signal, random_state=seed)
        reference = _sr(make_lhco_like(nb, 0, random_state=seed + 1), lo, hi)
        labelled = _sr(
            make_lhco_like(nb // 2, 20 * max(n_signal, 100), random_state=seed + 2), lo, hi
        )
        test = _sr(
            make_lhco_like(
                cfg["n_test_background"] * 9, cfg["n_test_signal"], random_state=seed + 3
            ),
            lo,
            hi,
        )
        return data, reference, labelled, test

    data, reference, labelled, test = stages.run("generating events", make_events)
    X, m = data[feats], data["mjj"].to_numpy()
    in_sr = (m > lo) & (m < hi)
    sr = data[in_sr]
    X_sr, m_sr = sr[feats], sr["mjj"].to_numpy()
    n_sig_sr = int(sr["label"].sum())
    w_true = n_sig_sr / len(sr)
    res.update(
        n_sr_events=len(sr),
        n_sr_signal=n_sig_sr,
        w_true=round(w_true, 5),
        s_over_sqrt_b=round(n_sig_sr / np.sqrt(len(sr) - n_sig_sr), 2),
    )
    X_test, y_test = test[feats], test["label"].to_numpy()
    m_test = test["mjj"].to_numpy()

    # 2. background model -------------------------------------------------------
    def fit_background():
        flow = ConditionalFlowDensity(**cfg["sideband_flow"], device=device, verbose=verbose)
        return SidebandDensity((lo, hi), density=flow, random_state=seed).fit(X, m)

    background = stages.run("background model in the sidebands", fit_background)
    expected, expected_std = background.mass_spectrum_.expected_count((lo, hi))
    res.update(
        n_sideband=background.n_sideband_,
        sr_count_predicted=[round(float(expected), 1), round(float(expected_std), 1)],
        sr_count_observed=len(sr),
    )

    def background_auc():
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import cross_val_predict

        true_bkg = reference[feats].to_numpy()
        generated = background.sample(reference["mjj"].to_numpy(), random_state=seed)
        Z = np.r_[true_bkg, generated]
        y = np.r_[np.ones(len(true_bkg)), np.zeros(len(generated))]
        proba = cross_val_predict(
            HistGradientBoostingClassifier(random_state=seed), Z, y, cv=3, method="predict_proba"
        )[:, 1]
        return float(roc_auc_score(y, proba)), generated

    auc, generated = stages.run("checking the background model in the SR", background_auc)
    res["auc_true_vs_generated_background"] = round(auc, 4)

    # 3. R-ANODE and the w profile ------------------------------------------------
    def fit_ranode():
        est = ResidualANODE(background, w=0.002, learn_w=True, random_state=seed)
        return est.fit(X_sr, m_sr)

    ranode = stages.run("R-ANODE with the signal fraction learned", fit_ranode)
    scores = {"R-ANODE (learned w)": ranode.score_samples(X_test, m_test)}
    res["w_learned"] = round(float(ranode.w_), 5)

    def profile():
        template = ResidualANODE(background, random_state=seed)
        return w_profile(
            template, X_sr, m_sr, w_grid=cfg["w_grid"], n_jobs=n_jobs, random_state=seed
        )

    prof = stages.run("w profile (generator-based inference)", profile)
    res.update(
        w_hat=_round(prof.w_hat),
        w_interval_68=_round(prof.interval_68),
        w_interval_95=_round(prof.interval_95),
        significance=_round(prof.significance),
    )

    # 4. classifiers ---------------------------------------------------------------
    def fit_cathode():
        est = CATHODEClassifier(
            background, signal_region=(lo, hi), n_ensemble=cfg["n_ensemble"], random_state=seed
        )
        return est.fit(X_sr, m_sr)

    cathode = stages.run("CATHODE", fit_cathode)
    scores["CATHODE"] = cathode.predict_proba(X_test)[:, 1]

    def fit_iad():
        Z = np.r_[X_sr.to_numpy(), reference[feats].to_numpy()]
        y = np.r_[np.ones(len(X_sr)), np.zeros(len(reference))]
        return IdealAD(n_ensemble=cfg["n_ensemble"], random_state=seed).fit(Z, y)

    iad = stages.run("idealized anomaly detector (IAD)", fit_iad)
    scores["IAD"] = iad.predict_proba(X_test.to_numpy())[:, 1]

    def fit_supervised():
        est = SupervisedClassifier(n_ensemble=cfg["n_ensemble"], random_state=seed)
        return est.fit(labelled[feats].to_numpy(), labelled["label"].to_numpy())

    supervised = stages.run("supervised (truth labels)", fit_supervised)
    scores["supervised"] = supervised.predict_proba(X_test.to_numpy())[:, 1]

    res["max_sic"] = {k: round(float(max_sic(y_test, s)), 2) for k, s in scores.items()}
    res["stage_seconds"] = stages.seconds

    # 5. plots ----------------------------------------------------------------------
    def plots():
        curves = {k: (y_test, s) for k, s in scores.items()}
        figs = {
            "sic_curves.png": plotting.plot_sic_curve(curves),
            "roc_curves.png": plotting.plot_roc(curves, rejection=True),
            "w_profile.png": prof.plot(w_true=w_true),
            "mass_spectrum.png": plotting.plot_mass_spectrum(
                m, background.mass_spectrum_, (lo, hi)
            ),
        }
        at = np.random.default_rng(seed).choice(m_sr, 2000)
        drawn, _ = ranode.sample(2000, m=at, random_state=seed)
        true_signal = test[test["label"] == 1][feats]
        figs["signal_model_samples.png"] = plotting.plot_feature_comparison(
            true_signal,
            drawn,
            labels=("true signal", "R-ANODE signal model"),
            feature_names=feats,
        )
        figs["generated_background.png"] = plotting.plot_feature_comparison(
            reference[feats],
            generated,
            labels=("true SR background", "SidebandDensity.sample"),
            feature_names=feats,
        )
        for name, fig in figs.items():
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
    print(f"skranode demo  (signal region {lo} < mjj < {hi} TeV, seed {res['seed']})")
    print(
        f"  SR events {res['n_sr_events']}, of which signal {res['n_sr_signal']}"
        f"  (w = {res['w_true']}, S/sqrt(B) = {res['s_over_sqrt_b']})"
    )
    pred, err = res["sr_count_predicted"]
    print(
        f"  background model: SR count predicted from the sidebands {pred} +- {err}, "
        f"observed {res['sr_count_observed']}; AUC true vs generated SR background "
        f"{res['auc_true_vs_generated_background']} (0.5 is ideal)"
    )
    print(
        f"  signal fraction: true {res['w_true']}, learned {res['w_learned']}, "
        f"profile w-hat {res['w_hat']}, 68% {res['w_interval_68']}, "
        f"95% {res['w_interval_95']}, significance {res['significance']} sigma"
    )
    print()
    print(f"  {'method':<22}{'max SIC':>9}")
    for name, value in res["max_sic"].items():
        print(f"  {name:<22}{value:>9}")
    print()
    print(f"  stage times [s]: {res['stage_seconds']}")
    print(f"  plots and results.json in {out}/")
