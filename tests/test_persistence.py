"""Persistence and reproducibility of every estimator (issue 7).

* ``pickle`` and ``joblib`` round trips give bit-identical scores and samples;
* a model pickled on a GPU loads and scores on a CPU-only machine (simulated);
* a pickle holds no absolute path of the machine that wrote it;
* the same ``random_state`` gives identical scores on the CPU, another one
  gives different scores.
"""

import functools
import io
import os
import pickle
import tempfile

import joblib
import numpy as np
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier

from skranode import (
    ANODE,
    CATHODEClassifier,
    ConditionalFlowDensity,
    CWoLaClassifier,
    IdealAD,
    LogitScaler,
    ResidualANODE,
    SidebandDensity,
    SupervisedClassifier,
    TorchMLPClassifier,
)
from skranode.datasets import FEATURE_NAMES, make_lhco_like
from skranode.ensemble import ClassifierEnsemble, DensityEnsemble
from skranode.mass_spectrum import DijetMassSpectrum
from skranode.utils._torch import TorchStateMixin

SR = (3.3, 3.7)
FAST_FLOW = dict(n_layers=1, n_hidden=8, max_epochs=2, batch_size=64, device="cpu")
FAST_MLP = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=64, n_best=2, device="cpu")

_df = make_lhco_like(n_background=1500, n_signal=150, random_state=1)
X = _df[list(FEATURE_NAMES)].to_numpy()
M = _df["mjj"].to_numpy()
Y = _df["label"].to_numpy()
IN_SR = (M >= SR[0]) & (M < SR[1])
X_SR, M_SR = X[IN_SR], M[IN_SR]


def _hgb():
    # early stopping on a random validation split: the seed matters
    return HistGradientBoostingClassifier(max_iter=10, early_stopping=True, n_iter_no_change=2)


def _flow(seed=None, **kw):
    return ConditionalFlowDensity(**FAST_FLOW, random_state=seed, **kw)


@functools.cache
def _background():
    """The fitted background shared by CATHODE, ANODE and R-ANODE (not seeded by them)."""
    return SidebandDensity(SR, density=_flow(), random_state=0).fit(X, M)


# name -> (fit(seed) -> fitted estimator, outputs(est) -> tuple of arrays)
def _scores(est):
    return (est.score_samples(X, M),)


def _scores_and_samples(est):
    return est.score_samples(X, M), est.sample(M_SR[:50], random_state=3)


def _sr_ratio_outputs(est):
    return est.score_samples(X_SR, M_SR), est.sample(5, M_SR[:5], random_state=3)[0]


def _decision(est):
    return (est.decision_function(X),)


ESTIMATORS = {
    "flow-maf": (lambda s: _flow(s).fit(X, M), _scores_and_samples),
    "flow-rqs": (lambda s: _flow(s, flow="rqs").fit(X, M), _scores_and_samples),
    "sideband": (
        lambda s: SidebandDensity(SR, density=_flow(), random_state=s).fit(X, M),
        lambda e: (*_scores_and_samples(e), e.score_samples(X_SR, M_SR, joint=True)),
    ),
    "cathode": (
        lambda s: CATHODEClassifier(
            _background(), classifier=_hgb(), n_ensemble=2, oversampling=1, random_state=s
        ).fit(X_SR, M_SR),
        lambda e: (e.decision_function(X_SR), e.sample_masses(20, random_state=0)),
    ),
    "lacathode": (
        lambda s: CATHODEClassifier(
            _background(), latent=True, classifier=_hgb(), n_ensemble=1, random_state=s
        ).fit(X_SR, M_SR),
        lambda e: (e.decision_function(X_SR, M_SR), e.transform_latent(X_SR, M_SR)),
    ),
    "cwola": (
        lambda s: CWoLaClassifier(SR, classifier=_hgb(), n_ensemble=2, random_state=s).fit(X, M),
        _decision,
    ),
    "iad": (lambda s: IdealAD(_hgb(), n_ensemble=2, random_state=s).fit(X, Y), _decision),
    "supervised": (
        lambda s: SupervisedClassifier(_hgb(), n_ensemble=2, random_state=s).fit(X, Y),
        _decision,
    ),
    "cathode-mlp": (
        lambda s: CATHODEClassifier(
            _background(),
            classifier=TorchMLPClassifier(**FAST_MLP),
            n_ensemble=1,
            oversampling=1,
            random_state=s,
        ).fit(X_SR, M_SR),
        lambda e: (e.decision_function(X_SR),),
    ),
    "mlp": (
        lambda s: TorchMLPClassifier(**FAST_MLP, random_state=s).fit(X, Y),
        lambda e: (e.predict_proba(X),),
    ),
    "density-ensemble": (
        lambda s: DensityEnsemble(_flow(), n_estimators=2, random_state=s).fit(X, M),
        _scores_and_samples,
    ),
    "classifier-ensemble": (
        lambda s: ClassifierEnsemble(_hgb(), n_estimators=2, random_state=s).fit(X, Y),
        lambda e: (e.predict_proba(X),),
    ),
    "anode": (
        lambda s: ANODE(_background(), flow=_flow(), random_state=s).fit(X_SR, M_SR),
        _sr_ratio_outputs,
    ),
    "ranode": (
        lambda s: ResidualANODE(_background(), w=0.05, flow=_flow(), random_state=s).fit(
            X_SR, M_SR
        ),
        lambda e: (*_sr_ratio_outputs(e), np.array(e.score(X_SR, M_SR))),
    ),
    "ranode-joint-learn-w": (
        lambda s: ResidualANODE(
            _background(), w=0.05, learn_w=True, joint=True, flow=_flow(), random_state=s
        ).fit(X_SR, M_SR),
        lambda e: (
            e.score_samples(X_SR, M_SR),
            np.array(e.w_),
            *e.sample(5, random_state=3),
        ),
    ),
}
# deterministic estimators: persistence only
DETERMINISTIC = {
    "logit-scaler": (
        lambda s: LogitScaler().fit(X),
        lambda e: (e.transform(X * 2), e.log_abs_det_jacobian(X)),
    ),
    "mass-spectrum": (
        lambda s: DijetMassSpectrum(SR).fit(M),
        lambda e: (e.log_pdf(M), np.array(e.expected_count())),
    ),
}
ALL = {**ESTIMATORS, **DETERMINISTIC}


@functools.cache
def fitted(name):
    return ALL[name][0](0)


def _outputs(name, est):
    return ALL[name][1](est)


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def _joblib_round_trip(est, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    from_file = joblib.load(path)
    buffer = io.BytesIO()
    joblib.dump(est, buffer, compress=3)
    buffer.seek(0)
    return from_file, joblib.load(buffer)


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", list(ALL))
def test_pickle_and_joblib_round_trips_give_identical_outputs(name, tmp_path):
    est = fitted(name)
    expected = _outputs(name, est)
    for again in (pickle.loads(pickle.dumps(est)), *_joblib_round_trip(est, tmp_path)):
        assert type(again) is type(est)
        _assert_same(_outputs(name, again), expected)
    # the original is unaffected by having been pickled
    _assert_same(_outputs(name, est), expected)


def _forbidden_paths():
    paths = {"/work", "/tmp", os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~")}
    return sorted(p.encode() for p in paths if p not in ("", "/"))


@pytest.mark.parametrize("name", list(ALL))
def test_pickle_contains_no_absolute_paths(name):
    blob = pickle.dumps(fitted(name))
    for path in _forbidden_paths():
        assert path not in blob, f"{path!r} found in the pickle of {name}"


def _torch_objects(obj, seen=None):
    """Every TorchStateMixin object reachable from ``obj`` (itself included)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    found = [obj] if isinstance(obj, TorchStateMixin) else []
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        children = list(obj)
    elif hasattr(obj, "__dict__") and not isinstance(obj, (torch.nn.Module, type)):
        children = list(vars(obj).values())
    else:
        children = []
    for child in children:
        found += _torch_objects(child, seen)
    return found


@pytest.mark.parametrize(
    "name",
    ["flow-maf", "sideband", "lacathode", "cathode-mlp", "mlp", "density-ensemble", "ranode"],
)
def test_model_pickled_on_a_gpu_loads_on_a_cpu_only_machine(name, monkeypatch):
    est = fitted(name)
    expected = _outputs(name, est)
    assert _torch_objects(est), "the test needs an estimator with torch modules"
    original_get, original_set = TorchStateMixin.__getstate__, TorchStateMixin.__setstate__

    def as_if_fitted_on_gpu(self):
        state = original_get(self)
        state["device_"] = "cuda:0"  # what a GPU-fitted model records
        return state

    with monkeypatch.context() as patch:
        patch.setattr(TorchStateMixin, "__getstate__", as_if_fitted_on_gpu)
        blob = pickle.dumps(est)
    assert b"cuda:0" in blob

    seen = []

    def spy(self, state):
        seen.append(state.get("device_"))
        original_set(self, state)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(TorchStateMixin, "__setstate__", spy)
    loaded = pickle.loads(blob)
    assert seen and all(device == "cuda:0" for device in seen)
    for obj in _torch_objects(loaded):
        assert obj.device_ == torch.device("cpu")
        for attr in obj._torch_attributes:
            module = getattr(obj, attr, None)
            if module is not None:
                assert all(t.device.type == "cpu" for t in module.state_dict().values())
    _assert_same(_outputs(name, loaded), expected)


# ---------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_same_seed_same_scores_other_seed_different(name):
    fit = ESTIMATORS[name][0]
    first = _outputs(name, fitted(name))
    _assert_same(_outputs(name, fit(0)), first)
    other = _outputs(name, fit(1))
    assert not np.array_equal(other[0], first[0]), f"{name}: seed 1 gave the seed-0 scores"
