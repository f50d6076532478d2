"""A fit is all or nothing, even when it is interrupted (issue 16).

Every estimator that stores fitted state is refitted on other data and stopped
part-way: by a ``KeyboardInterrupt`` injected at a function call drawn at
random among all the calls the refit makes (deterministic, so a failure can be
replayed), by a real SIGINT sent to the process while a flow trains, and by a
refit that fails on bad input. Afterwards the estimator must hold exactly the
objects it held before the call (the same attributes, the very same values,
bit-identical outputs), or, interrupted during its first fit, be unfitted.
"""

import gc
import os
import signal
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

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

SR = (3.3, 3.7)
FLOW = dict(n_layers=1, n_hidden=8, max_epochs=2, batch_size=128, device="cpu", random_state=0)
MLP = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=128, n_best=1, device="cpu")


def _events(seed):
    df = make_lhco_like(n_background=1200, n_signal=120, random_state=seed)
    X, m, y = df[list(FEATURE_NAMES)].to_numpy(), df["mjj"].to_numpy(), df["label"].to_numpy()
    sr = (m >= SR[0]) & (m < SR[1])
    return {"all": (X, m), "sr": (X[sr], m[sr]), "labelled": (X, y)}


A, B = _events(1), _events(2)
X_EVAL, M_EVAL = A["sr"]
BACKGROUND = SidebandDensity(SR, density=ConditionalFlowDensity(**FLOW), random_state=0).fit(
    *A["all"]
)


def _hgb():
    return HistGradientBoostingClassifier(max_iter=5, random_state=0)


# name -> (unfitted estimator, which events it fits, its outputs)
def _density(est):
    return est.score_samples(X_EVAL, M_EVAL)


def _proba(est):
    return est.predict_proba(X_EVAL)[:, 1]


ESTIMATORS = {
    "flow": (lambda: ConditionalFlowDensity(**FLOW), "all", _density),
    "sideband": (
        lambda: SidebandDensity(SR, density=ConditionalFlowDensity(**FLOW), random_state=0),
        "all",
        _density,
    ),
    "anode": (
        lambda: ANODE(BACKGROUND, flow=ConditionalFlowDensity(**FLOW), random_state=0),
        "sr",
        _density,
    ),
    "ranode": (
        lambda: ResidualANODE(
            BACKGROUND, w=0.05, learn_w=True, flow=ConditionalFlowDensity(**FLOW), random_state=0
        ),
        "sr",
        _density,
    ),
    "cathode": (
        lambda: CATHODEClassifier(BACKGROUND, classifier=_hgb(), n_ensemble=2, random_state=0),
        "sr",
        _proba,
    ),
    "cwola": (
        lambda: CWoLaClassifier(SR, classifier=_hgb(), n_ensemble=2, random_state=0),
        "all",
        _proba,
    ),
    "iad": (lambda: IdealAD(_hgb(), n_ensemble=2, random_state=0), "labelled", _proba),
    "supervised": (
        lambda: SupervisedClassifier(_hgb(), n_ensemble=2, random_state=0),
        "labelled",
        _proba,
    ),
    "mlp": (lambda: TorchMLPClassifier(**MLP, random_state=0), "labelled", _proba),
    "density-ensemble": (
        lambda: DensityEnsemble(ConditionalFlowDensity(**FLOW), n_estimators=2, random_state=0),
        "all",
        _density,
    ),
    "classifier-ensemble": (
        lambda: ClassifierEnsemble(_hgb(), n_estimators=2, random_state=0),
        "labelled",
        _proba,
    ),
    "logit-scaler": (lambda: LogitScaler(), "labelled", lambda e: e.transform(X_EVAL)),
    "mass-spectrum": (
        lambda: DijetMassSpectrum(SR),
        "all",
        lambda e: e.log_pdf(M_EVAL),
    ),
}


def _fit_args(name, events):
    kind = ESTIMATORS[name][1]
    X, second = events[kind]
    return (second,) if name == "mass-spectrum" else (X, second)


class _InterruptAtCall:
    """A trace function that raises KeyboardInterrupt at the ``at``-th function call."""

    def __init__(self, at=None):
        self.at, self.calls, self.fired = at, 0, False

    def __call__(self, frame, event, arg):
        if event == "call" and not self.fired:
            self.calls += 1
            if self.at is not None and self.calls >= self.at:
                self.fired = True
                raise KeyboardInterrupt(f"injected at call {self.calls}")
        return None  # no line events: calls only


def _fit_traced(est, args, tracer):
    # no cyclic garbage collection while traced: its finalizers run at moments that
    # depend on the allocation history, so a refit's call count would vary
    gc_was_enabled = gc.isenabled()
    gc.disable()
    sys.settrace(tracer)
    threading.settrace(tracer)
    try:
        with warnings.catch_warnings():  # an interrupted library block may leave a filter
            est.fit(*args)
    finally:
        sys.settrace(None)
        threading.settrace(None)
        if gc_was_enabled:
            gc.enable()
        assert torch.is_grad_enabled(), "the interrupted fit left torch's gradients off"


def _interrupted(est, args, at):
    """Refit ``est`` with an interrupt at call ``at``; whether the fit was stopped.

    A C extension may turn the KeyboardInterrupt into another exception (numpy
    parsing a buffer format gives a ValueError), and an interrupt that lands in
    a finalizer (``__del__``, a weakref callback) is swallowed by Python, so
    that the fit completes: both happen at a few of the many call points.
    """
    tracer = _InterruptAtCall(at)
    try:
        _fit_traced(est, args, tracer)
    except BaseException:
        assert tracer.fired
        return True
    assert tracer.fired
    return False


def _assert_unchanged(est, before, outputs_before, outputs):
    assert list(vars(est)) == list(before), "attributes were added or removed"
    for key, value in before.items():
        assert vars(est)[key] is value, f"attribute {key!r} was replaced"
    if outputs_before is not None:
        np.testing.assert_array_equal(outputs(est), outputs_before)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_a_refit_interrupted_anywhere_leaves_the_previous_fit(name):
    make, _, outputs = ESTIMATORS[name]
    est = make().fit(*_fit_args(name, A))
    before, expected = dict(vars(est)), outputs(est)
    # how many function calls a whole refit on the other events makes
    counter = _InterruptAtCall()
    _fit_traced(clone(est), _fit_args(name, B), counter)
    assert counter.calls > 10
    rng = np.random.default_rng(sum(map(ord, name)))
    # the last point near the end, with a margin: caches and finalizers make the
    # call count of a refit vary a little (one CI run counted fewer calls than here)
    points = [*rng.integers(1, counter.calls, size=4), int(0.98 * counter.calls)]
    stopped = 0
    for at in points:
        if _interrupted(est, _fit_args(name, B), int(at)):
            stopped += 1
            _assert_unchanged(est, before, expected, outputs)
        else:  # a whole refit: start again from the fit on A
            est.fit(*_fit_args(name, A))
            before = dict(vars(est))
            np.testing.assert_array_equal(outputs(est), expected)
    assert stopped >= 3
    # and the estimator still refits normally afterwards
    est.fit(*_fit_args(name, B))
    assert not np.array_equal(outputs(est), expected)


@pytest.mark.parametrize("name", ["flow", "ranode", "cathode", "mass-spectrum"])
def test_a_first_fit_interrupted_leaves_the_estimator_unfitted(name):
    make, _, _ = ESTIMATORS[name]
    est = make()
    params = dict(vars(est))
    counter = _InterruptAtCall()
    _fit_traced(make(), _fit_args(name, A), counter)
    stopped = 0
    for at in np.random.default_rng(0).integers(1, counter.calls, size=3):
        if not _interrupted(est, _fit_args(name, A), int(at)):
            est = make()
            continue
        stopped += 1
        assert vars(est) == params
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
    assert stopped >= 2


@pytest.mark.parametrize("name", ["flow", "sideband", "ranode", "cathode", "iad"])
def test_a_refit_that_fails_on_bad_input_leaves_the_previous_fit(name):
    make, _, outputs = ESTIMATORS[name]
    est = make().fit(*_fit_args(name, A))
    before, expected = dict(vars(est)), outputs(est)
    X, second = _fit_args(name, B)
    X_nan = X.copy()
    X_nan[7, 1] = np.nan
    for bad in [(X_nan, second), (X[:-1], second)]:  # a NaN event; one mass too many
        with pytest.raises(ValueError):
            est.fit(*bad)
        _assert_unchanged(est, before, expected, outputs)


def test_a_refit_that_fails_during_training_leaves_the_previous_fit():
    """The preprocessing of the new events is fitted before training fails: it must not stay."""
    est = ConditionalFlowDensity(**FLOW).fit(*A["all"])
    before, expected = dict(vars(est)), _density(est)
    X, m = B["all"]
    poison = np.zeros(len(m))
    poison[17] = 1.0

    def loss(model, y, c, log_jac, flag):
        return -(model.log_prob(y, c) + log_jac) + torch.where(flag > 0, torch.nan, 0.0)

    with pytest.raises(FloatingPointError):
        est.fit_flow(X, m, extra=(poison,), loss=loss)
    _assert_unchanged(est, before, expected, _density)


def test_a_real_sigint_during_training_leaves_the_previous_fit():
    """SIGINT sent to the process at several moments of a flow's training."""
    slow = dict(FLOW, max_epochs=30, patience=30)
    est = ConditionalFlowDensity(**slow).fit(*A["all"])
    before, expected = dict(vars(est)), _density(est)
    start = time.perf_counter()
    ConditionalFlowDensity(**slow).fit(*B["all"])
    duration = time.perf_counter() - start
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupted = 0
    try:
        for fraction in (0.05, 0.3, 0.6, 0.85):
            timer = threading.Timer(duration * fraction, os.kill, (os.getpid(), signal.SIGINT))
            finished = False
            try:
                timer.start()
                est.fit(*B["all"])
                finished = True
                timer.cancel()
                timer.join()
            except KeyboardInterrupt:
                pass
            if finished:  # the signal came too late: this refit completed, start again
                est = ConditionalFlowDensity(**slow).fit(*A["all"])
                before = dict(vars(est))
                continue
            interrupted += 1
            _assert_unchanged(est, before, expected, _density)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert interrupted >= 2
