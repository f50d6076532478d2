"""Robustness (issue 7): bad input, numerical safety, no data loss.

* a table of bad inputs, each of which must raise a clear error naming the
  problem, at fit, score and sample time, across the estimators and helpers;
* training never drops an event and stops with the epoch and a fix when the
  loss becomes non-finite; extreme but valid events get finite scores and the
  out-of-range rule never removes an event;
* no estimator or helper modifies the caller's arrays or DataFrames.
"""

import functools
import warnings
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skranode import (
    CATHODEClassifier,
    ConditionalFlowDensity,
    CWoLaClassifier,
    IdealAD,
    LogitScaler,
    SidebandDensity,
    SupervisedClassifier,
    TorchMLPClassifier,
)
from skranode.anode import ANODE, ResidualANODE
from skranode.datasets import (
    FEATURE_NAMES,
    inject_signal,
    make_lhco_like,
    sideband_mask,
    signal_region_mask,
)
from skranode.ensemble import ClassifierEnsemble, DensityEnsemble
from skranode.mass_spectrum import DijetMassSpectrum, bump_hunt_significance
from skranode.metrics import max_sic, sic_curve, significance_improvement
from skranode.training import train_model as train_flow

SR = (3.3, 3.7)
FAST_FLOW = dict(n_layers=1, n_hidden=8, max_epochs=2, batch_size=64, device="cpu")
FAST_MLP = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=64, n_best=1, device="cpu")
COLS = list(FEATURE_NAMES)


# ---------------------------------------------------------------- data
def _events():
    df = make_lhco_like(n_background=1500, n_signal=150, random_state=0)
    return df[COLS].to_numpy(), df["mjj"].to_numpy(), df["label"].to_numpy()


X, M, Y = _events()
IN_SR = (M >= SR[0]) & (M < SR[1])
X_SR, M_SR = X[IN_SR], M[IN_SR]


def _with_nan(a, row=5, col=1, value=np.nan):
    out = np.array(a, dtype=np.float64, copy=True)
    if out.ndim == 1:
        out[row] = value
    else:
        out[row, col] = value
    return out


def _strings_frame(n, n_cols=4, bad="mjmin"):
    cols = COLS[:n_cols]
    return pd.DataFrame({c: (["x"] * n if c == bad else X[:n, i]) for i, c in enumerate(cols)})


# ---------------------------------------------------------------- factories
def _hgb():
    return HistGradientBoostingClassifier(max_iter=5)


def _flow(**kw):
    return ConditionalFlowDensity(**{**FAST_FLOW, "random_state": 0, **kw})


def _sideband(**kw):
    return SidebandDensity(**{"signal_region": SR, "density": _flow(), "random_state": 0, **kw})


def _cathode(background, **kw):
    params = dict(classifier=_hgb(), n_ensemble=1, oversampling=1, random_state=0)
    return CATHODEClassifier(background, **{**params, **kw})


def _cwola(**kw):
    params = dict(signal_region=SR, classifier=_hgb(), n_ensemble=1, random_state=0)
    return CWoLaClassifier(**{**params, **kw})


def _iad(**kw):
    return IdealAD(_hgb(), **{"n_ensemble": 1, "random_state": 0, **kw})


def _supervised(**kw):
    return SupervisedClassifier(_hgb(), **{"n_ensemble": 1, "random_state": 0, **kw})


def _anode(background, **kw):
    return ANODE(background, **{"flow": _flow(), "random_state": 0, **kw})


def _ranode(background, **kw):
    return ResidualANODE(background, **{"w": 0.05, "flow": _flow(), "random_state": 0, **kw})


def _mlp(**kw):
    return TorchMLPClassifier(**{**FAST_MLP, "random_state": 0, **kw})


class _GaussianBackground(BaseEstimator):
    """A fitted background model that samples but has no flow inside."""

    def fit(self, X, m=None):
        self.n_features_ = np.shape(X)[1]
        return self

    def sample(self, m, random_state=None):
        rng = np.random.default_rng(random_state)
        return rng.normal(size=(len(m), self.n_features_))


@functools.cache
def fitted(name):
    """Fitted estimators, shared by the tests of this module (never modified)."""
    if name == "flow":
        return _flow().fit(X, M)
    if name == "sideband":
        return _sideband().fit(X, M)
    if name == "sideband_frame":
        return _sideband().fit(pd.DataFrame(X, columns=COLS), M)
    if name == "cathode":
        return _cathode(fitted("sideband")).fit(X_SR, M_SR)
    if name == "lacathode":
        return _cathode(fitted("sideband"), latent=True).fit(X_SR, M_SR)
    if name == "cwola":
        return _cwola().fit(X, M)
    if name == "iad":
        return _iad().fit(X, Y)
    if name == "mlp":
        return _mlp().fit(X, Y)
    if name == "density_ensemble":
        return DensityEnsemble(_flow(), n_estimators=2, random_state=0).fit(X, M)
    if name == "anode":
        return _anode(fitted("sideband")).fit(X_SR, M_SR)
    if name == "ranode":
        return _ranode(fitted("sideband")).fit(X_SR, M_SR)
    if name == "ranode_joint":
        return _ranode(fitted("sideband"), joint=True).fit(X_SR, M_SR)
    raise KeyError(name)


def _no_cuda(fn):
    with mock.patch("torch.cuda.is_available", return_value=False):
        return fn()


# ---------------------------------------------------------------- the table
# Each row: (id, estimator factory, call, expected exception, regex in the message).
# The factory returns an unfitted estimator for fit rows and a fitted one for
# score/sample rows; `call(est)` makes the bad call.
NOT_FITTED = "is not fitted yet"
BAD_INPUT = [
    # -- ConditionalFlowDensity: fit
    (
        "flow-fit-nan-X",
        _flow,
        lambda e: e.fit(_with_nan(X), M),
        ValueError,
        r"X contains NaN or infinity in 1 event\(s\) \(first at row 5\)",
    ),
    (
        "flow-fit-inf-m",
        _flow,
        lambda e: e.fit(X, _with_nan(M, value=np.inf)),
        ValueError,
        r"mass m contains NaN or infinity \(1 of",
    ),
    (
        "flow-fit-1d-X",
        _flow,
        lambda e: e.fit(X[:, 0], M),
        ValueError,
        r"Expected 2D array, got 1D array",
    ),
    ("flow-fit-no-mass", _flow, lambda e: e.fit(X), ValueError, r"needs the mass of each event"),
    (
        "flow-fit-mass-wrong-length",
        _flow,
        lambda e: e.fit(X, M[:-1]),
        ValueError,
        rf"mass m has {len(M) - 1} entries but X has {len(M)} events",
    ),
    ("flow-fit-mass-2d", _flow, lambda e: e.fit(X, X[:, :2]), ValueError, r"mass m must be 1-D"),
    (
        "flow-fit-too-few-for-validation",
        _flow,
        lambda e: e.fit(X[:2], M[:2]),
        ValueError,
        r"n_samples=2 event\(s\): too few for a training set and a validation set",
    ),
    (
        "flow-fit-batch-of-one-with-batch-norm",
        lambda: _flow(batch_size=1),
        lambda e: e.fit(X[:50], M[:50]),
        ValueError,
        r"batch normalisation needs at least 2 events per batch",
    ),
    (
        "flow-fit-unknown-device",
        lambda: _flow(device="tpu"),
        lambda e: e.fit(X, M),
        ValueError,
        r"Unknown device 'tpu'",
    ),
    (
        "flow-fit-cuda-unavailable",
        lambda: _flow(device="cuda"),
        lambda e: _no_cuda(lambda: e.fit(X, M)),
        ValueError,
        r"CUDA is not available",
    ),
    (
        "flow-fit-non-numeric-frame",
        _flow,
        lambda e: e.fit(_strings_frame(100), M[:100]),
        ValueError,
        r"non-numeric columns \['mjmin'\]",
    ),
    (
        "flow-fit-mass-column-missing",
        lambda: _flow(mass_column=7),
        lambda e: e.fit(X),
        ValueError,
        r"mass_column=7 is not a column of X",
    ),
    # -- ConditionalFlowDensity: score and sample
    ("flow-score-before-fit", _flow, lambda e: e.score_samples(X, M), NotFittedError, NOT_FITTED),
    ("flow-sample-before-fit", _flow, lambda e: e.sample(M), NotFittedError, NOT_FITTED),
    (
        "flow-score-wrong-columns",
        lambda: fitted("flow"),
        lambda e: e.score_samples(X[:, :3], M),
        ValueError,
        r"X has 3 features, but ConditionalFlowDensity is expecting 4",
    ),
    (
        "flow-score-nan-X",
        lambda: fitted("flow"),
        lambda e: e.score_samples(_with_nan(X), M),
        ValueError,
        r"NaN or infinity",
    ),
    (
        "flow-score-mass-wrong-length",
        lambda: fitted("flow"),
        lambda e: e.score_samples(X[:10], M[:9]),
        ValueError,
        r"9 entries but X has 10",
    ),
    (
        "flow-score-no-mass",
        lambda: fitted("flow"),
        lambda e: e.score_samples(X),
        ValueError,
        r"needs the mass",
    ),
    (
        "flow-score-mass-overflows-flow",
        lambda: fitted("flow"),
        lambda e: e.score_samples(X[:3], np.full(3, 1e300)),
        ValueError,
        r"3 of 3 mass\(es\).*lie outside \[.*far from the masses.*Check the units",
    ),
    (
        "flow-sample-nan-mass",
        lambda: fitted("flow"),
        lambda e: e.sample([3.5, np.nan]),
        ValueError,
        r"mass m contains NaN or infinity",
    ),
    (
        "flow-sample-no-mass",
        lambda: fitted("flow"),
        lambda e: e.sample(None),
        ValueError,
        r"mass m is required",
    ),
    (
        "flow-sample-2d-mass",
        lambda: fitted("flow"),
        lambda e: e.sample(np.ones((3, 2))),
        ValueError,
        r"must be 1-D",
    ),
    # -- SidebandDensity
    (
        "sideband-fit-empty-sidebands",
        _sideband,
        lambda e: e.fit(X[:50], np.full(50, 3.5)),
        ValueError,
        r"No event lies in the sidebands",
    ),
    (
        "sideband-fit-signal-region-outside-data",
        lambda: _sideband(signal_region=(8.0, 9.0)),
        lambda e: e.fit(X, M),
        ValueError,
        r"lies outside the mass range of the data",
    ),
    (
        "sideband-fit-signal-region-reversed",
        lambda: _sideband(signal_region=(3.7, 3.3)),
        lambda e: e.fit(X, M),
        ValueError,
        r"low < high",
    ),
    (
        "sideband-fit-sideband-not-enclosing",
        lambda: _sideband(sideband=(3.4, 3.9)),
        lambda e: e.fit(X, M),
        ValueError,
        r"must enclose signal_region",
    ),
    (
        "sideband-fit-too-few-sideband-events",
        _sideband,
        lambda e: e.fit(X[:43], np.r_[np.full(40, 3.5), 3.0, 3.1, 4.0]),
        ValueError,
        r"Only 3 sideband event\(s\)",
    ),
    (
        "sideband-fit-non-numeric-frame",
        _sideband,
        lambda e: e.fit(_strings_frame(100), M[:100]),
        ValueError,
        r"non-numeric columns",
    ),
    (
        "sideband-fit-repeated-column-names",
        _sideband,
        lambda e: e.fit(pd.DataFrame(X[:100], columns=["a", "b", "a", "b"]), M[:100]),
        ValueError,
        r"names the columns \['a', 'b'\] more than once",
    ),
    (
        "sideband-score-wrong-columns",
        lambda: fitted("sideband"),
        lambda e: e.score_samples(X[:, :2], M),
        ValueError,
        r"X has 2 features",
    ),
    (
        "sideband-score-nan-mass",
        lambda: fitted("sideband"),
        lambda e: e.score_samples(X, _with_nan(M)),
        ValueError,
        r"mass m contains NaN",
    ),
    (
        "sideband-sample-no-mass",
        lambda: fitted("sideband"),
        lambda e: e.sample(None),
        ValueError,
        r"mass m is required",
    ),
    (
        "sideband-mass-density-before-fit",
        _sideband,
        lambda e: e.log_mass_density(M),
        NotFittedError,
        NOT_FITTED,
    ),
    # -- ANODE and ResidualANODE
    (
        "ranode-fit-w-above-one",
        lambda: _ranode(fitted("sideband"), w=1.5),
        lambda e: e.fit(X_SR, M_SR),
        ValueError,
        r"'w' parameter of ResidualANODE must be a float in the range \(0.0, 1.0\)",
    ),
    (
        "ranode-fit-w-zero",
        lambda: _ranode(fitted("sideband"), w=0.0),
        lambda e: e.fit(X_SR, M_SR),
        ValueError,
        r"'w' parameter.*Got 0.0",
    ),
    (
        "ranode-fit-background-not-fitted",
        lambda: _ranode(_sideband()),
        lambda e: e.fit(X_SR, M_SR),
        NotFittedError,
        r"background SidebandDensity passed to ResidualANODE is not fitted",
    ),
    (
        "anode-fit-no-background",
        lambda: _anode(None),
        lambda e: e.fit(X_SR, M_SR),
        ValueError,
        r"ANODE needs a fitted background model",
    ),
    (
        "anode-fit-background-other-features",
        lambda: _anode(fitted("sideband")),
        lambda e: e.fit(X_SR[:, :3], M_SR),
        ValueError,
        r"X has 3 feature\(s\) but the background SidebandDensity was fitted on 4",
    ),
    (
        "anode-fit-too-few-for-validation",
        lambda: _anode(fitted("sideband")),
        lambda e: e.fit(X_SR[:2], M_SR[:2]),
        ValueError,
        r"too few for a training set",
    ),
    (
        "anode-fit-non-numeric-frame",
        lambda: _anode(fitted("sideband")),
        lambda e: e.fit(_strings_frame(50), M_SR[:50]),
        ValueError,
        r"non-numeric columns",
    ),
    (
        "ranode-joint-fit-events-outside-signal-region",
        lambda: _ranode(fitted("sideband"), joint=True),
        lambda e: e.fit(X, M),
        ValueError,
        r"joint=True models p_S\(m\) inside the signal region \[3.3, 3.7\)",
    ),
    (
        "ranode-score-before-fit",
        lambda: _ranode(fitted("sideband")),
        lambda e: e.score_samples(X_SR, M_SR),
        NotFittedError,
        NOT_FITTED,
    ),
    (
        "ranode-score-nan-mass",
        lambda: fitted("ranode"),
        lambda e: e.score_samples(X_SR, _with_nan(M_SR)),
        ValueError,
        r"mass m contains NaN",
    ),
    (
        "ranode-score-no-mass",
        lambda: fitted("ranode"),
        lambda e: e.score_samples(X_SR),
        ValueError,
        r"needs the mass",
    ),
    (
        "ranode-score-wrong-columns",
        lambda: fitted("ranode"),
        lambda e: e.score_samples(X_SR[:, :3], M_SR),
        ValueError,
        r"X has 3 features",
    ),
    (
        "ranode-sample-no-mass",
        lambda: fitted("ranode"),
        lambda e: e.sample(3),
        ValueError,
        r"pass the masses m at which to sample",
    ),
    (
        "anode-sample-no-mass",
        lambda: fitted("anode"),
        lambda e: e.sample(3),
        ValueError,
        r"pass the masses m at which to sample",
    ),
    (
        "ranode-sample-nan-mass",
        lambda: fitted("ranode"),
        lambda e: e.sample(2, [3.5, np.nan]),
        ValueError,
        r"mass m contains NaN",
    ),
    # -- CATHODEClassifier
    (
        "cathode-fit-empty-signal-region",
        lambda: _cathode(fitted("sideband")),
        lambda e: e.fit(X[~IN_SR], M[~IN_SR]),
        ValueError,
        r"No event lies in signal_region",
    ),
    (
        "cathode-fit-nan-mass",
        lambda: _cathode(fitted("sideband")),
        lambda e: e.fit(X_SR, _with_nan(M_SR)),
        ValueError,
        r"mass m contains NaN",
    ),
    (
        "cathode-fit-background-other-features",
        lambda: _cathode(fitted("sideband")),
        lambda e: e.fit(X_SR[:, :3], M_SR),
        ValueError,
        r"X has 3 feature\(s\) but the background SidebandDensity was fitted on 4",
    ),
    (
        "cathode-fit-no-background-no-signal-region",
        lambda: _cathode(None, signal_region=None),
        lambda e: e.fit(X_SR, M_SR),
        ValueError,
        r"background=None fits a SidebandDensity.*signal_region is None",
    ),
    (
        "cathode-fit-latent-background-without-flow",
        lambda: _cathode(_GaussianBackground().fit(X), latent=True),
        lambda e: e.fit(X_SR, M_SR),
        ValueError,
        r"latent=True maps events through",
    ),
    (
        "cathode-predict-before-fit",
        lambda: _cathode(fitted("sideband")),
        lambda e: e.predict_proba(X_SR),
        NotFittedError,
        NOT_FITTED,
    ),
    (
        "lacathode-predict-no-mass",
        lambda: fitted("lacathode"),
        lambda e: e.predict_proba(X_SR),
        ValueError,
        r"pass it as m",
    ),
    (
        "lacathode-predict-mass-wrong-length",
        lambda: fitted("lacathode"),
        lambda e: e.predict_proba(X_SR, M_SR[:5]),
        ValueError,
        r"has 5 entries",
    ),
    # -- CWoLaClassifier
    (
        "cwola-fit-signal-region-outside-data",
        lambda: _cwola(signal_region=(8.0, 9.0)),
        lambda e: e.fit(X, M),
        ValueError,
        r"one class is empty: 0 signal-region",
    ),
    ("cwola-fit-no-mass", _cwola, lambda e: e.fit(X), ValueError, r"needs the mass"),
    (
        "cwola-fit-inf-X",
        _cwola,
        lambda e: e.fit(_with_nan(X, value=-np.inf), M),
        ValueError,
        r"X contains NaN or infinity",
    ),
    (
        "cwola-fit-non-numeric-frame",
        _cwola,
        lambda e: e.fit(_strings_frame(len(M)), M),
        ValueError,
        r"non-numeric columns",
    ),
    (
        "cwola-predict-wrong-columns",
        lambda: fitted("cwola"),
        lambda e: e.predict_proba(X[:, :2]),
        ValueError,
        r"X has 2 features",
    ),
    (
        "cwola-predict-nan",
        lambda: fitted("cwola"),
        lambda e: e.decision_function(_with_nan(X)),
        ValueError,
        r"Input X contains NaN",
    ),
    # -- IdealAD, SupervisedClassifier, TorchMLPClassifier
    (
        "iad-fit-one-class",
        _iad,
        lambda e: e.fit(X, np.ones(len(X))),
        ValueError,
        r"needs events of two classes",
    ),
    (
        "iad-fit-three-classes",
        _iad,
        lambda e: e.fit(X, np.arange(len(X)) % 3),
        ValueError,
        r"Only binary classification",
    ),
    ("iad-fit-nan-X", _iad, lambda e: e.fit(_with_nan(X), Y), ValueError, r"Input X contains NaN"),
    (
        # sorted, 'reference' > 'data' would make the reference the data class
        "iad-fit-string-labels-without-data-label",
        _iad,
        lambda e: e.fit(X, np.where(Y == 1, "data", "reference")),
        ValueError,
        r"no event labelled 1 in y.*IdealAD\(data_label='data'\)",
    ),
    (
        "supervised-fit-labels-wrong-length",
        _supervised,
        lambda e: e.fit(X, Y[:10]),
        ValueError,
        r"inconsistent numbers of samples",
    ),
    (
        "supervised-predict-before-fit",
        _supervised,
        lambda e: e.predict(X),
        NotFittedError,
        NOT_FITTED,
    ),
    (
        "mlp-fit-unknown-device",
        lambda: _mlp(device="gpu0"),
        lambda e: e.fit(X, Y),
        ValueError,
        r"Unknown device 'gpu0'",
    ),
    (
        "mlp-fit-too-few-for-validation",
        _mlp,
        lambda e: e.fit(X[:2], [0, 1]),
        ValueError,
        r"too few events for a training and a validation set",
    ),
    (
        "mlp-predict-wrong-columns",
        lambda: fitted("mlp"),
        lambda e: e.predict_proba(X[:, :3]),
        ValueError,
        r"X has 3 features",
    ),
    ("mlp-predict-before-fit", _mlp, lambda e: e.predict_proba(X), NotFittedError, NOT_FITTED),
    # -- LogitScaler and the mass spectrum
    (
        "scaler-transform-before-fit",
        LogitScaler,
        lambda e: e.transform(X),
        NotFittedError,
        NOT_FITTED,
    ),
    (
        "scaler-fit-nan",
        LogitScaler,
        lambda e: e.fit(_with_nan(X)),
        ValueError,
        r"Input X contains NaN",
    ),
    (
        "scaler-fit-range-overflows",
        LogitScaler,
        lambda e: e.fit(np.array([[-1e308, 0.0], [1e308, 1.0]])),
        ValueError,
        r"feature\(s\) \[0\].*overflows float64",
    ),
    (
        "scaler-out-of-range-error-rule",
        lambda: LogitScaler(out_of_range="error").fit(X),
        lambda e: e.transform(X * 10),
        ValueError,
        r"event\(s\) lie outside the range",
    ),
    (
        "spectrum-fit-signal-region-not-inside",
        lambda: DijetMassSpectrum((2.0, 3.0)),
        lambda e: e.fit(M),
        ValueError,
        r"must lie strictly inside the mass range",
    ),
    (
        "spectrum-fit-masses-above-sqrt-s",
        DijetMassSpectrum,
        lambda e: e.fit(M * 1000),
        ValueError,
        r"sqrt_s=13.*Check the units",
    ),
    # -- ensembles
    (
        "density-ensemble-score-before-fit",
        lambda: DensityEnsemble(_flow()),
        lambda e: e.score_samples(X, M),
        NotFittedError,
        NOT_FITTED,
    ),
    (
        "density-ensemble-sample-no-mass",
        lambda: fitted("density_ensemble"),
        lambda e: e.sample(None),
        ValueError,
        r"mass m is required",
    ),
    (
        "classifier-ensemble-predict-before-fit",
        lambda: ClassifierEnsemble(_hgb()),
        lambda e: e.predict_proba(X),
        NotFittedError,
        NOT_FITTED,
    ),
    # -- helpers
    (
        "max-sic-nan-score",
        lambda: max_sic,
        lambda f: f(Y, _with_nan(Y * 1.0)),
        ValueError,
        r"y_score contains NaN or infinity",
    ),
    (
        "max-sic-no-signal",
        lambda: max_sic,
        lambda f: f(np.zeros(50), np.arange(50.0)),
        ValueError,
        r"no signal events",
    ),
    (
        "max-sic-too-little-background",
        lambda: max_sic,
        lambda f: f(np.r_[np.ones(20), np.zeros(10)], np.arange(30.0)),
        ValueError,
        r"10 background event\(s\), fewer than min_background=25",
    ),
    (
        "signal-region-mask-nan",
        lambda: signal_region_mask,
        lambda f: f(_with_nan(M)),
        ValueError,
        r"NaN or infinity",
    ),
    (
        "inject-signal-mismatched-columns",
        lambda: inject_signal,
        lambda f: f(pd.DataFrame(X, columns=COLS), pd.DataFrame(X[:, :3]), n_signal=1),
        ValueError,
        r"same columns",
    ),
    (
        "cwola-predict-non-numeric-frame",
        _cwola,
        lambda e: e.fit(pd.DataFrame(X, columns=COLS), M).predict_proba(_strings_frame(len(M))),
        ValueError,
        r"non-numeric",
    ),
    (
        "iad-fit-non-numeric-frame",
        _iad,
        lambda e: e.fit(_strings_frame(len(Y)), Y),
        ValueError,
        r"non-numeric",
    ),
    (
        "mlp-fit-non-numeric-frame",
        _mlp,
        lambda e: e.fit(_strings_frame(len(Y)), Y),
        ValueError,
        r"non-numeric",
    ),
]

def _shuffled_index(X_, m_):
    """A DataFrame and a mass Series with the same values but the Series' index shuffled."""
    frame = pd.DataFrame(X_, columns=COLS)
    order = np.random.default_rng(0).permutation(len(m_))
    return frame, pd.Series(np.asarray(m_)[order], index=order)


BAD_INPUT += [
    (
        f"{name}-{stage}-mass-index-not-aligned",
        factory,
        call,
        ValueError,
        r"index of the mass m differs from the index of X",
    )
    for name, stage, factory, call in [
        ("sideband", "fit", _sideband, lambda e: e.fit(*_shuffled_index(X, M))),
        ("sideband", "score", lambda: fitted("sideband"),
         lambda e: e.score_samples(*_shuffled_index(X, M))),
        ("ranode", "fit", lambda: _ranode(fitted("sideband")),
         lambda e: e.fit(*_shuffled_index(X_SR, M_SR))),
        ("ranode", "score", lambda: fitted("ranode"),
         lambda e: e.score_samples(*_shuffled_index(X_SR, M_SR))),
        ("anode", "score", lambda: fitted("anode"),
         lambda e: e.score_samples(*_shuffled_index(X_SR, M_SR))),
        ("cathode", "fit", lambda: _cathode(fitted("sideband")),
         lambda e: e.fit(*_shuffled_index(X_SR, M_SR))),
        ("cwola", "fit", _cwola, lambda e: e.fit(*_shuffled_index(X, M))),
    ]
]

def _reordered(X_):
    return pd.DataFrame(X_, columns=COLS)[[COLS[1], COLS[0], *COLS[2:]]]


def _scaled(X_):
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit_transform(X_)


BAD_INPUT += [
    (
        f"{name}-fit-columns-in-another-order",
        factory,
        lambda e: e.fit(_reordered(X_SR), M_SR),
        ValueError,
        r"background's columns in another order",
    )
    for name, factory in [
        ("ranode", lambda: _ranode(fitted("sideband_frame"))),
        ("anode", lambda: _anode(fitted("sideband_frame"))),
        ("cathode", lambda: _cathode(fitted("sideband_frame"))),
    ]
] + [
    (
        f"{name}-fit-features-transformed-before-a-fixed-background",
        factory,
        lambda e: e.fit(_scaled(X_SR), M_SR),
        ValueError,
        r"not in the space the background was trained in",
    )
    for name, factory in [
        ("ranode", lambda: _ranode(fitted("sideband"))),
        ("anode", lambda: _anode(fitted("sideband"))),
        ("cathode", lambda: _cathode(fitted("sideband"))),
        ("ranode-pipeline", lambda: make_pipeline(StandardScaler(), _ranode(fitted("sideband")))),
    ]
] + [
    (
        "ranode-fit-features-in-gev",
        lambda: _ranode(fitted("sideband")),
        lambda e: e.fit(X_SR * 1000, M_SR),
        ValueError,
        r"other units",
    )
]

# masses of another kind than the model's: GeV for TeV, labels, far outside the fitted range,
# sidebands handed to a signal-region fit
_GEV = r"mass\(es\).*about 1000 times the expected masses.*Divide them by 1000"
_GEV_ANY = r"about 1000 times the expected masses.*in GeV for a model in TeV\? Divide them by 1000"
_LABELS = r"Every mass is 0 or 1: were the labels passed as the masses"
_FAR = r"lie outside \[.*\], far from the masses .* fitted on"
_SIDEBANDS = r"fits the signal-region events, but .* lie outside the background's signal_region"
_IN_SB = (M < SR[0]) | (M >= SR[1])
BAD_INPUT += [
    (f"{name}-{kind}-{what}", factory, call, ValueError, match)
    for name, kind, what, factory, call, match in [
        ("flow", "score", "masses-in-gev", lambda: fitted("flow"),
         lambda e: e.score_samples(X[:20], M[:20] * 1000), _GEV),
        ("flow", "sample", "masses-in-gev", lambda: fitted("flow"),
         lambda e: e.sample(M[:20] * 1000), _GEV),
        ("sideband", "score", "masses-in-gev", lambda: fitted("sideband"),
         lambda e: e.score_samples(X[:20], M[:20] * 1000), _GEV),
        ("sideband", "sample", "masses-in-gev", lambda: fitted("sideband"),
         lambda e: e.sample(M_SR[:20] * 1000), _GEV),
        ("sideband", "sample", "mass-far-outside", lambda: fitted("sideband"),
         lambda e: e.sample([3.5, 1e8]), _FAR),
        ("ranode", "score", "mass-far-outside", lambda: fitted("ranode"),
         lambda e: e.score_samples(X_SR[:2], [3.5, 1e8]), _FAR),
        ("ranode", "score", "masses-in-gev", lambda: fitted("ranode"),
         lambda e: e.score_samples(X_SR, M_SR * 1000), _GEV),
        ("ranode", "fit", "masses-in-gev", lambda: _ranode(fitted("sideband")),
         lambda e: e.fit(X_SR, M_SR * 1000), _SIDEBANDS + ".*" + _GEV_ANY),
        ("ranode", "fit", "labels-as-masses", lambda: _ranode(fitted("sideband")),
         lambda e: e.fit(X_SR, Y[IN_SR]), _SIDEBANDS + ".*" + _LABELS),
        ("ranode", "score", "labels-as-masses", lambda: fitted("ranode"),
         lambda e: e.score_samples(X, Y), _LABELS),
        ("ranode", "fit", "sidebands-as-signal-region", lambda: _ranode(fitted("sideband")),
         lambda e: e.fit(X[_IN_SB], M[_IN_SB]), _SIDEBANDS),
        ("anode", "fit", "sidebands-as-signal-region", lambda: _anode(fitted("sideband")),
         lambda e: e.fit(X[_IN_SB], M[_IN_SB]), _SIDEBANDS),
        ("anode", "score", "masses-in-gev", lambda: fitted("anode"),
         lambda e: e.score_samples(X_SR, M_SR * 1000), _GEV),
        ("cathode", "fit", "masses-in-gev", lambda: _cathode(fitted("sideband")),
         lambda e: e.fit(X, M * 1000),
         r"No event lies in signal_region .* span \[2800.*" + _GEV_ANY),
        ("cathode", "fit", "labels-as-masses", lambda: _cathode(fitted("sideband")),
         lambda e: e.fit(X, Y), r"No event lies in signal_region.*" + _LABELS),
        ("sideband", "fit", "masses-in-gev", lambda: SidebandDensity(signal_region=SR),
         lambda e: e.fit(X, M * 1000), r"lies outside the mass range.*" + _GEV_ANY),
        ("cathode", "predict", "masses-in-gev", lambda: fitted("lacathode"),
         lambda e: e.predict_proba(X_SR, M_SR * 1000), _GEV),
    ]
]

BAD_INPUT.append(
    (
        "ranode-sample-masses-wrong-length",
        lambda: fitted("ranode"),
        lambda e: e.sample(3, [3.5, 3.6]),
        ValueError,
        r"2 masses for n_samples=3",
    )
)


def _ids(rows):
    return [row[0] for row in rows]


@pytest.mark.parametrize(
    "factory, call, exc, match", [row[1:] for row in BAD_INPUT], ids=_ids(BAD_INPUT)
)
def test_bad_input_gets_a_clear_error(factory, call, exc, match):
    est = factory()
    with pytest.raises(exc, match=match):
        call(est)


def test_bad_input_table_is_large_and_covers_fit_score_and_sample():
    assert len(BAD_INPUT) >= 30
    assert len(set(_ids(BAD_INPUT))) == len(BAD_INPUT)
    for kind in ("-fit-", "-score-", "-sample-", "-predict-"):
        assert any(kind in name for name in _ids(BAD_INPUT)), kind


@pytest.mark.parametrize("w", [0.0, 1.0])
def test_a_learned_w_at_exactly_zero_or_one_scores_the_limit(w):
    """A learned w that rounds to exactly 0 or 1 gave 'math domain error' in score()."""
    import copy

    est = copy.deepcopy(fitted("ranode"))
    est.w_ = w
    limit = est.background_log_density(X_SR, M_SR) if w == 0 else est.signal_log_density(
        X_SR, M_SR
    )
    assert est.score(X_SR, M_SR) == pytest.approx(float(np.mean(limit)), rel=1e-12)


def test_tied_scores_at_the_cut_are_refused_not_silently_kept():
    """Scores tied at the cut: asked for efficiency 0.1, the bump hunt used 1.0."""
    from skranode.bump_hunt import enhanced_bump_hunt

    m = make_lhco_like(n_background=4000, n_signal=0, random_state=3)["mjj"].to_numpy()
    tied = np.where(np.arange(m.size) % 10 == 0, 1.0, 0.0)
    tied[: m.size // 2] = 1.0  # half of the events share the top score
    with pytest.raises(ValueError, match=r"tied at the cut: .* not the efficiency 0.1"):
        enhanced_bump_hunt(tied, m, signal_region=SR, efficiency=0.1)
    # an explicit threshold is the user's choice; the efficiency it gives is reported
    res = enhanced_bump_hunt(tied, m, signal_region=SR, threshold=1.0)
    assert 0.5 < res.sideband_efficiency < 0.6
    # continuous scores meet the efficiency asked
    res = enhanced_bump_hunt(np.random.default_rng(0).random(m.size), m, signal_region=SR)
    assert res.sideband_efficiency == pytest.approx(0.1, abs=0.01)


def test_a_sample_larger_than_the_memory_is_refused_before_any_work():
    """sample(10**12) used to fail inside numpy with a MemoryError for 7.28 TiB."""
    with pytest.raises(ValueError, match=r"n_samples=1000000000000 needs at least .* GiB"):
        fitted("ranode").sample(10**12, m=3.5)
    assert fitted("ranode").sample(5, m=3.5)[0].shape == (5, 4)


def test_nullable_pandas_columns_are_numbers_and_na_is_named():
    """pandas' nullable Float64 / Int64 columns are numeric (they were called non-numeric);
    a missing value in them is a NaN event, named as such."""
    frame = pd.DataFrame(X, columns=COLS)
    est = fitted("sideband")
    plain = est.score_samples(frame, pd.Series(M))
    nullable = frame.astype("Float64")
    np.testing.assert_array_equal(est.score_samples(nullable, pd.Series(M, dtype="Float64")), plain)
    as_int = pd.Series(np.round(M * 1000).astype(int), dtype="Int64") / 1000
    assert np.isfinite(est.score_samples(nullable, as_int)).all()
    nullable.iloc[4, 2] = pd.NA
    with pytest.raises(ValueError, match=r"NaN or infinity in 1 event"):
        est.score_samples(nullable, M)


def test_an_aligned_mass_series_in_another_order_is_refused_but_a_matching_one_works():
    frame = pd.DataFrame(X, columns=COLS, index=np.arange(len(M)) + 100)
    est = fitted("sideband")
    same = est.score_samples(frame, pd.Series(M, index=frame.index))
    np.testing.assert_array_equal(same, est.score_samples(X, M))
    with pytest.raises(ValueError, match="index"):
        est.score_samples(frame, pd.Series(M))  # default index 0..n-1 against 100..


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConditionalFlowDensity(**FAST_FLOW),
        lambda: SidebandDensity(SR, density=ConditionalFlowDensity(**FAST_FLOW)),
        lambda: IdealAD(n_ensemble=1),
    ],
    ids=["flow", "sideband", "iad"],
)
def test_a_weight_series_in_another_order_is_refused_like_the_masses(make):
    """Issue 42: weights with another index were paired with events by position."""
    frame = pd.DataFrame(X, columns=COLS, index=np.arange(len(M)) + 100)
    second = M if not isinstance(make(), IdealAD) else (IN_SR).astype(int)
    weight = np.linspace(0.5, 1.5, len(M))
    with pytest.raises(ValueError, match="index of sample_weight differs.*weight"):
        make().fit(frame, second, sample_weight=pd.Series(weight))  # index 0..n-1 vs 100..
    aligned = pd.Series(weight, index=frame.index)
    make().fit(frame, pd.Series(second, index=frame.index), sample_weight=aligned)


def test_cathode_refuses_data_its_background_was_trained_on():
    """Issue 42: a background of SR (3.3, 3.7) under a classifier of SR (3.6, 4.0)."""
    background = fitted("sideband")  # signal_region SR, trained on everything outside it
    with pytest.raises(ValueError, match=r"background was trained on those events.*\(3.6, 4.0\)"):
        _cathode(background, signal_region=(3.6, 4.0)).fit(X, M)
    # the same signal region, given all events, is fine
    _cathode(background, signal_region=SR).fit(X, M)


# ---------------------------------------------------------------- numerical safety
def test_non_finite_loss_stops_the_fit_with_epoch_and_fix():
    """A NaN-producing event (injected through the `fit_flow` training hook) is never skipped."""
    est = _flow(max_epochs=5)
    poison = np.zeros(len(M))
    poison[17] = 1.0

    def loss(model, y, c, log_jac, flag):
        nll = -(model.log_prob(y, c) + log_jac)
        return nll + torch.where(flag > 0, torch.nan, 0.0)

    with pytest.raises(FloatingPointError) as info:
        est.fit_flow(X, M, extra=(poison,), loss=loss)
    msg = str(info.value)
    assert "non-finite at epoch 0" in msg
    assert "learning_rate" in msg and "grad_clip" in msg
    assert not hasattr(est, "flows_")  # nothing half-trained is left behind


def test_extreme_event_through_the_fit_hook_stops_with_a_message():
    """An event whose loss overflows (not NaN from the start) also stops the fit."""

    class Overflowing(ConditionalFlowDensity):
        def fit_flow(self, features, mass, *, sample_weight=None, **kwargs):
            scale = np.ones(len(mass))
            scale[3] = 1e39  # float32 overflow: this event's loss is inf

            def scaled(model, y, c, log_jac, s):
                return -(model.log_prob(y, c) + log_jac) * s

            return super().fit_flow(
                features, mass, extra=(scale,), loss=scaled, sample_weight=sample_weight
            )

    with pytest.raises(FloatingPointError, match=r"non-finite at epoch \d+.*grad_clip"):
        Overflowing(**FAST_FLOW, random_state=0).fit(X, M)


@pytest.mark.parametrize("n_train", [65, 129, 130, 2])
def test_training_uses_every_event_and_no_batch_of_one(n_train):
    """Batches cover every training event once per epoch; a last batch of one is merged."""
    sizes = []

    def loss(model, x):
        sizes.append(x.shape[0])
        return model(x)[:, 0] ** 2

    data = (torch.randn(n_train, 1),)
    train_flow(
        torch.nn.Linear(1, 1),
        loss,
        data,
        (torch.randn(3, 1),),
        batch_size=64,
        learning_rate=1e-3,
        weight_decay=0.0,
        max_epochs=1,
        patience=1,
        n_best=1,
        generator=torch.Generator().manual_seed(0),
    )
    train_sizes = sizes[:-1]  # the last call is the validation pass
    assert sum(train_sizes) == n_train
    assert min(train_sizes) >= 2


def _extreme_events(est_scaler):
    lo, hi = est_scaler.data_min_, est_scaler.data_max_
    lower, upper = est_scaler.lower_, est_scaler.lower_ + est_scaler.width_
    span = hi - lo
    return np.vstack(
        [
            lo,
            hi,
            lower,
            upper,
            lo - 0.5 * span,
            hi + 3 * span,
            lo - 1e6 * span,
            hi + 1e6 * span,
            np.full_like(lo, -1e300),
            np.full_like(lo, 1e300),
            np.where(np.arange(lo.size) % 2, lo, hi),
        ]
    )


@pytest.mark.parametrize("name", ["flow", "rqs", "sideband", "density_ensemble"])
def test_extreme_but_valid_events_get_finite_scores(name):
    est = _flow(flow="rqs").fit(X, M) if name == "rqs" else fitted(name)
    density = getattr(est, "density_", None) or getattr(est, "estimators_", [est])[0]
    events = _extreme_events(density.scaler_)
    n = events.shape[0]
    for masses in (
        np.full(n, M.min()),
        np.full(n, M.max()),
        # half the fitted mass range beyond either end (further out is refused)
        np.full(n, M.max() + 0.5 * np.ptp(M)),
        np.full(n, M.min() - 0.5 * np.ptp(M)),
        np.linspace(M.min(), M.max(), n),
    ):
        scores = est.score_samples(events, masses)
        assert scores.shape == (n,)
        assert np.isfinite(scores).all()


def test_far_outside_events_follow_the_clip_rule():
    """An event beyond the range scores as the edge of the range (documented rule)."""
    est = fitted("flow")
    scaler = est.scaler_
    below = scaler.lower_ - 0.1 * scaler.width_
    far_below = scaler.lower_ - 1e9 * scaler.width_
    events = np.vstack([below, far_below, X[0]])
    scores = est.score_samples(events, np.full(3, 3.5))
    assert scores[0] == scores[1]
    assert np.isfinite(scores).all()
    assert "clipped onto the edge" in " ".join(ConditionalFlowDensity.__doc__.split())


@pytest.mark.parametrize(
    "column", [[0.3, 0.1 + 0.2], [1.0, 1.0 + 2**-52], [5e-324, 1e-323], [7.0, 7.0]]
)
def test_training_events_never_fall_on_the_logit_poles(column):
    """A spread lost in rounding counts as a constant feature, not as a clipped event."""
    X_flat = np.array(column)[:, None]
    scaler = LogitScaler().fit(X_flat)
    u = (X_flat - scaler.lower_) / scaler.width_
    assert np.all((u > 1e-3) & (u < 1 - 1e-3))
    assert np.abs(scaler.transform(X_flat)).max() < np.log(1.02 / 0.02) + 1e-6  # not +-36


@pytest.mark.parametrize("rule", ["clip", "nan"])
def test_out_of_range_rule_never_removes_events(rule):
    scaler = LogitScaler(out_of_range=rule).fit(X[:100])
    outside = np.vstack([X[:100] * 10, X[:100]])
    out = scaler.transform(outside)
    jac = scaler.log_abs_det_jacobian(outside)
    assert out.shape == outside.shape and jac.shape == (200,)
    assert np.isfinite(out[100:]).all()
    if rule == "clip":
        assert np.isfinite(out).all() and np.isfinite(jac).all()
    else:
        assert np.isnan(out[:100]).any()


@pytest.mark.parametrize("name", ["cathode", "lacathode", "cwola", "iad", "mlp"])
def test_classifier_scores_of_extreme_events_are_finite(name):
    est = fitted(name)
    huge = 1e6 if name == "mlp" else 1e300  # see test_mlp_extreme_event_gives_nan
    events = np.vstack([X[:5] * 1e6, -X[:5] * 1e6, np.full((2, 4), huge)])
    args = (events, np.full(len(events), 3.5)) if name == "lacathode" else (events,)
    proba = est.predict_proba(*args)
    assert proba.shape == (len(events), 2) and np.isfinite(proba).all()
    if hasattr(est, "decision_function"):
        assert np.isfinite(est.decision_function(*args)).all()


def test_mlp_extreme_event_gives_finite_probabilities():
    proba = fitted("mlp").predict_proba(np.vstack([X[:2], np.full((2, 4), 1e300)]))
    assert np.isfinite(proba).all()


@pytest.mark.parametrize("name", ["anode", "ranode", "ranode_joint"])
def test_anode_scores_of_extreme_events_are_finite(name):
    est = fitted(name)
    events = _extreme_events(fitted("flow").scaler_)
    # the signal region is low <= m < high (MassWindow): the high edge is a sideband mass
    masses = np.linspace(SR[0], SR[1], len(events), endpoint=False)
    scores = est.score_samples(events, masses)
    assert scores.shape == (len(events),) and np.isfinite(scores).all()


# ---------------------------------------------------------------- no data loss
def _readonly(*arrays):
    out = []
    for a in arrays:
        a = np.array(a, copy=True)
        a.setflags(write=False)
        out.append(a)
    return out


def _frame():
    df = make_lhco_like(n_background=1500, n_signal=150, random_state=0)
    return df, df.copy(deep=True)


def test_estimators_never_modify_read_only_arrays():
    Xr, Mr, Yr = _readonly(X, M, Y)
    sr = (Mr >= SR[0]) & (Mr < SR[1])
    Xs, Ms = _readonly(Xr[sr], Mr[sr])
    flow = _flow().fit(Xr, Mr)
    flow.score_samples(Xr, Mr)
    flow.sample(Ms, random_state=0)
    side = _sideband().fit(Xr, Mr)
    side.score_samples(Xr, Mr, joint=False)
    side.log_mass_density(Ms)
    side.sample(Ms, random_state=0)
    for latent in (False, True):
        cathode = _cathode(side, latent=latent).fit(Xs, Ms)
        cathode.decision_function(Xs, Ms)
    _cathode(_sideband(), n_ensemble=1).fit(Xr, Mr)  # unfitted background fitted in fit
    _cwola().fit(Xr, Mr).predict_proba(Xr)
    _iad().fit(Xr, Yr, sample_weight=_readonly(np.ones(len(Yr)))[0]).decision_function(Xr)
    _supervised().fit(Xr, Yr).predict(Xr)
    _mlp().fit(Xr, Yr).predict_proba(Xr)
    scaler = LogitScaler().fit(Xr)
    scaler.inverse_transform(scaler.transform(Xr))
    scaler.log_abs_det_jacobian(Xr)
    spectrum = DijetMassSpectrum(SR).fit(Mr)
    spectrum.log_pdf(Mr)
    DensityEnsemble(_flow(), n_estimators=1).fit(Xr, Mr).score_samples(Xr, Mr)
    ClassifierEnsemble(_hgb(), n_estimators=1).fit(Xr, Yr).predict_proba(Xr)
    _anode(side).fit(Xs, Ms).score_samples(Xs, Ms)
    ranode = _ranode(side, joint=True).fit(Xs, Ms)
    ranode.score_samples(Xs, Ms)
    ranode.score(Xs, Ms)
    ranode.sample(5, Ms[:5], random_state=0)
    np.testing.assert_array_equal(Xr, X)
    np.testing.assert_array_equal(Mr, M)
    np.testing.assert_array_equal(Yr, Y)


def test_helpers_never_modify_read_only_arrays():
    Xr, Mr, Yr = _readonly(X, M, Y)
    score = _readonly(np.arange(len(Yr), dtype=np.float64))[0]
    weight = _readonly(np.ones(len(Yr)))[0]
    max_sic(Yr, score, sample_weight=weight)
    sic_curve(Yr, score)
    significance_improvement(Yr, score, signal_efficiency=0.5)
    signal_region_mask(Mr)
    sideband_mask(Mr, sideband=(3.0, 4.0))
    bkg, sig = _readonly(np.c_[M, X][Y == 0], np.c_[M, X][Y == 1])
    inject_signal(bkg, sig, n_signal=10, random_state=0)
    np.testing.assert_array_equal(bkg, np.c_[M, X][Y == 0])
    bump_hunt_significance(_readonly([120.0])[0], _readonly([100.0])[0], 5.0)
    np.testing.assert_array_equal(Xr, X)
    np.testing.assert_array_equal(Mr, M)
    np.testing.assert_array_equal(score, np.arange(len(Y)))


def test_estimators_and_helpers_never_modify_dataframes():
    df, before = _frame()
    X_df, m_s, y_s = df[COLS], df["mjj"], df["label"]
    sr = signal_region_mask(m_s)
    side = _sideband().fit(X_df, m_s)
    side.score_samples(X_df, m_s)
    _flow(mass_column=0).fit(df[["mjj", *COLS]]).score_samples(df[["mjj", *COLS]])
    _cathode(side, latent=True).fit(X_df[sr], m_s[sr]).predict_proba(X_df[sr], m_s[sr])
    _cwola(mass_column=0).fit(df[["mjj", *COLS]]).predict_proba(df[["mjj", *COLS]])
    _iad().fit(X_df, y_s).predict_proba(X_df)
    _mlp().fit(X_df, y_s).predict_proba(X_df)
    LogitScaler().fit(X_df).transform(X_df)
    DijetMassSpectrum(SR).fit(m_s)
    max_sic(y_s, df["delta_mj"])
    sideband_mask(df)
    inject_signal(df[df["label"] == 0], df[df["label"] == 1], n_signal=5, random_state=0)
    _ranode(side).fit(X_df[sr], m_s[sr]).score_samples(X_df[sr], m_s[sr])
    _anode(side, mass_column=0).fit(df.loc[sr, ["mjj", *COLS]])
    pd.testing.assert_frame_equal(df, before)


# ---------------------------------------------------------------- shared fitted backgrounds
def test_a_grid_over_a_fitted_backgrounds_parameters_is_refused_and_changes_nothing():
    """The background is shared and never retrained: its parameters cannot be searched."""
    from sklearn.model_selection import GridSearchCV

    background = _sideband().fit(X, M)
    trained = background.density_.flows_
    search = GridSearchCV(_ranode(background), {"background__density__n_hidden": [8, 32]}, cv=2)
    with pytest.raises(ValueError, match=r"background__density__n_hidden=32.*FrozenEstimator"):
        search.fit(X_SR, M_SR)
    assert background.density.n_hidden == 8 and background.density_.flows_ is trained
    # the same value is not a change; a plain parameter of the method still is searchable
    _ranode(background).set_params(background__density__n_hidden=8)
    for method in (_ranode(background), _cathode(background)):
        with pytest.raises(ValueError, match="shares it between clones"):
            method.set_params(background__random_state=7)


def test_a_grid_over_frozen_fitted_backgrounds_compares_them():
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import GridSearchCV

    small = _sideband().fit(X, M)
    other = _sideband(density=_flow(n_hidden=16, random_state=3)).fit(X, M)
    grid = {"background": [FrozenEstimator(small), FrozenEstimator(other)]}
    search = GridSearchCV(_ranode(small), grid, cv=2).fit(X_SR, M_SR)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and scores[0] != scores[1]
    # unwrapped fitted backgrounds would be cloned unfitted: the error says what to do
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        _ranode(small).set_params(background=_sideband()).fit(X_SR, M_SR)


def test_max_sic_of_int64_scores_beyond_float64_precision_is_exact():
    """Integers that float64 would merge are cut on their ranks, with a warning."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(100), np.zeros(2000)].astype(int)
    small = np.r_[rng.integers(50, 100, 100), rng.integers(0, 100, 2000)]
    expected = max_sic(y, small)
    assert expected > 1.2
    with pytest.warns(UserWarning, match=r"beyond 2\*\*53.*ranks"):
        got = max_sic(y, np.int64(2**60) + small)
    assert got == expected


@pytest.mark.parametrize("value", [1e39, 5e3])
def test_a_background_with_an_impossible_log_density_is_named_before_training(value):
    """Not advice to lower the learning rate: the background's numbers are the problem."""

    class Huge(BaseEstimator):
        def fit(self, X, m=None):
            self.n_features_in_ = np.shape(X)[1]
            return self

        def score_samples(self, X, m=None):
            out = np.zeros(len(X))
            out[4] = value
            return out

    background = Huge().fit(X_SR)
    named = r"log-density is .* for 1 event.*first at row 4.*normalised density"
    with pytest.raises(ValueError, match=named):
        _ranode(background).fit(X_SR, M_SR)  # R-ANODE trains on log p_B
    anode = _anode(background).fit(X_SR, M_SR)  # ANODE learns p_data without p_B
    with pytest.raises(ValueError, match=named):
        anode.score_samples(X_SR, M_SR)


def test_an_event_with_zero_background_density_is_named_not_silently_infinite():
    from skranode.exceptions import SkranodeWarning

    class Zero(BaseEstimator):
        def fit(self, X, m=None):
            self.n_features_in_ = np.shape(X)[1]
            return self

        def score_samples(self, X, m=None):
            out = -0.5 * np.sum(np.asarray(X) ** 2, axis=1)
            out[2] = -np.inf
            return out

    background = Zero().fit(X_SR)
    for method in (_ranode(background), _anode(background)):
        method.fit(X_SR, M_SR)
        with pytest.warns(SkranodeWarning, match=r"zero density .* first at row 2.*\+inf"):
            scores = method.score_samples(X_SR[:5], M_SR[:5])
        assert np.isposinf(scores[2]) and np.isfinite(np.delete(scores, 2)).all()


def test_an_ensemble_seeds_its_members_but_not_their_shared_fitted_background():
    background = _sideband().fit(X, M)
    seeds_before = background.get_params(deep=True)["density__random_state"]
    ens = DensityEnsemble(_ranode(background), n_estimators=2, random_state=3).fit(X_SR, M_SR)
    assert all(member.background is background for member in ens.estimators_)
    assert background.get_params(deep=True)["density__random_state"] == seeds_before
    seeds = [member.get_params()["flow__random_state"] for member in ens.estimators_]
    assert len(set(seeds)) == 2


def test_idealad_scores_the_stated_data_class_whatever_the_labels_sort_to():
    """String labels 'data'/'reference' sort the reference last; the AUC must not flip."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    features = np.r_[rng.normal(0.7, 1, (1500, 3)), rng.normal(0, 1, (1500, 3))]
    is_data = np.r_[np.ones(1500), np.zeros(1500)]
    words = np.where(is_data == 1, "data", "reference")
    numeric = _iad().fit(features, is_data)
    named = _iad(data_label="data").fit(features, words)
    assert list(named.classes_) == ["reference", "data"]
    auc = roc_auc_score(is_data, named.decision_function(features))
    assert auc > 0.65, auc
    assert auc == pytest.approx(roc_auc_score(is_data, numeric.decision_function(features)))
    assert np.all(named.predict(features)[named.decision_function(features) > 0] == "data")


def test_a_constant_feature_is_refused_and_a_heavy_tailed_one_warned_by_the_flows():
    """Issue 42: both were accepted; the Cauchy feature's samples had 6x the data's IQR."""
    from skranode.exceptions import SkranodeWarning

    rng = np.random.default_rng(0)
    flat = X.copy()
    flat[:, 2] = 0.5
    with pytest.raises(ValueError, match=r"feature 2 takes the one value 0.5 in all"):
        SidebandDensity(SR, density=ConditionalFlowDensity(**FAST_FLOW)).fit(flat, M)
    tailed = X.copy()
    tailed[:, 3] = 0.1 * rng.standard_cauchy(len(X))
    with pytest.warns(SkranodeWarning, match=r"feature 3 spans .* times its central 98 %"):
        SidebandDensity(SR, density=ConditionalFlowDensity(**FAST_FLOW)).fit(tailed, M)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*central 98", category=SkranodeWarning)
        # the LHCO-like features themselves pass: no false alarm
        ConditionalFlowDensity(**{**FAST_FLOW, "max_epochs": 1}).fit(X, M)
